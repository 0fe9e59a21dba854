/// The Redis keys of one sale. Every key carries the hash tag `{sale_id}`, so one sale's keys live
/// on one Redis Cluster slot and a Lua script may touch all of them.
public struct SaleKeys: Sendable, Equatable {
    /// Hash: the definition (`sku`, `price`, `total`, `limit`, `starts`, `ends`, `ttl`) and the live
    /// counters `avail` (units left), `restocked` and `orders` (reservations ever taken).
    public let sale: String
    /// Hash: user id → units the user holds (reserved + paid).
    public let users: String
    /// Hash: `user|idempotency-key` → order id.
    public let idempotency: String
    /// Hash: order id → reservation not yet known to be committed in PostgreSQL (the outbox).
    public let pending: String
    /// Set: order ids whose stock has been returned (makes each return happen once).
    public let released: String
    /// Hash: stock moves between buckets this bucket took part in, `out:<move_id>` → units it gave
    /// and `in:<move_id>` → units it received (makes each step of a move happen once; `BucketScripts`).
    public let moves: String

    public init(saleID: String) {
        let tag = "{" + saleID + "}"
        sale = tag + ":sale"
        users = tag + ":users"
        idempotency = tag + ":idem"
        pending = tag + ":pending"
        released = tag + ":released"
        moves = tag + ":moves"
    }
}
