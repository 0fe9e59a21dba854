import StampedeRedis
import Testing

/// `RedisClusterMap` built from `CLUSTER SHARDS` and `CLUSTER SLOTS` replies as Redis 7 sends them.
struct RedisClusterMapTests {
    static func node(_ port: Int, role: String, health: String = "online") -> RESPValue {
        .array([.bulkString(Array("id".utf8)), .bulkString(Array("n\(port)".utf8)),
                .bulkString(Array("port".utf8)), .integer(Int64(port)),
                .bulkString(Array("ip".utf8)), .bulkString(Array("127.0.0.1".utf8)),
                .bulkString(Array("endpoint".utf8)), .bulkString(Array("127.0.0.1".utf8)),
                .bulkString(Array("role".utf8)), .bulkString(Array(role.utf8)),
                .bulkString(Array("replication-offset".utf8)), .integer(0),
                .bulkString(Array("health".utf8)), .bulkString(Array(health.utf8))])
    }

    static func shard(_ ranges: [Int64], _ nodes: [RESPValue]) -> RESPValue {
        .array([.bulkString(Array("slots".utf8)), .array(ranges.map { .integer($0) }),
                .bulkString(Array("nodes".utf8)), .array(nodes)])
    }

    static func address(_ port: Int) -> RedisNodeAddress { RedisNodeAddress(host: "127.0.0.1", port: port) }

    /// Three shards cover every slot; replicas and primaries are told apart, failed nodes ignored.
    @Test func shardsReply() throws {
        let reply = RESPValue.array([
            Self.shard([0, 5460], [Self.node(7000, role: "master"), Self.node(7004, role: "replica")]),
            Self.shard([5461, 10922], [Self.node(7001, role: "master"), Self.node(7005, role: "replica", health: "failed")]),
            Self.shard([10923, 16000, 16001, 16383], [Self.node(7003, role: "replica"), Self.node(7002, role: "master")]),
        ])
        let map = try RedisClusterMap(shardsReply: reply)
        #expect(map.coveredSlots == 16384)
        #expect(map.primary(forSlot: 0) == Self.address(7000))
        #expect(map.primary(forSlot: 5461) == Self.address(7001))
        #expect(map.primary(forSlot: 16383) == Self.address(7002))
        #expect(map.replicas(forSlot: 100) == [Self.address(7004)])
        #expect(map.replicas(forSlot: 6000) == [], "a failed replica serves nothing")
        #expect(Set(map.primaries) == [Self.address(7000), Self.address(7001), Self.address(7002)])
        #expect(map.nodes.count == 5)
    }

    /// A shard whose primary failed has no primary until a replica is promoted.
    @Test func shardWithoutHealthyPrimary() throws {
        let reply = RESPValue.array([
            Self.shard([0, 16383], [Self.node(7000, role: "master", health: "failed"), Self.node(7003, role: "replica")]),
        ])
        let map = try RedisClusterMap(shardsReply: reply)
        #expect(map.primary(forSlot: 42) == nil)
        #expect(map.coveredSlots == 0)
    }

    @Test func slotsReply() throws {
        func entry(_ start: Int64, _ end: Int64, _ ports: [Int]) -> RESPValue {
            .array([.integer(start), .integer(end)] + ports.map {
                .array([.bulkString(Array("127.0.0.1".utf8)), .integer(Int64($0)), .bulkString(Array("id\($0)".utf8))])
            })
        }
        let map = try RedisClusterMap(slotsReply: .array([entry(0, 8000, [7000, 7003]), entry(8001, 16383, [7001]),
                                                           entry(100, 200, [7001])]))
        #expect(map.coveredSlots == 16384)
        #expect(map.primary(forSlot: 150) == Self.address(7001), "a later range of a known primary joins its shard")
        #expect(map.replicas(forSlot: 0) == [Self.address(7003)])
        #expect(map.shards.count == 2)
    }

    /// A `MOVED` patches one slot, to a known primary's shard or a new one.
    @Test func moves() throws {
        var map = try RedisClusterMap(shardsReply: .array([
            Self.shard([0, 9999], [Self.node(7000, role: "master")]),
            Self.shard([10000, 16383], [Self.node(7001, role: "master")]),
        ]))
        map.move(slot: 5, to: Self.address(7001))
        #expect(map.primary(forSlot: 5) == Self.address(7001))
        #expect(map.primary(forSlot: 6) == Self.address(7000))
        map.move(slot: 6, to: Self.address(7009))
        #expect(map.primary(forSlot: 6) == Self.address(7009))
    }

    @Test func malformedReplies() {
        #expect(throws: RedisClusterMap.ParseError.self) { try RedisClusterMap(shardsReply: .integer(1)) }
        #expect(throws: RedisClusterMap.ParseError.self) {
            try RedisClusterMap(shardsReply: .array([Self.shard([0, 99999], [Self.node(7000, role: "master")])]))
        }
        #expect(throws: RedisClusterMap.ParseError.self) {
            try RedisClusterMap(shardsReply: .array([Self.shard([0], [Self.node(7000, role: "master")])]))
        }
    }
}
