/// One HTTP response as the load client needs it: status, the headers that steer retries and
/// connection reuse, and the body bytes.
public struct ClientResponse: Sendable, Equatable {
    public var status: Int
    /// `Retry-After` in seconds, when present and numeric.
    public var retryAfterSeconds: Int?
    /// The server said `Connection: close` (the connection must not be reused).
    public var closesConnection: Bool
    public var body: [UInt8]

    public init(status: Int, retryAfterSeconds: Int? = nil, closesConnection: Bool = false, body: [UInt8] = []) {
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.closesConnection = closesConnection
        self.body = body
    }

    /// The body's `"error"` code (`"overloaded"`, `"sold_out"`…), if it has one.
    public var errorCode: String? { JSONFields.string("error", in: body) }

    /// `503 {"error":"overloaded"}`: shed with the promise that nothing happened.
    public var isOverloaded: Bool { status == 503 && errorCode == "overloaded" }
}

/// A response the client could not parse; the connection is closed and the request counted as a
/// transport error.
public enum ResponseParseError: Error, Equatable {
    case badStatusLine
    case badHeader
    case unsupportedTransferEncoding
    case headTooLarge
}

/// Incremental HTTP/1.1 response parser: bytes in, whole responses out.
///
/// Pure and socket-free, so it is tested byte by byte. Bodies are framed by `Content-Length`
/// (what Stampede sends); a chunked response is refused rather than misread.
public struct ResponseParser: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    private static let maxHead = 64 * 1024

    public init() {}

    /// Whether bytes of an unfinished response are buffered.
    public var hasPartialResponse: Bool { start < buffer.count }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes (tests).
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete response, or `nil` until more bytes arrive.
    public mutating func next() throws(ResponseParseError) -> ClientResponse? {
        let available = buffer.count - start
        guard available >= 4 else { return nil }
        guard let headEnd = findHeadEnd() else {
            if available > Self.maxHead { throw .headTooLarge }
            return nil
        }
        var response = ClientResponse(status: 0)
        var contentLength = 0
        var line = start
        var first = true
        while line < headEnd {
            var end = line
            while end < headEnd, !(buffer[end] == 13 && buffer[end + 1] == 10) { end += 1 }
            if first {
                response.status = try Self.status(buffer[line..<end])
                first = false
            } else if end > line {
                try Self.header(buffer[line..<end], into: &response, contentLength: &contentLength)
            }
            line = end + 2
        }
        let bodyStart = headEnd + 4
        guard buffer.count - bodyStart >= contentLength else { return nil }
        response.body = Array(buffer[bodyStart..<(bodyStart + contentLength)])
        start = bodyStart + contentLength
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 32 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
        return response
    }

    /// Index of the `\r\n\r\n` closing the head that begins at `start`.
    private func findHeadEnd() -> Int? {
        var index = start
        let last = buffer.count - 4
        while index <= last {
            if buffer[index] == 13, buffer[index + 1] == 10, buffer[index + 2] == 13, buffer[index + 3] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func status(_ line: ArraySlice<UInt8>) throws(ResponseParseError) -> Int {
        // "HTTP/1.1 201 Created"
        guard line.count >= 12, line.starts(with: Array("HTTP/1.".utf8)) else { throw .badStatusLine }
        let digits = line.dropFirst(9).prefix(3)
        var value = 0
        for byte in digits {
            guard (48...57).contains(byte) else { throw .badStatusLine }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    private static func header(_ line: ArraySlice<UInt8>, into response: inout ClientResponse, contentLength: inout Int) throws(ResponseParseError) {
        guard let colon = line.firstIndex(of: 58) else { throw .badHeader }
        let name = line[line.startIndex..<colon]
        var value = line[(colon + 1)...]
        while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
        while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
        if equalsIgnoringCase(name, "content-length") {
            guard let number = integer(value) else { throw .badHeader }
            contentLength = number
        } else if equalsIgnoringCase(name, "retry-after") {
            response.retryAfterSeconds = integer(value)
        } else if equalsIgnoringCase(name, "connection") {
            response.closesConnection = equalsIgnoringCase(value, "close")
        } else if equalsIgnoringCase(name, "transfer-encoding") {
            throw .unsupportedTransferEncoding
        }
    }

    private static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 12 else { return nil }
        var value = 0
        for byte in bytes {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }

    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for (byte, want) in zip(bytes, expected) where (byte | 0x20) != want && byte != want {
            return false
        }
        return true
    }
}
