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
/// 4. **Ledger** — the sale's stock movements must sum to `stock + restocked − held` in PostgreSQL
///    (one statement for the chunk, so one snapshot: nothing in flight can make them differ); a
///    difference gets a `repaired` movement referenced by the pass.
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
        let pass = Self.passReference()
        do {
            // A sale's buckets are sales of their own here: each has its counters, epoch and outbox.
            var saleIDs = try await sales.withBuckets(only ?? [])
            if only == nil { saleIDs = try await sales.saleIDs(endedBeforeSeconds: settings.reconcileEndedSaleSeconds) }
            for chunk in stride(from: 0, to: saleIDs.count, by: 100).map({ Array(saleIDs[$0..<min($0 + 100, saleIDs.count)]) }) {
                try await reconcileSales(chunk, grace: grace, pass: pass, into: &report)
            }
        } catch {
            report.errors.append("sales: \(error)")
        }
        do {
            try await reconcileMoves(saleIDs: only, dryRun: dryRun, into: &report)
        } catch {
            report.errors.append("stock moves: \(error)")
        }
        if only == nil {
            do {
                try await reconcileGroups(grace: grace, into: &report)
            } catch {
                report.errors.append("groups: \(error)")
            }
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
                counts.ledgerRepaired += report.counts[.ledgerRepaired] ?? 0
                counts.movesFinished += report.counts[.moveFinished] ?? 0
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

    /// The facts for `saleIDs`, read in the order that makes them safe to compare: PostgreSQL
    /// first — an order it holds was taken in Redis before, so reading Redis second can only see
    /// more orders taken, never fewer, unless Redis lost them.
    func reconcilePlan(_ saleIDs: [String], grace: Double, compacting: Bool) async throws(InventoryError) -> ReconcilePlan {
        let truth = try await sales.figures(saleIDs)
        if compacting { try await sales.compactOrderCounts(saleIDs) }
        let seen = try await ledger.inspect(saleIDs)
        let cutoff = Timestamp.now().milliseconds - Int64(grace * 1000)
        let accepted = try await sales.epochs(ReconcilePlan.epochsToConfirm(truth: truth, seen: seen))
        let committed = try await orders.committed(seen.flatMap { $0.pending.map(\.orderID) })
        return ReconcilePlan.make(truth: truth, seen: seen, accepted: accepted, committed: committed, cutoff: cutoff)
    }

    /// The `reference` of the `repaired` movements a pass writes, also in its log lines:
    /// `reconciler <start time> <random tag>`.
    static func passReference() -> String {
        "reconciler \(Timestamp.now().rfc3339) \(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    private func reconcileSales(_ saleIDs: [String], grace: Double, pass: String, into report: inout ReconcileReport) async throws(InventoryError) {
        let plan = try await reconcilePlan(saleIDs, grace: grace, compacting: !report.dryRun)
        report.drifts += plan.drifts
        for step in plan.steps {
            guard !report.dryRun else {
                report.record(step.kind, step.count, step.description)
                continue
            }
            switch step {
            case .rebuild(let saleID, let reason, let invalidate):
                if let epoch = invalidate { try await ledger.invalidate(saleID: saleID, epoch: epoch) }
                _ = try await rebuild(saleID)
                report.record(.saleRebuilt, 1, "sale \(saleID): \(reason) → rebuilt from PostgreSQL")
            case .commitStranded(let saleID, let epoch, let stranded):
                guard let sale = try await sales.sale(saleID) else { continue }
                let orders = stranded.map {
                    Order(orderID: $0.orderID, saleID: $0.saleID, sku: sale.definition.sku, userID: $0.userID,
                          quantity: $0.quantity, priceCents: sale.definition.priceCents, status: .reserved,
                          createdAt: $0.createdAt, expiresAt: $0.expiresAt, idempotencyKey: $0.idempotencyKey)
                }
                var claimed = orders
                var fence: GroupFence?
                if let group = sale.definition.exclusiveGroup {
                    // Committed only under the claims they were decided with: those the group
                    // still holds at the epoch PostgreSQL accepts. The others lost their claims
                    // to a rebuild of the group and must never commit: rebuilding the sale drops
                    // them and gives their units back.
                    let seen = try await ledger.inspectGroup(group, claimsOf: orders.map(\.orderID))
                    let accepted = try await groups.epochs([group])[group]
                    if seen.isCurrent, let current = seen.epoch, accepted == current { fence = GroupFence(groupID: group, epoch: current) }
                    let held = fence == nil ? [] : Set(seen.claims.map(\.orderID))
                    claimed = orders.filter { held.contains($0.orderID) }
                }
                if !claimed.isEmpty, let inserted = try await self.orders.commitRecovered(claimed, saleID: saleID, epoch: epoch, group: fence) {
                    try await ledger.acknowledge(claimed)
                    report.record(.outboxCommitted, inserted, "sale \(saleID): committed \(inserted) reservations stranded in the outbox")
                    report.record(.outboxAcknowledged, claimed.count - inserted, "sale \(saleID): cleared \(claimed.count - inserted) outbox entries committed meanwhile")
                }
                if claimed.count < orders.count {
                    try await ledger.invalidate(saleID: saleID, epoch: epoch)
                    _ = try await rebuild(saleID)
                    report.record(.saleRebuilt, 1, "sale \(saleID): \(orders.count - claimed.count) stranded reservations lost their group claims → rebuilt from PostgreSQL")
                }
            case .clearCommitted(let saleID, let cleared):
                try await ledger.acknowledge(cleared)
                report.record(.outboxAcknowledged, cleared.count, "sale \(saleID): \(cleared.count) committed orders left in the outbox → cleared")
            }
        }
        do {
            // Nil: another instance's pass holds the check right now; the next pass repeats it.
            for difference in try await sales.reconcileLedger(saleIDs, reference: pass, dryRun: report.dryRun) ?? [] {
                report.record(.ledgerRepaired, 1, "sale \(difference.saleID): stock movements differed from stock_total + restocked − held "
                              + "by \(difference.quantity) → repaired movement of \(difference.quantity) (\(pass))")
            }
        } catch {
            report.errors.append("ledger: \(error)")
        }
    }
}

extension ReconcilePlan.Step {
    /// The report's kind for this step.
    var kind: ReconcileReport.Kind {
        switch self {
        case .rebuild: .saleRebuilt
        case .commitStranded: .outboxCommitted
        case .clearCommitted: .outboxAcknowledged
        }
    }

    /// How many repairs it counts as.
    var count: Int {
        switch self {
        case .rebuild: 1
        case .commitStranded(_, _, let orders), .clearCommitted(_, let orders): orders.count
        }
    }
}
