import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// The `/admin` routes (the bearer token is checked before these run).
extension StampedeHandler {
    /// `PUT /admin/sales/{id}`: `201` created, `200` replaced, `409 sale_has_orders`.
    func putSale(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange, _ change: AdminChange) {
        let ttl = live.withLock { $0.defaultReservationTTLSeconds }
        let definition: SaleDefinition
        do {
            definition = try RequestDecoding.saleDefinition(saleID: saleID, request.body, defaultTTL: ttl)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            let (sale, created) = try await self.inventory.define(definition, change: change)
            self.logger.info("sale defined", metadata: ["request_id": "\(exchange.requestID)", "sale_id": "\(saleID)", "created": "\(created)", "stock": "\(definition.stock)"])
            return APIResponse.json(created ? 201 : 200, .encoding(sale))
        }
    }

    /// `POST /admin/sales/{id}/restock`: adds units; answers the sale.
    func restock(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange, _ change: AdminChange) {
        let quantity: Int64
        do {
            quantity = try RequestDecoding.restock(request.body)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            let sale = try await self.inventory.restock(saleID, quantity: quantity, change: change)
            self.logger.info("sale restocked", metadata: ["request_id": "\(exchange.requestID)", "sale_id": "\(saleID)", "quantity": "\(quantity)"])
            return APIResponse.json(200, .encoding(sale))
        }
    }

    /// `POST /admin/sales/{id}/buckets` `{"buckets": K}`: changes the bucket count live; answers
    /// the sale. `404 unknown_sale`, `400 invalid_body`.
    func changeBuckets(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange, _ change: AdminChange) {
        let count: Int
        do {
            count = try RequestDecoding.buckets(request.body)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            let sale = try await self.inventory.changeBuckets(saleID, to: count, change: change)
            self.logger.info("sale bucket count changed", metadata: ["request_id": "\(exchange.requestID)", "sale_id": "\(saleID)", "buckets": "\(count)"])
            return APIResponse.json(200, .encoding(sale))
        }
    }

    /// `GET /admin/sales/{id}/movements?before=&limit=`: a page of the sale's stock movements,
    /// newest first; `404 unknown_sale`, `400 invalid_query`.
    func movements(_ saleID: String, _ request: HTTPRequest, _ exchange: Exchange) {
        let query: (before: Int64?, limit: Int)
        do {
            query = try RequestDecoding.movementsQuery(request.query)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            guard let page = try await self.inventory.sales.movements(saleID, before: query.before, limit: query.limit) else {
                throw InventoryError.unknownSale(saleID)
            }
            return APIResponse.json(200, .encoding(page))
        }
    }

    /// `PUT /admin/groups/{id}`: `201` created, `200` changed (the claims are rebuilt with the new limit).
    func putGroup(_ groupID: String, _ request: HTTPRequest, _ exchange: Exchange, _ change: AdminChange) {
        let group: ExclusiveGroup
        do {
            group = try RequestDecoding.group(groupID: groupID, request.body)
        } catch {
            return exchange.send(APIResponse.from(error))
        }
        run(exchange) {
            let (saved, created) = try await self.inventory.defineGroup(group, change: change)
            self.logger.info("exclusive group defined", metadata: [
                "request_id": "\(exchange.requestID)", "group_id": "\(groupID)", "created": "\(created)",
                "per_user_limit": "\(group.perUserLimit)"])
            return APIResponse.json(created ? 201 : 200, .encoding(saved))
        }
    }

    /// `DELETE /admin/groups/{id}`: `200` with the group as it was; `409 group_in_use` while a sale belongs to it.
    func deleteGroup(_ groupID: String, _ exchange: Exchange, _ change: AdminChange) {
        run(exchange) {
            let deleted = try await self.inventory.deleteGroup(groupID, change: change)
            self.logger.info("exclusive group deleted", metadata: ["request_id": "\(exchange.requestID)", "group_id": "\(groupID)"])
            return APIResponse.json(200, .encoding(deleted))
        }
    }

