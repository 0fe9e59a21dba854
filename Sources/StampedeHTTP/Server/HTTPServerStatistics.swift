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

    /// Creates a snapshot.
    public init(
        openConnections: Int = 0,
        acceptedTotal: Int = 0,
        rejectedOverLimit: Int = 0,
        requestsTotal: Int = 0,
        parseErrors: Int = 0,
        timeouts: Int = 0
    ) {
        self.openConnections = openConnections
        self.acceptedTotal = acceptedTotal
        self.rejectedOverLimit = rejectedOverLimit
        self.requestsTotal = requestsTotal
        self.parseErrors = parseErrors
        self.timeouts = timeouts
    }
}
