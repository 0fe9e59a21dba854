import Glibc
import Testing

@testable import StampedeHTTP

/// Socket-level tests: each starts its own server on an ephemeral port. Serialized because several
/// depend on sub-second timeouts that a 2-core machine running everything at once would distort.
@Suite("HTTPServer over sockets", .serialized)
struct HTTPServerTests {
    private static let twoLoops = HTTPServerConfiguration(threads: 2)

    /// Two requests on one keep-alive connection are both answered and the connection stays open.
    @Test func keepAliveServesSeveralRequests() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
            let first = try client.readResponse()
            try client.send("POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody")
            let second = try client.readResponse()
            #expect(first.status == 200)
            #expect(first.text == "GET /one ")
            #expect(first.header("Connection") == nil)
            #expect(second.text == "POST /two body")
            #expect(server.statistics.requestsTotal == 2)
            #expect(server.statistics.acceptedTotal == 1)
        }
    }

    /// Pipelined requests whose first answer comes last, from another thread, are answered in
    /// request order.
    @Test func pipelinedAnswersKeepRequestOrder() throws {
        try withServer(Self.twoLoops, handler: SlowFirstHandler()) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET /slow HTTP/1.1\r\n\r\nGET /second HTTP/1.1\r\n\r\nGET /third HTTP/1.1\r\n\r\n")
            let answers = try (0..<3).map { _ in try client.readResponse().text }
            #expect(answers == ["/slow", "/second", "/third"])
            try client.send("GET /after HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "/after")
        }
    }

    /// `Connection: close` is answered with `Connection: close`, then the server closes.
    @Test func connectionCloseIsHonoured() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose())
        }
    }

    /// HTTP/1.0 without keep-alive is closed after its answer; with keep-alive it stays open and
    /// the answer says so.
    @Test func http10ConnectionRules() throws {
        try withServer(Self.twoLoops) { server in
            let keeping = try TestClient(port: server.localPort)
            try keeping.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try keeping.readResponse().header("Connection") == "keep-alive")
            try keeping.send("GET /b HTTP/1.0\r\n\r\n")
            #expect(try keeping.readResponse().header("Connection") == "close")
            #expect(keeping.waitForClose())
        }
    }

    /// A HEAD answer carries headers but no body, so the next answer on the connection parses.
    @Test func headAnswersHaveNoBody() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n")
            let head = try client.readResponse(bodyExpected: false)
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(try client.readResponse().text == "GET /g ")
        }
    }

    /// A malformed request gets a JSON 400 and its connection closes, while another open
    /// connection keeps working.
    @Test func malformedRequestClosesOnlyItsConnection() throws {
        try withServer(Self.twoLoops) { server in
            let healthy = try TestClient(port: server.localPort)
            try healthy.send("GET /before HTTP/1.1\r\n\r\n")
            #expect(try healthy.readResponse().status == 200)

            let broken = try TestClient(port: server.localPort)
            try broken.send("GET / HTTP/1.1\r\nthis header has no colon\r\n\r\n")
            let answer = try broken.readResponse()
            #expect(answer.status == 400)
            #expect(answer.header("Content-Type") == "application/json")
            #expect(answer.header("Connection") == "close")
            #expect(answer.text.hasPrefix(#"{"error":"bad_request","message":"#))
            #expect(broken.waitForClose())

            try healthy.send("GET /after HTTP/1.1\r\n\r\n")
            #expect(try healthy.readResponse().text == "GET /after ")
            #expect(server.statistics.parseErrors == 1)
        }
    }

    /// Over `maxConnections`, a new connection is answered 503 overloaded with Retry-After: 1
    /// and closed.
    @Test func connectionLimitAnswersOverloaded() throws {
        var configuration = Self.twoLoops
        configuration.maxConnections = 2
        try withServer(configuration) { server in
            let first = try TestClient(port: server.localPort)
            let second = try TestClient(port: server.localPort)
            for client in [first, second] {
                try client.send("GET / HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().status == 200)
            }
            let third = try TestClient(port: server.localPort)
            let answer = try third.readResponse()
            #expect(answer.status == 503)
            #expect(answer.header("Retry-After") == "1")
            #expect(answer.text.contains(#""error":"overloaded""#))
            #expect(third.waitForClose())
            #expect(server.statistics.rejectedOverLimit == 1)
            #expect(server.statistics.openConnections == 2)
        }
    }

    /// A Content-Length over the limit is answered 413 before any body byte is sent, then the
    /// connection closes.
    @Test func bodyOverLimitIsRefusedWithoutReadingIt() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("POST /big HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")
            let answer = try client.readResponse()
            #expect(answer.status == 413)
            #expect(answer.text.contains(#""error":"body_too_large""#))
            #expect(client.waitForClose())
        }
    }

    /// A request head over the limit is answered 431 and the connection closes.
    @Test func headOverLimitIsRefused() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 20_000) + "\r\n\r\n")
            let answer = try client.readResponse()
            #expect(answer.status == 431)
            #expect(answer.text.contains(#""error":"header_too_large""#))
            #expect(client.waitForClose())
        }
    }

    /// A chunked request is answered 411 length_required and the connection closes.
    @Test func chunkedRequestIsRefused() throws {
        try withServer(Self.twoLoops) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            #expect(try client.readResponse().status == 411)
            #expect(client.waitForClose())
        }
    }

    /// A request left incomplete past the read timeout is answered 408, then closed.
    @Test func readTimeoutAnswers408() throws {
        var configuration = Self.twoLoops
        configuration.readTimeoutSeconds = 0.5
        try withServer(configuration) { server in
            let client = try TestClient(port: server.localPort)
            let started = ContinuousClock.now
            try client.send("GET /slowloris HTTP/1.1\r\nHost: t\r\n")
            let answer = try client.readResponse()
            let waited = ContinuousClock.now - started
            #expect(answer.status == 408)
            #expect(answer.text.contains(#""error":"request_timeout""#))
            #expect(client.waitForClose())
            #expect(waited >= .milliseconds(400) && waited < .seconds(3))
            #expect(server.statistics.timeouts == 1)
        }
    }

    /// A keep-alive connection idle past the idle timeout is closed without any bytes.
    @Test func idleTimeoutClosesSilently() throws {
        var configuration = Self.twoLoops
        configuration.idleTimeoutSeconds = 0.5
        try withServer(configuration) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            let started = ContinuousClock.now
            #expect(client.waitForClose())
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(server.statistics.timeouts == 1)
        }
    }

    /// Binding a port held by a socket without SO_REUSEPORT fails with a typed error naming
    /// `bind` and EADDRINUSE.
    @Test func startReportsAddressInUse() throws {
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(blocker, $0, length)
                _ = getsockname(blocker, $0, &length)
            }
        }
        listen(blocker, 1)

        let port = Int(UInt16(bigEndian: address.sin_port))
        let server = HTTPServer(configuration: HTTPServerConfiguration(port: port, threads: 2), handler: EchoHandler())
        #expect(throws: HTTPServerError.systemCall(call: "bind", errno: EADDRINUSE)) { try server.start() }
        #expect(server.localPort == 0)
    }

    /// Invalid settings are refused before anything is bound.
    @Test func startRejectsInvalidConfiguration() {
        let badHost = HTTPServer(configuration: HTTPServerConfiguration(host: "not-an-ip", port: 0), handler: EchoHandler())
        #expect(throws: HTTPServerError.invalidHost("not-an-ip")) { try badHost.start() }
        let noThreads = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threads: 0), handler: EchoHandler())
        #expect(throws: HTTPServerError.self) { try noThreads.start() }
    }

    /// Many servers start on ephemeral ports and stop cleanly, with connections still open.
    @Test func startAndStopRepeatedly() throws {
        for _ in 0..<20 {
            let server = HTTPServer(configuration: HTTPServerConfiguration(port: 0, threads: 2), handler: EchoHandler())
            try server.start()
            #expect(server.localPort > 0)
            let client = try TestClient(port: server.localPort)
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            server.stop()
            #expect(client.waitForClose())
            #expect(server.statistics.openConnections == 0)
            server.stop()
            #expect(throws: HTTPServerError.alreadyStarted) { try server.start() }
        }
    }

    /// An answer arriving after its client disconnected is dropped and the server keeps serving.
    @Test func lateAnswerForClosedConnectionIsDropped() throws {
        try withServer(Self.twoLoops, handler: SlowFirstHandler(delayMilliseconds: 100)) { server in
            do {
                let leaving = try TestClient(port: server.localPort)
                try leaving.send("GET /slow HTTP/1.1\r\n\r\n")
            }
            usleep(300_000)
            let staying = try TestClient(port: server.localPort)
            try staying.send("GET /fast HTTP/1.1\r\n\r\n")
            #expect(try staying.readResponse().text == "/fast")
            #expect(server.statistics.openConnections == 1)
        }
    }

    /// An answer given after the server stopped is dropped without touching closed descriptors.
    @Test func answerAfterStopIsDropped() throws {
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(port: 0, threads: 2),
            handler: SlowFirstHandler(delayMilliseconds: 100)
        )
        try server.start()
        let client = try TestClient(port: server.localPort)
        try client.send("GET /slow HTTP/1.1\r\n\r\n")
        usleep(20_000)
        server.stop()
        #expect(client.waitForClose())
        usleep(200_000)
        #expect(server.statistics.requestsTotal == 1)
    }

    /// Many clients across both loops each get their own answers over keep-alive.
    @Test func concurrentClientsAcrossLoops() throws {
        try withServer(Self.twoLoops) { server in
            let clients = try (0..<16).map { _ in try TestClient(port: server.localPort) }
            for round in 0..<5 {
                for (index, client) in clients.enumerated() {
                    try client.send("GET /\(index)/\(round) HTTP/1.1\r\n\r\n")
                }
                for (index, client) in clients.enumerated() {
                    #expect(try client.readResponse().text == "GET /\(index)/\(round) ")
                }
            }
            #expect(server.statistics.requestsTotal == 80)
            #expect(server.statistics.openConnections == 16)
        }
    }
}
