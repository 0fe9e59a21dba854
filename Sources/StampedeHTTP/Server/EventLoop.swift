import StampedeSystem
import Glibc
import Synchronization

/// One event loop: its own `SO_REUSEPORT` listener (and HTTPS listener, when configured) and the
/// connections it accepted, on one `Reactor` — the thread, epoll instance, timers and wake-ups it
/// shares with the store connections and shards bound to the same reactor, so a purchase decided
/// there is answered on its connection without a hand-off.
///
/// epoll is used **level-triggered**. Backpressure is then just interest: to stop reading from a
/// connection (pipeline full, output backed up, closing) the loop drops `EPOLLIN` and nothing is
/// lost, whereas edge-triggering would force it to drain every socket to `EAGAIN` or remember
/// which ones still have unread bytes. Level-triggering also lets each readiness event do a single
/// bounded `read`, which keeps loops fair between busy and quiet connections. The cost — an
/// `epoll_ctl` when `EPOLLOUT` is toggled — is paid only on partial writes.
///
/// Thread-confinement: everything except `mailbox` and `counters` is touched only on the reactor's
/// thread (or, before `start()` and after `stop()`, by the one thread that owns the loop). That is
/// why the class is `@unchecked Sendable`: other threads only call `deliver`, `requestStop` and
/// `requestStopAccepting`, which go through the mailbox lock or the reactor.
final class EventLoop: @unchecked Sendable {
    /// Answers coming back from other threads.
    private struct Mailbox {
        var completions: [Completion] = []
        /// A drain is handed to the reactor and has not run yet.
        var drainPending = false
        /// The loop has stopped; deliveries are dropped.
        var closed = false
    }

    /// An answer handed over from another thread.
    private struct Completion {
        let connectionID: UInt64
        let sequence: UInt64
        let response: HTTPResponse
        /// The index of the sibling loop whose thread produced the answer, or -1 for a thread
        /// that runs no loop.
        let origin: Int
    }

    /// A sibling loop: unowned (the server holds every loop; loops only point at each other),
    /// with its reactor held strongly, so `deliver` can tell from any thread — also after the
    /// server stopped and released its loops — which loop's thread it runs on.
    struct Sibling {
        unowned let loop: EventLoop
        let reactor: Reactor
    }

    /// Connections accepted per listener wakeup at most, so a flood of connects cannot starve
    /// established connections.
    private static let acceptBatch = 64
    private static let readBufferSize = 64 * 1024
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
    /// This loop's place among its server's loops.
    let index: Int
    /// Every loop of the server, this one included, by index; set once before `start()`. Their
    /// `loop` is used on this loop's thread while it runs (when every sibling is alive).
    private(set) var siblings: [Sibling] = []
    let configuration: HTTPServerConfiguration
    private let handler: any HTTPRequestHandler
    private let budget: ConnectionBudget
    private let clientLimiter: ClientConnectionLimiter?
    /// The thread this loop runs on.
    let reactor: Reactor
    private var listenFD: Int32
    private var listenRegistration: Reactor.Registration?
    private var tlsListenRegistration: Reactor.Registration?
    /// The HTTPS listener and the context its connections' sessions come from (`-1`/nil once
    /// closed by a graceful drain).
    private var tlsListenFD: Int32?
    private let tlsContext: TLSContext?
    private let mailbox = Mutex(Mailbox())

    // Loop-thread state.
    private var connections: [UInt64: HTTPConnection] = [:]
    /// Connection ids are unique across the server's loops (a connection keeps its id when it
    /// moves): loop `index` of `n` hands out `index + 1`, `index + 1 + n`, …
    private var nextConnectionID: UInt64
    private var serviceQueue: [HTTPConnection] = []
    /// Connections to hand to another loop at the end of this iteration.
    private var departures: [(connection: HTTPConnection, to: Int)] = []
    private var drainedCompletions: [Completion] = []
    private var listenerPaused = false
    private let timeoutCheckInterval: Double
    private var timeoutTimer: Reactor.Timer?
    /// The hook that writes the iteration's answers (`serviceQueuedConnections`).
    private var iterationHook: Reactor.IterationHook?
    private var stopped = false
    /// The time of the current iteration of the reactor, from the monotonic clock.
    var now: Double { reactor.now }
    /// Scratch space every connection of this loop reads into before handing bytes to its parser.
    let readBuffer: UnsafeMutableRawBufferPointer

