import StampedeSystem

/// The two stages of the purchase path, run by each shard as a pipeline.
///
/// 1. `decide`: one pipelined round of the purchase script decides a whole batch (stock, per-user
///    limit, idempotency) and writes each reservation into its sale's outbox. Rejections are
///    answered at once; reservations go on to the commit stage.
/// 2. `commit`: one PostgreSQL statement inserts the order rows of a whole group — reservations
///    from any number of decided batches — and its commit is what makes each `201` true. Buyers are
///    answered, then the committed orders' outbox entries are acknowledged (deleted): by the next
///    decision's round trip when one is coming, else on their own (see `Shard`). A crash between
///    1 and 2 leaves the entries in the outbox, where the reconciler commits them later.
///
/// A shard runs one decision and one commit at a time, concurrently: while a group commits, the
/// next batch is decided, and the purchases decided meanwhile form the next group.
public struct PurchaseBatchProcessor: Sendable {
    /// Redis in production (`StockLedger`); an in-memory stand-in in the unit tests.
    public let ledger: any StockDecider
    /// PostgreSQL in production (`OrderRepository`); an in-memory stand-in in the unit tests.
    public let orders: any OrderCommitter
    /// Sales known to be sold out; a decision leaving a sale at 0 units marks it.
    public let soldOut: SoldOutBoard
    /// Called once per decided batch and once per committed group, for metrics.
    public let observe: @Sendable (StageReport) -> Void

    /// What one stage did.
    public enum StageReport: Sendable, Equatable {
        /// A batch of `size` purchases decided by Redis in `seconds`.
        case decided(size: Int, seconds: Double)
        /// A group of `orders` order rows (new and replayed) committed by PostgreSQL in `seconds`;
        /// `failed` when the commit did not happen.
        case committed(orders: Int, seconds: Double, failed: Bool)
    }

    /// A reservation (or an idempotent retry pointing at one) waiting for its group commit.
    public struct PendingCommit: Sendable {
        public var purchase: PendingPurchase
        public var decision: PurchaseDecision
        /// The epoch of the counters that decided it: its commit is fenced on it.
        public var epoch: RedisEpoch?
        /// For a sale of an exclusive group, the epoch of the group's claims it was decided under:
        /// its commit is fenced on that too.
        public var groupEpoch: RedisEpoch? = nil
        /// When its batch started deciding (monotonic seconds, set by the shard): the commit stage
        /// measures the shard's pipeline time from it.
        public var decideStarted = 0.0
    }

    public init(ledger: any StockDecider, orders: any OrderCommitter, soldOut: SoldOutBoard = SoldOutBoard(),
                observe: @escaping @Sendable (StageReport) -> Void = { _ in }) {
        self.ledger = ledger
        self.orders = orders
        self.soldOut = soldOut
        self.observe = observe
    }

