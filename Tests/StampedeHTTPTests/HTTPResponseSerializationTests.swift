import Testing

@testable import StampedeHTTP

/// The wire text of `response` framed as `framing`.
private func wire(_ response: HTTPResponse, _ framing: ResponseFraming) -> String {
    var output: [UInt8] = []
    response.serialize(into: &output, framing: framing)
    return String(decoding: output, as: UTF8.self)
}

@Suite("HTTPResponse serialization")
struct HTTPResponseSerializationTests {
    private let keepAlive = ResponseFraming(closesConnection: false, omitsBody: false, announcesKeepAlive: false)

    /// A JSON response carries its Content-Type, extra headers, a computed Content-Length and body.
    @Test func jsonResponse() {
        let response = HTTPResponse.json(status: 201, Array(#"{"a":1}"#.utf8), headers: [("X-Id", "7")])
        #expect(
            wire(response, keepAlive)
                == "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Id: 7\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        )
    }

    /// The status lines written whole are those built from the code and its reason phrase.
    @Test func wholeStatusLinesMatchTheirParts() {
        for status in 100..<600 {
            let plain = HTTPResponse(status: status)
            let built = "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(status))\r\n"
            #expect(wire(plain, keepAlive).hasPrefix(built), "status \(status)")
            if let whole = HTTPResponse.statusLine(status) { #expect(whole.description == built) }
        }
        #expect(HTTPResponse.statusLine(200) != nil && HTTPResponse.statusLine(418) == nil)
    }

    /// Closing adds Connection: close; HTTP/1.0 keep-alive is confirmed explicitly.
    @Test func connectionHeaders() {
        let response = HTTPResponse(status: 200, body: Array("x".utf8))
        #expect(wire(response, .closing) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
        let http10 = ResponseFraming(closesConnection: false, omitsBody: false, announcesKeepAlive: true)
        #expect(wire(response, http10) == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx")
    }

    /// HEAD answers send headers only; 204 sends neither Content-Length nor body.
    @Test func bodilessAnswers() {
        let head = ResponseFraming(closesConnection: false, omitsBody: true, announcesKeepAlive: false)
        #expect(wire(HTTPResponse(status: 200, body: [1, 2, 3]), head) == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        #expect(wire(HTTPResponse(status: 204, body: [1]), keepAlive) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    /// User-supplied Content-Length and Connection fields are dropped: the server owns framing.
    @Test func userFramingHeadersAreIgnored() {
        let response = HTTPResponse(
            status: 599,
            headers: [("content-length", "99"), ("Connection", "close"), ("X-Ok", "1")],
            body: Array("hi".utf8)
        )
        #expect(wire(response, keepAlive) == "HTTP/1.1 599 Unknown\r\nX-Ok: 1\r\nContent-Length: 2\r\n\r\nhi")
    }

    /// Server error bodies follow the API's {"error","message"} shape.
    @Test func serverErrorShape() {
        let response = HTTPResponse.parseFailure(.transferEncodingNotSupported)
        #expect(response.status == 411)
        #expect(response.headers.first?.value == "application/json")
        let body = String(decoding: response.body, as: UTF8.self)
        #expect(body.hasPrefix(#"{"error":"length_required","message":""#))
        #expect(HTTPResponse.overloaded.headers.contains { $0.name == "Retry-After" && $0.value == "1" })
    }
}