    /// Creates the loop on `reactor`; `start()` registers the listeners. The loop owns
    /// `listenFD` (and `tlsListenFD`) from here on.
    init(
        index: Int = 0,
        reactor: Reactor,
        listenFD: Int32,
        tlsListenFD: Int32? = nil,
        tlsContext: TLSContext? = nil,
        configuration: HTTPServerConfiguration,
        handler: any HTTPRequestHandler,
        budget: ConnectionBudget,
        clientLimiter: ClientConnectionLimiter? = nil
    ) {
        self.index = index
        self.nextConnectionID = UInt64(index) + 1
        self.reactor = reactor
        self.listenFD = listenFD
        self.tlsListenFD = tlsListenFD
        self.tlsContext = tlsContext
        self.configuration = configuration
        self.handler = handler
        self.budget = budget
        self.clientLimiter = clientLimiter
        self.readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        // Check timeouts at least twice per timeout period, and at least once per second.
        let shortestTimeout = min(configuration.readTimeoutSeconds, configuration.idleTimeoutSeconds,
                                  configuration.tls?.handshakeTimeoutSeconds ?? .infinity)
        self.timeoutCheckInterval = max(0.01, min(1, shortestTimeout / 2))
    }

    /// Tells the loop about the server's loops (itself included, at `index`), so a connection can
    /// move to the loop whose thread answers it. Call once, before `start()`.
    func setSiblings(_ loops: [EventLoop]) {
        precondition(loops.indices.contains(index) && loops[index] === self)
        siblings = loops.map { Sibling(loop: $0, reactor: $0.reactor) }
    }

