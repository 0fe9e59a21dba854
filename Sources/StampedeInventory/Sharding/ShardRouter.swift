/// Maps a sale to the shard that owns its purchase traffic.
///
/// A stable hash (FNV-1a, 64-bit) of the sale id, modulo the shard count: the same sale lands on the
/// same shard in every process and on every start, unlike Swift's seeded `Hasher`.
public struct ShardRouter: Sendable, Equatable {
    public let shardCount: Int

    public init(shardCount: Int) {
        precondition(shardCount > 0, "shard count must be positive")
        self.shardCount = shardCount
    }

    /// The shard index of `saleID`, in `0..<shardCount`.
    public func shard(for saleID: some StringProtocol) -> Int {
        Int(Self.fnv1a(saleID) % UInt64(shardCount))
    }

    /// FNV-1a over the UTF-8 bytes.
    public static func fnv1a(_ text: some StringProtocol) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}
