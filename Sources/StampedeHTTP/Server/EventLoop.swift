import StampedeSystem
import Glibc
import Synchronization

/// One event-loop thread: its epoll instance, its own `SO_REUSEPORT` listener (and HTTPS listener,
/// when configured), an eventfd for wakeups from other threads, and the connections it accepted.
///
/// epoll is used **level-triggered**. Backpressure is then just interest: to stop reading from a
/// connection (pipeline full, output backed up, closing) the loop drops `EPOLLIN` and nothing is
/// lost, whereas edge-triggering would force it to drain every socket to `EAGAIN` or remember
/// which ones still have unread bytes. Level-triggering also lets each readiness event do a single
/// bounded `read`, which keeps loops fair between busy and quiet connections. The cost — an
/// `epoll_ctl` when `EPOLLOUT` is toggled — is paid only on partial writes.
///
/// Thread-confinement: everything except `mailbox`, `threadID` and `counters` is touched only by
/// the loop thread (or, before `run()` starts and after it returns, by the one thread that owns
/// the loop). That is why the class is `@unchecked Sendable`: other threads only call `deliver`
/// and `requestStop`, which go through the mailbox lock.
final class EventLoop: @unchecked Sendable {
    /// Answers coming back from other threads, and the stop request.
    private struct Mailbox {
        var completions: [Completion] = []
        /// The eventfd was signalled and the loop has not drained the mailbox since.
        var wakeupPending = false
        var stopRequested = false
        /// Close the listener but keep serving the open connections (graceful drain).
        var stopAcceptingRequested = false
        /// The loop has exited and closed its eventfd; deliveries are dropped.
        var closed = false
    }

    /// An answer handed over from another thread.
    private struct Completion {
        let connectionID: UInt64
        let sequence: UInt64
        let response: HTTPResponse
    }

    private static let listenerToken: UInt64 = 0
    private static let wakeToken: UInt64 = 1
    private static let tlsListenerToken: UInt64 = 2
    /// Connections accepted per listener wakeup at most, so a flood of connects cannot starve
    /// established connections.
    private static let acceptBatch = 64
    private static let readBufferSize = 64 * 1024
    private static let maxEvents = 256
    /// The `503 overloaded` answer, serialized once.
    private static let overloadedBytes: [UInt8] = {
        var bytes: [UInt8] = []
        HTTPResponse.overloaded.serialize(into: &bytes, framing: .closing)
        return bytes
    }()
    /// The `429 rate_limited` answer to one address over its connection cap, serialized once.
    private static let tooManyConnectionsBytes: [UInt8] = {
        var bytes: [UInt8] = []
        HTTPResponse.tooManyConnections.serialize(into: &bytes, framing: .closing)
        return bytes
    }()

    /// Counters readable from any thread.
    let counters = LoopCounters()
    let configuration: HTTPServerConfiguration
    private let handler: any HTTPRequestHandler
    private let budget: ConnectionBudget
    private let clientLimiter: ClientConnectionLimiter?
    private let epollFD: Int32
    private var listenFD: Int32
    /// The HTTPS listener and the context its connections' sessions come from (`-1`/nil once
    /// closed by a graceful drain).
    private var tlsListenFD: Int32?
    private let tlsContext: TLSContext?
    private let wakeFD: Int32
    private let mailbox = Mutex(Mailbox())
    /// The loop thread's `pthread_t`, so `deliver` can recognise calls made on it.
    private let threadID = Atomic<UInt>(0)

    // Loop-thread state.
    private var connections: [UInt64: HTTPConnection] = [:]
    private var nextToken: UInt64 = 3
    private var serviceQueue: [HTTPConnection] = []
    private var drainedCompletions: [Completion] = []
    private var listenerPaused = false
    private let timeoutCheckInterval: Double
    private var nextTimeoutCheck: Double
    /// The time of the current loop iteration, from the monotonic clock.
    private(set) var now: Double
    /// Scratch space every connection of this loop reads into before handing bytes to its parser.
    let readBuffer: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutableBufferPointer<epoll_event>

