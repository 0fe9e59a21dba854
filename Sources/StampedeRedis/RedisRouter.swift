/// One call for a `RedisRouter`: the key that decides which node runs it, and how to build it for
/// that node.
///
/// `build` receives the identity of the node the call is about to be sent to, read on the
/// connection that sends it. A call that a node redirected or refused did not run; the router
/// builds it again for the node that owns its slot then, so arguments that name a node's identity
/// (Stampede's epochs) always name the node that runs them. `build` may throw to abandon the call
/// (for instance when the node is not the one a snapshot was taken for); the error is rethrown.
public struct RedisRoutedCall: Sendable {
    /// A key of the call; every key of one call must share its hash slot (use a hash tag).
    public var key: String
    /// Builds the call for the node with the given identity.
    public var build: @Sendable (RedisNodeIdentity) throws -> RedisCall

    public init(key: String, build: @escaping @Sendable (RedisNodeIdentity) throws -> RedisCall) {
        self.key = key
        self.build = build
    }

    /// A call whose bytes do not depend on the node.
    public init(key: String, _ call: RedisCall) {
        self.init(key: key) { _ in call }
    }
}

/// A reply and the identity of the node that gave it.
public struct RedisRoutedReply: Sendable {
    public var node: RedisNodeIdentity
    public var value: RESPValue

    public init(node: RedisNodeIdentity, value: RESPValue) {
        self.node = node
        self.value = value
    }
}

/// Runs batches of calls on the node that owns each call's key: one Redis (`RedisClient`) or the
/// primaries of a Redis Cluster (`RedisClusterClient`).
///
/// Calls for one node go out as one pipeline; replies come back in call order. Error replies stay
/// in place as `.error` values. A thrown `RedisError.io` or `.protocolViolation` means the
/// outcome of the calls sent to that node is unknown; other `RedisError`s mean they did not run.
public protocol RedisRouter: Sendable {
    /// Runs `calls`, each on the node that owns its key.
    ///
    /// `nonisolated(nonsending)`: it starts on the caller's executor, so a caller bound to a
    /// reactor (`ReactorExecutor`) reaches `RedisReactorClient` on that reactor's thread and runs
    /// on its connection without a hand-off.
    nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall]) async throws -> [RedisRoutedReply]

    /// Whether the Redis side can serve (for readiness checks): the one Redis answers, or some
    /// primary of the cluster does (a shard that is failing over does not stop the others).
    func ping() async -> Bool

    /// Fails queued calls, waits for running ones and closes all connections.
    func shutdown()
}

extension RedisClient: RedisRouter {
    /// Runs every call on one pooled connection, in one pipeline (one node owns every key).
    public nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall]) async throws -> [RedisRoutedReply] {
        guard !calls.isEmpty else { return [] }
        return try await withConnection { connection in
            let node = connection.identity
            let replies = try connection.execute(try calls.map { try $0.build(node) })
            return replies.map { RedisRoutedReply(node: node, value: $0) }
        }
    }
}
