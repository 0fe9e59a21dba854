/// Everything Redis needs to sell a sale again, computed from PostgreSQL's committed orders under
/// the lock that moves the sale to a new epoch (`SaleRepository.rebuildSnapshot`).
public struct SaleSnapshot: Sendable {
    /// The epoch the counters are rebuilt at; PostgreSQL accepts commits for this one only.
    public var epoch: RedisEpoch
    /// The definition, with `available = stock + restocked − (reserved + paid)`.
    public var sale: Sale
    /// Orders ever taken (any status): Redis's `orders` counter.
    public var ordersTaken: Int64
    /// Units each user holds (reserved + paid).
    public var holdings: [(userID: String, units: Int64)]
    /// `user|Idempotency-Key` → order id, so retries keep answering their first order.
    public var idempotencyKeys: [(field: String, orderID: String)]
    /// Cancelled and expired orders: their stock is already counted as returned.
    public var released: [String]
}
