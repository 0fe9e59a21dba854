import Testing
@testable import StampedeLoadKit

@Suite struct ResponseParserTests {
    static let body = "{\"error\":\"overloaded\",\"message\":\"shed, retry.\"}"
    static let overloaded = Array("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 2\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)

    /// A response split at every byte boundary parses to the same status, headers and body.
    @Test func parsesAcrossAnySplit() throws {
        for split in 1..<Self.overloaded.count {
            var parser = ResponseParser()
            parser.append(Array(Self.overloaded[..<split]))
            let early = try parser.next()
            parser.append(Array(Self.overloaded[split...]))
            let late = early == nil ? try parser.next() : nil
            let response = try #require(early ?? late)
            #expect(response.status == 503)
            #expect(response.retryAfterSeconds == 2)
            #expect(response.isOverloaded)
            #expect(response.body == Array(Self.body.utf8))
            #expect(!parser.hasPartialResponse)
        }
    }

    /// Two responses in one read come out in order; Connection: close is noticed.
    @Test func parsesBackToBackResponses() throws {
        var parser = ResponseParser()
        parser.append(Array("HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 409 Conflict\r\nConnection: close\r\nContent-Length: 21\r\n\r\n{\"error\":\"sold_out\"}x".utf8))
        let first = try #require(try parser.next())
        #expect(first.status == 201 && first.body == Array("{}".utf8) && !first.closesConnection)
        let second = try #require(try parser.next())
        #expect(second.status == 409 && second.closesConnection && second.errorCode == "sold_out")
        #expect(try parser.next() == nil)
    }

    /// Chunked bodies and garbage status lines are refused, not misread.
    @Test func refusesWhatItCannotFrame() {
        var chunked = ResponseParser()
        chunked.append(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
        #expect(throws: ResponseParseError.unsupportedTransferEncoding) { try chunked.next() }
        var garbage = ResponseParser()
        garbage.append(Array("SMTP ready\r\n\r\n".utf8))
        #expect(throws: ResponseParseError.badStatusLine) { try garbage.next() }
    }

    /// Single fields come out of Stampede's JSON without a full parse.
    @Test func readsJSONFields() {
        let body = Array("{\"order_id\": \"0193abc\", \"sale_id\":\"s1\",\"quantity\":2,\"status\":\"reserved\"}".utf8)
        #expect(JSONFields.string("order_id", in: body) == "0193abc")
        #expect(JSONFields.integer("quantity", in: body) == 2)
        #expect(JSONFields.string("missing", in: body) == nil)
        #expect(JSONFields.integer("status", in: body) == nil)
    }

    /// Requests encode with Host, the idempotency key and a Content-Length matching the body.
    @Test func encodesRequests() {
        var bytes: [UInt8] = []
        LoadRequest(route: .buy, method: "POST", path: "/v1/sales/s/orders", body: Array("{}".utf8), idempotencyKey: "k-1")
            .encode(into: &bytes, host: "127.0.0.1:8080")
        #expect(String(decoding: bytes, as: UTF8.self) ==
            "POST /v1/sales/s/orders HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nIdempotency-Key: k-1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    }

    /// URLs are http(s)://host:port; a name that does not resolve is refused (more in TargetURLTests).
    @Test func parsesTargetURLs() throws {
        #expect(try TargetURL("http://127.0.0.1:8410/").endpoint.port == 8410)
        #expect(try TargetURL("http://localhost:80").endpoint.host == "127.0.0.1")
        #expect(try TargetURL("https://127.0.0.1:1").tls != nil)
        #expect(throws: TargetURL.ParseError.self) { try TargetURL("http://example.invalid:80", resolve: { _ in nil }) }
    }
}