    /// `GET /admin/shards`: the shard layout and each shard's figures, latency and hot flag, and
    /// the buckets of each bucketed sale this instance serves (tag, primary, available, allocated).
    func shardsResponse() async throws -> HTTPResponse {
        let bucketed = try await inventory.bucketViews()
        let reports = inventory.shardReports()
        let layout = inventory.directory.layout
        var writer = JSONWriter(capacity: 512 + reports.count * 512)
        writer.beginObject()
        writer.field("shard_count", reports.count)
        writer.field("hashed_shards", layout.hashedCount)
        writer.key("pinned")
        writer.beginArray()
        for sale in layout.pinned { writer.string(sale) }
        writer.endArray()
        writer.field("routing", "pinned sale → its own shard; else fnv1a64(sale_id) % hashed_shards")
        writer.field("switching", inventory.directory.isSwitching)
        writer.key("shards")
        writer.beginArray()
        for report in reports {
            let shard = report.figures
            writer.beginObject()
            writer.field("shard", shard.index)
            writer.field("kind", report.pinnedSale == nil ? "hashed" : "pinned")
            if let sale = report.pinnedSale { writer.field("pinned_sale", sale) }
            writer.key("sales")
            writer.beginArray()
            // A bucket's purchases name the sale it belongs to (its child id is internal).
            var named = Set<String>()
            for counter in shard.sales {
                let sale = BucketLayout.saleID(of: counter)
                if named.insert(sale).inserted { writer.string(sale) }
            }
            writer.endArray()
            writer.field("in_flight", shard.inFlight)
            writer.field("queue_depth", shard.queueDepth)
            writer.field("limit", shard.maxInFlight)
            writer.field("max_in_flight", report.ceiling)
            writer.field("batch_size", shard.batchSize)
            writer.field("requests_served", shard.served)
            writer.field("shed", shard.shed + report.stockShed)
            writer.field("shed_in_flight", shard.shed)
            writer.field("shed_stock", report.stockShed)
            writer.field("batches", shard.batches)
            writer.field("mean_batch", (shard.meanBatch * 10).rounded() / 10)
            writer.field("largest_batch", shard.largestBatch)
            writer.field("last_batch", shard.lastBatch)
            writer.field("commit_queue_depth", shard.commitQueueDepth)
            writer.field("commit_group_size", shard.commitGroupSize)
            writer.field("commit_groups", shard.commitGroups)
            writer.field("mean_commit_group", shard.meanGroup)
            writer.field("largest_commit_group", shard.largestGroup)
            writer.field("last_commit_group", shard.lastGroup)
            writer.field("recent_purchases", report.latency.count)
            writer.field("p50_ms", Self.milliseconds(report.p50))
            writer.field("p99_ms", Self.milliseconds(report.p99))
            writer.field("hot", report.hot)
            if let reason = report.hotReason { writer.field("hot_reason", reason) }
            writer.endObject()
        }
        writer.endArray()
        writer.key("bucketed_sales")
        writer.beginArray()
        for sale in bucketed {
            writer.beginObject()
            writer.field("sale_id", sale.saleID)
            writer.key("buckets")
            writer.beginArray()
            for bucket in sale.buckets {
                writer.beginObject()
                writer.field("bucket", bucket.bucket)
                writer.field("tag", bucket.tag)
                writer.field("primary", bucket.primary)
                if let units = bucket.available { writer.field("available", units) } else { writer.key("available"); writer.null() }
                writer.field("allocated", bucket.allocated)
                writer.endObject()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return APIResponse.json(200, writer)
    }

    /// Seconds → milliseconds with two decimals; an open-ended bucket (+Inf) reads as -1.
    static func milliseconds(_ seconds: Double) -> Double {
        seconds.isFinite ? (seconds * 100_000).rounded() / 100 : -1
    }

    /// `POST /admin/config/reload`: re-reads the file; applies live keys, lists the others.
    func reloadResponse(_ change: AdminChange) async -> HTTPResponse {
        switch await reload(change) {
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
            return APIResponse.json(200, writer)
        }
    }
}
