/// A snapshot of one shard's figures for `/admin/shards` and `/metrics`.
public struct ShardStatistics: Sendable, Equatable {
    public var index: Int
    /// Purchases admitted and not yet answered (waiting or in a batch).
    public var inFlight: Int
    /// Purchases waiting for the next batch.
    public var queueDepth: Int
    public var maxInFlight: Int
    public var batchSize: Int
    /// Purchases answered since start (any outcome but shedding).
    public var served: Int
    /// Purchases answered `503 overloaded` without any work.
    public var shed: Int
    public var batches: Int
    /// The largest batch so far and the last one.
    public var largestBatch: Int
    public var lastBatch: Int
    /// Sale ids this shard has seen purchases for (most recent first, bounded).
    public var sales: [String]

    /// Mean purchases per batch.
    public var meanBatch: Double { batches == 0 ? 0 : Double(served) / Double(batches) }
}
