import StampedeRedis

/// What a step of a stock move did in Redis.
public enum MoveStepResult: Sendable, Equatable {
    /// Done now or before; for a revocation, the units taken.
    case applied(units: Int64)
    /// The bucket's counters are not at the move's epoch for it.
    case stale
}

extension StockLedger {
    /// The node owning each candidate tag `<sale_id>~n`, n in `candidates` (one round trip per
    /// node), and the node owning the sale's own tag: what `BucketLayout.chooseCandidates` picks from.
    func owners(of saleID: String, candidates: Range<Int>) async throws(InventoryError) -> (home: String, candidates: [(n: Int, owner: String)]) {
        let owners = try await nodeTokens(forSales: [saleID] + candidates.map { BucketLayout.childID(of: saleID, candidate: $0) })
        return (owners[0], zip(candidates, owners.dropFirst()).map { ($0, $1) })
    }

    /// Units each of `counterIDs` holds now, the epoch its counters are at (nil: missing or
    /// invalidated), and whether they are current (rebuilt for the Redis run that answered); one
    /// round trip per node.
    public func bucketAvailability(_ counterIDs: [String]) async throws(InventoryError) -> [(units: Int64, epoch: RedisEpoch?, isCurrent: Bool)] {
        guard !counterIDs.isEmpty else { return [] }
        let postgres = incarnation.current
        let replies = try await execute(counterIDs.map {
            let key = SaleKeys(saleID: $0).sale
            return RedisRoutedCall(key: key, .command(["HMGET", key, "avail", "run", "gen"]))
        })
        return try replies.map { reply throws(InventoryError) in
            let fields = try reply.value.orThrow().array ?? []
            let units = fields.first?.int ?? 0
            let runID = fields.count == 3 ? fields[1].string : nil
            let epoch = runID.map { RedisEpoch(runID: $0, generation: fields[2].int ?? 0) }
            return (max(0, units), epoch, runID != nil && runID == run(of: reply.node, postgres))
        }
    }

    /// Takes up to `amount` units from the counters of `counterID` for `moveID`, once, if they are
    /// at `epoch` (`BucketScripts.revoke`).
    public func revoke(moveID: Int64, from counterID: String, amount: Int64, epoch: RedisEpoch) async throws(InventoryError) -> MoveStepResult {
        let taken = try await moveStep(BucketScripts.revoke, moveID: moveID, counterID: counterID, amount: amount, epoch: epoch)
        return taken < 0 ? .stale : .applied(units: taken)
    }

    /// Gives `amount` units to the counters of `counterID` for `moveID`, once, if they are at
    /// `epoch` (`BucketScripts.grant`).
    public func grant(moveID: Int64, to counterID: String, amount: Int64, epoch: RedisEpoch) async throws(InventoryError) -> MoveStepResult {
        let given = try await moveStep(BucketScripts.grant, moveID: moveID, counterID: counterID, amount: amount, epoch: epoch)
        return given < 0 ? .stale : .applied(units: amount)
    }

    /// One move step's script on the bucket's keys; its integer answer (-1: not at `epoch`).
    private func moveStep(_ script: RedisScript, moveID: Int64, counterID: String, amount: Int64,
                          epoch: RedisEpoch) async throws(InventoryError) -> Int64 {
        let keys = SaleKeys(saleID: counterID)
        let call = RedisRoutedCall(key: keys.sale, .script(RedisScriptCall(
            script, keys: [keys.sale, keys.moves],
            arguments: [String(moveID), String(amount), epoch.runID, String(epoch.generation)])))
        return try await execute([call])[0].value.orThrow().int ?? -1
    }
}

extension StockLedger {
    /// Deletes every key of counters no longer in use (buckets a layout change retired).
    public func forget(_ counterIDs: [String]) async throws(InventoryError) {
        guard !counterIDs.isEmpty else { return }
        let calls = counterIDs.map { id -> RedisRoutedCall in
            let keys = SaleKeys(saleID: id)
            return RedisRoutedCall(key: keys.sale, .command(["DEL", keys.sale, keys.users, keys.idempotency, keys.pending,
                                                             keys.released, keys.moves]))
        }
        for reply in try await execute(calls) { _ = try reply.value.orThrow() }
    }
}
