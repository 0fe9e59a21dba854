import Testing
@testable import StampedeInventory

@Suite("ShardRouter")
struct ShardRouterTests {
    /// FNV-1a 64 matches known values (published vectors for "" , "a", "foobar"; others from a Python reference).
    @Test(arguments: [
        ("", 0xcbf2_9ce4_8422_2325 as UInt64), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8),
        ("s1", 0x08d8_ff07_b578_d149), ("sale-42", 0x76f9_5c1c_7911_f1cf), ("black-friday:2026", 0x7593_bbf8_dc05_c8d4),
    ])
    func fnv1aKnownValues(text: String, hash: UInt64) {
        #expect(ShardRouter.fnv1a(text) == hash)
    }

    /// A sale's shard is the hash modulo the count, the same on every call and in every router.
    @Test func shardIsStable() {
        let router = ShardRouter(shardCount: 8)
        #expect(router.shard(for: "s1") == 1)
        #expect(router.shard(for: "sale-42") == 7)
        #expect(router.shard(for: "foobar") == 0)
        #expect(ShardRouter(shardCount: 7).shard(for: "black-friday:2026") == 3)
        #expect(router.shard(for: "s1") == ShardRouter(shardCount: 8).shard(for: "s1"))
        #expect(router.shard(for: "sale-42"[...]) == router.shard(for: "sale-42"))
    }

    /// Every shard index is in `0..<shardCount`, including a single shard.
    @Test(arguments: [1, 2, 3, 8, 13, 4096])
    func shardInRange(count: Int) {
        let router = ShardRouter(shardCount: count)
        for i in 0..<2000 {
            let shard = router.shard(for: "sale-\(i)")
            #expect((0..<count).contains(shard))
        }
    }

    /// 10,000 ids spread over 8 shards with each within ±25% of the mean.
    @Test func distributesEvenly() {
        let router = ShardRouter(shardCount: 8)
        var counts = [Int](repeating: 0, count: 8)
        for i in 0..<10_000 { counts[router.shard(for: "sale-\(i)")] += 1 }
        let mean = 10_000.0 / 8
        for (shard, count) in counts.enumerated() {
            #expect(Double(count) > mean * 0.75 && Double(count) < mean * 1.25, "shard \(shard): \(count)")
        }
        #expect(counts.reduce(0, +) == 10_000)
    }
}
