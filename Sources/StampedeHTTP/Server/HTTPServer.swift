import Glibc
import StampedeSystem
import Synchronization

/// A lean HTTP/1.1 server on POSIX sockets and epoll.
///
/// `start()` binds one `SO_REUSEPORT` listener per event-loop thread to the same address, so the
/// kernel spreads connections across loops and loops share nothing but the connection budget and
/// the handler. Each connection then lives on one loop for its whole life. See `EventLoop` for the
/// threading model and `HTTPRequestHandler` for how to answer requests.
///
/// A server starts once and stops once; make a new one to serve again.
public final class HTTPServer: Sendable {
    private enum State {
        case idle
        case running(Running)
        case stopped(port: Int, tlsPort: Int, counters: [LoopCounters])
    }

    private struct Running: Sendable {
        let loops: [EventLoop]
        /// The reactors the server made for itself (none when it was given its reactors).
        let ownReactors: [Reactor]
        let port: Int
        let tlsPort: Int
    }

    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPRequestHandler
    private let budget: ConnectionBudget
    private let clientLimiter: ClientConnectionLimiter?
    private let state = Mutex(State.idle)
    /// The reactors the loops run on, when given (else the server makes `configuration.threads`
    /// of its own at start and stops them at stop).
    private let reactors: [Reactor]

    /// Creates a server; nothing is bound until `start()`. `reactors`: the threads to run the
    /// event loops on, one loop each — shared with work bound to the same reactors (a shard and
    /// its store connections), which then answers its requests without a hand-off; the caller
    /// keeps them running until after `stop()`. Empty: the server runs `configuration.threads`
    /// loops on reactors of its own.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPRequestHandler, reactors: [Reactor] = []) {
        self.reactors = reactors
        self.configuration = configuration
        self.handler = handler
        self.budget = ConnectionBudget(limit: configuration.maxConnections)
        self.clientLimiter = configuration.maxConnectionsPerClient > 0
            ? ClientConnectionLimiter(limit: configuration.maxConnectionsPerClient) : nil
    }

    deinit {
        stop()
    }

    /// Binds every loop's listener and starts the loop threads; returns once all are listening.
    ///
    /// Also ignores `SIGPIPE` process-wide, so a write to a closed peer is an error, not death.
    /// - Throws: `HTTPServerError` naming the failing call and errno (e.g. `bind`, `EADDRINUSE`),
    ///   an invalid host or configuration, or `.alreadyStarted`.
    public func start() throws(HTTPServerError) {
        try state.withLock { state throws(HTTPServerError) in
            guard case .idle = state else { throw .alreadyStarted }
            state = .running(try launch())
        }
    }

    /// The port the server listens on — the ephemeral one chosen when configured with port `0` —
    /// or `0` before `start()`.
    public var localPort: Int {
        state.withLock { state in
            switch state {
            case .idle: 0
            case .running(let running): running.port
            case .stopped(let port, _, _): port
            }
        }
    }

    /// The port of the HTTPS listener (the ephemeral one when configured with port `0`), or `0`
    /// before `start()` and when there is no HTTPS listener.
    public var localTLSPort: Int {
        state.withLock { state in
            switch state {
            case .idle: 0
            case .running(let running): running.tlsPort
            case .stopped(_, let tlsPort, _): tlsPort
            }
        }
    }

    /// A snapshot of the counters, summed over all loops.
    public var statistics: HTTPServerStatistics {
        let counters = state.withLock { state -> [LoopCounters] in
            switch state {
            case .idle: []
            case .running(let running): running.loops.map(\.counters)
            case .stopped(_, _, let counters): counters
            }
        }
        return HTTPServerStatistics(openConnections: budget.openConnections, loops: counters)
    }

    /// Closes the listeners — new connections are refused — while the open connections keep
    /// being served, so in-flight requests can finish (the first step of a graceful shutdown).
    /// `stop()` ends the rest. Idempotent; a no-op unless running.
    public func stopAccepting() {
        let loops = state.withLock { state -> [EventLoop] in
            if case .running(let running) = state { return running.loops }
            return []
        }
        for loop in loops { loop.requestStopAccepting() }
    }

    /// Stops accepting, closes the listeners and every connection, and joins the loop threads.
    /// Answers still pending are dropped. Idempotent; must not be called from a handler (it
    /// would wait for its own thread).
    public func stop() {
        let running = state.withLock { state -> Running? in
            switch state {
            case .idle:
                state = .stopped(port: 0, tlsPort: 0, counters: [])
                return nil
            case .running(let running):
                state = .stopped(port: running.port, tlsPort: running.tlsPort, counters: running.loops.map(\.counters))
                return running
            case .stopped:
                return nil
            }
        }
        guard let running else { return }
        for loop in running.loops { loop.stop() }
        for reactor in running.ownReactors { reactor.shutdown() }
    }

    /// Opens the listeners (the first picks the port, the others reuse it), creates the loops and
    /// starts their threads; on failure closes whatever was opened.
    private func launch() throws(HTTPServerError) -> Running {
        signal(SIGPIPE, SIG_IGN)
        try configuration.validate()
        guard let address = SocketAddress(host: configuration.host, port: configuration.port) else {
            throw .invalidHost(configuration.host)
        }
        var tlsAddress: SocketAddress?
        var tlsContext: TLSContext?
        if let tls = configuration.tls {
            guard let parsed = SocketAddress(host: tls.host, port: tls.port) else { throw .invalidHost(tls.host) }
            tlsAddress = parsed
            do {
                tlsContext = try TLSContext(tls)
            } catch {
                throw .tlsSetup(error.description)
            }
        }

        let count = reactors.isEmpty ? configuration.threads : reactors.count
        var listeners: [Int32] = []
        var tlsListeners: [Int32] = []
        var ownReactors: [Reactor] = []
        var loops: [EventLoop] = []
        var started = 0
        let port: Int
        var tlsPort = 0
        do {
            listeners.append(try ListeningSocket.open(address))
            port = try System.localPort(of: listeners[0])
            for _ in 1..<count {
                listeners.append(try ListeningSocket.open(address.withPort(port)))
            }
            if let tlsAddress {
                tlsListeners.append(try ListeningSocket.open(tlsAddress))
                tlsPort = try System.localPort(of: tlsListeners[0])
                for _ in 1..<count {
                    tlsListeners.append(try ListeningSocket.open(tlsAddress.withPort(tlsPort)))
                }
            }
            if reactors.isEmpty {
                for index in 0..<count { ownReactors.append(try Reactor(name: "http-loop-\(index)")) }
            }
            let hosts = reactors.isEmpty ? ownReactors : reactors
            for (index, listener) in listeners.enumerated() {
                loops.append(EventLoop(
                    index: index, reactor: hosts[index], listenFD: listener, tlsListenFD: tlsListeners.isEmpty ? nil : tlsListeners[index],
                    tlsContext: tlsContext, configuration: configuration, handler: handler, budget: budget,
                    clientLimiter: clientLimiter))
            }
            for loop in loops { loop.setSiblings(loops) }
            for loop in loops {
                try loop.start()
                started += 1
            }
        } catch {
            for listener in listeners[loops.count...] { System.close(listener) }
            if tlsListeners.count > loops.count {
                for listener in tlsListeners[loops.count...] { System.close(listener) }
            }
            for loop in loops[..<started] { loop.stop() }
            for loop in loops[started...] { loop.releaseResources() }
            for reactor in ownReactors { reactor.shutdown() }
            throw HTTPServerError(error)
        }
        return Running(loops: loops, ownReactors: ownReactors, port: port, tlsPort: tlsPort)
    }
}
