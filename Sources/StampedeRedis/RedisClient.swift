import StampedePool

/// An async Redis client: a pool of blocking hiredis connections, each on its own thread.
///
/// Every call is one job on a `BlockingConnectionPool`: it waits (bounded by `maxWaiting` and
/// `acquireTimeout`) for a free connection, runs there, and resumes the caller. A broken connection
/// is replaced on the next call, so callers only see the failure of the call that hit it.
public final class RedisClient: Sendable {
    private let pool: BlockingConnectionPool<RedisConnection>

    /// Creates the pool for `host:port`; connections open lazily, so this never blocks or fails.
    ///
    /// - Parameters:
    ///   - poolSize: Connections (and threads); Redis is single-threaded, so a few suffice.
    ///   - maxWaiting: Calls that may queue while all connections are busy before calls fail
    ///     fast with `RedisError.pool(.overloaded)`.
    ///   - acquireTimeout: How long a call may queue before `RedisError.pool(.acquireTimeout)`.
    ///   - connectTimeout: Limit for opening one connection.
    ///   - commandTimeout: Limit for each socket read or write of a call.
    ///   - readOnlyReplica: Send `READONLY` on each new connection (reads from a cluster replica).
    public init(
        host: String,
        port: Int,
        poolSize: Int = 4,
        maxWaiting: Int = 1024,
        acquireTimeout: Duration = .seconds(1),
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2),
        readOnlyReplica: Bool = false
    ) {
        pool = BlockingConnectionPool(
            name: "redis-\(host):\(port)",
            size: poolSize,
            maxWaiting: maxWaiting,
            acquireTimeout: acquireTimeout
        ) {
            try RedisConnection(host: host, port: port, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                                readOnlyReplica: readOnlyReplica)
        }
    }

    /// Runs one command; an error reply is thrown as `RedisError.server`.
    public func command(_ arguments: [String]) async throws(RedisError) -> RESPValue {
        try await run { connection throws(RedisError) in try connection.command(arguments) }
    }

    /// Runs one command with binary-safe arguments.
    public func command(_ arguments: [[UInt8]]) async throws(RedisError) -> RESPValue {
        try await run { connection throws(RedisError) in try connection.command(arguments) }
    }

    /// Runs commands in one round trip; replies in order, error replies as `.error` values.
    public func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RESPValue] {
        try await run { connection throws(RedisError) in try connection.pipeline(commands) }
    }

    /// Runs `script` by SHA-1, loading it once if Redis answers `NOSCRIPT`; error replies throw.
    public func evalScript(_ script: RedisScript, keys: [String], arguments: [String]) async throws(RedisError) -> RESPValue {
        try await run { connection throws(RedisError) in try connection.evalScript(script, keys: keys, arguments: arguments) }
    }

    /// Runs several script calls in one round trip (plus one if a script must be loaded).
    ///
    /// Replies come in call order; error replies stay in place as `.error` values.
    public func evalScripts(_ calls: [RedisScriptCall]) async throws(RedisError) -> [RESPValue] {
        try await run { connection throws(RedisError) in try connection.evalScripts(calls) }
    }

    /// Runs `body` with a pooled connection on its worker thread, for multi-step exchanges.
    ///
    /// `body` must not keep the connection. Pool refusals are thrown as `RedisError.pool`; errors
    /// thrown by `body` pass through unchanged.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PoolError {
            throw RedisError.pool(error)
        }
    }

    /// Whether Redis answers `PING` with `PONG` (for readiness checks).
    public func ping() async -> Bool {
        (try? await command(["PING"]))?.string == "PONG"
    }

    /// The pool's occupancy and counters.
    public var statistics: PoolStatistics { pool.statistics }

    /// Fails queued calls, waits for running ones and closes all connections.
    public func shutdown() { pool.shutdown() }

    private func run<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws(RedisError) -> T) async throws(RedisError) -> T {
        do {
            return try await pool.withConnection(body)
        } catch {
            throw RedisError(poolFailure: error)
        }
    }
}
