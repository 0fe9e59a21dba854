import StampedeRedis
import StampedeSystem
import Testing

/// `RedisClusterClient` against the real Redis Cluster of `scripts/test` (`STAMPEDE_TEST_REDIS_CLUSTER`).
///
/// Serialized: two of these tests move a slot between primaries (never a failover), and each
/// checks that the set of primaries is the same after it as before.
@Suite(TestServices.needsRedisCluster, .serialized)
struct ClusterClientTests {
    static func seeds() throws -> [RedisNodeAddress] { try TestServices.redisClusterNodes().compactMap(RedisNodeAddress.init) }

    static func client(refresh: Duration = .seconds(1)) async throws -> RedisClusterClient {
        var settings = RedisClusterClient.Settings()
        settings.refreshInterval = refresh
        settings.poolSize = 2
        let client = RedisClusterClient(seeds: try seeds(), settings: settings)
        try await client.start()
        return client
    }

    /// A client and, when `onReactors`, the two reactors its calls to primaries run on.
    struct Harness {
        let client: RedisClusterClient
        let reactors: [Reactor]

        func shutdown() {
            client.shutdown()
            for reactor in reactors { reactor.shutdown() }
        }
    }

    static func harness(refresh: Duration = .seconds(1), onReactors: Bool) async throws -> Harness {
        var settings = RedisClusterClient.Settings()
        settings.refreshInterval = refresh
        settings.poolSize = 2
        let reactors = onReactors ? try (0..<2).map { try Reactor(name: "cluster-test-\($0)") } : []
        let client = RedisClusterClient(seeds: try seeds(), settings: settings, reactors: reactors)
        try await client.start()
        return Harness(client: client, reactors: reactors)
    }

    /// A direct connection to one node, for administration and for looking behind the client.
    static func node(_ address: RedisNodeAddress) -> RedisClient {
        RedisClient(host: address.host, port: address.port, poolSize: 1)
    }

    static func nodeID(_ address: RedisNodeAddress) async throws -> String {
        let node = node(address)
        defer { node.shutdown() }
        return try await node.command(["CLUSTER", "MYID"]).string ?? ""
    }

    /// The primaries as a fresh client sees them: the same set before and after a test means no
    /// failover happened meanwhile.
    static func primaries() async throws -> Set<RedisNodeAddress> {
        let client = try await client(refresh: .seconds(60))
        defer { client.shutdown() }
        return Set(client.topology.map.primaries)
    }

    /// A hash tag whose slot the given primary owns now.
    static func tag(ownedBy primary: RedisNodeAddress, in map: RedisClusterMap) -> String {
        while true {
            let tag = TestServices.uniqueName("slot")
            if map.primary(forSlot: RedisClusterSlot.of(tag)) == primary { return tag }
        }
    }

