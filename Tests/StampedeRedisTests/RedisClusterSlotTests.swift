@testable import StampedeRedis
import Testing

/// `RedisClusterSlot` against values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
struct RedisClusterSlotTests {
    /// Known slots (as `CLUSTER KEYSLOT` answers them) and the spec's CRC16 check value.
    @Test func knownSlots() {
        #expect(RedisClusterSlot.of("foo") == 12182)
        #expect(RedisClusterSlot.of("bar") == 5061)
        #expect(RedisClusterSlot.of("") == 0)
        var check = "123456789"
        #expect(check.withUTF8 { RedisClusterSlot.crc16($0) } == 0x31C3)
    }

    /// Keys with one non-empty hash tag share its slot; an empty tag or a missing `}` hashes the whole key.
    @Test func hashTags() {
        let tagged = RedisClusterSlot.of("{user1000}.following")
        #expect(RedisClusterSlot.of("{user1000}.followers") == tagged)
        #expect(RedisClusterSlot.of("user1000") == tagged)
        #expect(RedisClusterSlot.of("x{user1000}y{other}") == tagged, "only the first tag counts")
        #expect(RedisClusterSlot.of("{}user1000") != tagged, "an empty tag hashes the whole key")
        #expect(RedisClusterSlot.of("{}user1000") == RedisClusterSlot.of("{}user1000"))
        #expect(RedisClusterSlot.of("{user1000") != tagged, "no closing brace: the whole key")
        #expect(RedisClusterSlot.of("{sale-1}:sale") == RedisClusterSlot.of("{sale-1}:pending"))
    }
}
