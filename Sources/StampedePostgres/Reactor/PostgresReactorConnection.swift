import CLibpq
import Glibc
import StampedePool
import StampedeSystem
import Synchronization

/// One non-blocking libpq connection driven by a `Reactor`: statements are written and the
/// reactor's thread goes on with other work until their answers arrive, so no thread blocks in
/// `recv` while PostgreSQL commits.
///
/// The connection runs in libpq's pipeline mode: statements from several callers on the reactor
/// (several shards) are in flight at once, each followed by its own `PQpipelineSync`, so each is
/// its own implicit transaction and an error in one aborts no other. A caller is answered at its
/// statement's `PGRES_PIPELINE_SYNC`, which is when its commit is known.
///
/// Bounded in every dimension: at most `maxPending` statements queued or in flight (beyond:
/// `PostgresError.pool(.overloaded)`); each statement has a deadline (a reactor timer) after which
/// it, and every other pending statement, fails with `PostgresError.io` — for a write that means
/// its outcome is unknown — and the connection is closed; connecting is bounded by the conninfo's
/// `connect_timeout`. A closed connection reopens on the next statement, paced by a
/// `ReconnectBackoff`: while an attempt is not due, statements fail at once with the last connect
/// error.
///
/// Thread-confinement: `query` and `shutdown` are for the reactor's thread only, like the `PGconn`
/// the connection owns; `statistics` may be read from any thread. Hence `@unchecked Sendable`.
public final class PostgresReactorConnection: @unchecked Sendable {
    /// Called on the reactor's thread with a statement's outcome.
    public typealias Completion = (Result<PostgresResult, PostgresError>) -> Void

    /// The reactor whose thread runs this connection.
    public let reactor: Reactor
    /// Statements that may be queued or in flight at once.
    public let maxPending: Int
    /// How long a statement may take, from its call to its answer, before it fails (seconds).
    public let statementDeadline: Double

    private let conninfo: String
    /// The conninfo's `connect_timeout` (seconds; 10 when it has none).
    private let connectTimeout: Double

    private enum State { case closed, connecting, ready }

    /// A statement between its call and its answer.
    private struct Statement {
        let sql: String
        let parameters: PostgresParameters
        let prepared: Bool
        let completion: Completion
        let started: Double
        var deadline: Reactor.Timer?
        /// The first result of its sync segment answers its `PQsendPrepare` (name to forget if
        /// the prepare fails).
        var preparing: String?
        var result: PostgresResult?
        var error: PostgresError?
    }

    // Reactor-thread state.
    private var state = State.closed
    private var connection: OpaquePointer?
    private var socket: Int32 = -1
    private var registration: Reactor.Registration?
    private var watchedEvents: UInt32 = 0
    private var connectTimer: Reactor.Timer?
    private var outputPending = false
    private var backoff = ReconnectBackoff()
    private var lastConnectError: PostgresError?
    private var everConnected = false
    private var isShutDown = false
    /// What the server warned about while a statement ran (libpq's notice receiver writes here).
    private let notices = PostgresNotices()
    /// Statements prepared on the current connection, by SQL text → server-side name.
    private var preparedNames: [String: String] = [:]
    /// Pending statements in call order: `statements[head..<head + sent]` are in the pipeline,
    /// the rest wait for the connection.
    private var statements: [Statement] = []
    private var head = 0
    private var sent = 0
    /// Answers decided but not yet delivered: callers are called once the connection's state is
    /// consistent, so a caller may issue its next statement from inside its completion.
    private var answers: [(Completion, Result<PostgresResult, PostgresError>)] = []
    private var delivering = false
    private var figures = PoolStatistics(size: 1, idle: 1)
    private let published = Mutex(PoolStatistics(size: 1, idle: 1))