    /// Decides `batch` in Redis; answers every rejection (and every purchase when Redis failed) and
    /// returns the purchases that need a commit before they are answered. `committed` (orders an
    /// earlier group committed, as `commit` returned them, of the batch's sales: see
    /// `acknowledgements(_:for:)`) leave the outbox in the same round trip.
    public nonisolated(nonsending) func decide(_ batch: [PendingPurchase], acknowledging committed: [Order] = []) async -> [PendingCommit] {
        if orders.writerHealth.isDown {
            await acknowledge(committed)
            // PostgreSQL was just seen unreachable: taking stock in Redis now would only strand it
            // in the outbox. Refuse fast; the maintenance probe clears the mark when it answers.
            for purchase in batch { purchase.complete(.unavailable("postgres is unreachable")) }
            return []
        }
        let started = MonotonicClock.now()
        // The sales a decision leaving 0 units may mark sold out. A bucket left empty is no sold-out
        // sale — bucket 0's counter id is the sale's own — its buyers refill it from the other
        // buckets (`Inventory.refill`), which marks the sale when all of them are empty.
        var generations: [String: UInt64] = [:]
        for purchase in batch where !purchase.request.inBucket && generations[purchase.request.saleID] == nil {
            generations[purchase.request.saleID] = soldOut.generation(of: purchase.request.saleID)
        }
        let decided: LedgerDecisions
        do {
            decided = try await ledger.decideBatch(batch.map { $0.request }, acknowledging: committed, now: .now())
        } catch {
            observe(.decided(size: batch.count, seconds: MonotonicClock.seconds(since: started)))
            for purchase in batch { purchase.complete(.unavailable(Self.reason(error))) }
            return []
        }
        observe(.decided(size: batch.count, seconds: MonotonicClock.seconds(since: started)))
        for (saleID, sale) in decided.sales where sale.available <= 0 {
            if let generation = generations[saleID] {
                soldOut.markSoldOut(saleID, endsAt: sale.endsAt, generation: generation)
            }
        }
        let epochs = decided.epochs
        var pending: [PendingCommit] = []
        for (purchase, decision) in zip(batch, decided.decisions) {
            if case .rejected(let outcome) = decision {
                purchase.complete(outcome)
            } else {
                var item = PendingCommit(purchase: purchase, decision: decision, epoch: epochs[purchase.request.saleID])
                if let group = purchase.request.exclusiveGroup { item.groupEpoch = decided.groupEpochs[group] }
                pending.append(item)
            }
        }
        return pending
    }

    /// Commits a group in one PostgreSQL transaction and answers each buyer: `201` with the
    /// committed order, `200` for a retry, `503 unavailable` when the commit failed (the
    /// reservations stay in the outbox for the reconciler; a retry with the same
    /// `Idempotency-Key` returns the order once it is committed).
    ///
    /// Each sale's reservations commit only if PostgreSQL still accepts the epoch they were decided
    /// at (the fence); those refused are answered like stale counters (`PurchaseOutcome.stale`:
    /// the caller rebuilds the sale and retries once).
    ///
    /// Returns the orders now committed whose outbox entries are to be acknowledged — never one of
    /// a fenced sale or of a failed commit — for the next `decide` or for `acknowledge`.
    public nonisolated(nonsending) func commit(_ whole: [PendingCommit]) async -> [Order] {
        // One epoch per sale and commit: the latest decided. Items decided at an older one (a
        // rebuild came between two decisions) are fenced off without asking PostgreSQL.
        var epochs: [String: RedisEpoch] = [:]
        // Likewise one group fence per sale of an exclusive group: the latest claims' epoch.
        var groupFences: [String: GroupFence] = [:]
        // The loops below read the items in place (by index): `for item in` would copy each one,
        // retaining and releasing its references.
        for index in whole.indices {
            if let epoch = whole[index].epoch { epochs[whole[index].purchase.request.saleID] = epoch }
            if let group = whole[index].purchase.request.exclusiveGroup, let epoch = whole[index].groupEpoch {
                groupFences[whole[index].purchase.request.saleID] = GroupFence(groupID: group, epoch: epoch)
            }
        }
        let isCurrent = { (item: PendingCommit) in
            item.epoch != nil && item.epoch == epochs[item.purchase.request.saleID]
                && (item.purchase.request.exclusiveGroup == nil || item.groupEpoch == groupFences[item.purchase.request.saleID]?.epoch)
        }
        // The common case, every item current, keeps the array as it is (no copy of the items).
        var group = whole
        if !whole.allSatisfy(isCurrent) {
            var outdatedClaims: [String: RedisEpoch] = [:]
            for item in whole where !isCurrent(item) {
                item.purchase.complete(.stale)
                // Decided under claims a rebuild of its group replaced: its units are taken in the
                // sale's counters but will never commit. Rebuilding the sale gives them back.
                if item.epoch == epochs[item.purchase.request.saleID], let epoch = item.epoch {
                    outdatedClaims[item.purchase.request.saleID] = epoch
                }
            }
            for (saleID, epoch) in outdatedClaims { _ = try? await ledger.invalidate(saleID: saleID, epoch: epoch) }
            group = whole.filter(isCurrent)
        }
        var reserved: [Order] = []
        var replayed: [Order] = []
        var lookup: [String] = []
        reserved.reserveCapacity(group.count)
        for index in group.indices {
            switch group[index].decision {
            case .reserved(let order): reserved.append(order)
            case .duplicate(let orderID, let pending):
                if let pending { replayed.append(pending) } else { lookup.append(orderID) }
            case .rejected: continue
            }
        }
        let started = MonotonicClock.now()
        let commit: GroupCommit
        do {
            commit = try await orders.commitBatch(reserved: reserved, replayed: replayed, lookup: lookup, epochs: epochs,
                                                  groups: groupFences)
        } catch {
            observe(.committed(orders: reserved.count + replayed.count, seconds: MonotonicClock.seconds(since: started), failed: true))
            for item in group { item.purchase.complete(.unavailable(Self.reason(error))) }
            return []
        }
        observe(.committed(orders: reserved.count + replayed.count, seconds: MonotonicClock.seconds(since: started), failed: false))
        for saleID in commit.fenced {
            // Decided at counters PostgreSQL no longer accepts: a rebuild replaced them (then this
            // is a no-op) or PostgreSQL's epoch is not Redis's (this forces a rebuild).
            if let epoch = epochs[saleID] { _ = try? await ledger.invalidate(saleID: saleID, epoch: epoch) }
            // Their claims will never be used: released now (at the claims' epoch; a rebuilt group
            // holds none of them), else by the reconciler, which finds no order for them.
            if let fence = groupFences[saleID] {
                let orderIDs = reserved.filter { $0.saleID == saleID }.map(\.orderID)
                _ = try? await ledger.releaseClaims(group: fence.groupID, epoch: fence.epoch, orderIDs: orderIDs)
            }
        }
        for index in group.indices {
            if !commit.fenced.isEmpty, commit.fenced.contains(group[index].purchase.request.saleID) {
                // Nothing was committed and the replaced counters do not count it: the same as
                // meeting stale counters.
                group[index].purchase.complete(.stale)
                continue
            }
            switch group[index].decision {
            case .reserved(let order):
                group[index].purchase.complete(.created(order))
            case .duplicate(let orderID, _):
                if let order = commit.readBack[orderID] {
                    group[index].purchase.complete(.existing(order))
                } else {
                    group[index].purchase.complete(.unavailable("the original order is not committed yet; retry"))
                }
            case .rejected:
                continue
            }
        }
        var committed = reserved
        committed.append(contentsOf: replayed)
        if !commit.fenced.isEmpty { committed.removeAll { commit.fenced.contains($0.saleID) } }
        return committed
    }

