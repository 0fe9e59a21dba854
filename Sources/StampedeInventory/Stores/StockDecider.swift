/// The store that decides purchases against live stock, atomically, in batches — Redis in
/// production (`StockLedger`, one node or a cluster's primaries), an in-memory stand-in in the
/// purchase pipeline's unit tests. The pipeline (`PurchaseBatchProcessor`, `Shard`) talks only to
/// this and to `OrderCommitter`.
public protocol StockDecider: Sendable {
    /// Decides every purchase of `requests` (stock, per-user limit, idempotency) and records each
    /// reservation in its sale's outbox; returns a decision per request, in order. In the same
    /// round trip it removes `committed` (orders committed by earlier groups) from their sales'
    /// outboxes, as `acknowledge` would; a failed acknowledgement leaves entries to the reconciler.
    func decideBatch(_ requests: [PurchaseRequest], acknowledging committed: [Order],
                     now: Timestamp) async throws(InventoryError) -> LedgerDecisions
    /// Marks a sale's counters at `epoch` unusable (they must be rebuilt before it sells again);
    /// false when they were already at another epoch.
    @discardableResult
    func invalidate(saleID: String, epoch: RedisEpoch) async throws(InventoryError) -> Bool
    /// Removes committed orders from their sales' outboxes.
    func acknowledge(_ orders: [Order]) async throws(InventoryError)
    /// Releases the claims of orders in an exclusive group, made at `epoch`, each at most once;
    /// nil when the claims are not at that epoch.
    func releaseClaims(group: String, epoch: RedisEpoch, orderIDs: [String]) async throws(InventoryError) -> Int?
}

extension StockDecider {
    /// Stand-ins without exclusive groups have no claims to release.
    public func releaseClaims(group: String, epoch: RedisEpoch, orderIDs: [String]) async throws(InventoryError) -> Int? { 0 }
}

extension StockLedger: StockDecider {}
