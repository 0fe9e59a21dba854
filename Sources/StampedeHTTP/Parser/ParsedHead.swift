/// A request line and header section parsed and validated, before any body byte is read.
///
/// Validation follows RFC 9112 strictly where leniency invites request smuggling: CRLF line
/// endings only, no obsolete line folding, no whitespace before the colon, no control characters,
/// a single agreed `Content-Length`, and no `Transfer-Encoding` at all.
struct ParsedHead {
    /// The request without its body.
    var request: HTTPRequest
    /// The number of body bytes that follow the head.
    var contentLength: Int

    /// Parses `head`: the request line and header lines, each ending with CRLF, then CRLF.
    init(parsing head: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) {
        var lines = LineIterator(head)
        guard let requestLine = lines.next() else { throw .invalidRequestLine }
        let (method, target, version) = try Self.parseRequestLine(requestLine)

        var headerLineCount = 0
        var contentLength: Int?
        var sawClose = false
        var sawKeepAlive = false
        while let line = lines.next(), !line.isEmpty {
            let (name, value) = try Self.parseHeaderLine(line)
            if ASCII.caseInsensitiveEquals(name, "content-length") {
                let length = try Self.parseContentLength(value)
                guard contentLength == nil || contentLength == length else {
                    throw .conflictingContentLength
                }
                contentLength = length
            } else if ASCII.caseInsensitiveEquals(name, "transfer-encoding") {
                throw .transferEncodingNotSupported
            } else if ASCII.caseInsensitiveEquals(name, "connection") {
                Self.forEachListElement(value) { option in
                    sawClose = sawClose || ASCII.caseInsensitiveEquals(option, "close")
                    sawKeepAlive = sawKeepAlive || ASCII.caseInsensitiveEquals(option, "keep-alive")
                }
            }
            headerLineCount += 1
        }
        // The header lines sit between the request line's CRLF and the final empty line's CRLF.
        let headerLines = UnsafeBufferPointer(rebasing: head[(requestLine.count + 2)..<(head.count - 2)])
        let headers = HTTPHeaders(receivedLines: headerLines, count: headerLineCount)

        let keepAlive = !sawClose && (version == .http1_1 || sawKeepAlive)
        self.request = HTTPRequest(
            method: method,
            target: String(decoding: target, as: UTF8.self),
            pathLength: target.firstIndex(of: UInt8(ascii: "?")) ?? target.count,
            version: version,
            headers: headers,
            keepAlive: keepAlive
        )
        self.contentLength = contentLength ?? 0
    }

    /// Splits `method SP request-target SP HTTP-version` and validates each part.
    private static func parseRequestLine(
        _ line: UnsafeBufferPointer<UInt8>
    ) throws(HTTPParseError) -> (HTTPMethod, UnsafeBufferPointer<UInt8>, HTTPVersion) {
        guard let firstSpace = line.firstIndex(of: ASCII.space) else { throw .invalidRequestLine }
        let method = UnsafeBufferPointer(rebasing: line[..<firstSpace])
        guard !method.isEmpty, method.allSatisfy(ASCII.isTokenCharacter) else { throw .invalidMethod }

        let afterMethod = UnsafeBufferPointer(rebasing: line[(firstSpace + 1)...])
        guard let secondSpace = afterMethod.firstIndex(of: ASCII.space) else { throw .invalidRequestLine }
        let target = UnsafeBufferPointer(rebasing: afterMethod[..<secondSpace])
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidTarget }

        let versionBytes = UnsafeBufferPointer(rebasing: afterMethod[(secondSpace + 1)...])
        let version: HTTPVersion
        if ASCII.equals(versionBytes, "HTTP/1.1") {
            version = .http1_1
        } else if ASCII.equals(versionBytes, "HTTP/1.0") {
            version = .http1_0
        } else if versionBytes.starts(with: "HTTP/".utf8) {
            throw .unsupportedVersion
        } else {
            throw .invalidRequestLine
        }
        return (HTTPMethod(token: method), target, version)
    }

    /// Splits `name ":" OWS value OWS` and validates both parts.
    private static func parseHeaderLine(
        _ line: UnsafeBufferPointer<UInt8>
    ) throws(HTTPParseError) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        if line[0] == ASCII.space || line[0] == ASCII.tab { throw .obsoleteLineFolding }
        guard let colon = line.firstIndex(of: ASCII.colon) else { throw .headerWithoutColon }
        let name = UnsafeBufferPointer(rebasing: line[..<colon])
        guard !name.isEmpty, name.allSatisfy(ASCII.isTokenCharacter) else { throw .invalidHeaderName }
        let value = ASCII.trimmingWhitespace(UnsafeBufferPointer(rebasing: line[(colon + 1)...]))
        guard value.allSatisfy(ASCII.isFieldValueCharacter) else { throw .invalidHeaderValue }
        return (name, value)
    }

    /// Parses a `Content-Length` value: decimal digits only; values past `Int.max` saturate so
    /// they fail the body limit rather than overflow.
    private static func parseContentLength(_ value: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> Int {
        guard !value.isEmpty else { throw .invalidContentLength }
        var length = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw .invalidContentLength }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            length = overflow1 || overflow2 ? Int.max : sum
        }
        return length
    }

    /// Calls `body` with each trimmed, non-empty element of a comma-separated field value.
    private static func forEachListElement(
        _ value: UnsafeBufferPointer<UInt8>,
        _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        for element in value.split(separator: ASCII.comma) {
            let trimmed = ASCII.trimmingWhitespace(UnsafeBufferPointer(rebasing: element))
            if !trimmed.isEmpty { body(trimmed) }
        }
    }
}

/// Iterates the CRLF-terminated lines of a head, without their line endings.
///
/// The head was already checked to contain no bare LF, so every LF is preceded by a CR.
private struct LineIterator: IteratorProtocol {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() -> UnsafeBufferPointer<UInt8>? {
        guard position < bytes.count,
            let lineFeed = bytes[position...].firstIndex(of: ASCII.lf)
        else { return nil }
        let line = UnsafeBufferPointer(rebasing: bytes[position..<(lineFeed - 1)])
        position = lineFeed + 1
        return line
    }
}
