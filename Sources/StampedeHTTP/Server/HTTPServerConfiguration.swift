import Glibc

/// Where the server listens, how many threads it runs, and the limits that protect it.
public struct HTTPServerConfiguration: Sendable {
    /// A numeric IPv4 or IPv6 address to bind (`"localhost"` means `127.0.0.1`).
    public var host: String = "127.0.0.1"
    /// The TCP port; `0` picks a free ephemeral port, read back from `HTTPServer.localPort`.
    public var port: Int = 8080
    /// The number of event-loop threads; defaults to the number of online cores.
    public var threads: Int = HTTPServerConfiguration.onlineCores
    /// Open connections allowed across all loops. Past it, a new connection is accepted, answered
    /// `503 overloaded` with `Retry-After: 1`, and closed.
    public var maxConnections: Int = 10_000
    /// The largest request line plus headers; larger heads are answered `431` and closed.
    public var maxHeaderBytes: Int = 16_384
    /// The largest `Content-Length`; larger bodies are answered `413` without being read, then
    /// the connection closes.
    public var maxBodyBytes: Int = 65_536
    /// How long a started request may stay incomplete before `408` and close.
    public var readTimeoutSeconds: Double = 10
    /// How long a keep-alive connection with nothing in progress stays open before a silent close.
    public var idleTimeoutSeconds: Double = 60
    /// Unanswered requests allowed per connection; past it the server stops reading from that
    /// connection until answers drain, which bounds the memory a pipelining client can claim.
    public var maxPipelinedRequests: Int = 32
    /// Open connections allowed from one client address; past it a new connection from that
    /// address is answered `429 rate_limited` (plain HTTP) or closed (HTTPS) at once. `0` = no cap.
    public var maxConnectionsPerClient: Int = 0
    /// Requests served on one connection before it is recycled: the last answer carries
    /// `Connection: close`. `0` = no cap.
    public var maxRequestsPerConnection: Int = 0
    /// The HTTPS listener, served next to the plain one; nil = plain HTTP only.
    public var tls: TLSConfiguration? = nil
    /// Peers allowed to say whom a plain HTTP connection is for with a PROXY protocol v2 header
    /// (a load balancer such as HAProxy with `send-proxy-v2`). From them the header is optional;
    /// with one, the relayed client's address is the connection's for the per-client limit, the
    /// requests and the logs. Anyone else's header is answered `400`. Empty = trust nobody.
    public var trustedProxies: [ClientAddressRange] = []
    /// A keep-alive connection whose answers keep coming from another loop's thread (the thread
    /// of the shard it buys from) moves to that loop between two requests, so its later requests
    /// are read, decided and answered on one thread instead of crossing between two each time.
    public var connectionsFollowAnswers: Bool = true

    /// Creates a configuration; every parameter has the documented default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        threads: Int = HTTPServerConfiguration.onlineCores,
        maxConnections: Int = 10_000,
        maxHeaderBytes: Int = 16_384,
        maxBodyBytes: Int = 65_536,
        readTimeoutSeconds: Double = 10,
        idleTimeoutSeconds: Double = 60,
        maxPipelinedRequests: Int = 32,
        maxConnectionsPerClient: Int = 0,
        maxRequestsPerConnection: Int = 0,
        tls: TLSConfiguration? = nil,
        trustedProxies: [ClientAddressRange] = [],
        connectionsFollowAnswers: Bool = true
    ) {
        self.host = host
        self.port = port
        self.threads = threads
        self.maxConnections = maxConnections
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.readTimeoutSeconds = readTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxPipelinedRequests = maxPipelinedRequests
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.maxRequestsPerConnection = maxRequestsPerConnection
        self.tls = tls
        self.trustedProxies = trustedProxies
        self.connectionsFollowAnswers = connectionsFollowAnswers
    }

    /// The number of online processor cores (at least 1).
    public static var onlineCores: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Throws `.invalidConfiguration` naming the first setting out of range.
    func validate() throws(HTTPServerError) {
        func require(_ condition: Bool, _ problem: String) throws(HTTPServerError) {
            if !condition { throw .invalidConfiguration(problem) }
        }
        try require((0...65_535).contains(port), "port must be in 0...65535, got \(port)")
        try require(threads >= 1, "threads must be at least 1, got \(threads)")
        try require(maxConnections >= 1, "maxConnections must be at least 1, got \(maxConnections)")
        try require(maxHeaderBytes >= 64, "maxHeaderBytes must be at least 64, got \(maxHeaderBytes)")
        try require(maxBodyBytes >= 0, "maxBodyBytes must not be negative, got \(maxBodyBytes)")
        try require(readTimeoutSeconds > 0, "readTimeoutSeconds must be positive, got \(readTimeoutSeconds)")
        try require(idleTimeoutSeconds > 0, "idleTimeoutSeconds must be positive, got \(idleTimeoutSeconds)")
        try require(maxPipelinedRequests >= 1, "maxPipelinedRequests must be at least 1, got \(maxPipelinedRequests)")
        try require(maxConnectionsPerClient >= 0, "maxConnectionsPerClient must not be negative, got \(maxConnectionsPerClient)")
        try require(maxRequestsPerConnection >= 0, "maxRequestsPerConnection must not be negative, got \(maxRequestsPerConnection)")
        if let tls {
            try require((0...65_535).contains(tls.port), "tls.port must be in 0...65535, got \(tls.port)")
            try require(tls.handshakeTimeoutSeconds > 0, "tls.handshakeTimeoutSeconds must be positive, got \(tls.handshakeTimeoutSeconds)")
        }
    }
}
