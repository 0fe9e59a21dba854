/// The reconciler: compares Redis with PostgreSQL (the truth) and repairs what a crash, a Redis
/// restart or an outage left behind. It runs at start, every `reconcileSeconds`, and on demand
/// (`stampede reconcile`, with `--dry-run` to only look).
///
/// Per sale (those not ended for more than `reconcileEndedSaleSeconds`):
/// 1. **Epoch** — counters missing, from another Redis run (restart, failover, lost AOF tail), at
///    an epoch PostgreSQL does not accept, or *behind* (PostgreSQL holds more orders than Redis
///    ever took) are rebuilt from the committed orders (`rebuild`).
/// 2. **Outbox** — reservations older than the grace that are not committed are committed (fenced
///    on the epoch they were read under); entries already committed are cleared.
/// 3. **Conservation** — `available + held + uncommitted = stock + restocked` is checked and a
///    difference reported (not repaired: in-flight batches make it move under load).
/// Then, across sales: stock returns that did not complete are retried, and due reservations
/// expire.
extension Inventory {
    /// One reconciler pass. `outboxGraceSeconds` overrides the configured grace (0 = every entry);
    /// `saleIDs` limits the per-sale steps to those sales (ended or not).
    /// `sweeps: false` skips the cross-sale steps (stock-return retries, expiry).
    public func reconcile(dryRun: Bool = false, outboxGraceSeconds: Double? = nil, saleIDs only: [String]? = nil,
                          sweeps: Bool = true) async -> ReconcileReport {
        var report = ReconcileReport(dryRun: dryRun)
        let settings = configuration.withLock { $0 }
        let grace = outboxGraceSeconds ?? settings.outboxGraceSeconds
        do {
            var saleIDs = only ?? []
            if only == nil { saleIDs = try await sales.saleIDs(endedBeforeSeconds: settings.reconcileEndedSaleSeconds) }
            for chunk in stride(from: 0, to: saleIDs.count, by: 100).map({ Array(saleIDs[$0..<min($0 + 100, saleIDs.count)]) }) {
                try await reconcileSales(chunk, grace: grace, into: &report)
            }
        } catch {
            report.errors.append("sales: \(error)")
        }
        if !sweeps {
            // Only the per-sale steps (a shutdown's last outbox pass).
        } else if dryRun {
            if let backlog = try? await orders.backlog(graceSeconds: 10) {
                report.record(.stockReturned, backlog.unreturned, "\(backlog.unreturned) settled orders whose stock has not gone back")
                report.record(.expired, backlog.due, "\(backlog.due) reservations past expires_at")
            } else {
                report.errors.append("orders: PostgreSQL unreachable")
            }
        } else {
            let returned = await retryStockReturns()
            report.record(.stockReturned, returned, "\(returned) deferred stock returns completed")
            let expired = await expireDueReservations()
            report.record(.expired, expired, "\(expired) reservations expired")
        }
        if !dryRun {
            repairs.withLock { counts in
                counts.outboxCommitted += report.counts[.outboxCommitted] ?? 0
                counts.outboxDropped += report.counts[.outboxAcknowledged] ?? 0
            }
            for line in report.findings where !line.contains("reservations expired") {
                logger.warning("reconciler \(line)")
            }
            // Batches in flight make counters differ for a moment under load: only a debug line
            // here; `stampede reconcile` prints drifts for ops to judge on a quiet sale.
            for line in report.drifts { logger.debug("reconciler: \(line)") }
        }
        return report
    }

