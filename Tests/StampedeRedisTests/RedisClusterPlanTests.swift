@testable import StampedeRedis
import Testing

/// `RedisClusterPlan`: which calls go where, which replies are final, what a redirect asks for.
struct RedisClusterPlanTests {
    static let a = RedisNodeAddress(host: "127.0.0.1", port: 7000)
    static let b = RedisNodeAddress(host: "127.0.0.1", port: 7001)
    static let node = RedisNodeIdentity(runID: "r", replicationID: "x")

    static func map() -> RedisClusterMap {
        var map = RedisClusterMap()
        for slot in 0..<RedisClusterSlot.count { map.move(slot: slot, to: slot < 8192 ? a : b) }
        return map
    }

    /// Calls are grouped by the primary of their key's slot.
    @Test func groupsByPrimary() {
        let keys = ["{bar}:1", "{foo}:1", "{bar}:2"]  // bar → 5061 (a), foo → 12182 (b)
        let plan = RedisClusterPlan(keys: keys)
        let routed = plan.route(with: Self.map())
        #expect(routed.groups[.init(address: Self.a, asking: false)] == [0, 2])
        #expect(routed.groups[.init(address: Self.b, asking: false)] == [1])
        #expect(routed.unrouted.isEmpty)
        #expect(plan.route(with: RedisClusterMap()).unrouted == [0, 1, 2], "no map: nothing routed")
    }

    /// Final replies stay; `MOVED` asks for a refresh and reports the move; `ASK` sends that call
    /// (and only it) with ASKING next round; `TRYAGAIN` asks for a back-off.
    @Test func recordsRedirects() {
        var plan = RedisClusterPlan(keys: ["{bar}:1", "{bar}:2", "{bar}:3", "{bar}:4"])
        let (next, moves, asks) = plan.record([
            .integer(1),
            .error("MOVED 5061 127.0.0.1:7001"),
            .error("ASK 5061 127.0.0.1:7001"),
            .error("TRYAGAIN Multiple keys request during rehashing of slot"),
        ], for: [0, 1, 2, 3], node: Self.node)
        #expect(next == .init(refreshMap: true, backOff: true))
        #expect(asks == 1)
        #expect(moves.count == 1 && moves[0].slot == 5061 && moves[0].address == Self.b)
        #expect(!plan.isComplete)
        let routed = plan.route(with: Self.map())
        #expect(routed.groups[.init(address: Self.b, asking: true)] == [2])
        #expect(routed.groups[.init(address: Self.a, asking: false)]?.sorted() == [1, 3])
        _ = plan.record([.integer(2), .integer(3)], for: [1, 3], node: Self.node)
        _ = plan.record([.integer(4)], for: [2], node: Self.node)
        #expect(plan.isComplete)
        #expect(plan.replies.map { $0?.int } == [1, 2, 4, 3])
        #expect(plan.route(with: Self.map()).groups.isEmpty)
    }

    /// An error reply that is not a redirect is a final reply (the call ran).
    @Test func otherErrorsAreFinal() {
        var plan = RedisClusterPlan(keys: ["k"])
        let (next, _, _) = plan.record([.error("ERR boom")], for: [0], node: Self.node)
        #expect(next == .init())
        #expect(plan.isComplete)
    }

    /// A replica serves reads only with its link up and heard from within the limit.
    @Test func replicaFreshness() {
        let fresh = "role:slave\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:1\r\n"
        #expect(RedisClusterClient.isFresh(replicationInfo: fresh, maxSilenceSeconds: 1))
        #expect(!RedisClusterClient.isFresh(replicationInfo: "role:slave\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:3\r\n", maxSilenceSeconds: 1))
        #expect(!RedisClusterClient.isFresh(replicationInfo: "role:slave\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:0\r\n", maxSilenceSeconds: 1))
        #expect(!RedisClusterClient.isFresh(replicationInfo: "role:master\r\n", maxSilenceSeconds: 1))
    }
}