    /// Moves an empty slot to `target` by `CLUSTER SETSLOT … NODE` on every primary.
    static func assign(slot: Int, to target: RedisNodeAddress, primaries: [RedisNodeAddress]) async throws {
        let targetID = try await nodeID(target)
        for address in [target] + primaries.filter({ $0 != target }) {
            let node = node(address)
            defer { node.shutdown() }
            _ = try await node.command(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
        }
    }

    /// The slot of 3,000 keys — plain, tagged, with empty and unclosed braces, non-ASCII — equals
    /// what the server's `CLUSTER KEYSLOT` answers.
    @Test func slotHashingMatchesTheServer() async throws {
        let node = Self.node(try Self.seeds()[0])
        defer { node.shutdown() }
        var keys: [String] = []
        for index in 0..<3000 {
            switch index % 6 {
            case 0: keys.append("key:\(index)")
            case 1: keys.append("{sale-\(index % 97)}:users")
            case 2: keys.append("{}\(index){x}")
            case 3: keys.append("{unclosed-\(index)")
            case 4: keys.append("é✓-\(index)-{tag\(index % 13)}")
            default: keys.append(TestServices.uniqueName("k"))
            }
        }
        let replies = try await node.pipeline(keys.map { ["CLUSTER", "KEYSLOT", $0] })
        for (key, reply) in zip(keys, replies) {
            #expect(reply.int == Int64(RedisClusterSlot.of(key)), "\(key)")
        }
    }

    /// Calls for keys all over the slot space land on the primaries that own them: each key is
    /// readable on its owner directly, without a redirect.
    @Test(arguments: [false, true]) func callsReachTheOwnerOfTheirSlot(onReactors: Bool) async throws {
        let before = try await Self.primaries()
        let harness = try await Self.harness(onReactors: onReactors)
        let client = harness.client
        defer { harness.shutdown() }
        let prefix = TestServices.uniqueName("route")
        let keys = (0..<300).map { "\(prefix):\($0)" }
        let replies = try await client.execute(keys.map { RedisRoutedCall(key: $0, .command(["SET", $0, "v-\($0)"])) })
        #expect(replies.allSatisfy { $0.value == .simpleString("OK") })
        #expect(Set(replies.map(\.node.runID)).count == 3, "300 keys spread over the 3 primaries")
        let map = client.topology.map
        for key in keys.prefix(60) {
            let owner = Self.node(try #require(map.primary(forSlot: RedisClusterSlot.of(key))))
            defer { owner.shutdown() }
            #expect(try await owner.command(["GET", key]).string == "v-\(key)")
        }
        _ = try await client.execute(keys.map { RedisRoutedCall(key: $0, .command(["DEL", $0])) })
        #expect(client.statistics.moved == 0)
        #expect(try await Self.primaries() == before, "no failover during the test")
    }

    /// A slot moved behind the client's back: 200 concurrent calls all meet `MOVED`, are planned
    /// again for the new owner and succeed, and the client reads the map once or twice in all
    /// (so at most twice from any node).
    @Test(arguments: [false, true]) func movedIsFollowedAndRefreshesAreCoalesced(onReactors: Bool) async throws {
        let before = try await Self.primaries()
        let harness = try await Self.harness(refresh: .seconds(600), onReactors: onReactors)
        let client = harness.client
        defer { harness.shutdown() }
        let map = client.topology.map
        let primaries = map.primaries
        let source = primaries[0], target = primaries[1]
        let tag = Self.tag(ownedBy: source, in: map)
        let slot = RedisClusterSlot.of(tag)
        try await Self.assign(slot: slot, to: target, primaries: primaries)
        defer { Task { try? await Self.assign(slot: slot, to: source, primaries: primaries) } }
        // The client's own topology reads (each goes to one node): the nodes' INFO commandstats
        // would also count other clients' periodic refreshes (the suites sharing this cluster).
        let refreshesBefore = client.statistics.refreshes

        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let key = "{\(tag)}:\(index)"
                    let reply = try? await client.execute([RedisRoutedCall(key: key, .command(["SET", key, "1"]))])
                    return reply?.first?.value == .simpleString("OK")
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 }, "\(results.filter { !$0 }.count) calls failed")
        #expect(client.statistics.moved >= 1)
        #expect(client.topology.map.primary(forSlot: slot) == target)
        let refreshes = client.statistics.refreshes - refreshesBefore
        #expect(refreshes >= 1 && refreshes <= 2, "200 calls that met MOVED read the map \(refreshes) times")
        let targetNode = Self.node(target)
        defer { targetNode.shutdown() }
        #expect(try await targetNode.command(["GET", "{\(tag)}:7"]).string == "1", "the writes ran on the new owner")
        _ = try await client.execute((0..<200).map { let key = "{\(tag)}:\($0)"; return RedisRoutedCall(key: key, .command(["DEL", key])) })
        try await Self.assign(slot: slot, to: source, primaries: primaries)
        #expect(try await Self.primaries() == before, "no failover during the test")
    }

