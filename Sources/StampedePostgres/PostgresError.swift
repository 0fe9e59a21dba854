import StampedePool

/// Why a PostgreSQL call failed.
///
/// `query` is the server rejecting a statement on a healthy connection and carries the SQLSTATE
/// to branch on (`isUniqueViolation` …); `connect` and `io` mean the connection is unusable and
/// will be replaced; `pool` means the statement never ran.
public enum PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Opening a connection failed; carries libpq's message.
    case connect(String)
    /// The server rejected a statement: its five-character SQLSTATE and primary message.
    case query(sqlState: String, message: String)
    /// The connection broke (server gone, network failure, unsupported protocol state).
    case io(String)
    /// The connection pool refused or timed out the call before it reached PostgreSQL.
    case pool(PoolError)
    /// The statement committed on the primary, but its wait for the synchronous standby was
    /// cancelled: PostgreSQL warned it "might not have been replicated". Not a confirmation — treat
    /// it like a failed commit whose outcome is unknown (the rows are there, visible, but may be
    /// lost with the primary's disk); carries the warning.
    case unconfirmedCommit(String)

    /// The SQLSTATE of a rejected statement; `nil` for the other cases.
    public var sqlState: String? {
        if case .query(let sqlState, _) = self { sqlState } else { nil }
    }

    /// A `UNIQUE` or primary-key constraint rejected the row (23505): usually "already exists".
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// A foreign-key constraint rejected the row (23503).
    public var isForeignKeyViolation: Bool { sqlState == "23503" }

    /// The transaction lost a serialization conflict (40001) and may be retried as a whole.
    public var isSerializationFailure: Bool { sqlState == "40001" }

    /// The transaction was chosen as a deadlock victim (40P01) and may be retried as a whole.
    public var isDeadlock: Bool { sqlState == "40P01" }

    /// Maps what a `BlockingConnectionPool` of `PostgresConnection`s can throw.
    ///
    /// The factory and the bodies throw `PostgresError`, the pool itself `PoolError`; any other
    /// error is reported as `.io` rather than lost.
    init(poolFailure error: any Error) {
        switch error {
        case let error as PostgresError: self = error
        case let error as PoolError: self = .pool(error)
        default: self = .io(String(describing: error))
        }
    }

    /// A one-line explanation for logs and error responses.
    public var description: String {
        switch self {
        case .connect(let message): "PostgreSQL connect failed: \(message)"
        case .query(let sqlState, let message): "PostgreSQL error \(sqlState): \(message)"
        case .io(let message): "PostgreSQL connection failed: \(message)"
        case .pool(let error): "PostgreSQL pool: \(error)"
        case .unconfirmedCommit(let warning): "PostgreSQL committed locally but the synchronous standby did not confirm it: \(warning)"
        }
    }
}
