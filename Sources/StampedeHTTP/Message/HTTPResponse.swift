/// An answer to one request.
///
/// The server writes the status line, these headers, `Content-Length` (computed from `body`), and
/// `Connection: close` when it is going to close the connection; do not set those two yourself.
public struct HTTPResponse: Sendable {
    /// The status code, e.g. `200`.
    public var status: Int
    /// Extra header fields, written in order after the status line.
    public var headers: [(name: String, value: String)]
    /// The body bytes; not sent for `HEAD` requests or `204`/`304` answers.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response whose body is JSON: adds `Content-Type: application/json` before `headers`.
    public static func json(
        status: Int,
        _ body: [UInt8],
        headers: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        // Room for the caller's headers and one more (the service adds X-Request-Id): one allocation.
        var all: [(name: String, value: String)] = []
        all.reserveCapacity(headers.count + 2)
        all.append((name: "Content-Type", value: "application/json"))
        all.append(contentsOf: headers)
        return HTTPResponse(status: status, headers: all, body: body)
    }
}