    private func reconcileSales(_ saleIDs: [String], grace: Double, into report: inout ReconcileReport) async throws(InventoryError) {
        // PostgreSQL first: an order it holds was taken in Redis before, so reading Redis second
        // can only see more orders taken, never fewer — unless Redis lost them.
        let truth = try await sales.figures(saleIDs)
        if !report.dryRun { try await sales.compactOrderCounts(saleIDs) }
        let seen = try await ledger.inspect(saleIDs)
        let cutoff = Timestamp.now().milliseconds - Int64(grace * 1000)
        for redis in seen {
            guard let pg = truth[redis.saleID] else { continue }
            let reason: String?
            if redis.epoch == nil {
                reason = "missing or invalidated in Redis"
            } else if !redis.isCurrent {
                reason = "counters from another Redis run (restart or failover: they may be behind)"
            } else if pg.epoch != redis.epoch, try await sales.epochs([redis.saleID])[redis.saleID] != redis.epoch {
                // (Read again: a rebuild between the PostgreSQL read and the Redis read is no fault.)
                reason = "Redis epoch \(redis.epoch!) is not the one PostgreSQL accepts (\(pg.epoch.map(String.init(describing:)) ?? "none"))"
            } else if pg.ordersTaken > redis.ordersTaken {
                reason = "Redis is behind: PostgreSQL holds \(pg.ordersTaken) orders, Redis took \(redis.ordersTaken)"
            } else {
                reason = nil
            }
            if let reason {
                if !report.dryRun {
                    if let epoch = redis.epoch, redis.isCurrent { try await ledger.invalidate(saleID: redis.saleID, epoch: epoch) }
                    _ = try await rebuild(redis.saleID)
                }
                report.record(.saleRebuilt, 1, "sale \(redis.saleID): \(reason) → rebuilt from PostgreSQL")
                continue
            }
            guard let epoch = redis.epoch else { continue }
            let committed = try await orders.committed(redis.pending.map(\.orderID))
            var uncommitted: Int64 = 0
            var stranded: [Order] = []
            var cleared: [Order] = []
            for entry in redis.pending {
                let order = entry.record.order(orderID: entry.orderID, saleID: redis.saleID, sku: "", priceCents: 0)
                if committed.contains(entry.orderID) {
                    if entry.record.createdAt.milliseconds <= cutoff { cleared.append(order) }
                } else {
                    uncommitted += entry.record.quantity
                    if entry.record.createdAt.milliseconds <= cutoff { stranded.append(order) }
                }
            }
            if !ReconcileReport.isConserved(available: redis.available, held: pg.held, uncommitted: uncommitted,
                                            stock: pg.stock, restocked: pg.restocked) {
                report.drifts.append("sale \(redis.saleID): available \(redis.available) + held \(pg.held) + uncommitted "
                                     + "\(uncommitted) ≠ stock \(pg.stock) + restocked \(pg.restocked)")
            }
            if !stranded.isEmpty {
                if report.dryRun {
                    report.record(.outboxCommitted, stranded.count, "sale \(redis.saleID): \(stranded.count) reservations stranded in the outbox → commit")
                } else {
                    guard let sale = try await sales.sale(redis.saleID) else { continue }
                    let orders = stranded.map {
                        Order(orderID: $0.orderID, saleID: $0.saleID, sku: sale.definition.sku, userID: $0.userID,
                              quantity: $0.quantity, priceCents: sale.definition.priceCents, status: .reserved,
                              createdAt: $0.createdAt, expiresAt: $0.expiresAt, idempotencyKey: $0.idempotencyKey)
                    }
                    if let inserted = try await self.orders.commitRecovered(orders, saleID: redis.saleID, epoch: epoch) {
                        try await ledger.acknowledge(orders)
                        report.record(.outboxCommitted, inserted, "sale \(redis.saleID): committed \(inserted) reservations stranded in the outbox")
                        report.record(.outboxAcknowledged, orders.count - inserted, "sale \(redis.saleID): cleared \(orders.count - inserted) outbox entries committed meanwhile")
                    }
                }
            }
            if !cleared.isEmpty {
                if !report.dryRun { try await ledger.acknowledge(cleared) }
                report.record(.outboxAcknowledged, cleared.count, "sale \(redis.saleID): \(cleared.count) committed orders left in the outbox → cleared")
            }
        }
    }
}
