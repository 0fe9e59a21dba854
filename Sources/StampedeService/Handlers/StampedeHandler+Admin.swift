import StampedeHTTP
import StampedeInventory

/// The `/admin` routes (the bearer token is checked before these run).
extension StampedeHandler {
    /// `PUT /admin/sales/{id}`: `201` created, `200` replaced, `409 sale_has_orders`.
    func putSale(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange) {
        let ttl = live.withLock { $0.defaultReservationTTLSeconds }
        let definition: SaleDefinition
        do {
            definition = try RequestDecoding.saleDefinition(saleID: saleID, request.body, defaultTTL: ttl)
        } catch {
            return exchange.send(APIResponse.error(error.status, error.code, error.message))
        }
        run(exchange) {
            let (sale, created) = try await self.inventory.define(definition)
            self.logger.info("sale defined", metadata: ["request_id": "\(exchange.requestID)", "sale_id": "\(saleID)", "created": "\(created)", "stock": "\(definition.stock)"])
            return APIResponse.json(created ? 201 : 200, .encoding(sale))
        }
    }

    /// `POST /admin/sales/{id}/restock`: adds units; answers the sale.
    func restock(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange) {
        let quantity: Int64
        do {
            quantity = try RequestDecoding.restock(request.body)
        } catch {
            return exchange.send(APIResponse.error(error.status, error.code, error.message))
        }
        run(exchange) {
            let sale = try await self.inventory.restock(saleID, quantity: quantity)
            self.logger.info("sale restocked", metadata: ["request_id": "\(exchange.requestID)", "sale_id": "\(saleID)", "quantity": "\(quantity)"])
            return APIResponse.json(200, .encoding(sale))
        }
    }

    /// `GET /admin/shards`: the shard configuration and each shard's figures.
    func shardsResponse() -> HTTPResponse {
        let shards = inventory.shardStatistics()
        var writer = JSONWriter(capacity: 256 + shards.count * 256)
        writer.beginObject()
        writer.field("shard_count", shards.count)
        writer.field("routing", "fnv1a64(sale_id) % shard_count")
        writer.key("shards")
        writer.beginArray()
        for shard in shards {
            writer.beginObject()
            writer.field("shard", shard.index)
            writer.key("sales")
            writer.beginArray()
            for sale in shard.sales { writer.string(sale) }
            writer.endArray()
            writer.field("in_flight", shard.inFlight)
            writer.field("queue_depth", shard.queueDepth)
            writer.field("max_in_flight", shard.maxInFlight)
            writer.field("batch_size", shard.batchSize)
            writer.field("requests_served", shard.served)
            writer.field("shed", shard.shed)
            writer.field("batches", shard.batches)
            writer.field("mean_batch", shard.meanBatch)
            writer.field("largest_batch", shard.largestBatch)
            writer.field("last_batch", shard.lastBatch)
            writer.field("commit_queue_depth", shard.commitQueueDepth)
            writer.field("commit_group_size", shard.commitGroupSize)
            writer.field("commit_groups", shard.commitGroups)
            writer.field("mean_commit_group", shard.meanGroup)
            writer.field("largest_commit_group", shard.largestGroup)
            writer.field("last_commit_group", shard.lastGroup)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return APIResponse.json(200, writer)
    }

    /// `POST /admin/config/reload`: re-reads the file; applies live keys, lists the others.
    func reloadResponse() -> HTTPResponse {
        switch reload() {
        case .failure(let error):
            return APIResponse.error(400, "invalid_config", error.description)
        case .success(let change):
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("applied")
            writer.beginArray()
            for key in change.applied { writer.string(key) }
            writer.endArray()
            writer.key("needs_restart")
            writer.beginArray()
            for key in change.needsRestart { writer.string(key) }
            writer.endArray()
            writer.endObject()
            logger.notice("configuration reloaded", metadata: ["applied": "\(change.applied)", "needs_restart": "\(change.needsRestart)"])
            return APIResponse.json(200, writer)
        }
    }
}
