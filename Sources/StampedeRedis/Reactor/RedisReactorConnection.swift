import CHiredis
import Glibc
import StampedePool
import StampedeSystem
import Synchronization

/// One non-blocking connection to one Redis, confined to one `Reactor`: calls are written and the
/// reactor's thread goes on; replies are parsed as they arrive and each call's completion runs on
/// that thread, so a caller that lives on the reactor (a shard bound to it) resumes without a
/// hand-off.
///
/// The socket is the project's own (`System`), non-blocking, with `TCP_NODELAY`; commands are
/// written in RESP by `RedisCommandArguments.appendRESP` and hiredis parses the replies
/// (`redisReader`). That keeps the
/// deadlines, the drop of a connection and the failure of its calls in one place, here.
///
/// - Connect: non-blocking, bounded (with the identity read and `READONLY`) by `connectTimeout`
///   on a reactor timer. After connect the node's identity is read as `RedisConnection` reads it.
/// - Calls: a call is a pipeline of `RedisCall`s built for the node's identity, answered in order
///   with `RedisConnection.execute(_:)`'s semantics (scripts by `EVALSHA`, `NOSCRIPT` loaded and
///   retried, error replies in place).
/// - Deadlines: each exchange gets a reactor timer at `commandTimeout`; when one fires the
///   connection is dropped and every call on it fails with `RedisError.io` (outcome unknown).
/// - A dropped connection (peer closed, error, deadline) fails its calls with `.io` and is
///   reopened by the next call, paced by `ReconnectBackoff`: while backing off, calls fail at once
///   with the last `.connect` error.
/// - Bounded: at most `maxPending` calls queued or in flight; beyond, `.pool(.overloaded)`.
///
/// Thread-confinement: `execute(_:completion:)` and `shutdown()` are for the reactor's thread
/// only; `statistics` may be read from any thread (it is kept under a lock). Hence
/// `@unchecked Sendable`.
public final class RedisReactorConnection: @unchecked Sendable {
    /// How a call ends: the replies in call order (with the identity of the node that gave them),
    /// or why it failed (`RedisError`, or what a call's `build` threw).
    public typealias Completion = (Result<[RedisRoutedReply], any Error>) -> Void

    /// The reactor whose thread owns the connection.
    public let reactor: Reactor
    public let host: String
    public let port: Int
    /// Calls that may be queued or in flight at once.
    public let maxPending: Int
    private let connectTimeout: Double
    private let commandTimeout: Double
    private let readOnlyReplica: Bool

    /// hiredis is not writing here, but `System.send` already uses `MSG_NOSIGNAL`; SIGPIPE is still
    /// ignored process-wide, as `RedisConnection` does, so mixing both clients changes nothing.
    private static let sigpipeIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
    private static let readBufferSize = 64 * 1024

    private enum Phase { case closed, connecting, handshaking, ready }

    /// One call: routed calls, and what to do with the outcome.
    private struct Pipeline {
        let calls: [RedisRoutedCall]
        let completion: Completion
        let started: UInt64
        /// The caller's topology generation: the node's identity must have been read at it or later.
        let identityGeneration: UInt64
    }

    /// Commands written in one go and the replies they have received so far.
    private struct Exchange {
        let expected: Int
        var replies: [RESPValue]
        let timer: Reactor.Timer?
        let completion: (Result<[RESPValue], RedisError>) -> Void
    }

    // Reactor-thread state.
    private var phase = Phase.closed
    private var fd: Int32 = -1
    private var registration: Reactor.Registration?
    private var watchingWrite = false
    private var reader: UnsafeMutablePointer<redisReader>?
    private var connectTimer: Reactor.Timer?
    /// Bumped whenever the socket closes: timers and loops of an older socket see it and stop.
    private var generation: UInt64 = 0
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var exchanges: [Exchange] = []
    /// Calls waiting for the connection to open.
    private var queued: [Pipeline] = []
    /// Calls accepted and not yet completed (queued or in flight).
    private var pending = 0
    private var identity = RedisNodeIdentity(runID: "", replicationID: "")
    /// The newest topology generation a caller asked for, and the one `identity` was read at.
    private var requestedGeneration: UInt64 = 0
    private var identityGeneration: UInt64 = 0
    /// The identity is being read again (calls wait in `queued` meanwhile).
    private var refreshingIdentity = false
    private var backoff = ReconnectBackoff()
    private var lastConnectError: RedisError?
    private var hasConnected = false
    private var isShutDown = false
    private let readBuffer: UnsafeMutableRawBufferPointer