    /// Registers the listeners with the reactor and starts serving; returns once they are
    /// registered. On failure nothing stays registered and the loop still owns its listeners
    /// (`releaseResources` closes them).
    func start() throws(SystemCallError) {
        let failure = Mutex<SystemCallError?>(nil)
        reactor.executeAndWait { [self] in
            do throws(SystemCallError) {
                let readable = EPOLLIN.rawValue
                listenRegistration = try reactor.register(fd: listenFD, events: readable) { [unowned self] _ in
                    acceptConnections(secure: false)
                }
                if let tlsListenFD {
                    tlsListenRegistration = try reactor.register(fd: tlsListenFD, events: readable) { [unowned self] _ in
                        acceptConnections(secure: true)
                    }
                }
            } catch {
                if let listenRegistration { reactor.unregister(listenRegistration, fd: listenFD) }
                listenRegistration = nil
                failure.withLock { $0 = error }
                return
            }
            // Held strongly (a weak capture would send every retain of the loop through the
            // runtime's side table); `releaseResources` removes it.
            iterationHook = reactor.onIterationEnd { [self] in serviceQueuedConnections() }
            scheduleTimeoutCheck()
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private func scheduleTimeoutCheck() {
        // Strong, like the iteration hook: `releaseResources` cancels it.
        timeoutTimer = reactor.schedule(after: timeoutCheckInterval) { [self] in
            guard !stopped else { return }
            checkTimeouts()
            scheduleTimeoutCheck()
        }
    }

    // MARK: Any thread

    /// Hands `response` to its connection. On the loop thread (typically inside `handle`) the
    /// answer is queued directly; from another thread it goes through the mailbox and at most one
    /// eventfd write per batch wakes the loop.
    func deliver(_ response: HTTPResponse, connectionID: UInt64, sequence: UInt64) {
        if reactor.isCurrent {
            // On the loop's own thread (a handler answering at once, or a shard on this reactor):
            // straight to the connection, written at the end of this iteration.
            if !stopped { connections[connectionID]?.complete(sequence, with: response) }
            return
        }
        var origin = -1
        for (index, sibling) in siblings.enumerated() where sibling.reactor.isCurrent {
            origin = index
            break
        }
        let completion = Completion(connectionID: connectionID, sequence: sequence, response: response, origin: origin)
        let mustSchedule = mailbox.withLock { mailbox -> Bool in
            guard !mailbox.closed else { return false }
            mailbox.completions.append(completion)
            guard !mailbox.drainPending else { return false }
            mailbox.drainPending = true
            return true
        }
        if mustSchedule { reactor.execute { [self] in drainMailbox() } }
    }

    /// Closes the listeners and every connection and frees the loop's buffers; returns once done.
    /// Answers that arrive later are dropped.
    func stop() {
        reactor.executeAndWait { [self] in releaseResources() }
    }

    /// Asks the loop to close its listener (new connections are refused) and keep serving the
    /// connections it has.
    func requestStopAccepting() {
        reactor.execute { [self] in closeListeners() }
    }

    // MARK: Loop thread

    /// Calls the handler for a request of one of this loop's connections.
    func dispatch(_ request: HTTPRequest, connectionID: UInt64, sequence: UInt64) {
        handler.handle(request, responder: HTTPResponder(loop: self, connectionID: connectionID, sequence: sequence,
                                                         dispatchedAtNanos: reactor.nowNanos))
    }

    /// Services `connection` at the end of this iteration (it has answers ready to write).
    func scheduleService(_ connection: HTTPConnection) {
        serviceQueue.append(connection)
    }

    /// Changes the epoll interest of `connection`; a failure closes it.
    func setInterest(_ events: UInt32, for connection: HTTPConnection) -> Bool {
        guard let registration = connection.registration else { return false }
        do {
            try reactor.modify(registration, fd: connection.fd, events: events)
            return true
        } catch {
            return false
        }
    }

    /// Stops watching a connection's descriptor; it is about to be closed.
    func unregister(_ connection: HTTPConnection) {
        if let registration = connection.registration { reactor.unregister(registration, fd: connection.fd) }
        connection.registration = nil
    }

    /// Forgets a connection that has closed its descriptor.
    func connectionClosed(_ connection: HTTPConnection) {
        connections[connection.id] = nil
        budget.release()
        if connection.holdsClientSlot { releaseClientSlot(connection.clientAddress) }
    }

    private func serviceQueuedConnections() {
        guard !stopped else { return }
        var index = 0
        while index < serviceQueue.count {
            serviceQueue[index].service()
            index += 1
        }
        serviceQueue.removeAll(keepingCapacity: true)
        if !departures.isEmpty { handOverDepartures() }
    }

    // MARK: Moving connections between loops

    /// Moves `connection` to loop `target` at the end of this iteration, once nothing else of
    /// this iteration can touch it. Only for a connection between two requests: no answer owed
    /// (responders name this loop) and no output pending.
    func scheduleDeparture(_ connection: HTTPConnection, to target: Int) {
        guard configuration.connectionsFollowAnswers, siblings.indices.contains(target), target != index else { return }
        departures.append((connection, target))
    }

    /// Hands each departing connection that is still between two requests to its new loop: the
    /// descriptor leaves this reactor's epoll set and joins the other's, with the same interest.
    /// epoll is level-triggered, so bytes that arrive in between are reported there.
    private func handOverDepartures() {
        for (connection, target) in departures where connection.isReadyToMove && connections[connection.id] === connection {
            unregister(connection)
            connections[connection.id] = nil
            counters.increment(.movedOut)
            let destination = siblings[target].loop
            nonisolated(unsafe) let moving = connection
            destination.reactor.execute { destination.adopt(moving) }
        }
        departures.removeAll(keepingCapacity: true)
    }

    /// Takes over a connection another loop handed over; closes it if this loop has stopped or
    /// cannot watch its descriptor. On this loop's thread.
    private func adopt(_ connection: HTTPConnection) {
        connection.moved(to: self)
        guard !stopped else { return connection.close() }
        do {
            connection.registration = try reactor.register(fd: connection.fd, events: connection.registeredEvents) { [unowned(unsafe) connection] events in
                connection.handleEvents(events)
            }
        } catch {
            return connection.close()
        }
        connections[connection.id] = connection
    }

    /// Takes every answer handed over by other threads and gives each to its connection.
    private func drainMailbox() {
        mailbox.withLock { mailbox in
            swap(&mailbox.completions, &drainedCompletions)
            mailbox.drainPending = false
        }
        if !stopped {
            for completion in drainedCompletions {
                connections[completion.connectionID]?.complete(
                    completion.sequence, with: completion.response, from: completion.origin)
            }
        }
        drainedCompletions.removeAll(keepingCapacity: true)
    }

    /// Closes the listeners (a graceful drain's first step, or the stop).
    private func closeListeners() {
        if listenFD >= 0 {
            if let listenRegistration { reactor.unregister(listenRegistration, fd: listenFD) }
            listenRegistration = nil
            System.close(listenFD)
            listenFD = -1
        }
        if let tls = tlsListenFD, tls >= 0 {
            if let tlsListenRegistration { reactor.unregister(tlsListenRegistration, fd: tls) }
            tlsListenRegistration = nil
            System.close(tls)
            tlsListenFD = -1
        }
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
            if let listenRegistration { try reactor.modify(listenRegistration, fd: listenFD, events: events) }
            if let tlsListenFD, tlsListenFD >= 0, let tlsListenRegistration {
                try reactor.modify(tlsListenRegistration, fd: tlsListenFD, events: events)
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

    /// Gives back the per-client slot of a connection that has served its last answer.
    func releaseClientSlot(_ address: ClientAddress) {
        clientLimiter?.release(address)
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
        let id = nextConnectionID
        nextConnectionID += UInt64(max(1, siblings.count))
        var session: TLSSession?
        do {
            if secure {
                session = tlsContext?.makeSession(fd: fd)
                if session == nil { throw SystemCallError(call: "SSL_new", errno: ENOMEM) }
            }
            try System.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        } catch {
            abandon(fd, session: session, client: client, viaProxy: viaProxy)
            return
        }
        let connection = HTTPConnection(id: id, fd: fd, loop: self, client: client, tls: session, awaitsProxyHeader: viaProxy)
        do {
            // The connection stays in `connections` as long as it is registered, so the handler's
            // unowned reference never outlives it.
            connection.registration = try reactor.register(fd: fd, events: EPOLLIN.rawValue) { [unowned(unsafe) connection] events in
                connection.handleEvents(events)
            }
        } catch {
            abandon(fd, session: session, client: client, viaProxy: viaProxy)
            return
        }
        connections[id] = connection
        counters.increment(.accepted)
    }

    /// Gives up an accepted connection that could not be set up: closes it and releases what it
    /// held (its budget slot, its client's slot).
    private func abandon(_ fd: Int32, session: TLSSession?, client: ClientAddress, viaProxy: Bool) {
        session?.release()
        System.close(fd)
        budget.release()
        if !viaProxy { clientLimiter?.release(client) }
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
        guard !stopped else { return }
        stopped = true
        if let timeoutTimer { reactor.cancel(timeoutTimer) }
        if let iterationHook { reactor.removeIterationEndHook(iterationHook) }
        iterationHook = nil
        for connection in Array(connections.values) {
            connection.close()
        }
        closeListeners()
        mailbox.withLock { mailbox in
            mailbox.closed = true
            mailbox.completions.removeAll()
        }
        readBuffer.deallocate()
    }
}
