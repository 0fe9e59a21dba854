import Glibc
import StampedeRedis

/// What a refill of an empty bucket came to.
public enum RefillOutcome: Sendable, Equatable {
    /// Units moved into the bucket (or it had some already): try the purchase again.
    case moved
    /// The sale as a whole holds fewer units than asked, with no move under way.
    case soldOut
    /// PostgreSQL or Redis failed, or moves kept running while it looked: answer `503`.
    case unavailable(String)
}

/// Bucketed sales (docs/consistency.md, "Buckets"): defining their buckets, refilling a
/// buyer's empty bucket from the others, and finishing the moves that a crash left half-done.
extension Inventory {
    /// The most refills one purchase may run before it is answered `503`.
    static let refillsPerPurchase = 2 * BucketLayout.maxBuckets

    /// A fault-injection point for the tests that kill Stampede in the middle of a move
    /// (`STAMPEDE_FAILPOINT_MOVE_PAUSE_MS`): each move driven by a refill pauses this long after
    /// its units left the source's counters and before PostgreSQL records where they went. 0 (unset)
    /// in production.
    static let movePauseNanoseconds: UInt64 = {
        guard let text = getenv("STAMPEDE_FAILPOINT_MOVE_PAUSE_MS"), let milliseconds = UInt64(String(cString: text)) else { return 0 }
        return milliseconds * 1_000_000
    }()

    /// Picks the child ids of buckets 1…count−1 of `saleID`: tags whose slots sit on primaries
    /// holding no bucket of the sale yet, as far as the cluster has primaries (on one Redis node,
    /// the first candidates).
    func chooseBucketIDs(_ saleID: String, count: Int) async throws(InventoryError) -> [String] {
        guard count > 1 else { return [] }
        var tried = 1
        while tried < 4096 {
            let owners = try await ledger.owners(of: saleID, candidates: 1..<(tried + 64))
            if let chosen = BucketLayout.chooseCandidates(count: count, homeOwner: owners.home, candidates: owners.candidates) {
                return chosen.map { BucketLayout.childID(of: saleID, candidate: $0) }
            }
            tried += 64
        }
        throw .unavailable("no hash tags found for \(count) buckets of \(saleID)")
    }

    /// Defines the Redis counters of each bucket 1…K−1 (its share of the stock under its child
    /// id); what `SaleRepository.save` records beside the sale.
    func defineBuckets(_ definition: SaleDefinition, ids: [String], shares: [Int64]) async throws(InventoryError) -> [SaleRepository.DefinedBucket] {
        var defined: [SaleRepository.DefinedBucket] = []
        for (offset, childID) in ids.enumerated() {
            var child = definition
            child.saleID = childID
            child.stock = shares[offset + 1]
            child.buckets = 1
            let epoch = try await ledger.define(child).epoch
            defined.append(.init(childID: childID, index: offset + 1, share: child.stock, epoch: epoch))
        }
        return defined
    }

    /// Refills the bucket `counterID` of `sale` for a purchase of `quantity` its counters refused
    /// as sold out. Concurrent refills of one bucket in this process share one run.
    ///
    /// Moves under way (anyone's, half-done by a crash too) are finished first; then the
    /// buckets' units are read: if the bucket now holds enough, `moved`; if the sale as a whole
    /// holds less than `quantity` and no move ran while they were read (the moves' version is the
    /// same before and after: units in transit count as available), `soldOut`; else units move
    /// from the bucket holding most (`BucketLayout.moveAmount`) and the caller tries again.
    func refill(_ sale: Sale, counterID: String, quantity: Int64) async -> RefillOutcome {
        // performRefill throws nothing: its failures are `unavailable` outcomes.
        (try? await refills.run(counterID) { await self.performRefill(sale, counterID: counterID, quantity: quantity) })
            ?? .unavailable("the refill of \(counterID) was cancelled")
    }