    /// During a live migration a key the source no longer has is answered `ASK`: the client sends
    /// `ASKING` and that one call to the importing node; a script on a key there still runs.
    @Test(arguments: [false, true]) func askDuringASlotMigration(onReactors: Bool) async throws {
        let before = try await Self.primaries()
        let harness = try await Self.harness(refresh: .seconds(600), onReactors: onReactors)
        let client = harness.client
        defer { harness.shutdown() }
        let primaries = client.topology.map.primaries
        let source = primaries[1], target = primaries[2]
        let tag = Self.tag(ownedBy: source, in: client.topology.map)
        let slot = RedisClusterSlot.of(tag)
        let (sourceID, targetID) = (try await Self.nodeID(source), try await Self.nodeID(target))
        let sourceNode = Self.node(source), targetNode = Self.node(target)
        defer { sourceNode.shutdown(); targetNode.shutdown() }
        _ = try await targetNode.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
        _ = try await sourceNode.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])

        let key = "{\(tag)}:new"
        let replies = try await client.execute([RedisRoutedCall(key: key, .command(["SET", key, "asked"]))])
        #expect(replies[0].value == .simpleString("OK"))
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- ask test")
        let counter = "{\(tag)}:counter"
        let scripted = try await client.execute([RedisRoutedCall(key: counter, .script(RedisScriptCall(script, keys: [counter], arguments: ["5"])))])
        #expect(scripted[0].value == .integer(5))
        #expect(client.statistics.asks >= 2)
        #expect(client.topology.map.primary(forSlot: slot) == source, "ASK does not change the map")
        // Finish the migration (the keys already live on the target), then move the slot home.
        try await Self.assign(slot: slot, to: target, primaries: primaries)
        #expect(try await targetNode.command(["GET", key]).string == "asked")
        _ = try await targetNode.command(["DEL", key, counter])
        try await Self.assign(slot: slot, to: source, primaries: primaries)
        #expect(try await Self.primaries() == before, "no failover during the test")
    }

    /// A multi-key script whose keys are split between the source and the target of a migration
    /// is answered `TRYAGAIN`: the client backs off and plans again until the migration ends, then
    /// the script runs once on the new owner.
    @Test(arguments: [false, true]) func tryAgainWhileASlotIsHalfMoved(onReactors: Bool) async throws {
        let before = try await Self.primaries()
        let harness = try await Self.harness(refresh: .seconds(600), onReactors: onReactors)
        let client = harness.client
        defer { harness.shutdown() }
        let primaries = client.topology.map.primaries
        let source = primaries[2], target = primaries[0]
        let tag = Self.tag(ownedBy: source, in: client.topology.map)
        let slot = RedisClusterSlot.of(tag)
        let (sourceID, targetID) = (try await Self.nodeID(source), try await Self.nodeID(target))
        let sourceNode = Self.node(source), targetNode = Self.node(target)
        defer { sourceNode.shutdown(); targetNode.shutdown() }
        let (moved, stays) = ("{\(tag)}:moved", "{\(tag)}:stays")
        _ = try await sourceNode.command(["SET", moved, "1"])
        _ = try await sourceNode.command(["SET", stays, "10"])
        _ = try await targetNode.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
        _ = try await sourceNode.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
        _ = try await sourceNode.command(["MIGRATE", target.host, String(target.port), "", "0", "5000", "KEYS", moved])
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], redis.call('GET', KEYS[2])) -- tryagain test")
        let finisher = Task {
            try await Task.sleep(for: .milliseconds(300))
            _ = try await sourceNode.command(["MIGRATE", target.host, String(target.port), "", "0", "5000", "KEYS", stays])
            try await Self.assign(slot: slot, to: target, primaries: primaries)
        }
        let reply = try await client.execute([RedisRoutedCall(key: moved, .script(RedisScriptCall(script, keys: [moved, stays], arguments: [])))])
        try await finisher.value
        #expect(reply[0].value == .integer(11), "the script ran once, after the migration")
        #expect(client.statistics.retries >= 1, "TRYAGAIN made the client wait")
        #expect(try await targetNode.command(["GET", moved]).string == "11")
        _ = try await targetNode.command(["DEL", moved, stays])
        try await Self.assign(slot: slot, to: source, primaries: primaries)
        #expect(try await Self.primaries() == before, "no failover during the test")
    }

    /// Cache reads through `replicaReads` are served by replicas whose link is fresh.
    @Test func cacheReadsGoToFreshReplicas() async throws {
        let client = try await Self.client(refresh: .milliseconds(200))
        defer { client.shutdown() }
        let key = TestServices.uniqueName("replica-read")
        _ = try await client.execute([RedisRoutedCall(key: key, .command(["SET", key, "x"]))])
        var served = false
        for _ in 0..<50 where !served {
            let reply = try await client.replicaReads.execute([RedisRoutedCall(key: key, .command(["GET", key]))])
            served = reply[0].value.string == "x" && client.statistics.replicaReads > 0
            if !served { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(served, "a replica served the read")
        _ = try await client.execute([RedisRoutedCall(key: key, .command(["DEL", key]))])
    }
}
