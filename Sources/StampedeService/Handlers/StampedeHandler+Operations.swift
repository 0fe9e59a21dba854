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
        figures.add(.shardQueueDepth, shards, \.queueDepth)
        figures.add(.shardInFlight, shards, \.inFlight)
        figures.add(.shardMaxInFlight, shards, \.maxInFlight)
        figures.add(.shardRequests, shards, \.served)
        figures.add(.shardShed, shards, \.shed)
        figures.add(.shardBatches, shards, \.batches)
        figures.add(.shardCommitQueueDepth, shards, \.commitQueueDepth)
        figures.add(.shardCommitGroups, shards, \.commitGroups)
        figures.add(.shardCommittedOrders, shards, \.committedOrders)
        let monitored = reports.map { (name: String($0.figures.index), item: $0) }
        figures.add(.shardLimitCeiling, monitored, \.ceiling)
        figures.add(.shardStockShed, monitored, \.stockShed)
        figures.add(.shardHot, monitored) { $0.hot ? 1 : 0 }
        figures.add(.shardPurchaseP50, monitored.map { .init([$0.name], value: $0.item.p50.isFinite ? $0.item.p50 : 10) })
        figures.add(.shardPurchaseP99, monitored.map { .init([$0.name], value: $0.item.p99.isFinite ? $0.item.p99 : 10) })
        let repairs = inventory.repairCounts
        figures.add(.reconcilerRepairs, [
            .init([ReconcileReport.Kind.expired.rawValue], value: Double(repairs.expired)),
            .init([ReconcileReport.Kind.stockReturned.rawValue], value: Double(repairs.stockReturned)),
            .init([ReconcileReport.Kind.outboxCommitted.rawValue], value: Double(repairs.outboxCommitted)),
            .init([ReconcileReport.Kind.outboxAcknowledged.rawValue], value: Double(repairs.outboxDropped)),
            .init([ReconcileReport.Kind.saleRebuilt.rawValue], value: Double(repairs.salesRebuilt)),
            .init([ReconcileReport.Kind.groupRebuilt.rawValue], value: Double(repairs.groupsRebuilt)),
            .init([ReconcileReport.Kind.claimReleased.rawValue], value: Double(repairs.claimsReleased)),
            .init([ReconcileReport.Kind.ledgerRepaired.rawValue], value: Double(repairs.ledgerRepaired)),
            .init([ReconcileReport.Kind.moveFinished.rawValue], value: Double(repairs.movesFinished)),
        ])
        let checks = lastChecks.withLock { $0 }
        let ready = !checks.isEmpty && checks.allSatisfy(\.ok) && !draining.load(ordering: .relaxed)
        figures.add(.ready, value: ready ? 1 : 0)
        figures.add(.dependencyUp, checks.map { .init([$0.name], value: $0.ok ? 1 : 0) })
        let sales = inventory.cache.cachedSales().filter { !BucketLayout.isChild($0.saleID) }.sorted { $0.saleID < $1.saleID }
        figures.add(.saleUnitsAvailable, sales.map { .init([$0.saleID], value: Double($0.available)) })
        figures.add(.buildInfo, [.init([StampedeVersion.version, StampedeVersion.buildConfiguration, StampedeVersion.swiftVersion], value: 1)])
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
