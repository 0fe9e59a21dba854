/// A snapshot of one shard's figures for `/admin/shards` and `/metrics`.
public struct ShardStatistics: Sendable, Equatable {
    public var index: Int
    /// Purchases admitted and not yet answered (waiting, being decided, or waiting for a commit).
    public var inFlight: Int
    /// Purchases waiting for the next Redis decision.
    public var queueDepth: Int
    /// Reservations decided and waiting for the next group commit.
    public var commitQueueDepth: Int
    public var maxInFlight: Int
    public var batchSize: Int
    public var commitGroupSize: Int
    /// Purchases taken into a decision since start (any outcome but shedding).
    public var served: Int
    /// Purchases answered `503 overloaded` without any work.
    public var shed: Int
    /// Redis decisions (batches) so far; the largest batch and the last one.
    public var batches: Int
    public var largestBatch: Int
    public var lastBatch: Int
    /// PostgreSQL group commits so far, the orders they carried, the largest group and the last.
    public var commitGroups: Int
    public var committedOrders: Int
    public var largestGroup: Int
    public var lastGroup: Int
    /// Sale ids this shard has seen purchases for (most recent first, bounded).
    public var sales: [String]

    /// Mean purchases per Redis decision.
    public var meanBatch: Double { batches == 0 ? 0 : Double(served) / Double(batches) }
    /// Mean orders per PostgreSQL commit.
    public var meanGroup: Double { commitGroups == 0 ? 0 : Double(committedOrders) / Double(commitGroups) }
}