    private func performRefill(_ sale: Sale, counterID: String, quantity: Int64) async -> RefillOutcome {
        let generation = soldOut.generation(of: sale.saleID)
        do {
            for _ in 0..<8 {
                let before = try await buckets.moveState(of: sale.saleID)
                if !before.unfinished.isEmpty {
                    for move in before.unfinished { try await drive(move) }
                    continue
                }
                // The buckets as PostgreSQL has them now, not as the caller's cached copy of the sale
                // named them: the bucket count may have changed since.
                let family = before.buckets.map(\.counterID)
                guard let target = family.firstIndex(of: counterID) else {
                    return .moved  // the buyer's bucket was retired: tried again in the new layout
                }
                let seen = try await ledger.bucketAvailability(family)
                if let stale = seen.indices.first(where: { !seen[$0].isCurrent || seen[$0].epoch != before.buckets[$0].epoch }) {
                    // Counters PostgreSQL does not accept (another Redis run, gone, or not yet
                    // rebuilt at the epoch a rebuild or a change of the bucket count gave them)
                    // cannot tell what the bucket holds.
                    _ = try await rebuild(family[stale])
                    continue
                }
                let units = seen.map(\.units)
                if units[target] >= quantity { return .moved }
                if units.reduce(0, +) < quantity {
                    // Exact only if nothing moved, was rebuilt or re-bucketed while the units were read.
                    let after = try await buckets.moveState(of: sale.saleID)
                    guard after == before else { continue }
                    soldOut.markSoldOut(sale.saleID, endsAt: sale.definition.endsAt, generation: generation)
                    return .soldOut
                }
                var source = target == 0 ? 1 : 0
                for index in units.indices where index != target && units[index] > units[source] { source = index }
                let amount = BucketLayout.moveAmount(needed: quantity, have: units[target], sourceHas: units[source])
                guard let move = try await buckets.plan(saleID: sale.saleID, source: family[source], target: counterID,
                                                        requested: amount) else {
                    return .unavailable("bucket \(family[source]) has no epoch yet")
                }
                try await drive(move)
                return .moved
            }
        } catch {
            return .unavailable("moving stock between buckets failed: \(error)")
        }
        return .unavailable("stock is moving between the sale's buckets; retry")
    }

    /// Takes a move as far as it goes now (`StockMove`): every step is idempotent, so the mover,
    /// another buyer's refill and the reconciler may all drive the same move. Returns whether it
    /// ended (`done` or `abandoned`).
    @discardableResult
    func drive(_ move: StockMove) async throws(InventoryError) -> Bool {
        var move = move
        if move.state == .planned {
            switch try await ledger.revoke(moveID: move.moveID, from: move.source, amount: move.requested, epoch: move.sourceEpoch) {
            case .stale:
                // The source is not at the plan's epoch: rebuilt (which gave back anything this move
                // took, its allocation unchanged) or to be rebuilt before it sells again.
                try await buckets.abandon(move.moveID)
                return true
            case .applied(let units):
                if Self.movePauseNanoseconds > 0 { try? await Task.sleep(nanoseconds: Self.movePauseNanoseconds) }
                guard let settled = try await buckets.settleRevocation(move.moveID, units: units) else { return true }
                move = settled
            }
        }
        guard move.state == .revoked, let amount = move.amount, let epoch = move.targetEpoch else { return true }
        if amount > 0, try await ledger.grant(moveID: move.moveID, to: move.target, amount: amount, epoch: epoch) == .stale {
            // Not at the epoch the units were allocated at. A rebuild since counted them; counters
            // still at it in PostgreSQL but not in Redis (lost, invalidated) must be rebuilt, which
            // counts them too.
            if try await sales.epochs([move.target])[move.target] == epoch {
                if let current = try await ledger.inspect([move.target]).first?.epoch {
                    try await ledger.invalidate(saleID: move.target, epoch: current)
                }
                guard try await rebuild(move.target) else { return false }
            }
        }
        try await buckets.finish(move.moveID)
        soldOut.clear(move.saleID)
        return true
    }

    /// The reconciler's step for moves: those unfinished for longer than a mover takes (a crash,
    /// an error between two steps) are driven to their end.
    func reconcileMoves(saleIDs: [String]?, dryRun: Bool, into report: inout ReconcileReport) async throws(InventoryError) {
        let stuck = try await buckets.unfinished(olderThanSeconds: 2, saleIDs: saleIDs)
        guard !stuck.isEmpty else { return }
        if dryRun {
            report.record(.moveFinished, stuck.count, "\(stuck.count) stock moves between buckets left half-done")
            return
        }
        var finished = 0
        for move in stuck where try await drive(move) { finished += 1 }
        report.record(.moveFinished, finished, "\(finished) stock moves between buckets left half-done were finished")
    }
}

