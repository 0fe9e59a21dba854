/// A move of units from one bucket of a sale to another (docs/consistency.md, "Buckets"), as
/// `stock_moves` records it. Every step is durable and idempotent, so whoever finds a move
/// half-done — the mover, another buyer's refill, the reconciler — finishes it:
///
/// 1. `planned` (PostgreSQL): the source's epoch is recorded; the units are still the source's.
/// 2. revoke (Redis, `BucketScripts.revoke`): up to `requested` units leave the source's counters,
///    once per move, only at that epoch.
/// 3. `revoked` (PostgreSQL, fenced on the source's epoch): the units taken move from the source's
///    allocation to the target's, with the target's epoch recorded. A source rebuilt in between
///    gave the units back (it counts its allocation, unchanged): the move is `abandoned`.
/// 4. grant (Redis, `BucketScripts.grant`): the units join the target's counters, once, at that
///    epoch. A target rebuilt since counted them already (its allocation includes them).
/// 5. `done`.
public struct StockMove: Sendable, Equatable {
    /// Where a move stands.
    public enum State: String, Sendable {
        case planned, revoked, done, abandoned

        /// Whether units may be on their way (neither in the source's counters nor the target's).
        public var isUnfinished: Bool { self == .planned || self == .revoked }
    }

    public var moveID: Int64
    /// The sale (bucket 0's id) whose buckets these are.
    public var saleID: String
    /// The counter ids (a bucket's child id, or the sale's own) units leave and join.
    public var source: String
    public var target: String
    public var requested: Int64
    /// The units taken from the source (known once `revoked`).
    public var amount: Int64?
    public var state: State
    public var sourceEpoch: RedisEpoch
    /// The target's epoch when the units were allocated to it (known once `revoked`).
    public var targetEpoch: RedisEpoch?

    public init(moveID: Int64, saleID: String, source: String, target: String, requested: Int64, amount: Int64?,
                state: State, sourceEpoch: RedisEpoch, targetEpoch: RedisEpoch?) {
        self.moveID = moveID
        self.saleID = saleID
        self.source = source
        self.target = target
        self.requested = requested
        self.amount = amount
        self.state = state
        self.sourceEpoch = sourceEpoch
        self.targetEpoch = targetEpoch
    }
}
