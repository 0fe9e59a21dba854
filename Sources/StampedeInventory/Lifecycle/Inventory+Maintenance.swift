/// The inventory's background work: keeping the sale cache fresh, expiring unpaid reservations,
/// retrying stock returns, and committing reservations stranded in the outbox.
///
/// Every step is idempotent and safe with several Stampede instances on the same Redis and
/// PostgreSQL: expiry claims rows with `FOR UPDATE SKIP LOCKED`, stock returns are once per order
/// in Redis, and outbox commits are `INSERT … ON CONFLICT DO NOTHING`.
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
            group.addTask {
                await self.every(settings.reconcileSeconds) {
                    _ = await self.retryStockReturns()
                    _ = await self.commitStrandedReservations()
                }
            }
        }
    }

    /// Re-reads every recently read sale from the Redis reader in one round trip; a sale the reader
    /// does not know is loaded from the primary (and rebuilt from PostgreSQL if it is lost).
    public func refreshCache() async {
        let ids = cache.idsToRefresh()
        guard !ids.isEmpty, let fresh = try? await ledger.sales(ids, fromReader: true) else { return }
        for (saleID, sale) in zip(ids, fresh) {
            if let sale {
                // Units came back (perhaps returned by another instance): decide in Redis again.
                if sale.available > 0, soldOut.isSoldOut(saleID) { soldOut.clear(saleID) }
                cache.store(saleID, sale)
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
        logger.warning("retrying stock returns", metadata: ["count": "\(pending.count)"])
        await returnStock(pending)
        return pending.count
    }

    /// Commits outbox entries older than the grace period — reservations taken in Redis whose batch
    /// never acknowledged them (a crash or a PostgreSQL failure) — and clears them. Returns how many
    /// orders were committed now.
    public func commitStrandedReservations(graceSeconds: Double? = nil) async -> Int {
        let grace = graceSeconds ?? configuration.withLock { $0.outboxGraceSeconds }
        let cutoff = Timestamp.now().milliseconds - Int64(grace * 1000)
        guard let saleIDs = try? await sales.saleIDs() else { return 0 }
        var committed = 0
        for saleID in saleIDs {
            guard let entries = try? await ledger.pending(saleID: saleID) else { continue }
            let stranded = entries.filter { $0.record.createdAt.milliseconds <= cutoff }
            guard !stranded.isEmpty, let sale = try? await ledger.sales([saleID])[0] else { continue }
            let recovered = stranded.map {
                $0.record.order(orderID: $0.orderID, saleID: saleID, sku: sale.definition.sku,
                                priceCents: sale.definition.priceCents)
            }
            do {
                let inserted = try await orders.commitRecovered(recovered)
                try await ledger.acknowledge(recovered)
                committed += inserted
                if inserted > 0 {
                    logger.warning("committed reservations stranded in the outbox",
                                   metadata: ["sale_id": "\(saleID)", "count": "\(inserted)"])
                }
            } catch {
                logger.warning("outbox reconciliation failed", metadata: ["sale_id": "\(saleID)", "error": "\(error)"])
            }
        }
        if committed > 0 { repairs.withLock { $0.outboxCommitted += committed } }
        return committed
    }

    private func every(_ seconds: Double, _ work: @Sendable () async -> Void) async {
        let nanos = UInt64(max(0.01, seconds) * 1e9)
        while !Task.isCancelled {
            await work()
            try? await Task.sleep(nanoseconds: nanos)
        }
    }
}