extension Inventory {
    /// The buckets of every bucketed sale this instance has cached, by sale id.
    public func bucketViews() async throws(InventoryError) -> [(saleID: String, buckets: [BucketView])] {
        let sales = cache.cachedSales().filter { !$0.bucketIDs.isEmpty }.sorted { $0.saleID < $1.saleID }
        var views: [(saleID: String, buckets: [BucketView])] = []
        let map = (ledger.redis as? RedisClusterClient)?.topology.map
        for sale in sales {
            let allocations = try await buckets.allocations(of: sale.saleID)
            let units = try await ledger.bucketAvailability(allocations.map(\.counterID))
            views.append((sale.saleID, zip(allocations, units).map { allocation, seen in
                let tag = "{" + allocation.counterID + "}"
                let primary = map?.primary(forSlot: RedisClusterSlot.of(tag))?.description ?? "the Redis node"
                return BucketView(bucket: allocation.bucket, tag: tag, primary: primary, available: seen.isCurrent ? seen.units : nil,
                                  allocated: allocation.allocated)
            }))
        }
        return views
    }
}

extension Inventory {
    /// Changes the bucket count of a sale live (`POST /admin/sales/{id}/buckets`), drain-first
    /// (`BucketRepository.rebucket`): commits in flight finish first, buyers move to their new
    /// buckets with their held units and idempotency keys, each bucket is rebuilt at a new epoch
    /// and purchases go on in the new layout. Reservations decided under the old one and not yet
    /// committed are fenced off (their buyers retry into the new layout, as after any rebuild);
    /// no unit is lost or counted twice.
    public func changeBuckets(_ saleID: String, to count: Int, change: AdminChange) async throws(InventoryError) -> Sale {
        guard count >= 1, count <= BucketLayout.maxBuckets else {
            throw .invalidField(field: "buckets", reason: "must be between 1 and 16")
        }
        let previous = try await sales.withBuckets([saleID])
        let bucketIDs = try await chooseBucketIDs(saleID, count: count)
        // A new bucket starts from clean keys: counters a retired bucket of the same id left (a
        // failed clean-up) could otherwise pass for current at the new bucket's first epoch.
        let added = bucketIDs.filter { !previous.contains($0) }
        if !added.isEmpty { try await ledger.forget(added) }
        let ids = [saleID] + bucketIDs
        let runIDs = Dictionary(uniqueKeysWithValues: zip(ids, try await ledger.nodeTokens(forSales: ids)))
        // Its locks on every bucket's row can meet a group commit holding two buckets' rows in the
        // other order: PostgreSQL then aborts one of the two (deadlock_timeout, 1 s). A commit so
        // aborted answers 503 like any failed commit; this change is simply tried again.
        var outcome: [SaleSnapshot]?
        for attempt in 1...5 {
            do {
                outcome = try await buckets.rebucket(saleID, bucketIDs: bucketIDs, runIDs: runIDs, change: change)
                break
            } catch .unavailable(let reason) where reason.contains("40P01") && attempt < 5 {
                logger.notice("a bucket count change met a deadlock; trying again", metadata: ["sale_id": "\(saleID)"])
            }
        }
        guard let snapshots = outcome else { throw .unknownSale(saleID) }
        for snapshot in snapshots {
            let id = snapshot.sale.saleID
            do {
                if try await ledger.restore(snapshot) { repairs.withLock { $0.salesRebuilt += 1 } }
            } catch {
                // Its node changed since: a rebuild on the new one counts the same orders.
                _ = try await rebuild(id)
            }
        }
        let retired = previous.filter { $0 != saleID && !bucketIDs.contains($0) }
        if !retired.isEmpty { try? await ledger.forget(retired) }
        soldOut.clear(saleID)
        logger.notice("changed a sale's bucket count", metadata: [
            "sale_id": "\(saleID)", "buckets": "\(count)", "bucket_ids": "\(bucketIDs)", "request_id": "\(change.requestID ?? "")",
        ])
        guard let sale = try await loadSale(saleID) else { throw .unknownSale(saleID) }
        return sale
    }
}