    /// The figures `statistics` reports, updated on the reactor thread.
    private let figures = Mutex(RedisReactorFigures())

    /// Creates the connection; it opens on the first call. From any thread.
    public init(
        reactor: Reactor,
        host: String,
        port: Int,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2),
        maxPending: Int = 1024,
        readOnlyReplica: Bool = false
    ) {
        Self.sigpipeIgnored
        self.reactor = reactor
        self.host = host
        self.port = port
        self.maxPending = max(1, maxPending)
        self.connectTimeout = Self.seconds(connectTimeout)
        self.commandTimeout = Self.seconds(commandTimeout)
        self.readOnlyReplica = readOnlyReplica
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
    }

    deinit {
        // Unregistered and closed by `shutdown` (or never opened); a reactor that stopped first
        // dropped its handlers, so only the descriptor and the reader are left to free.
        if fd >= 0 { System.close(fd) }
        if let reader { redisReaderFree(reader) }
        readBuffer.deallocate()
    }

    /// A snapshot of the connection's figures. From any thread.
    public var statistics: RedisReactorFigures { figures.withLock { $0 } }

    // MARK: Calls (reactor thread)

    /// Runs `calls` as one pipeline on this connection, opening it first if needed, and calls
    /// `completion` on the reactor thread (possibly before returning, when the call fails at once).
    ///
    /// `identityAsOf`: a Redis Cluster client's topology generation. When it is newer than the one
    /// the node's identity was read at, the identity is read again before the calls are built (a
    /// node may have been demoted and promoted again while the connection stayed open); if that
    /// read fails, the calls fail with `.connect` (they did not run).
    public func execute(_ calls: [RedisRoutedCall], identityAsOf generation: UInt64 = 0, completion: @escaping Completion) {
        guard !isShutDown else { return completion(.failure(RedisError.pool(.shutdown))) }
        guard pending < maxPending else {
            figures.withLock { $0.rejectedOverloaded += 1 }
            return completion(.failure(RedisError.pool(.overloaded(maxWaiting: maxPending))))
        }
        if phase == .closed, !backoff.allowsAttempt(now: .now), let lastConnectError {
            figures.withLock { $0.totalCalls += 1; $0.failedCalls += 1 }
            return completion(.failure(lastConnectError))
        }
        let pipeline = Pipeline(calls: calls, completion: completion, started: MonotonicClock.now(), identityGeneration: generation)
        requestedGeneration = max(requestedGeneration, generation)
        pending += 1
        figures.withLock { $0.totalCalls += 1; $0.pending = pending }
        switch phase {
        case .ready:
            dispatch(pipeline)
        case .connecting, .handshaking:
            queued.append(pipeline)
            figures.withLock { $0.queued = queued.count }
        case .closed:
            queued.append(pipeline)
            figures.withLock { $0.queued = queued.count }
            open()
        }
    }

    /// Fails every call (those sent with `.io`: their outcome is unknown; those queued with
    /// `.pool(.shutdown)`), closes the socket and refuses later calls. Reactor thread; idempotent.
    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        drop(.io("\(host):\(port): the client was shut down with the call in flight"))
        failQueued(.pool(.shutdown))
    }

    /// Starts `pipeline` on the ready connection, or queues it behind a new read of the node's
    /// identity when the caller's generation is newer than the identity's.
    private func dispatch(_ pipeline: Pipeline) {
        guard refreshingIdentity || pipeline.identityGeneration > identityGeneration else { return start(pipeline) }
        queued.append(pipeline)
        figures.withLock { $0.queued = queued.count }
        if !refreshingIdentity { refreshIdentity() }
    }

    /// Reads the node's identity again (after the calls already sent), then starts the calls that
    /// waited for it.
    private func refreshIdentity() {
        refreshingIdentity = true
        let reading = requestedGeneration
        figures.withLock { $0.identityRereads += 1 }
        send([RedisCommandArguments(["INFO", "server"]), RedisCommandArguments(["INFO", "replication"])]) { [self] result in
            refreshingIdentity = false
            switch result {
            case .failure(let error):
                // The connection was dropped (every call sent on it failed); the waiting calls
                // were never sent.
                failQueued(.connect("\(host):\(port): reading the node's identity again failed: \(error)"))
            case .success(let replies):
                identity = RedisNodeIdentity(serverInfo: replies[0].string ?? "", replicationInfo: replies[1].string ?? "")
                identityGeneration = max(identityGeneration, reading)
                let waiting = queued
                queued = []
                figures.withLock { $0.queued = 0 }
                for pipeline in waiting { dispatch(pipeline) }
            }
        }
    }

    /// Builds the pipeline's calls for the node and sends them; `NOSCRIPT` answers get their
    /// scripts loaded and are retried in a second exchange.
    private func start(_ pipeline: Pipeline) {
        let node = identity
        let calls: [RedisCall]
        do {
            calls = try pipeline.calls.map { try $0.build(node) }
        } catch {
            return finish(pipeline, .failure(error))
        }
        send(calls.map(\.arguments)) { [self] result in
            let replies: [RESPValue]
            switch result {
            case .failure(let error): return finish(pipeline, .failure(error))
            case .success(let values): replies = values
            }
            let missing = replies.indices.filter {
                calls[$0].script != nil && replies[$0].errorMessage?.hasPrefix("NOSCRIPT") == true
            }
            guard !missing.isEmpty else {
                return finish(pipeline, .success(replies.map { RedisRoutedReply(node: node, value: $0) }))
            }
            var scripts: [RedisScript] = []
            for index in missing where !scripts.contains(calls[index].script!) {
                scripts.append(calls[index].script!)
            }
            let loads = scripts.map { RedisCommandArguments(["SCRIPT", "LOAD", $0.source]) }
            send(loads + missing.map { calls[$0].arguments }) { [self] result in
                let retries: [RESPValue]
                switch result {
                case .failure(let error): return finish(pipeline, .failure(error))
                case .success(let values): retries = values
                }
                var merged = replies
                let loadReplies = Dictionary(uniqueKeysWithValues: zip(scripts, retries.prefix(scripts.count)))
                for (index, retry) in zip(missing, retries.dropFirst(scripts.count)) {
                    if let load = loadReplies[calls[index].script!], load.errorMessage != nil {
                        merged[index] = load
                    } else {
                        merged[index] = retry
                    }
                }
                finish(pipeline, .success(merged.map { RedisRoutedReply(node: node, value: $0) }))
            }
        }
    }

    private func finish(_ pipeline: Pipeline, _ result: Result<[RedisRoutedReply], any Error>) {
        pending -= 1
        let seconds = MonotonicClock.seconds(since: pipeline.started)
        let failed: Bool
        if case .failure = result { failed = true } else { failed = false }
        figures.withLock {
            $0.pending = pending
            $0.callLatency.record(seconds: seconds)
            if failed { $0.failedCalls += 1 }
        }
        pipeline.completion(result)
    }

    private func failQueued(_ error: RedisError) {
        let waiting = queued
        queued = []
        figures.withLock { $0.queued = 0 }
        for pipeline in waiting { finish(pipeline, .failure(error)) }
    }

    // MARK: Wire

    /// Appends `commands` to the output, expects as many replies, and writes what it can. The
    /// exchange gets a deadline once the connection is ready (the handshake is bounded by the
    /// connect timer).
    private func send(_ commands: [RedisCommandArguments], completion: @escaping (Result<[RESPValue], RedisError>) -> Void) {
        guard phase == .ready || phase == .handshaking else {
            return completion(.failure(.io("\(host):\(port): the connection closed before the call was sent")))
        }
        for command in commands { command.appendRESP(to: &outbound) }
        var timer: Reactor.Timer?
        if phase == .ready {
            let generation = generation
            timer = reactor.schedule(after: commandTimeout) { [weak self] in self?.deadlineExpired(generation) }
        }
        exchanges.append(Exchange(expected: commands.count, replies: [], timer: timer, completion: completion))
        exchanges[exchanges.count - 1].replies.reserveCapacity(commands.count)
        flush()
    }

    /// Writes buffered output until done or the socket is full (then waits for `EPOLLOUT`).
    private func flush() {
        while outboundOffset < outbound.count {
            let result: IOResult<Int>
            do {
                result = try outbound.withUnsafeBytes { bytes in
                    try System.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outboundOffset...]))
                }
            } catch {
                return drop(.io("\(host):\(port): \(error)"))
            }
            switch result {
            case .processed(let count):
                outboundOffset += count
            case .wouldBlock:
                return watchWrite(true)
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundOffset = 0
        watchWrite(false)
    }

    private func watchWrite(_ wanted: Bool) {
        guard wanted != watchingWrite, let registration else { return }
        let events = EPOLLIN.rawValue | (wanted ? EPOLLOUT.rawValue : 0)
        do {
            try reactor.modify(registration, fd: fd, events: events)
            watchingWrite = wanted
        } catch {
            drop(.io("\(host):\(port): \(error)"))
        }
    }

    private func handle(_ events: UInt32) {
        switch phase {
        case .closed:
            return
        case .connecting:
            let code = System.pendingError(fd)
            guard code == 0 else {
                return connectFailed(.connect("\(host):\(port): \(SystemCallError(call: "connect", errno: code))"))
            }
            connected()
        case .handshaking, .ready:
            let generation = generation
            if events & EPOLLOUT.rawValue != 0 {
                flush()
                guard generation == self.generation else { return }
            }
            if events & (EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                readAvailable()
            }
        }
    }

    /// Reads what the socket holds and hands each complete reply to the oldest exchange.
    private func readAvailable() {
        let generation = generation
        while true {
            let count: Int
            do {
                switch try System.read(fd, into: readBuffer) {
                case .processed(let read): count = read
                case .wouldBlock: return
                }
            } catch {
                return drop(.io("\(host):\(port): \(error)"))
            }
            guard count > 0 else { return drop(.io("\(host):\(port): Redis closed the connection")) }
            guard let reader, redisReaderFeed(reader, readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self), count) == REDIS_OK else {
                return drop(.protocolViolation(readerError()))
            }
            while true {
                var reply: UnsafeMutableRawPointer?
                guard redisReaderGetReply(reader, &reply) == REDIS_OK else { return drop(.protocolViolation(readerError())) }
                guard let reply else { break }
                let value: RESPValue
                do {
                    defer { freeReplyObject(reply) }
                    value = try RESPValue(reply: reply.assumingMemoryBound(to: redisReply.self))
                } catch {
                    return drop(error)
                }
                deliver(value)
                // A completion may have dropped the connection (or reopened it).
                guard generation == self.generation else { return }
            }
            if count < readBuffer.count { return }
        }
    }

    private func deliver(_ value: RESPValue) {
        guard !exchanges.isEmpty else { return drop(.protocolViolation("\(host):\(port): a reply nobody asked for")) }
        exchanges[0].replies.append(value)
        guard exchanges[0].replies.count == exchanges[0].expected else { return }
        let exchange = exchanges.removeFirst()
        if let timer = exchange.timer { reactor.cancel(timer) }
        exchange.completion(.success(exchange.replies))
    }

    private func readerError() -> String {
        guard let reader else { return "\(host):\(port): reply parser missing" }
        let text = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(host):\(port): \(text)"
    }

    private func deadlineExpired(_ generation: UInt64) {
        guard generation == self.generation, phase == .ready else { return }
        figures.withLock { $0.timeouts += 1 }
        let milliseconds = Int((commandTimeout * 1000).rounded())
        drop(.io("\(host):\(port): no reply within \(milliseconds) ms; the call timed out and the connection was dropped"))
    }

    // MARK: Opening and closing

    private func open() {
        // A name is looked up at each (re)connect, on this thread: a numeric address or a name
        // in /etc/hosts costs nothing; a DNS lookup holds the reactor for as long as it takes.
        guard let address = SocketAddress.resolve(host: host, port: port) else {
            return connectFailed(.connect("\(host):\(port): the name resolves to no address"))
        }
        do throws(SystemCallError) {
            fd = try System.socket(domain: address.family, nonBlocking: true)
            try System.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            reader = redisReaderCreate()
            phase = .connecting
            let generation = generation
            connectTimer = reactor.schedule(after: connectTimeout) { [weak self] in self?.connectExpired(generation) }
            registration = try reactor.register(fd: fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue) { [weak self] events in
                self?.handle(events)
            }
            watchingWrite = true
            if case .processed = try System.connect(fd, to: address) { connected() }
        } catch {
            connectFailed(.connect("\(host):\(port): \(error)"))
        }
    }

    /// The socket connected: read the node's identity (and send `READONLY`) before any call.
    private func connected() {
        phase = .handshaking
        watchWrite(false)
        guard phase == .handshaking else {
            return connectFailed(.connect("\(host):\(port): could not watch the connected socket"))
        }
        var commands = [RedisCommandArguments(["INFO", "server"]), RedisCommandArguments(["INFO", "replication"])]
        if readOnlyReplica { commands.append(RedisCommandArguments(["READONLY"])) }
        let reading = requestedGeneration
        send(commands) { [self] result in
            let replies: [RESPValue]
            switch result {
            case .failure(let error): return connectFailed(.connect("\(host):\(port): \(error)"))
            case .success(let values): replies = values
            }
            if readOnlyReplica, let message = replies[2].errorMessage {
                return connectFailed(.connect("\(host):\(port): READONLY answered \(message)"))
            }
            identity = RedisNodeIdentity(serverInfo: replies[0].string ?? "", replicationInfo: replies[1].string ?? "")
            identityGeneration = reading
            refreshingIdentity = false
            phase = .ready
            if let connectTimer { reactor.cancel(connectTimer) }
            connectTimer = nil
            backoff.recordSuccess()
            lastConnectError = nil
            let reconnected = hasConnected
            hasConnected = true
            let waiting = queued
            queued = []
            figures.withLock {
                $0.connected = true
                $0.queued = 0
                if reconnected { $0.reconnects += 1 }
            }
            for pipeline in waiting { dispatch(pipeline) }
        }
    }

    private func connectExpired(_ generation: UInt64) {
        guard generation == self.generation, phase == .connecting || phase == .handshaking else { return }
        let milliseconds = Int((connectTimeout * 1000).rounded())
        connectFailed(.connect("\(host):\(port): not connected within \(milliseconds) ms"))
    }

    /// Opening failed: close, back off, and fail the calls that waited for it.
    private func connectFailed(_ error: RedisError) {
        exchanges = [] // the handshake's, if any: it is what failed
        closeSocket()
        backoff.recordFailure(now: .now)
        lastConnectError = error
        failQueued(error)
    }

    /// Closes the socket and fails every call sent on it with `error`.
    private func drop(_ error: RedisError) {
        guard phase != .closed else { return }
        let failed = exchanges
        exchanges = []
        for exchange in failed {
            if let timer = exchange.timer { reactor.cancel(timer) }
        }
        closeSocket()
        for exchange in failed { exchange.completion(.failure(error)) }
    }

    private func closeSocket() {
        if let registration { reactor.unregister(registration, fd: fd) }
        registration = nil
        if fd >= 0 { System.close(fd) }
        fd = -1
        if let reader { redisReaderFree(reader) }
        reader = nil
        if let connectTimer { reactor.cancel(connectTimer) }
        connectTimer = nil
        outbound.removeAll(keepingCapacity: true)
        outboundOffset = 0
        watchingWrite = false
        phase = .closed
        generation &+= 1
        figures.withLock { $0.connected = false }
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
