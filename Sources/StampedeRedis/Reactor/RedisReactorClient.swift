import StampedePool
import StampedeSystem
import Synchronization

/// A `RedisRouter` for one Redis whose calls run on reactors: one non-blocking
/// `RedisReactorConnection` per reactor, no pool threads.
///
/// A call made on a reactor's thread (a shard bound to that reactor) runs on that reactor's
/// connection and resumes its caller straight from the reply's handling: no hand-off at all. A
/// call from any other thread is handed to a reactor with `Reactor.execute` (round robin) and
/// resumes its caller from there.
///
/// The reactors belong to the caller, who shuts them down after this client's `shutdown()`.
public final class RedisReactorClient: RedisRouter {
    /// The connections, one per reactor, in the reactors' order.
    public let connections: [RedisReactorConnection]
    private let next = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Creates one connection per reactor to `host:port` (an address, or a name looked up at each connect);
    /// they open on their first call, so this never blocks or fails.
    ///
    /// - Parameters:
    ///   - connectTimeout: Limit for opening a connection and reading the node's identity.
    ///   - commandTimeout: Limit for each exchange; when it passes, the connection is dropped and
    ///     its calls fail with `RedisError.io`.
    ///   - maxPending: Calls that may be queued or in flight per connection before calls fail
    ///     at once with `RedisError.pool(.overloaded)`.
    ///   - readOnlyReplica: Send `READONLY` on each new connection.
    public init(
        reactors: [Reactor],
        host: String,
        port: Int,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2),
        maxPending: Int = 1024,
        readOnlyReplica: Bool = false
    ) {
        precondition(!reactors.isEmpty, "a RedisReactorClient needs at least one reactor")
        connections = reactors.map {
            RedisReactorConnection(reactor: $0, host: host, port: port, connectTimeout: connectTimeout,
                                   commandTimeout: commandTimeout, maxPending: maxPending, readOnlyReplica: readOnlyReplica)
        }
    }

    /// Runs every call in one pipeline on one connection (one node owns every key), each built
    /// for that node's identity.
    public nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall]) async throws -> [RedisRoutedReply] {
        try await execute(calls, identityAsOf: 0)
    }

    /// `execute`, with the node's identity read again first when `generation` (a Redis Cluster
    /// client's topology generation) is newer than the one it was read at
    /// (`RedisReactorConnection.execute(_:identityAsOf:completion:)`).
    public nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall], identityAsOf generation: UInt64) async throws -> [RedisRoutedReply] {
        guard !calls.isEmpty else { return [] }
        guard !isShutDown.load(ordering: .acquiring) else { throw RedisError.pool(.shutdown) }
        return try await withUnsafeThrowingContinuation { continuation in
            if let connection = connections.first(where: { $0.reactor.isCurrent }) {
                connection.execute(calls, identityAsOf: generation) { continuation.resume(with: $0) }
                return
            }
            let connection = connections[next.add(1, ordering: .relaxed).oldValue % connections.count]
            connection.reactor.execute {
                connection.execute(calls, identityAsOf: generation) { continuation.resume(with: $0) }
            }
        }
    }

    /// Runs commands on one connection; replies in order, error replies as `.error` values.
    public nonisolated(nonsending) func pipeline(_ commands: [[String]]) async throws -> [RESPValue] {
        try await execute(commands.map { RedisRoutedCall(key: "", .command($0)) }).map(\.value)
    }

    /// Whether Redis answers `PING` with `PONG`.
    public func ping() async -> Bool {
        (try? await pipeline([["PING"]]))?.first?.string == "PONG"
    }

    /// Fails pending calls and closes every connection, waiting for each reactor to do it. Call
    /// it before shutting the reactors down. Later calls throw `RedisError.pool(.shutdown)`.
    /// Idempotent.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // On a reactor that has stopped already, this runs here once its thread has left.
        for connection in connections { connection.reactor.executeAndWait { connection.shutdown() } }
    }

    /// The connections' figures summed as a pool's: size = reactors, busy = connections with calls
    /// in flight, waiting = calls waiting for a connection to open; `timeouts` counts deadlines.
    public var statistics: PoolStatistics {
        var total = PoolStatistics()
        for connection in connections { total.add(connection.statistics.poolStatistics) }
        return total
    }
}
