/// A snapshot of the server's counters, summed over its event loops.
public struct HTTPServerStatistics: Sendable, Equatable {
    /// Connections open right now (admitted, not yet closed).
    public var openConnections: Int
    /// Connections admitted since start (rejected ones are not counted).
    public var acceptedTotal: Int
    /// Connections answered `503 overloaded` because `maxConnections` was reached.
    public var rejectedOverLimit: Int
    /// Requests parsed and handed to the handler.
    public var requestsTotal: Int
    /// Connections closed after a framing error (`400`, `411`, `413`, `431`).
    public var parseErrors: Int
    /// Read timeouts (answered `408`) plus idle keep-alive connections closed.
    public var timeouts: Int
    /// Connections refused because their address held `maxConnectionsPerClient` already.
    public var rejectedPerClient: Int
    /// Connections closed after `maxRequestsPerConnection` requests (`Connection: close`).
    public var recycled: Int
    /// Connections handed from one loop to another, the one whose thread kept answering them.
    public var moved: Int
    /// TLS handshakes completed.
    public var tlsHandshakes: Int
    /// TLS handshakes that failed (bad client hello, plain HTTP on the TLS port, refused cert…).
    public var tlsHandshakeFailures: Int
    /// TLS handshakes closed by the handshake timeout.
    public var tlsHandshakeTimeouts: Int

    /// Creates a snapshot.
    public init(
        openConnections: Int = 0,
        acceptedTotal: Int = 0,
        rejectedOverLimit: Int = 0,
        requestsTotal: Int = 0,
        parseErrors: Int = 0,
        timeouts: Int = 0,
        rejectedPerClient: Int = 0,
        recycled: Int = 0,
        moved: Int = 0,
        tlsHandshakes: Int = 0,
        tlsHandshakeFailures: Int = 0,
        tlsHandshakeTimeouts: Int = 0
    ) {
        self.openConnections = openConnections
        self.acceptedTotal = acceptedTotal
        self.rejectedOverLimit = rejectedOverLimit
        self.requestsTotal = requestsTotal
        self.parseErrors = parseErrors
        self.timeouts = timeouts
        self.rejectedPerClient = rejectedPerClient
        self.recycled = recycled
        self.moved = moved
        self.tlsHandshakes = tlsHandshakes
        self.tlsHandshakeFailures = tlsHandshakeFailures
        self.tlsHandshakeTimeouts = tlsHandshakeTimeouts
    }
}
