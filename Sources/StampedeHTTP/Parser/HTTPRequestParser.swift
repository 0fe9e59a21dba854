import Glibc

/// An incremental HTTP/1.1 request parser: a value type fed raw bytes that hands back complete
/// requests in order, or the error that ends the connection.
///
/// It owns the connection's read buffer, so bytes are copied once (from the socket read) and the
/// buffer's capacity is reused from request to request. The end of the head is searched for
/// incrementally, so feeding a request one byte at a time stays linear. Limits are enforced from
/// the head alone: a head over `maxHeaderBytes` fails before it completes, and a `Content-Length`
/// over `maxBodyBytes` fails before a single body byte is needed.
///
/// After `nextRequest()` throws, the parser is spent: the connection answers the error and closes.
struct HTTPRequestParser: Sendable {
    /// The largest request line plus headers, including the final empty line, in bytes.
    let maxHeaderBytes: Int
    /// The largest accepted `Content-Length`.
    let maxBodyBytes: Int

    private var buffer: [UInt8] = []
    /// Index of the first byte not yet consumed by a returned request.
    private var start = 0
    /// Index up to which the current head has been scanned for its terminating empty line.
    private var scanned = 0
    /// Index of the first byte of the head line being scanned.
    private var lineStart = 0
    /// A request whose head is parsed and whose body has not fully arrived.
    private var awaitingBody: (request: HTTPRequest, length: Int)?

    /// Creates a parser enforcing the given limits.
    init(maxHeaderBytes: Int = 16_384, maxBodyBytes: Int = 65_536) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether some bytes are buffered that do not form a complete request yet (or have not been
    /// asked for with `nextRequest()`).
    var hasBufferedBytes: Bool {
        awaitingBody != nil || start < buffer.count
    }

    /// Appends bytes received from the peer.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Appends bytes received from the peer.
    mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request in the buffer, or `nil` when more bytes are needed.
    mutating func nextRequest() throws(HTTPParseError) -> HTTPRequest? {
        if var pending = awaitingBody.take() {
            guard takeBody(into: &pending.request, length: pending.length) else {
                awaitingBody = pending
                return nil
            }
            return pending.request
        }
        while let headEnd = try findHeadEnd() {
            guard headEnd - start > 2 else {
                // An empty line between requests (RFC 9112 §2.2 says to ignore at least one).
                consume(upTo: headEnd)
                continue
            }
            // The request is built in place and moved to the caller: a copy would retain each of
            // its buffers.
            var head = try parseHead(from: start, to: headEnd)
            consume(upTo: headEnd)
            let length = head.contentLength
            guard length <= maxBodyBytes else {
                throw .bodyTooLarge(contentLength: length, limit: maxBodyBytes)
            }
            guard length == 0 || takeBody(into: &head.request, length: length) else {
                awaitingBody = (head.request, length)
                return nil
            }
            return head.request
        }
        return nil
    }

    /// Scans for the empty line that ends the head; returns the index just past it.
    private mutating func findHeadEnd() throws(HTTPParseError) -> Int? {
        let requestStart = start
        let limit = maxHeaderBytes
        var index = scanned
        var lineStart = self.lineStart
        let outcome: Result<Int?, HTTPParseError> = buffer.withUnsafeBufferPointer { bytes in
            let end = min(bytes.count, requestStart + limit)
            guard index < end, let base = bytes.baseAddress else {
                return index - requestStart >= limit ? .failure(.headerTooLarge(limit: limit)) : .success(nil)
            }
            // From line feed to line feed with `memchr`, rather than byte by byte.
            while index < end {
                guard let found = memchr(base + index, Int32(ASCII.lf), end - index) else {
                    index = end
                    break
                }
                let lineFeed = UnsafeRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
                guard lineFeed > lineStart, bytes[lineFeed - 1] == ASCII.cr else {
                    index = lineFeed
                    return .failure(.bareLineFeed)
                }
                if lineFeed - 1 == lineStart {
                    index = lineFeed
                    return .success(lineFeed + 1)
                }
                lineStart = lineFeed + 1
                index = lineFeed + 1
            }
            return index - requestStart >= limit ? .failure(.headerTooLarge(limit: limit)) : .success(nil)
        }
        scanned = index
        self.lineStart = lineStart
        return try outcome.get()
    }

    /// Parses the head in `buffer[from..<to]`.
    private func parseHead(from lower: Int, to upper: Int) throws(HTTPParseError) -> ParsedHead {
        try buffer.withUnsafeBufferPointer { bytes throws(HTTPParseError) in
            try ParsedHead(parsing: UnsafeBufferPointer(rebasing: bytes[lower..<upper]))
        }
    }

    /// Gives `request` its body and consumes it if all `length` bytes are buffered; false when
    /// more are needed.
    private mutating func takeBody(into request: inout HTTPRequest, length: Int) -> Bool {
        guard buffer.count - start >= length else { return false }
        request.body = Array(buffer[start..<start + length])
        consume(upTo: start + length)
        return true
    }

    /// Marks everything before `index` as consumed; the next head starts there.
    private mutating func consume(upTo index: Int) {
        start = index
        scanned = index
        lineStart = index
    }

    /// Drops consumed bytes so the buffer holds only the unfinished request.
    private mutating func compact() {
        guard start > 0 else { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else {
            buffer.removeSubrange(0..<start)
        }
        scanned -= start
        lineStart -= start
        start = 0
    }
}
