import CLibpq
import Glibc
import StampedePool

/// One blocking libpq connection to PostgreSQL.
///
/// Thread-confined: it owns a `PGconn`, which is not thread-safe, so an instance must be used by
/// one thread at a time and the handle never leaves it. `PostgresClient` keeps each connection on
/// one `BlockingConnectionPool` worker thread. Calls block until the server answers: bound them
/// with `statement_timeout` (for example `?options=-c%20statement_timeout%3D5000` in the URI).
public final class PostgresConnection: PooledConnection {
    private var connection: OpaquePointer?
    private var failed = false
    /// What the server warned about while a statement ran (libpq's notice receiver writes here).
    private let notices = PostgresNotices()
    /// Statements prepared on this connection (`prepared: true`), by SQL text → server-side name.
    private var preparedNames: [String: String] = [:]
    /// At most this many statements are prepared per connection; later texts run unprepared.
    public static let maxPreparedStatements = 64

    /// Whether the connection must be replaced: it failed, was closed, or is not idle.
    ///
    /// A connection left inside a transaction (a job that sent `BEGIN` without `COMMIT`) also
    /// counts as broken, so the pool resets it instead of leaking the transaction to the next job.
    public var isBroken: Bool {
        guard let connection, !failed else { return true }
        return PQstatus(connection) != CONNECTION_OK || PQtransactionStatus(connection) != PQTRANS_IDLE
    }

    /// Connects with a libpq connection string or URI, blocking until connected or failed.
    ///
    /// Put `connect_timeout` in `conninfo`; without it libpq may wait for the OS TCP timeout.
    public init(conninfo: String) throws(PostgresError) {
        guard let connection = PQconnectdb(conninfo) else {
            throw .connect("libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.errorMessage(of: connection)
            PQfinish(connection)
            throw .connect(message)
        }
        // libpq prints notices and asynchronous errors (a backend's FATAL before it closes) to
        // stderr by default; failures reach callers as errors instead. The one notice that
        // changes a statement's meaning — a commit whose wait for the synchronous standby ended
        // early — is kept and turns the statement's success into `unconfirmedCommit`.
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            Unmanaged<PostgresNotices>.fromOpaque(context).takeUnretainedValue().receive(result)
        }, Unmanaged.passUnretained(notices).toOpaque())
        self.connection = connection
    }

    deinit {
        close()
    }

    /// Runs one statement with `$1`, `$2`… bound to `parameters` (text format, `nil` is NULL).
    ///
    /// Parameters travel separately from the SQL, so they need no quoting or escaping.
    /// `prepared: true` prepares the statement on this connection the first time its text is seen
    /// and then only binds and executes it: PostgreSQL parses it once, and after a few executions
    /// plans it once too — for a statement on the hot path that is most of its server CPU. Use it
    /// for constant SQL texts (SELECT, INSERT, UPDATE, DELETE); at most `maxPreparedStatements`
    /// texts are kept per connection.
    public func query(_ sql: String, _ parameters: [String?] = [], prepared: Bool = false) throws(PostgresError) -> PostgresResult {
        try query(sql, PostgresParameters(parameters), prepared: prepared)
    }

    /// `query(_:_:prepared:)` with parameters already built in one buffer (`PostgresParameters`):
    /// libpq reads each value in place.
    public func query(_ sql: String, _ parameters: PostgresParameters, prepared: Bool = false) throws(PostgresError) -> PostgresResult {
        let connection = try openConnection()
        guard prepared, let name = try preparedName(for: sql, parameterCount: parameters.count, on: connection) else {
            let result = parameters.withValuePointers { values in
                PQexecParams(connection, sql, Int32(values.count), nil, values, nil, nil, 0)
            }
            return try take(result)
        }
        let result = parameters.withValuePointers { values in
            PQexecPrepared(connection, name, Int32(values.count), values, nil, nil, 0)
        }
        return try take(result)
    }

    /// The server-side name of `sql` on this connection, preparing it first if needed; nil when
    /// the connection already holds its maximum of prepared statements.
    private func preparedName(for sql: String, parameterCount: Int, on connection: OpaquePointer) throws(PostgresError) -> String? {
        if let name = preparedNames[sql] { return name }
        guard preparedNames.count < Self.maxPreparedStatements else { return nil }
        let name = "stampede_\(preparedNames.count + 1)"
        _ = try take(PQprepare(connection, name, sql, Int32(parameterCount), nil))
        preparedNames[sql] = name
        return name
    }

    /// Runs one or more `;`-separated statements without parameters (schema setup, for instance).
    ///
    /// Unlike `query`, this uses the simple-query protocol; a failing statement stops the rest.
    public func execute(_ sql: String) throws(PostgresError) {
        let connection = try openConnection()
        _ = try take(PQexec(connection, sql))
    }

    /// Checks without blocking whether the server closed this idle connection.
    ///
    /// A terminated backend sends a FATAL message, then closes the socket. libpq notices the close
    /// only when a read returns end-of-file, so pending input is consumed until the socket is quiet
    /// (a few rounds at most: an idle backend sends nothing else but rare notifications).
    public func hasPeerClosed() -> Bool {
        guard let connection else { return true }
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        for _ in 0..<4 where poll(&descriptor, 1, 0) > 0 {
            if PQconsumeInput(connection) == 0 || PQstatus(connection) != CONNECTION_OK { return true }
        }
        return false
    }

    /// Closes the connection; later calls throw `PostgresError.io`.
    public func close() {
        guard let connection else { return }
        PQfinish(connection)
        self.connection = nil
        preparedNames = [:]
    }

    private func openConnection() throws(PostgresError) -> OpaquePointer {
        guard let connection else { throw .io("connection is closed") }
        return connection
    }

    /// Converts and clears a statement's result, throwing for errors.
    private func take(_ result: OpaquePointer?) throws(PostgresError) -> PostgresResult {
        guard let connection else { throw .io("connection is closed") }
        guard let result else {
            failed = true
            throw .io(Self.errorMessage(of: connection))
        }
        defer { PQclear(result) }
        // Whatever the statement's outcome, a warning it raised belongs to it alone.
        let unconfirmedCommit = notices.takeUnconfirmedCommit()
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            // Committed here, but not confirmed by the synchronous standby: not a success.
            if let unconfirmedCommit { throw .unconfirmedCommit(unconfirmedCommit) }
            return PostgresResult(copying: result)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            guard PQstatus(connection) == CONNECTION_OK else {
                failed = true
                throw .io(Self.errorMessage(of: connection))
            }
            let message = Self.field(Self.primaryMessageField, of: result) ?? Self.errorMessage(of: connection)
            throw .query(sqlState: Self.field(Self.sqlStateField, of: result) ?? "", message: message)
        default:
            // COPY and other streaming states leave the protocol mid-exchange: start afresh.
            failed = true
            let status = String(cString: PQresStatus(PQresultStatus(result)))
            throw .io("unsupported result status \(status) (COPY is not supported)")
        }
    }

    /// The SQLSTATE and primary-message field codes; C character-literal macros do not import.
    static let sqlStateField = Int32(UInt8(ascii: "C"))
    static let primaryMessageField = Int32(UInt8(ascii: "M"))

    static func field(_ code: Int32, of result: OpaquePointer) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    /// libpq's last error message, without its trailing newline.
    static func errorMessage(of connection: OpaquePointer) -> String {
        var message = String(cString: PQerrorMessage(connection))
        while message.last?.isNewline == true { message.removeLast() }
        return message
    }
}
