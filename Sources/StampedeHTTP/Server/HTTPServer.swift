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
        let threads: [SystemThread]
        let port: Int
        let tlsPort: Int
    }

    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPRequestHandler
    private let budget: ConnectionBudget
    private let clientLimiter: ClientConnectionLimiter?
    private let state = Mutex(State.idle)

    /// Creates a server; nothing is bound until `start()`.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPRequestHandler) {
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
        for loop in running.loops { loop.requestStop() }
        for thread in running.threads { thread.join() }
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

        var listeners: [Int32] = []
        var tlsListeners: [Int32] = []
        var loops: [EventLoop] = []
        let port: Int
        var tlsPort = 0
        do {
            listeners.append(try ListeningSocket.open(address))
            port = try System.localPort(of: listeners[0])
            for _ in 1..<configuration.threads {
                listeners.append(try ListeningSocket.open(address.withPort(port)))
            }
            if let tlsAddress {
                tlsListeners.append(try ListeningSocket.open(tlsAddress))
                tlsPort = try System.localPort(of: tlsListeners[0])
                for _ in 1..<configuration.threads {
                    tlsListeners.append(try ListeningSocket.open(tlsAddress.withPort(tlsPort)))
                }
            }
            for (index, listener) in listeners.enumerated() {
                loops.append(try EventLoop(
                    listenFD: listener, tlsListenFD: tlsListeners.isEmpty ? nil : tlsListeners[index],
                    tlsContext: tlsContext, configuration: configuration, handler: handler, budget: budget,
                    clientLimiter: clientLimiter))
            }
        } catch {
            for listener in listeners[loops.count...] { System.close(listener) }
            if tlsListeners.count > loops.count {
                for listener in tlsListeners[loops.count...] { System.close(listener) }
            }
            for loop in loops { loop.releaseResources() }
            throw HTTPServerError(error)
        }

        var threads: [SystemThread] = []
        do {
            for (index, loop) in loops.enumerated() {
                threads.append(try SystemThread.spawn(name: "http-loop-\(index)") { loop.run() })
            }
        } catch {
            for loop in loops[..<threads.count] { loop.requestStop() }
            for thread in threads { thread.join() }
            for loop in loops[threads.count...] { loop.releaseResources() }
            throw HTTPServerError(error)
        }
        return Running(loops: loops, threads: threads, port: port, tlsPort: tlsPort)
    }
}
