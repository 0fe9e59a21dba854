import StampedePool

/// An async PostgreSQL client: a pool of blocking libpq connections, each on its own thread.
///
/// Every call is one job on a `BlockingConnectionPool`: it waits (bounded by `maxWaiting` and
/// `acquireTimeout`) for a free connection, runs there, and resumes the caller. A broken
/// connection is replaced on the next call.
public final class PostgresClient: Sendable {
    private let pool: BlockingConnectionPool<PostgresConnection>

    /// Creates the pool; connections open lazily, so this never blocks or fails.
    ///
    /// - Parameters:
    ///   - conninfo: libpq connection string or URI; include `connect_timeout`.
    ///   - poolSize: Connections (and threads).
    ///   - maxWaiting: Calls that may queue while all connections are busy before calls fail
    ///     fast with `PostgresError.pool(.overloaded)`.
    ///   - acquireTimeout: How long a call may queue before `PostgresError.pool(.acquireTimeout)`.
    public init(conninfo: String, poolSize: Int = 4, maxWaiting: Int = 1024, acquireTimeout: Duration = .seconds(1)) {
        pool = BlockingConnectionPool(
            name: "postgres",
            size: poolSize,
            maxWaiting: maxWaiting,
            acquireTimeout: acquireTimeout
        ) {
            try PostgresConnection(conninfo: conninfo)
        }
    }

    /// Runs one statement with `$n` parameters (text format, `nil` is NULL); `prepared`: see
    /// `PostgresConnection.query`.
    public func query(_ sql: String, _ parameters: [String?] = [], prepared: Bool = false) async throws(PostgresError) -> PostgresResult {
        do {
            return try await pool.withConnection { connection throws(PostgresError) in
                try connection.query(sql, parameters, prepared: prepared)
            }
        } catch {
            throw PostgresError(poolFailure: error)
        }
    }

    /// Runs `body` with a pooled connection on its worker thread, for multi-statement work.
    ///
    /// `body` must not keep the connection. Pool refusals are thrown as `PostgresError.pool`;
    /// errors thrown by `body` pass through unchanged.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PoolError {
            throw PostgresError.pool(error)
        }
    }

    /// Runs `body` in a transaction on one pooled connection; returning means committed.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withConnection { connection in try connection.transaction(body) }
    }

    /// Whether PostgreSQL answers `SELECT 1` (for readiness checks).
    public func ping() async -> Bool {
        (try? await query("SELECT 1")) != nil
    }

    /// The pool's occupancy and counters.
    public var statistics: PoolStatistics { pool.statistics }

    /// Fails queued calls, waits for running ones and closes all connections.
    public func shutdown() { pool.shutdown() }
}