    /// Creates the connection; it connects on its first statement, so this never blocks or fails.
    ///
    /// - Parameters:
    ///   - reactor: The reactor that runs it.
    ///   - conninfo: libpq connection string or URI; its `connect_timeout` bounds connecting, and
    ///     its session settings (`statement_timeout` in `options`, keepalives, `tcp_user_timeout`)
    ///     apply as for `PostgresConnection`.
    ///   - maxPending: Statements queued or in flight at most.
    ///   - statementDeadline: Seconds from a call to its answer before the statement fails with an
    ///     unknown outcome (choose the statement timeout plus a margin).
    public init(reactor: Reactor, conninfo: String, maxPending: Int, statementDeadline: Double) {
        self.reactor = reactor
        self.conninfo = conninfo
        self.maxPending = max(1, maxPending)
        self.statementDeadline = statementDeadline
        connectTimeout = Self.connectTimeout(of: conninfo) ?? 10
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    /// The connection's occupancy and counters: `size` 1, `busy` 1 while statements are in
    /// flight, `waiting` the statements queued or in flight, `timeouts` the statements that
    /// passed their deadline. From any thread.
    public var statistics: PoolStatistics { published.withLock { $0 } }

    /// Runs one statement with `$n` parameters (text format, `nil` is NULL) and calls
    /// `completion` with its outcome, on the reactor's thread (never before this returns if the
    /// statement was accepted; at once if it was refused).
    ///
    /// `prepared: true` prepares the statement on the connection the first time its text is seen
    /// and then only binds and executes it, as `PostgresConnection.query` does.
    public func query(_ sql: String, _ parameters: [String?], prepared: Bool, completion: @escaping Completion) {
        query(sql, PostgresParameters(parameters), prepared: prepared, completion: completion)
    }

    /// `query`, with parameters already laid out in one buffer (see `PostgresParameters`).
    public func query(_ sql: String, _ parameters: PostgresParameters, prepared: Bool, completion: @escaping Completion) {
        precondition(reactor.isCurrent, "PostgresReactorConnection.query runs on its reactor's thread")
        defer { deliver() }
        if isShutDown {
            answers.append((completion, .failure(.pool(.shutdown))))
            return
        }
        guard statements.count - head < maxPending else {
            figures.rejectedOverloaded += 1
            answers.append((completion, .failure(.pool(.overloaded(maxWaiting: maxPending)))))
            return
        }
        if state == .closed {
            if let lastConnectError, !backoff.allowsAttempt(now: .now) {
                figures.failedJobs += 1
                answers.append((completion, .failure(lastConnectError)))
                return
            }
            startConnecting()
            if state == .closed {
                figures.failedJobs += 1
                answers.append((completion, .failure(lastConnectError ?? .connect("connect failed"))))
                return
            }
        }
        let deadline = reactor.schedule(after: statementDeadline) { [weak self] in self?.deadlinePassed() }
        statements.append(Statement(sql: sql, parameters: parameters, prepared: prepared, completion: completion,
                                    started: reactor.now, deadline: deadline))
        figures.totalJobs += 1
        if state == .ready { sendQueued() }
    }

    /// Fails every pending statement with `PostgresError.pool(.shutdown)` and closes the
    /// connection; later statements fail the same way. On the reactor's thread.
    public func shutdown() {
        precondition(reactor.isCurrent, "PostgresReactorConnection.shutdown runs on its reactor's thread")
        isShutDown = true
        close()
        failAll(.pool(.shutdown))
        deliver()
    }

    // MARK: Connecting

    private func startConnecting() {
        guard let connection = PQconnectStart(conninfo) else {
            connectFailed("libpq could not allocate a connection")
            return
        }
        guard PQstatus(connection) != CONNECTION_BAD else {
            let message = PostgresConnection.errorMessage(of: connection)
            PQfinish(connection)
            connectFailed(message)
            return
        }
        // As in `PostgresConnection`: notices stay out of stderr; the one that changes a
        // statement's meaning (a commit the synchronous standby did not confirm) is kept.
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            Unmanaged<PostgresNotices>.fromOpaque(context).takeUnretainedValue().receive(result)
        }, Unmanaged.passUnretained(notices).toOpaque())
        self.connection = connection
        state = .connecting
        connectTimer = reactor.schedule(after: connectTimeout) { [weak self] in
            guard let self, state == .connecting else { return }
            connectTimer = nil
            connectFailed("connection to server timed out after \(connectTimeout) s (connect_timeout)")
            deliver()
        }
        // Before the first `PQconnectPoll`, libpq asks to wait as if it had said "writing".
        guard watchConnecting(events: EPOLLOUT.rawValue) else { return }
    }

    /// Watches the connection's current socket for `events`, registering it anew: a
    /// `PQconnectPoll` step may have closed the socket and opened another (the next address of a
    /// host, or a retry without SSL), possibly under the same number.
    private func watchConnecting(events: UInt32) -> Bool {
        guard let connection else { return false }
        if let registration {
            reactor.unregister(registration, fd: socket)
            self.registration = nil
        }
        socket = PQsocket(connection)
        do {
            registration = try reactor.register(fd: socket, events: events) { [unowned self] events in handle(events) }
            watchedEvents = events
            return true
        } catch {
            connectFailed("cannot watch the connection's socket: \(error)")
            return false
        }
    }

    private func pollConnecting() {
        guard let connection else { return }
        switch PQconnectPoll(connection) {
        case PGRES_POLLING_READING:
            _ = watchConnecting(events: EPOLLIN.rawValue)
        case PGRES_POLLING_WRITING:
            _ = watchConnecting(events: EPOLLOUT.rawValue)
        case PGRES_POLLING_OK:
            connected()
        default:
            connectFailed(PostgresConnection.errorMessage(of: connection))
        }
    }

    private func connected() {
        guard let connection else { return }
        if let connectTimer { reactor.cancel(connectTimer) }
        connectTimer = nil
        guard PQsetnonblocking(connection, 1) == 0 else {
            connectFailed("cannot make the connection non-blocking: \(PostgresConnection.errorMessage(of: connection))")
            return
        }
        guard PQenterPipelineMode(connection) == 1 else {
            connectFailed("cannot enter pipeline mode: \(PostgresConnection.errorMessage(of: connection))")
            return
        }
        // The socket stays the one the last step used; watch it for the server's answers (and
        // for its closing an idle connection).
        guard watchConnecting(events: EPOLLIN.rawValue) else { return }
        if everConnected { figures.reconnects += 1 }
        everConnected = true
        backoff.recordSuccess()
        lastConnectError = nil
        state = .ready
        sendQueued()
    }

    private func connectFailed(_ message: String) {
        let error = PostgresError.connect(message)
        lastConnectError = error
        backoff.recordFailure(now: .now)
        close()
        failAll(error)
    }

    // MARK: Statements

    /// Writes every queued statement into the pipeline, each with its own sync, then flushes.
    private func sendQueued() {
        guard let connection else { return }
        while head + sent < statements.count {
            let index = head + sent
            let statement = statements[index]
            var preparing: String?
            let accepted = statement.parameters.withValuePointers { values -> Bool in
                let count = Int32(values.count)
                var name = statement.prepared ? preparedNames[statement.sql] : nil
                if statement.prepared, name == nil, preparedNames.count < PostgresConnection.maxPreparedStatements {
                    let newName = "stampede_\(preparedNames.count + 1)"
                    guard PQsendPrepare(connection, newName, statement.sql, count, nil) == 1 else { return false }
                    preparedNames[statement.sql] = newName
                    preparing = newName
                    name = newName
                }
                let queued = if let name {
                    PQsendQueryPrepared(connection, name, count, values, nil, nil, 0)
                } else {
                    PQsendQueryParams(connection, statement.sql, count, nil, values, nil, nil, 0)
                }
                return queued == 1 && PQpipelineSync(connection) == 1
            }
            guard accepted else {
                lost(PostgresConnection.errorMessage(of: connection))
                return
            }
            statements[index].preparing = preparing
            sent += 1
        }
        flush()
    }

    /// Sends what libpq buffered; watches for writability while some is left.
    private func flush() {
        guard let connection else { return }
        let flushed = PQflush(connection)
        guard flushed >= 0 else {
            lost(PostgresConnection.errorMessage(of: connection))
            return
        }
        outputPending = flushed == 1
        let events = EPOLLIN.rawValue | (outputPending ? EPOLLOUT.rawValue : 0)
        guard events != watchedEvents, let registration else { return }
        do {
            try reactor.modify(registration, fd: socket, events: events)
            watchedEvents = events
        } catch {
            lost("cannot watch the connection's socket: \(error)")
        }
    }

    private func handle(_ events: UInt32) {
        defer { deliver() }
        switch state {
        case .closed:
            return
        case .connecting:
            pollConnecting()
        case .ready:
            guard let connection else { return }
            if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                guard PQconsumeInput(connection) == 1 else {
                    lost(PostgresConnection.errorMessage(of: connection))
                    return
                }
                readResults()
            }
            if state == .ready, outputPending { flush() }
        }
    }

    /// Takes every result libpq has parsed: each statement's own result (after its prepare's, if
    /// it was prepared in the same segment), then its `PGRES_PIPELINE_SYNC`, which answers it.
    private func readResults() {
        guard let connection else { return }
        var nulls = 0
        while sent > 0, PQisBusy(connection) == 0 {
            // A NULL ends one statement's results; two in a row mean nothing more is parsed yet.
            guard let result = PQgetResult(connection) else {
                nulls += 1
                if nulls == 2 { break }
                continue
            }
            nulls = 0
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                answerHead()
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                if statements[head].preparing != nil {
                    statements[head].preparing = nil
                } else {
                    statements[head].result = PostgresResult(copying: result)
                }
            case PGRES_PIPELINE_ABORTED:
                // Follows an error in the same segment, which is the statement's answer.
                if statements[head].error == nil {
                    statements[head].error = .query(sqlState: "", message: "statement skipped: an earlier one in its pipeline segment failed")
                }
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                guard PQstatus(connection) == CONNECTION_OK else {
                    lost(PostgresConnection.errorMessage(of: connection))
                    return
                }
                if let name = statements[head].preparing {
                    // Its prepare failed: forget the name so the next call prepares it again.
                    statements[head].preparing = nil
                    if preparedNames[statements[head].sql] == name { preparedNames[statements[head].sql] = nil }
                }
                if statements[head].error == nil {
                    let sqlState = PostgresConnection.field(PostgresConnection.sqlStateField, of: result) ?? ""
                    let message = PostgresConnection.field(PostgresConnection.primaryMessageField, of: result)
                        ?? PostgresConnection.errorMessage(of: connection)
                    statements[head].error = .query(sqlState: sqlState, message: message)
                }
            default:
                // COPY and other streaming states leave the protocol mid-exchange: start afresh.
                let status = String(cString: PQresStatus(PQresultStatus(result)))
                lost("unsupported result status \(status) (COPY is not supported)")
                return
            }
        }
        if sent == 0 {
            // Nothing in flight: drain what an idle connection may hold (the server's FATAL
            // before it closes surfaces as end-of-file on the next read).
            while PQisBusy(connection) == 0, let result = PQgetResult(connection) { PQclear(result) }
        }
    }

    /// Answers the oldest statement in flight: its sync arrived, so its transaction ended.
    private func answerHead() {
        let statement = statements[head]
        statements[head] = Statement(sql: "", parameters: PostgresParameters(), prepared: false, completion: { _ in }, started: 0)
        head += 1
        sent -= 1
        if head == statements.count {
            statements.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= statements.count {
            statements.removeFirst(head)
            head = 0
        }
        if let deadline = statement.deadline { reactor.cancel(deadline) }
        // Whatever the statement's outcome, a warning raised in its segment belongs to it alone.
        let unconfirmedCommit = notices.takeUnconfirmedCommit()
        let outcome: Result<PostgresResult, PostgresError>
        if let error = statement.error {
            outcome = .failure(error)
        } else if let unconfirmedCommit {
            // Committed here, but not confirmed by the synchronous standby: not a success.
            outcome = .failure(.unconfirmedCommit(unconfirmedCommit))
        } else if let result = statement.result {
            outcome = .success(result)
        } else {
            outcome = .failure(.io("the server ended a pipeline segment without the statement's result"))
        }
        if case .failure = outcome { figures.failedJobs += 1 }
        figures.callLatency.record(seconds: reactor.now - statement.started)
        answers.append((statement.completion, outcome))
    }

    // MARK: Failures

    private func deadlinePassed() {
        figures.timeouts += 1
        lost("no answer within the statement deadline of \(statementDeadline) s; the outcome is unknown")
        deliver()
    }

    /// The connection is unusable: every pending statement fails with `.io` (a commit among them
    /// has an unknown outcome) and the next statement reconnects at once.
    private func lost(_ message: String) {
        close()
        failAll(.io(message))
    }

    private func failAll(_ error: PostgresError) {
        for index in head..<statements.count {
            if let deadline = statements[index].deadline { reactor.cancel(deadline) }
            figures.failedJobs += 1
            answers.append((statements[index].completion, .failure(error)))
        }
        statements.removeAll()
        head = 0
        sent = 0
    }

    private func close() {
        if let registration { reactor.unregister(registration, fd: socket) }
        registration = nil
        watchedEvents = 0
        if let connectTimer { reactor.cancel(connectTimer) }
        connectTimer = nil
        if let connection { PQfinish(connection) }
        connection = nil
        socket = -1
        outputPending = false
        preparedNames = [:]
        state = .closed
        _ = notices.takeUnconfirmedCommit()
    }

    /// Calls the completions of decided statements, then publishes the figures.
    private func deliver() {
        guard !delivering else { return }
        delivering = true
        while !answers.isEmpty {
            let batch = answers
            answers.removeAll()
            for (completion, outcome) in batch { completion(outcome) }
        }
        delivering = false
        let pending = statements.count - head
        figures.busy = sent > 0 ? 1 : 0
        figures.idle = 1 - figures.busy
        figures.waiting = pending
        figures.connected = state == .ready ? 1 : 0
        let snapshot = figures
        published.withLock { $0 = snapshot }
    }

    /// The `connect_timeout` of a conninfo string or URI, in seconds.
    private static func connectTimeout(of conninfo: String) -> Double? {
        guard let options = PQconninfoParse(conninfo, nil) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "connect_timeout", let value = option.pointee.val,
               let seconds = Double(String(cString: value)), seconds > 0 {
                // libpq treats values below 2 s as 2 s.
                return max(2, seconds)
            }
            option += 1
        }
        return nil
    }
}
