import StampedeSystem

/// The inventory's background work: keeping the sale cache fresh, expiring unpaid reservations,
/// and the reconciler (see `reconcile`).
///
/// Every step is idempotent and safe with several Stampede instances on the same Redis and
/// PostgreSQL: expiry claims rows with `FOR UPDATE SKIP LOCKED`, stock returns are once per order
/// and fenced on the sale's epoch, outbox commits are `INSERT … ON CONFLICT DO NOTHING` fenced on
/// the epoch, and rebuilds serialize on the sale's row lock.
extension Inventory {
    /// Runs every periodic task until the surrounding task is cancelled.
    public func runMaintenance() async {
        let settings = configuration.withLock { $0 }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.every(settings.cacheRefreshSeconds) { await self.refreshCache() } }
            group.addTask {
                await self.every(settings.replicaCheckSeconds) {
                    await self.orders.routing.check(primary: self.orders.writer, replica: self.orders.reader)
                }
            }
            group.addTask { await self.every(settings.expirySweepSeconds) { _ = await self.expireDueReservations() } }
            group.addTask { await self.every(0.5) { await self.probeWriter() } }
            // A restore or promotion of PostgreSQL under a running Stampede: noticed within a second.
            group.addTask { await self.every(1) { _ = try? await self.refreshIncarnation() } }
            group.addTask {
                // The first pass runs at once: at start, sales whose counters predate a Redis
                // restart are rebuilt before buyers reach them.
                await self.every(settings.reconcileSeconds) { _ = await self.reconcile() }
            }
        }
    }

    /// While the PostgreSQL writer is marked down, checks whether it answers again.
    func probeWriter() async {
        guard orders.writerHealth.isDown else { return }
        if await orders.writer.ping() {
            orders.writerHealth.markUp()
            logger.notice("PostgreSQL answers again; purchases resume")
        }
    }

    /// Re-reads every recently read sale from the Redis reader in one round trip; a sale the reader
    /// does not know is loaded from the primary (and rebuilt from PostgreSQL if it is lost).
    public func refreshCache() async {
        let ids = cache.idsToRefresh()
        let started = MonotonicClock.now()
        guard !ids.isEmpty, let fresh = try? await ledger.sales(ids, fromReader: true) else { return }
        for (saleID, sale) in zip(ids, fresh) {
            if let sale {
                // Units came back (perhaps returned by another instance): decide in Redis again.
                if sale.available > 0, soldOut.isSoldOut(saleID) { soldOut.clear(saleID) }
                cache.store(saleID, sale, now: started)
            } else {
                _ = try? await loadSale(saleID)
            }
        }
    }

    /// Expires reservations past `expires_at` and returns their stock; returns how many expired.
    public func expireDueReservations() async -> Int {
        var total = 0
        while true {
            guard let expired = try? await orders.expireDue(limit: 500), !expired.isEmpty else { break }
            await returnStock(expired)
            total += expired.count
            if expired.count < 500 { break }
        }
        if total > 0 {
            repairs.withLock { $0.expired += total }
            logger.info("expired unpaid reservations", metadata: ["count": "\(total)"])
        }
        return total
    }

    /// Returns the stock of cancelled or expired orders whose return did not complete earlier.
    public func retryStockReturns(graceSeconds: Int = 10) async -> Int {
        guard let pending = try? await orders.unreturned(graceSeconds: graceSeconds), !pending.isEmpty else { return 0 }
        let returned = await returnStock(pending)
        if returned > 0 {
            repairs.withLock { $0.stockReturned += returned }
            logger.warning("completed deferred stock returns", metadata: ["count": "\(returned)"])
        }
        return returned
    }

    /// Commits outbox entries older than the grace period and clears them; returns how many
    /// orders were committed now (one reconciler step, kept for callers that want only it).
    public func commitStrandedReservations(graceSeconds: Double? = nil, saleIDs: [String]? = nil) async -> Int {
        let report = await reconcile(outboxGraceSeconds: graceSeconds, saleIDs: saleIDs)
        return report.counts[.outboxCommitted] ?? 0
    }

    func every(_ seconds: Double, _ work: @Sendable () async -> Void) async {
        let nanos = UInt64(max(0.01, seconds) * 1e9)
        while !Task.isCancelled {
            await work()
            try? await Task.sleep(nanoseconds: nanos)
        }
    }
}
