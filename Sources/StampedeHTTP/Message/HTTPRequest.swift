/// A complete HTTP request as parsed from the wire: head fields and a body read through
/// `Content-Length`.
public struct HTTPRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The raw request-target, e.g. `"/v1/sales/s1?x=1"`.
    public var target: String {
        didSet { pathEnd = target.utf8.firstIndex(of: UInt8(ascii: "?")) }
    }
    /// The target without its query, e.g. `"/v1/sales/s1"`.
    public var path: String {
        guard let pathEnd else { return target }
        return String(Substring(target.utf8[..<pathEnd]))
    }
    /// The part of the target after the first `?`, if there is one (possibly empty).
    public var query: String? {
        guard let pathEnd else { return nil }
        return String(Substring(target.utf8[target.utf8.index(after: pathEnd)...]))
    }
    /// Where the path ends in `target` (its `?`), or nil when there is no query: path and query
    /// are cut from the target when asked for, so a request carries one string, not three.
    private var pathEnd: String.Index?
    /// The protocol version from the request line.
    public var version: HTTPVersion
    /// The header fields in the order received.
    public var headers: HTTPHeaders
    /// The body: exactly `Content-Length` bytes, empty when there is none.
    public var body: [UInt8]
    /// Whether the connection stays open after the answer: `false` for `Connection: close`, and
    /// for HTTP/1.0 unless the client sent `Connection: keep-alive`.
    public var keepAlive: Bool
    /// The address the connection comes from (`.unspecified` for requests built in code).
    public var clientAddress: ClientAddress = .unspecified
    /// Whether the request arrived over HTTPS.
    public var isSecure: Bool = false

    /// Creates a request; `path` and `query` are split from `target` at the first `?`.
    public init(
        method: HTTPMethod,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        keepAlive: Bool = true
    ) {
        self.method = method
        self.target = target
        // Split on the UTF-8 view: `?` is one byte, whereas `String.index(after:)` would step over
        // a whole grapheme cluster and drop a combining mark that follows the `?` (a fuzzing find).
        self.pathEnd = target.utf8.firstIndex(of: UInt8(ascii: "?"))
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// A request parsed from the wire, whose target's path is its first `pathLength` bytes.
    init(method: HTTPMethod, target: String, pathLength: Int, version: HTTPVersion, headers: HTTPHeaders, keepAlive: Bool) {
        self.method = method
        self.target = target
        self.pathEnd = pathLength == target.utf8.count ? nil : target.utf8.index(target.utf8.startIndex, offsetBy: pathLength)
        self.version = version
        self.headers = headers
        self.body = []
        self.keepAlive = keepAlive
    }

    /// Calls `body` with the UTF-8 bytes of `path`, without making a `String` for it.
    public func withPathBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        var target = self.target
        let count = pathEnd.map { target.utf8.distance(from: target.utf8.startIndex, to: $0) } ?? target.utf8.count
        return target.withUTF8 { body(UnsafeBufferPointer(rebasing: $0[..<count])) }
    }
}
