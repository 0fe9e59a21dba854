import Glibc
import Testing

@testable import StampedeHTTP

/// Answers every request with the client address the server attributed it to.
struct ClientAddressHandler: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        responder.respond(HTTPResponse(status: 200, body: Array(request.clientAddress.description.utf8)))
    }
}

/// PROXY protocol v2 over real sockets: a trusted proxy's header sets the client's address for the
/// requests and the per-client limit; nobody else can set it.
@Suite("PROXY protocol server", .serialized)
struct ProxyProtocolServerTests {
    private func configuration(trusting ranges: [String], perClient: Int = 0) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration(threads: 2)
        configuration.trustedProxies = ranges.compactMap(ClientAddressRange.init)
        configuration.maxConnectionsPerClient = perClient
        return configuration
    }

    /// From a trusted peer, a v4 header's source is the requests' client address; `LOCAL` (a
    /// health check) and no header at all keep the peer's address.
    @Test func trustedPeerNamesTheClient() throws {
        try withServer(configuration(trusting: ["127.0.0.1"]), handler: ClientAddressHandler()) { server in
            let relayed = try TestClient(port: server.localPort)
            try relayed.send(proxyHeader(addresses: ipv4Addresses([203, 0, 113, 7])) + Array("GET /a HTTP/1.1\r\n\r\n".utf8))
            #expect(try relayed.readResponse().text == "203.0.113.7")
            try relayed.send("GET /b HTTP/1.1\r\n\r\n")
            #expect(try relayed.readResponse().text == "203.0.113.7")

            let check = try TestClient(port: server.localPort)
            try check.send(localProxyHeader + Array("GET /health/ready HTTP/1.0\r\n\r\n".utf8))
            #expect(try check.readResponse().text == "127.0.0.1")

            let plain = try TestClient(port: server.localPort)
            try plain.send("GET /c HTTP/1.1\r\n\r\n")
            #expect(try plain.readResponse().text == "127.0.0.1")
        }
    }

    /// A header split into single bytes across reads is reassembled.
    @Test func headerSplitAcrossReads() throws {
        try withServer(configuration(trusting: ["127.0.0.0/8"]), handler: ClientAddressHandler()) { server in
            let client = try TestClient(port: server.localPort)
            let bytes = proxyHeader(addresses: ipv4Addresses([198, 51, 100, 20])) + Array("GET /split HTTP/1.1\r\n\r\n".utf8)
            for byte in bytes.prefix(30) {
                try client.send([byte])
                usleep(2_000)
            }
            try client.send(Array(bytes.dropFirst(30)))
            #expect(try client.readResponse().text == "198.51.100.20")
        }
    }

    /// A peer outside the trusted set cannot spoof an address: its header is answered `400` and
    /// the connection closes; its plain requests keep its own address.
    @Test func untrustedPeerCannotSpoof() throws {
        try withServer(configuration(trusting: ["10.0.0.0/8"]), handler: ClientAddressHandler()) { server in
            let spoofer = try TestClient(port: server.localPort)
            try spoofer.send(proxyHeader(addresses: ipv4Addresses([203, 0, 113, 7])) + Array("GET /a HTTP/1.1\r\n\r\n".utf8))
            let refused = try spoofer.readResponse()
            #expect(refused.status == 400)
            #expect(!refused.text.contains("203.0.113.7"))
            #expect(spoofer.waitForClose())

            let plain = try TestClient(port: server.localPort, source: "127.0.0.9")
            try plain.send("GET /b HTTP/1.1\r\n\r\n")
            #expect(try plain.readResponse().text == "127.0.0.9")
        }
    }

    /// With nobody trusted (the default), a PROXY header is refused too.
    @Test func defaultTrustsNobody() throws {
        try withServer(handler: ClientAddressHandler()) { server in
            let client = try TestClient(port: server.localPort)
            try client.send(localProxyHeader + Array("GET / HTTP/1.1\r\n\r\n".utf8))
            #expect(try client.readResponse().status == 400)
        }
    }

    /// From a trusted peer, a signature followed by garbage is `400 bad_request` and a close;
    /// a truncated header followed by EOF closes without an answer; the server serves on.
    @Test func refusesGarbageAndTruncatedHeaders() throws {
        try withServer(configuration(trusting: ["127.0.0.1"]), handler: ClientAddressHandler()) { server in
            let garbage = try TestClient(port: server.localPort)
            try garbage.send(proxyHeader(command: 0x31, addresses: ipv4Addresses([1, 2, 3, 4])) + Array("GET / HTTP/1.1\r\n\r\n".utf8))
            let refused = try garbage.readResponse()
            #expect(refused.status == 400)
            #expect(refused.text.contains("PROXY protocol"))
            #expect(garbage.waitForClose())

            let truncated = try TestClient(port: server.localPort)
            try truncated.send(Array(proxyHeader(addresses: ipv4Addresses([1, 2, 3, 4])).prefix(20)))
            truncated.shutdownWrite()
            #expect(truncated.waitForClose())

            let next = try TestClient(port: server.localPort)
            try next.send(proxyHeader(addresses: ipv4Addresses([192, 0, 2, 1])) + Array("GET / HTTP/1.1\r\n\r\n".utf8))
            #expect(try next.readResponse().text == "192.0.2.1")
        }
    }

    /// A header that never completes is cut off by the read timeout (`408`), like a slow request.
    @Test func stalledHeaderTimesOut() throws {
        var settings = configuration(trusting: ["127.0.0.1"])
        settings.readTimeoutSeconds = 0.3
        try withServer(settings, handler: ClientAddressHandler()) { server in
            let client = try TestClient(port: server.localPort)
            try client.send(Array(localProxyHeader.prefix(14)))
            #expect(try client.readResponse().status == 408)
            #expect(client.waitForClose())
        }
    }

    /// The per-client connection limit counts the relayed shopper, not the proxy: with a cap of
    /// 2, a third connection for one shopper is `429` while another shopper through the same proxy
    /// is served; closing one frees its slot.
    @Test func perClientLimitCountsTheRelayedClient() throws {
        try withServer(configuration(trusting: ["127.0.0.1"], perClient: 2), handler: ClientAddressHandler()) { server in
            func connect(_ source: [UInt8]) throws -> (TestClient, TestResponse) {
                let client = try TestClient(port: server.localPort)
                try client.send(proxyHeader(addresses: ipv4Addresses(source)) + Array("GET / HTTP/1.1\r\n\r\n".utf8))
                return (client, try client.readResponse())
            }
            var held = [try connect([198, 51, 100, 1]), try connect([198, 51, 100, 1])]
            #expect(held.allSatisfy { $0.1.status == 200 })
            let (third, refused) = try connect([198, 51, 100, 1])
            #expect(refused.status == 429)
            #expect(third.waitForClose())
            let (_, other) = try connect([198, 51, 100, 2])
            #expect(other.status == 200 && other.text == "198.51.100.2")
            #expect(server.statistics.rejectedPerClient == 1)

            held.removeFirst()
            var readmitted = false
            for _ in 0..<100 where !readmitted {
                readmitted = try connect([198, 51, 100, 1]).1.status == 200
                if !readmitted { usleep(10_000) }
            }
            #expect(readmitted)
        }
    }
}