    /// Splits committed orders into those that may ride on the decision of `batch` — those of its
    /// sales, whose keys share their sale's slot and so their node — and the rest, to acknowledge
    /// on their own. In a cluster another sale's node may be failing over: its `HDEL` must not
    /// delay or fail a decision that does not need it.
    public static func acknowledgements(_ committed: [Order], for batch: [PendingPurchase]) -> (folded: [Order], alone: [Order]) {
        guard let first = batch.first?.request.saleID, !committed.isEmpty else { return ([], committed) }
        if batch.allSatisfy({ $0.request.saleID == first }) {
            if committed.allSatisfy({ $0.saleID == first }) { return (committed, []) }
            var folded: [Order] = [], alone: [Order] = []
            for order in committed { if order.saleID == first { folded.append(order) } else { alone.append(order) } }
            return (folded, alone)
        }
        let sales = Set(batch.map(\.request.saleID))
        var folded: [Order] = [], alone: [Order] = []
        for order in committed { if sales.contains(order.saleID) { folded.append(order) } else { alone.append(order) } }
        return (folded, alone)
    }

    /// Removes committed orders from their sales' outboxes in a round trip of their own. A failure
    /// leaves the entries to the reconciler, which finds them committed.
    public nonisolated(nonsending) func acknowledge(_ committed: [Order]) async {
        guard !committed.isEmpty else { return }
        try? await ledger.acknowledge(committed)
    }

    static func reason(_ error: any Error) -> String {
        if case InventoryError.unavailable(let why) = error { return why }
        return "\(error)"
    }
}