    /// Creates the loop's epoll instance and eventfd and registers `listenFD` (and `tlsListenFD`).
    /// On success the loop owns the listeners; on failure the caller still does.
    init(
        listenFD: Int32,
        tlsListenFD: Int32? = nil,
        tlsContext: TLSContext? = nil,
        configuration: HTTPServerConfiguration,
        handler: any HTTPRequestHandler,
        budget: ConnectionBudget,
        clientLimiter: ClientConnectionLimiter? = nil
    ) throws(SystemCallError) {
        let epollFD = try System.epollCreate()
        var wakeFD: Int32 = -1
        do {
            wakeFD = try System.eventFD()
            let readable = EPOLLIN.rawValue
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: listenFD, events: readable, token: Self.listenerToken)
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: wakeFD, events: readable, token: Self.wakeToken)
            if let tlsListenFD {
                try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: tlsListenFD, events: readable, token: Self.tlsListenerToken)
            }
        } catch {
            if wakeFD >= 0 { System.close(wakeFD) }
            System.close(epollFD)
            throw error
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.listenFD = listenFD
        self.tlsListenFD = tlsListenFD
        self.tlsContext = tlsContext
        self.configuration = configuration
        self.handler = handler
        self.budget = budget
        self.clientLimiter = clientLimiter
        self.readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        self.events = .allocate(capacity: Self.maxEvents)
        // Check timeouts at least twice per timeout period, and at least once per second.
        let shortestTimeout = min(configuration.readTimeoutSeconds, configuration.idleTimeoutSeconds,
                                  configuration.tls?.handshakeTimeoutSeconds ?? .infinity)
        self.timeoutCheckInterval = max(0.01, min(1, shortestTimeout / 2))
        self.now = MonotonicClock.nowSeconds()
        self.nextTimeoutCheck = now + timeoutCheckInterval
    }

    // MARK: Any thread

    /// Hands `response` to its connection. On the loop thread (typically inside `handle`) the
    /// answer is queued directly; from another thread it goes through the mailbox and at most one
    /// eventfd write per batch wakes the loop.
    func deliver(_ response: HTTPResponse, connectionID: UInt64, sequence: UInt64) {
        if threadID.load(ordering: .acquiring) == pthread_self() {
            connections[connectionID]?.complete(sequence, with: response)
            return
        }
        let completion = Completion(connectionID: connectionID, sequence: sequence, response: response)
        mailbox.withLock { mailbox in
            guard !mailbox.closed else { return }
            mailbox.completions.append(completion)
            signalIfNeeded(&mailbox)
        }
    }

    /// Asks the loop to close everything and return from `run()`.
    func requestStop() {
        mailbox.withLock { mailbox in
            guard !mailbox.closed else { return }
            mailbox.stopRequested = true
            signalIfNeeded(&mailbox)
        }
    }

    /// Asks the loop to close its listener (new connections are refused) and keep serving the
    /// connections it has.
    func requestStopAccepting() {
        mailbox.withLock { mailbox in
            guard !mailbox.closed else { return }
            mailbox.stopAcceptingRequested = true
            signalIfNeeded(&mailbox)
        }
    }

    /// Writes the eventfd unless a wakeup is already pending. Called with the mailbox locked, so
    /// the loop cannot close the eventfd in between.
    private func signalIfNeeded(_ mailbox: inout Mailbox) {
        guard !mailbox.wakeupPending else { return }
        mailbox.wakeupPending = true
        // Only EBADF/EINVAL could fail here, both impossible while `closed` is false.
        try? System.eventFDSignal(wakeFD)
    }

    // MARK: Loop thread

    /// The loop body; returns after `requestStop()` with every descriptor closed.
    func run() {
        threadID.store(pthread_self(), ordering: .releasing)
        defer { releaseResources() }
        var stopping = false
        while !stopping {
            let timeout = Int32(max(0, (nextTimeoutCheck - now) * 1000).rounded(.up))
            let count: Int
            do {
                count = try System.epollWait(epollFD, events: events, timeoutMilliseconds: timeout)
            } catch {
                return  // EBADF/EFAULT/EINVAL: the loop's own state is broken; stop serving.
            }
            now = MonotonicClock.nowSeconds()
            for index in 0..<count {
                let event = events[index]
                switch event.data.u64 {
                case Self.listenerToken: acceptConnections(secure: false)
                case Self.tlsListenerToken: acceptConnections(secure: true)
                case Self.wakeToken: stopping = drainMailbox()
                case let token: connections[token]?.handleEvents(event.events)
                }
            }
            serviceQueuedConnections()
            if now >= nextTimeoutCheck {
                checkTimeouts()
                nextTimeoutCheck = now + timeoutCheckInterval
            }
        }
    }

    /// Calls the handler for a request of one of this loop's connections.
    func dispatch(_ request: HTTPRequest, connectionID: UInt64, sequence: UInt64) {
        handler.handle(request, responder: HTTPResponder(loop: self, connectionID: connectionID, sequence: sequence))
    }

    /// Services `connection` at the end of this iteration (it has answers ready to write).
    func scheduleService(_ connection: HTTPConnection) {
        serviceQueue.append(connection)
    }

    /// Changes the epoll interest of `connection`; a failure closes it.
    func setInterest(_ events: UInt32, for connection: HTTPConnection) -> Bool {
        do {
            try System.epollControl(epollFD, operation: EPOLL_CTL_MOD, fd: connection.fd, events: events, token: connection.id)
            return true
        } catch {
            return false
        }
    }

    /// Forgets a connection that has closed its descriptor.
    func connectionClosed(_ connection: HTTPConnection) {
        connections[connection.id] = nil
        budget.release()
        if connection.holdsClientSlot { clientLimiter?.release(connection.clientAddress) }
    }

    private func serviceQueuedConnections() {
        var index = 0
        while index < serviceQueue.count {
            serviceQueue[index].service()
            index += 1
        }
        serviceQueue.removeAll(keepingCapacity: true)
    }

    /// Resets the eventfd, then takes every queued answer; returns whether a stop was requested.
    /// The eventfd is read before the mailbox is emptied so a delivery in between is never lost.
    private func drainMailbox() -> Bool {
        try? System.eventFDDrain(wakeFD)
        let (stopRequested, stopAccepting) = mailbox.withLock { mailbox in
            swap(&mailbox.completions, &drainedCompletions)
            mailbox.wakeupPending = false
            return (mailbox.stopRequested, mailbox.stopAcceptingRequested)
        }
        if stopAccepting, listenFD >= 0 {
            try? System.epollControl(epollFD, operation: EPOLL_CTL_DEL, fd: listenFD, events: 0, token: Self.listenerToken)
            System.close(listenFD)
            listenFD = -1
            if let tls = tlsListenFD, tls >= 0 {
                try? System.epollControl(epollFD, operation: EPOLL_CTL_DEL, fd: tls, events: 0, token: Self.tlsListenerToken)
                System.close(tls)
                tlsListenFD = -1
            }
        }
        for completion in drainedCompletions {
            connections[completion.connectionID]?.complete(completion.sequence, with: completion.response)
        }
        drainedCompletions.removeAll(keepingCapacity: true)
        return stopRequested
    }

    private func checkTimeouts() {
        if listenerPaused, listenFD >= 0 {
            listenerPaused = !setListenerInterest(EPOLLIN.rawValue)
        }
        for connection in connections.values {
            connection.checkTimeouts()
        }
    }

    private func setListenerInterest(_ events: UInt32) -> Bool {
        do {
            try System.epollControl(epollFD, operation: EPOLL_CTL_MOD, fd: listenFD, events: events, token: Self.listenerToken)
            if let tlsListenFD {
                try System.epollControl(epollFD, operation: EPOLL_CTL_MOD, fd: tlsListenFD, events: events, token: Self.tlsListenerToken)
            }
            return true
        } catch {
            return false
        }
    }

    // MARK: Accepting

    private func acceptConnections(secure: Bool) {
        let listener = secure ? tlsListenFD ?? listenFD : listenFD
        guard listener >= 0 else { return }
        var peer = SocketAddress(storage: sockaddr_storage(), length: 0)
        for _ in 0..<Self.acceptBatch {
            let fd: Int32
            do {
                guard case .processed(let accepted) = try System.accept(listener, peer: &peer) else { return }
                fd = accepted
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: stop accepting until the next timeout check
                    // instead of spinning on a listener that stays readable.
                    listenerPaused = setListenerInterest(0)
                    return
                default:
                    continue  // That one connection failed (ECONNABORTED, EPROTO…).
                }
            }
            let client = ClientAddress(peer)
            guard budget.tryAcquire() else {
                counters.increment(.rejectedOverLimit)
                reject(fd, answer: secure ? nil : Self.overloadedBytes)
                continue
            }
            // A trusted proxy's connection is counted against the client its PROXY header names,
            // once that header is read (HTTPConnection).
            let viaProxy = !secure && configuration.trustedProxies.contains(client)
            if !viaProxy, let clientLimiter, !clientLimiter.tryAcquire(client) {
                budget.release()
                counters.increment(.rejectedPerClient)
                reject(fd, answer: secure ? nil : Self.tooManyConnectionsBytes)
                continue
            }
            admit(fd, client: client, secure: secure, viaProxy: viaProxy)
        }
    }

    /// Claims a per-client slot for a connection whose client a PROXY header named; `false` when
    /// that client is at its limit.
    func claimClientSlot(_ address: ClientAddress) -> Bool {
        guard let clientLimiter else { return true }
        guard clientLimiter.tryAcquire(address) else {
            counters.increment(.rejectedPerClient)
            return false
        }
        return true
    }

    private func admit(_ fd: Int32, client: ClientAddress, secure: Bool, viaProxy: Bool) {
        let token = nextToken
        nextToken += 1
        var session: TLSSession?
        do {
            if secure {
                session = tlsContext?.makeSession(fd: fd)
                if session == nil { throw SystemCallError(call: "SSL_new", errno: ENOMEM) }
            }
            try System.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            try System.epollControl(epollFD, operation: EPOLL_CTL_ADD, fd: fd, events: EPOLLIN.rawValue, token: token)
        } catch {
            session?.release()
            System.close(fd)
            budget.release()
            if !viaProxy { clientLimiter?.release(client) }
            return
        }
        connections[token] = HTTPConnection(id: token, fd: fd, loop: self, client: client, tls: session,
                                             awaitsProxyHeader: viaProxy)
        counters.increment(.accepted)
    }

    /// Refuses a connection over a limit: on the plain port it gets `answer` (`503 overloaded`
    /// or `429 rate_limited`); on the HTTPS port, where no handshake happened, it is just closed.
    /// Whatever the client already sent is read and discarded first, so the close is a FIN, not a
    /// reset that could destroy the answer before the client reads it.
    private func reject(_ fd: Int32, answer: [UInt8]?) {
        answer?.withUnsafeBytes { _ = try? System.send(fd, $0) }
        _ = try? System.read(fd, into: readBuffer)
        System.shutdownWrite(fd)
        System.close(fd)
    }

    /// Closes every connection and descriptor of the loop and frees its buffers. Runs on the loop
    /// thread when `run()` returns, or on the owner's thread for a loop that never ran.
    func releaseResources() {
        // A later thread may reuse this pthread_t; it must not take the on-loop fast path.
        threadID.store(0, ordering: .releasing)
        for connection in Array(connections.values) {
            connection.close()
        }
        if listenFD >= 0 { System.close(listenFD) }
        if let tlsListenFD, tlsListenFD >= 0 { System.close(tlsListenFD) }
        System.close(epollFD)
        mailbox.withLock { mailbox in
            mailbox.closed = true
            mailbox.completions.removeAll()
            System.close(wakeFD)
        }
        readBuffer.deallocate()
        events.deallocate()
    }
}
