/// The tunables of one shard: how big its batches get and how many purchases it holds at most.
public struct ShardSettings: Sendable, Equatable {
    /// The most purchases per batch (one Redis round trip, one PostgreSQL commit).
    public var batchSize: Int
    /// The ceiling of purchases held at once; the adaptive limit moves below it.
    public var maxInFlight: Int
    /// The most orders one PostgreSQL group commit carries.
    public var commitGroupSize: Int

    public init(batchSize: Int, maxInFlight: Int, commitGroupSize: Int = 512) {
        self.batchSize = max(1, batchSize)
        self.maxInFlight = max(1, maxInFlight)
        self.commitGroupSize = max(1, commitGroupSize)
    }
}

/// Which shard owns which sale, and each shard's settings: `hashedCount` shards shared by hashing
/// (`fnv1a64(sale_id) % hashedCount`), then one dedicated shard per pinned sale, in pin order.
///
/// A pure value: the directory swaps whole layouts, and two layouts with the same ownership
/// (`sameOwnership`) differ only in tunables that apply in place.
public struct ShardLayout: Sendable, Equatable {
    public var hashedCount: Int
    /// Sales with a shard of their own, at index `hashedCount + position`.
    public private(set) var pinned: [String]
    private var pinIndex: [String: Int]
    /// Settings of every shard without an override.
    public var defaults: ShardSettings
    /// Settings by shard index (hashed or pinned).
    public var overrides: [Int: ShardSettings]

    public init(hashedCount: Int, pinned: [String] = [], defaults: ShardSettings, overrides: [Int: ShardSettings] = [:]) {
        self.hashedCount = max(1, hashedCount)
        var unique: [String] = []
        for sale in pinned where !unique.contains(sale) { unique.append(sale) }
        self.pinned = unique
        pinIndex = Dictionary(uniqueKeysWithValues: unique.enumerated().map { ($1, $0) })
        self.defaults = defaults
        self.overrides = overrides
    }

    /// Every shard: hashed, then pinned.
    public var shardCount: Int { hashedCount + pinned.count }

    /// The shard that owns `saleID`.
    public func owner(of saleID: some StringProtocol) -> Int {
        if !pinIndex.isEmpty, let pin = pinIndex[String(saleID)] { return hashedCount + pin }
        return Int(ShardRouter.fnv1a(saleID) % UInt64(hashedCount))
    }

    /// The sale a shard is dedicated to, nil for a hashed shard.
    public func pinnedSale(of index: Int) -> String? {
        index >= hashedCount && index < shardCount ? pinned[index - hashedCount] : nil
    }

    /// The settings of shard `index`.
    public func settings(of index: Int) -> ShardSettings { overrides[index] ?? defaults }

    /// Whether every sale has the same owner in both layouts (then nothing has to move).
    public func sameOwnership(as other: ShardLayout) -> Bool {
        hashedCount == other.hashedCount && pinned == other.pinned
    }
}
