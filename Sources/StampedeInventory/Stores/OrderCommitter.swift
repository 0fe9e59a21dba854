/// The store that commits groups of orders durably — PostgreSQL in production
/// (`OrderRepository`), an in-memory stand-in in the purchase pipeline's unit tests.
public protocol OrderCommitter: Sendable {
    /// Whether the store was last seen unreachable: the pipeline then refuses purchases before
    /// taking any stock.
    var writerHealth: DependencyHealth { get }
    /// Commits new reservations and replayed ones (each at most once) and reads back `lookup`;
    /// each sale's orders only if the store accepts the epoch they were decided at, and for a sale
    /// of an exclusive group (`groups`, by sale) the epoch of the group's claims. Returning means
    /// committed.
    func commitBatch(reserved: [Order], replayed: [Order], lookup: [String],
                     epochs: [String: RedisEpoch], groups: [String: GroupFence]) async throws(InventoryError) -> GroupCommit
}

extension OrderRepository: OrderCommitter {}

/// The outcome of committing one group of orders.
public struct GroupCommit: Sendable {
    /// The replayed and looked-up orders, as read back from PostgreSQL. A new reservation is
    /// not read back: unless its sale is `fenced`, it is committed exactly as given.
    public var readBack: [String: Order] = [:]
    /// Sales whose reservations were refused: decided under an epoch PostgreSQL no longer
    /// accepts (the counters were rebuilt meanwhile). Nothing of theirs was inserted.
    public var fenced: Set<String> = []
    /// How many of the new reservations are committed (those of sales not fenced).
    public var reservedCommitted = 0

    public init(readBack: [String: Order] = [:], fenced: Set<String> = [], reservedCommitted: Int = 0) {
        self.readBack = readBack
        self.fenced = fenced
        self.reservedCommitted = reservedCommitted
    }
}
