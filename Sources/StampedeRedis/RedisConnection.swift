import CHiredis
import Glibc
import StampedePool

/// One blocking hiredis connection to Redis.
///
/// Thread-confined: it owns a `redisContext`, which is not thread-safe, so an instance must be used
/// by one thread at a time and the context never leaves it. `RedisClient` keeps each connection on
/// one `BlockingConnectionPool` worker thread. Every call blocks for at most `commandTimeout` per
/// socket read or write. After an I/O or protocol error the context is unusable: the connection
/// reports `isBroken` and the pool replaces it.
public final class RedisConnection: PooledConnection {
    private var context: UnsafeMutablePointer<redisContext>?

    /// Whether an I/O or protocol error (or `close()`) made this connection unusable.
    public private(set) var isBroken = false

    /// The `run_id` of the Redis process this connection reached (from `INFO server` at connect),
    /// or `""` when the server does not report one.
    ///
    /// A Redis restart gives a new `run_id`; a promotion does not (see `identity`).
    public var serverRunID: String { identity.runID }

    /// The node's `run_id` and `master_replid`, read at connect and again by `identity(asOf:)`
    /// when the caller's view of the cluster changed since. Stampede's epochs carry its `token`.
    public private(set) var identity = RedisNodeIdentity(runID: "", replicationID: "")

    /// The caller's topology generation at which `identity` was last read.
    private var identityGeneration: UInt64 = 0

    /// hiredis writes with `write(2)`: a reset peer would raise SIGPIPE and kill the process.
    private static let sigpipeIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Connects to `host:port` (TCP, `TCP_NODELAY`), blocking for at most `connectTimeout`.
    ///
    /// Ignores SIGPIPE process-wide on first use, since hiredis' writes would otherwise let a
    /// server-side close kill the process.
    public init(
        host: String,
        port: Int,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2),
        readOnlyReplica: Bool = false
    ) throws(RedisError) {
        Self.sigpipeIgnored
        guard let context = redisConnectWithTimeout(host, Int32(port), timeval(connectTimeout)) else {
            throw .connect("\(host):\(port): hiredis could not allocate a context")
        }
        guard context.pointee.err == 0, redisSetTimeout(context, timeval(commandTimeout)) == REDIS_OK else {
            let reason = Self.errorText(of: context)
            redisFree(context)
            throw .connect("\(host):\(port): \(reason)")
        }
        self.context = context
        try readIdentity()
        // A cluster replica answers reads of its own slots only after READONLY (else MOVED).
        if readOnlyReplica { _ = try command(["READONLY"]) }
    }

    /// The node's identity, read again first when `generation` (the caller's topology generation)
    /// is newer than the one it was last read at: a node may have been demoted and promoted again
    /// while this connection stayed open.
    public func identity(asOf generation: UInt64) throws(RedisError) -> RedisNodeIdentity {
        if generation > identityGeneration {
            try readIdentity()
            identityGeneration = generation
        }
        return identity
    }

    /// Reads `run_id` and `master_replid` in one round trip.
    private func readIdentity() throws(RedisError) {
        let replies = try pipeline([RedisCommandArguments(["INFO", "server"]), RedisCommandArguments(["INFO", "replication"])])
        identity = RedisNodeIdentity(serverInfo: replies[0].string ?? "", replicationInfo: replies[1].string ?? "")
    }

    deinit {
        close()
    }

    /// Sends one command and waits for its reply; an error reply is thrown as `RedisError.server`.
    ///
    /// `arguments` starts with the command name and must not be empty.
    public func command(_ arguments: [String]) throws(RedisError) -> RESPValue {
        try command(RedisCommandArguments(arguments))
    }

    /// Sends one command with binary arguments and waits for its reply.
    ///
    /// Arguments are passed with explicit lengths, so they may contain any bytes.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RESPValue {
        try command(RedisCommandArguments(arguments))
    }

    /// Sends all commands in one write, then reads their replies in order.
    ///
    /// One round trip for the batch. Error replies stay in place as `.error` values so the other
    /// replies remain usable; only I/O or protocol failures throw.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RESPValue] {
        try pipeline(commands.map(RedisCommandArguments.init))
    }

    /// Checks without blocking whether Redis closed this idle connection.
    ///
    /// Outside a call the server never speaks first in RESP2, so a readable socket means a close
    /// (or garbage): either way the connection must be replaced.
    public func hasPeerClosed() -> Bool {
        guard let context else { return true }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    /// Frees the hiredis context and closes the socket; later calls throw `RedisError.io`.
    public func close() {
        guard let context else { return }
        redisFree(context)
        self.context = nil
        isBroken = true
    }

    func command(_ arguments: RedisCommandArguments) throws(RedisError) -> RESPValue {
        let context = try openContext()
        let reply = arguments.withArgv { redisCommandArgv(context, $0, $1, $2) }
        let value = try take(reply)
        if case .error(let message) = value { throw .server(message) }
        return value
    }

    func pipeline(_ commands: [RedisCommandArguments]) throws(RedisError) -> [RESPValue] {
        let context = try openContext()
        for command in commands {
            guard command.withArgv({ redisAppendCommandArgv(context, $0, $1, $2) }) == REDIS_OK else {
                throw failure()
            }
        }
        var values: [RESPValue] = []
        values.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK else { throw failure() }
            values.append(try take(reply))
        }
        return values
    }

    private func openContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context else { throw .io("connection is closed") }
        return context
    }

    /// Converts and frees a reply; a `nil` reply means the context failed.
    private func take(_ reply: UnsafeMutableRawPointer?) throws(RedisError) -> RESPValue {
        guard let reply else { throw failure() }
        defer { freeReplyObject(reply) }
        do throws(RedisError) {
            return try RESPValue(reply: reply.assumingMemoryBound(to: redisReply.self))
        } catch {
            isBroken = true
            throw error
        }
    }

    /// Marks the connection broken and describes the context's error.
    private func failure() -> RedisError {
        isBroken = true
        guard let context else { return .io("connection is closed") }
        let reason = Self.errorText(of: context)
        return context.pointee.err == REDIS_ERR_PROTOCOL ? .protocolViolation(reason) : .io(reason)
    }

    /// Reads `errstr`, a `char[128]` that Swift imports as a tuple.
    private static func errorText(of context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension timeval {
    /// A `timeval` for hiredis timeouts, truncated to microseconds.
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
