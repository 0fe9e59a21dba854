import StampedeSystem

/// How the server must frame one response, decided from its request when it was dispatched.
struct ResponseFraming: Sendable, Equatable {
    /// The connection closes after this response: it carries `Connection: close`.
    var closesConnection: Bool
    /// The request was `HEAD`: headers only.
    var omitsBody: Bool
    /// An HTTP/1.0 client asked for keep-alive, so the answer must confirm it explicitly.
    var announcesKeepAlive: Bool

    /// Framing for a response the server produces itself before closing (errors, rejections).
    static let closing = ResponseFraming(closesConnection: true, omitsBody: false, announcesKeepAlive: false)

    /// Framing that answers `request` as its client expects.
    init(for request: HTTPRequest) {
        self.closesConnection = !request.keepAlive
        self.omitsBody = request.method == .head
        self.announcesKeepAlive = request.keepAlive && request.version == .http1_0
    }

    /// Creates framing from its three decisions.
    init(closesConnection: Bool, omitsBody: Bool, announcesKeepAlive: Bool) {
        self.closesConnection = closesConnection
        self.omitsBody = omitsBody
        self.announcesKeepAlive = announcesKeepAlive
    }
}

extension HTTPResponse {
    /// Appends the HTTP/1.1 wire form of this response to `output`.
    ///
    /// Appending to a buffer the connection reuses means several pipelined answers leave in one
    /// `send`, and serializing costs no allocation once the buffer has grown. User-supplied
    /// `Content-Length` and `Connection` fields are skipped: the server owns framing.
    func serialize(into output: inout [UInt8], framing: ResponseFraming) {
        if let statusLine = Self.statusLine(status) {
            Self.appendLiteral(statusLine, to: &output)
        } else {
            Self.appendLiteral("HTTP/1.1 ", to: &output)
            DecimalText.append(status, to: &output)
            output.append(UInt8(ascii: " "))
            Self.appendLiteral(HTTPResponse.reasonPhrase(status), to: &output)
            Self.appendLiteral("\r\n", to: &output)
        }
        // The fields are read in place, through the buffer's pointer.
        headers.withUnsafeBufferPointer { fields in
            for index in fields.indices
            where !ASCII.caseInsensitiveEquals(fields[index].name, "Content-Length")
                && !ASCII.caseInsensitiveEquals(fields[index].name, "Connection") {
                Self.append(fields[index].name, to: &output)
                Self.appendLiteral(": ", to: &output)
                Self.append(fields[index].value, to: &output)
                Self.appendLiteral("\r\n", to: &output)
            }
        }
        let bodyForbidden = status == 204 || status == 304
        if !bodyForbidden {
            Self.appendLiteral("Content-Length: ", to: &output)
            DecimalText.append(body.count, to: &output)
            Self.appendLiteral("\r\n", to: &output)
        }
        if framing.closesConnection {
            Self.appendLiteral("Connection: close\r\n", to: &output)
        } else if framing.announcesKeepAlive {
            Self.appendLiteral("Connection: keep-alive\r\n", to: &output)
        }
        Self.appendLiteral("\r\n", to: &output)
        if !framing.omitsBody && !bodyForbidden {
            output.append(contentsOf: body)
        }
    }

    /// Appends the bytes of a literal in one copy.
    @inline(__always)
    private static func appendLiteral(_ literal: StaticString, to output: inout [UInt8]) {
        output.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Appends the UTF-8 bytes of `text` in one copy (appending its `utf8` view goes byte by byte).
    @inline(__always)
    private static func append(_ text: String, to output: inout [UInt8]) {
        if text.utf8.withContiguousStorageIfAvailable({ output.append(contentsOf: $0) }) == nil {
            output.append(contentsOf: text.utf8)
        }
    }

    /// The whole status line of the answers a busy server sends most, in one literal.
    @inline(__always)
    static func statusLine(_ status: Int) -> StaticString? {
        switch status {
        case 200: "HTTP/1.1 200 OK\r\n"
        case 201: "HTTP/1.1 201 Created\r\n"
        case 409: "HTTP/1.1 409 Conflict\r\n"
        case 503: "HTTP/1.1 503 Service Unavailable\r\n"
        default: nil
        }
    }

    /// The standard reason phrase for `status`, or `"Unknown"`; clients ignore it, humans read it.
    static func reasonPhrase(_ status: Int) -> StaticString {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Unknown"
        }
    }
}
