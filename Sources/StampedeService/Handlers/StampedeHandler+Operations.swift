import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// The operations routes: `/metrics` and `/health/ready`.
extension StampedeHandler {
    /// `GET /metrics` in the Prometheus text format.
    func metricsResponse() -> HTTPResponse {
        var figures = scrape()
        let reports = inventory.shardReports()
        let shards = reports.map { (name: String($0.figures.index), item: $0.figures) }
        figures.add("stampede_shard_queue_depth", "gauge", "Purchases waiting for the next batch.", label: "shard", shards, \.queueDepth)
        figures.add("stampede_shard_in_flight", "gauge", "Purchases admitted and not yet answered.", label: "shard", shards, \.inFlight)
        figures.add("stampede_shard_max_in_flight", "gauge", "In-flight limit past which purchases are shed.", label: "shard", shards, \.maxInFlight)
        figures.add("stampede_shard_requests_total", "counter", "Purchases processed by the shard.", label: "shard", shards, \.served)
        figures.add("stampede_shard_shed_total", "counter", "Purchases shed by the shard (503 overloaded).", label: "shard", shards, \.shed)
        figures.add("stampede_shard_batches_total", "counter", "Redis decisions (batches) made by the shard.", label: "shard", shards, \.batches)
        figures.add("stampede_shard_commit_queue_depth", "gauge", "Reservations waiting for the next group commit.", label: "shard", shards, \.commitQueueDepth)
        figures.add("stampede_shard_commit_groups_total", "counter", "PostgreSQL group commits made by the shard.", label: "shard", shards, \.commitGroups)
        figures.add("stampede_shard_committed_orders_total", "counter", "Order rows the shard's group commits carried.", label: "shard", shards, \.committedOrders)
        let monitored = reports.map { (name: String($0.figures.index), item: $0) }
        figures.add("stampede_shard_limit_ceiling", "gauge", "Configured ceiling of the adaptive in-flight limit.", label: "shard", monitored, \.ceiling)
        figures.add("stampede_shard_stock_shed_total", "counter", "Purchases shed for stock (waiting > remaining units × stock factor).", label: "shard", monitored, \.stockShed)
        figures.add("stampede_shard_hot", "gauge", "1 when /admin/shards flags the shard hot.", label: "shard", monitored) { $0.hot ? 1 : 0 }
        figures.add("stampede_shard_purchase_p50_seconds", "gauge", "Median purchase latency (admission to answer) over the last 10-20 s (bucket bound).",
                    monitored.map { .init(labels: [("shard", $0.name)], value: $0.item.p50.isFinite ? $0.item.p50 : 10) })
        figures.add("stampede_shard_purchase_p99_seconds", "gauge", "p99 purchase latency (admission to answer) over the last 10-20 s (bucket bound).",
                    monitored.map { .init(labels: [("shard", $0.name)], value: $0.item.p99.isFinite ? $0.item.p99 : 10) })
        let repairs = inventory.repairCounts
        figures.add("stampede_reconciler_repairs_total", "counter", "What background work repaired, by kind.", [
            .init(labels: [("kind", "expired")], value: Double(repairs.expired)),
            .init(labels: [("kind", "stock_returned")], value: Double(repairs.stockReturned)),
            .init(labels: [("kind", "outbox_committed")], value: Double(repairs.outboxCommitted)),
            .init(labels: [("kind", "outbox_acknowledged")], value: Double(repairs.outboxDropped)),
            .init(labels: [("kind", "sale_rebuilt")], value: Double(repairs.salesRebuilt)),
        ])
        let checks = lastChecks.withLock { $0 }
        let ready = !checks.isEmpty && checks.allSatisfy(\.ok) && !draining.load(ordering: .relaxed)
        figures.add("stampede_ready", "gauge", "1 when /health/ready would answer 200 (the stores answered the last check, at most 2 s ago, and the instance is not draining).",
                    value: ready ? 1 : 0)
        figures.add("stampede_dependency_up", "gauge", "1 when the store answered the last readiness check.",
                    checks.map { .init(labels: [("dependency", $0.name)], value: $0.ok ? 1 : 0) })
        let sales = inventory.cache.cachedSales().sorted { $0.saleID < $1.saleID }
        figures.add("stampede_sale_units_available", "gauge",
                    "Units left to sell per sale (as cached, at most sales.cache_max_age_seconds old), for the sales this instance served in the last minute.",
                    sales.map { .init(labels: [("sale", $0.saleID)], value: Double($0.available)) })
        figures.add("stampede_build_info", "gauge", "Always 1; the labels say which build runs.",
                    [.init(labels: [("version", StampedeVersion.version), ("configuration", StampedeVersion.buildConfiguration),
                                    ("swift", StampedeVersion.swiftVersion)], value: 1)])
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                            body: metrics.render(figures))
    }

    /// Probes the stores every `interval` until cancelled, for the readiness gauges of `/metrics`.
    func watchReadiness(every interval: Duration) async {
        while !Task.isCancelled {
            let checks = await probe()
            lastChecks.withLock { $0 = checks }
            try? await Task.sleep(for: interval)
        }
    }

    /// `GET /health/ready`: `200` when Redis and PostgreSQL answer, else `503` naming the one down.
    func readyResponse() async -> HTTPResponse {
        var checks = await probe()
        lastChecks.withLock { $0 = checks }
        if draining.load(ordering: .relaxed) { checks.append(("accepting", false)) }
        let ready = checks.allSatisfy(\.ok)
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("status", ready ? "ready" : "unavailable")
        writer.key("checks")
        writer.beginObject()
        for check in checks { writer.field(check.name, check.ok ? "ok" : "down") }
        writer.endObject()
        writer.endObject()
        return APIResponse.json(ready ? 200 : 503, writer)
    }
}
