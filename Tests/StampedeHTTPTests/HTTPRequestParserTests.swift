import Testing

@testable import StampedeHTTP

/// Feeds `text` to a fresh parser at once and collects every complete request.
private func parseAll(
    _ text: String,
    maxHeaderBytes: Int = 16_384,
    maxBodyBytes: Int = 65_536
) throws(HTTPParseError) -> [HTTPRequest] {
    var parser = HTTPRequestParser(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
    parser.append(contentsOf: text.utf8)
    var requests: [HTTPRequest] = []
    while let request = try parser.nextRequest() {
        requests.append(request)
    }
    return requests
}

/// The parse error `text` produces, or `nil` if it parses.
private func parseError(_ text: String, maxHeaderBytes: Int = 16_384, maxBodyBytes: Int = 65_536) -> HTTPParseError? {
    do {
        _ = try parseAll(text, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        return nil
    } catch {
        return error
    }
}

@Suite("HTTPRequestParser")
struct HTTPRequestParserTests {
    /// A request fed one byte at a time is returned only once its last body byte arrives, intact.
    @Test func partialInputByteByByte() throws {
        let text = "POST /v1/sales/s1/orders?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        var parser = HTTPRequestParser()
        let bytes = Array(text.utf8)
        for byte in bytes.dropLast() {
            parser.append(contentsOf: [byte])
            #expect(try parser.nextRequest() == nil)
            #expect(parser.hasBufferedBytes)
        }
        parser.append(contentsOf: [bytes.last!])
        let request = try #require(try parser.nextRequest())
        #expect(request.method == .post)
        #expect(request.target == "/v1/sales/s1/orders?x=1")
        #expect(request.headers["Host"] == "h")
        #expect(request.body == Array("abc".utf8))
        #expect(!parser.hasBufferedBytes)
    }

    /// Several pipelined requests in one buffer come out in order, bodies separated correctly.
    @Test func pipelinedRequestsInOneBuffer() throws {
        let requests = try parseAll(
            "GET /1 HTTP/1.1\r\n\r\n"
                + "POST /2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                + "DELETE /3 HTTP/1.1\r\n\r\n"
        )
        #expect(requests.map(\.path) == ["/1", "/2", "/3"])
        #expect(requests.map(\.method) == [.get, .post, .delete])
        #expect(requests[1].body == Array("hello".utf8))
        #expect(requests[2].body.isEmpty)
    }

    /// A head larger than the limit fails with 431 as soon as the limit is passed, before it ends.
    @Test func headOverLimitIsRejectedBeforeItEnds() {
        let error = parseError("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 17_000))
        #expect(error == .headerTooLarge(limit: 16_384))
        #expect(error?.status == 431)
        #expect(error?.code == "header_too_large")
    }

    /// A head of exactly the limit is accepted; one byte more is refused.
    @Test func headLimitBoundary() throws {
        let prefix = "GET / HTTP/1.1\r\nX: "
        let filler = String(repeating: "a", count: 200 - prefix.utf8.count - 4)
        #expect(try parseAll(prefix + filler + "\r\n\r\n", maxHeaderBytes: 200).count == 1)
        #expect(parseError(prefix + filler + "a\r\n\r\n", maxHeaderBytes: 200) == .headerTooLarge(limit: 200))
    }

    /// A Content-Length over the limit fails with 413 from the head alone, with no body bytes sent.
    @Test func bodyOverLimitIsDetectedFromTheHead() {
        let error = parseError("POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n")
        #expect(error == .bodyTooLarge(contentLength: 70_000, limit: 65_536))
        #expect(error?.status == 413)
        #expect(error?.code == "body_too_large")
    }

    /// A chunked request is refused with 411 length_required.
    @Test func chunkedBodyIsRefused() {
        let error = parseError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(error == .transferEncodingNotSupported)
        #expect(error?.status == 411)
        #expect(error?.code == "length_required")
    }

    /// Each malformed request line is refused with the error naming what is wrong, as a 400.
    @Test(arguments: [
        ("GET /\r\n\r\n", HTTPParseError.invalidRequestLine),
        ("GET\r\n\r\n", .invalidRequestLine),
        ("G(T / HTTP/1.1\r\n\r\n", .invalidMethod),
        (" / HTTP/1.1\r\n\r\n", .invalidMethod),
        ("GET  / HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET /a\u{01}b HTTP/1.1\r\n\r\n", .invalidTarget),
        ("GET / HTTP/2.0\r\n\r\n", .unsupportedVersion),
        ("GET / FTP/1.1\r\n\r\n", .invalidRequestLine),
        ("GET / HTTP/1.1 \r\n\r\n", .unsupportedVersion),
    ])
    func badRequestLine(text: String, expected: HTTPParseError) {
        let error = parseError(text)
        #expect(error == expected)
        #expect(error?.status == 400)
        #expect(error?.code == "bad_request")
    }

    /// Malformed header lines are refused: no colon, space before the colon, folding, control
    /// characters and bare LF line endings.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", HTTPParseError.headerWithoutColon),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .invalidHeaderName),
        ("GET / HTTP/1.1\r\n: empty\r\n\r\n", .invalidHeaderName),
        ("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n", .obsoleteLineFolding),
        ("GET / HTTP/1.1\r\nX-A: a\u{07}b\r\n\r\n", .invalidHeaderValue),
        ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", .invalidHeaderValue),
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", .bareLineFeed),
        ("GET / HTTP/1.1\r\nHost: h\n\n", .bareLineFeed),
    ])
    func badHeaderLine(text: String, expected: HTTPParseError) {
        #expect(parseError(text) == expected)
    }

    /// Content-Length must be plain digits, and repeated Content-Length fields must agree.
    @Test func invalidAndDuplicateContentLength() throws {
        #expect(parseError("POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n") == .invalidContentLength)
        #expect(parseError("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == .invalidContentLength)
        #expect(parseError("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n") == .invalidContentLength)
        #expect(parseError("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n") == .invalidContentLength)
        #expect(
            parseError("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
                == .conflictingContentLength)
        let same = try parseAll("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab")
        #expect(same.first?.body == Array("ab".utf8))
    }

    /// A Content-Length too large for an Int is reported as too large, not as an overflow crash.
    @Test func hugeContentLengthSaturates() {
        let error = parseError("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        #expect(error == .bodyTooLarge(contentLength: Int.max, limit: 65_536))
    }

    /// Header names match case-insensitively, both for framing and for lookups; values are trimmed.
    @Test func headersAreCaseInsensitive() throws {
        let request = try #require(
            try parseAll("PUT / HTTP/1.1\r\ncOnTeNt-LeNgTh: 2\r\nX-Tag:  a \r\nx-tag:\tb\r\n\r\nok").first
        )
        #expect(request.body == Array("ok".utf8))
        #expect(request.headers["content-length"] == "2")
        #expect(request.headers["X-TAG"] == "a")
        #expect(request.headers.values("x-Tag") == ["a", "b"])
        #expect(request.headers["missing"] == nil)
        #expect(request.headers.map(\.name) == ["cOnTeNt-LeNgTh", "X-Tag", "x-tag"])
    }

    /// Received fields are read from the head's bytes: a name matches whole (not as a prefix),
    /// an empty value is a value, and fields added in code come after the received ones.
    @Test func receivedAndAddedHeaders() throws {
        var request = try #require(
            try parseAll("GET / HTTP/1.1\r\nX-Tagged: long\r\nX-Tag:\r\nHost: h:1\r\n\r\n").first
        )
        #expect(request.headers["x-tag"] == "")
        #expect(request.headers["X-Tagged"] == "long")
        #expect(request.headers["X-Ta"] == nil)
        #expect(request.headers["host"] == "h:1")
        request.headers.add(name: "X-Tag", value: "added")
        #expect(request.headers.count == 4)
        #expect(request.headers.values("x-tag") == ["", "added"])
        #expect(request.headers[3].name == "X-Tag" && request.headers[3].value == "added")
        #expect(request.headers[2].name == "Host" && request.headers[2].value == "h:1")
    }

    /// A body that arrives in pieces completes the request it belongs to, with its head intact.
    @Test func bodyInPieces() throws {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: "POST /v1/sales/s1/orders?x=1 HTTP/1.1\r\nContent-Length: 5\r\nIdempotency-Key: k1\r\n\r\nab".utf8)
        #expect(try parser.nextRequest() == nil)
        parser.append(contentsOf: "cde".utf8)
        let request = try #require(try parser.nextRequest())
        #expect(request.body == Array("abcde".utf8))
        #expect(request.path == "/v1/sales/s1/orders" && request.query == "x=1")
        #expect(request.headers["idempotency-key"] == "k1")
        #expect(request.withPathBytes { Array($0) } == Array("/v1/sales/s1/orders".utf8))
        #expect(try parser.nextRequest() == nil)
    }

    /// The target splits into path and query at the first question mark.
    @Test func querySplit() throws {
        let requests = try parseAll(
            "GET /v1/sales/s1?x=1&y=?2 HTTP/1.1\r\n\r\nGET /plain HTTP/1.1\r\n\r\nGET /empty? HTTP/1.1\r\n\r\n"
        )
        #expect(requests[0].path == "/v1/sales/s1")
        #expect(requests[0].query == "x=1&y=?2")
        #expect(requests[1].path == "/plain")
        #expect(requests[1].query == nil)
        #expect(requests[2].path == "/empty")
        #expect(requests[2].query == "")
    }

    /// HTTP/1.0 closes by default and keeps alive on request; HTTP/1.1 keeps alive unless asked
    /// to close.
    @Test func keepAliveRules() throws {
        let requests = try parseAll(
            "GET / HTTP/1.0\r\n\r\n"
                + "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                + "GET / HTTP/1.1\r\n\r\n"
                + "GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n"
        )
        #expect(requests.map(\.version) == [.http1_0, .http1_0, .http1_1, .http1_1])
        #expect(requests.map(\.keepAlive) == [false, true, true, false])
    }

    /// Known methods map to their cases and any other token is kept verbatim.
    @Test func methods() throws {
        let names = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]
        let requests = try parseAll(names.map { "\($0) / HTTP/1.1\r\n\r\n" }.joined())
        #expect(requests.map(\.method) == [.get, .head, .post, .put, .delete, .patch, .options, .other("PROPFIND")])
        #expect(requests.map(\.method.rawValue) == names)
    }

    /// Empty lines before a request (e.g. a stray CRLF after a body) are ignored.
    @Test func emptyLinesBetweenRequestsAreSkipped() throws {
        let requests = try parseAll("\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        #expect(requests.map(\.path) == ["/a", "/b"])
    }

    /// A body split across appends is completed from the later bytes, and the following request
    /// is parsed from what remains.
    @Test func bodyAcrossAppends() throws {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234".utf8)
        #expect(try parser.nextRequest() == nil)
        parser.append(contentsOf: "56789GET /y HTTP/1.1\r\n\r\n".utf8)
        #expect(try parser.nextRequest()?.body == Array("0123456789".utf8))
        #expect(try parser.nextRequest()?.path == "/y")
        #expect(try parser.nextRequest() == nil)
        #expect(!parser.hasBufferedBytes)
    }

    /// Arbitrary byte soup never traps: every input ends in requests, a need for more, or an error.
    @Test func arbitraryBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("GET /:\r\n HTTP/1.1Content-Length0123456789\u{0}\u{7f}".utf8) + [0xFF, 0x80]
        for _ in 0..<2_000 {
            var parser = HTTPRequestParser(maxHeaderBytes: 256, maxBodyBytes: 64)
            let bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator)!
            }
            parser.append(contentsOf: bytes)
            while (try? parser.nextRequest()) != nil {}
        }
    }
}
