import StampedeRedis

/// A direct Redis client for tests that look at or tamper with Stampede's keys: the test Redis,
/// or in the cluster phase (`TestServices.clusterMode`) the test Redis Cluster, each command routed
/// by its first key (`args[1]`).
final class TestRedis: Sendable {
    let router: any RedisRouter

    private init(router: any RedisRouter) {
        self.router = router
    }

    /// Connects to the Redis Stampede runs on in this phase of the tests.
    static func connect() async throws -> TestRedis {
        if TestServices.clusterMode {
            let cluster = RedisClusterClient(seeds: try TestServices.redisClusterNodes().compactMap(RedisNodeAddress.init))
            try await cluster.start()
            return TestRedis(router: cluster)
        }
        let address = try TestServices.redisAddress()
        return TestRedis(router: RedisClient(host: address.host, port: address.port, poolSize: 1))
    }

    /// Runs one command on the node owning its first key; an error reply throws `RedisError.server`.
    @discardableResult
    func command(_ arguments: [String]) async throws -> RESPValue {
        let reply = try await pipeline([arguments])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply
    }

    /// Runs commands, each on the node owning its first key; error replies stay in place.
    func pipeline(_ commands: [[String]]) async throws -> [RESPValue] {
        try await router.execute(commands.map { RedisRoutedCall(key: $0.count > 1 ? $0[1] : "", .command($0)) }).map(\.value)
    }

    /// The identity token of the node that owns `key` (what a current epoch of its sale names).
    func nodeToken(forKey key: String) async throws -> String {
        try await router.execute([RedisRoutedCall(key: key, .command(["EXISTS", key]))])[0].node.token
    }

    func shutdown() { router.shutdown() }
}
