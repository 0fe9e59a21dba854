import StampedePool
import StampedeSystem
import Synchronization

/// An async PostgreSQL client with one non-blocking, pipelined connection per reactor: a statement
/// called on a reactor's thread (a shard bound to that reactor) runs on that reactor's connection
/// and its caller resumes straight from the result handler, with no thread hop; a statement called
/// from elsewhere is handed to a reactor.
///
/// For single statements on the hot path (a group commit); multi-statement transactions stay on
/// `PostgresClient`, whose connections can be held across statements.
public final class PostgresReactorClient: Sendable {
    /// The connections, one per reactor, in the order of the reactors given.
    public let connections: [PostgresReactorConnection]
    private let nextConnection = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)

    /// Creates a connection per reactor; they connect on their first statements, so this never
    /// blocks or fails.
    ///
    /// - Parameters:
    ///   - reactors: The reactors to run on (at least one).
    ///   - conninfo: libpq connection string or URI (see `PostgresReactorConnection`).
    ///   - maxPending: Statements queued or in flight per connection before calls fail fast with
    ///     `PostgresError.pool(.overloaded)`.
    ///   - statementDeadline: How long a statement may take before it fails with `.io` (its
    ///     outcome unknown) and its connection is reopened: the statement timeout plus a margin.
    public init(reactors: [Reactor], conninfo: String, maxPending: Int = 1024, statementDeadline: Duration) {
        precondition(!reactors.isEmpty, "PostgresReactorClient needs a reactor")
        let seconds = Double(statementDeadline.components.seconds) + Double(statementDeadline.components.attoseconds) / 1e18
        connections = reactors.map {
            PostgresReactorConnection(reactor: $0, conninfo: conninfo, maxPending: maxPending, statementDeadline: seconds)
        }
    }

    /// Runs one statement with `$n` parameters (text format, `nil` is NULL), in its own implicit
    /// transaction; returning means it committed. `prepared`: see `PostgresConnection.query`.
    ///
    /// On a reactor's thread it runs on that reactor's connection; elsewhere on the connections in
    /// turn.
    public nonisolated(nonsending) func query(_ sql: String, _ parameters: [String?] = [], prepared: Bool = false) async throws(PostgresError) -> PostgresResult {
        try await query(sql, PostgresParameters(parameters), prepared: prepared)
    }

    /// `query`, with parameters already laid out in one buffer (see `PostgresParameters`).
    public nonisolated(nonsending) func query(_ sql: String, _ parameters: PostgresParameters, prepared: Bool = false) async throws(PostgresError) -> PostgresResult {
        guard !isShutDown.load(ordering: .acquiring) else { throw .pool(.shutdown) }
        let connection = currentConnection ?? connections[
            nextConnection.wrappingAdd(1, ordering: .relaxed).oldValue % connections.count
        ]
        let outcome = await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<PostgresResult, PostgresError>, Never>) in
            if connection.reactor.isCurrent {
                connection.query(sql, parameters, prepared: prepared) { continuation.resume(returning: $0) }
            } else {
                connection.reactor.execute {
                    connection.query(sql, parameters, prepared: prepared) { continuation.resume(returning: $0) }
                }
            }
        }
        return try outcome.get()
    }

    /// The connection of the reactor whose thread calls, if any.
    private var currentConnection: PostgresReactorConnection? {
        for connection in connections where connection.reactor.isCurrent { return connection }
        return nil
    }

    /// Whether PostgreSQL answers `SELECT 1` (for readiness checks).
    public func ping() async -> Bool {
        (try? await query("SELECT 1")) != nil
    }

    /// The connections' figures added up, in the shape of a pool's (for /metrics).
    public var statistics: PoolStatistics {
        var total = PoolStatistics()
        for connection in connections { total.add(connection.statistics) }
        return total
    }

    /// Fails pending and later statements with `PostgresError.pool(.shutdown)` and closes the
    /// connections, waiting for each reactor to do so. Call it before shutting the reactors down
    /// (a statement handed to a reactor that has stopped would never be answered). Idempotent.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // On a reactor that has stopped already, this runs here once its thread has left.
        for connection in connections { connection.reactor.executeAndWait { connection.shutdown() } }
    }
}
