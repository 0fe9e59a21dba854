/// A complete HTTP request as parsed from the wire: head fields and a body read through
/// `Content-Length`.
public struct HTTPRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The raw request-target, e.g. `"/v1/sales/s1?x=1"`.
    public var target: String
    /// The target without its query, e.g. `"/v1/sales/s1"`.
    public var path: String
    /// The part of the target after the first `?`, if there is one (possibly empty).
    public var query: String?
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
        let utf8 = target.utf8
        if let mark = utf8.firstIndex(of: UInt8(ascii: "?")) {
            self.path = String(Substring(utf8[..<mark]))
            self.query = String(Substring(utf8[utf8.index(after: mark)...]))
        } else {
            self.path = target
            self.query = nil
        }
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }
}
