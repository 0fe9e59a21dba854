import Glibc
import StampedeSystem
import Testing

@testable import StampedeHTTP

/// The limits against abuse that live in the server: connections per client address and requests
/// per connection.
@Suite("Connection limits", .serialized)
struct ConnectionLimitTests {
    /// With a cap of 3 per address, a 4th connection from 127.0.0.1 gets `429 rate_limited` with
    /// `Retry-After` and is closed while the first three keep working; once one closes, a new one
    /// is admitted again.
    @Test func perClientCapRefusesTheExtraConnection() throws {
        var configuration = HTTPServerConfiguration(threads: 2)
        configuration.maxConnectionsPerClient = 3
        try withServer(configuration) { server in
            var admitted = try (0..<3).map { _ in try TestClient(port: server.localPort) }
            for client in admitted {
                try client.send("GET /in HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().status == 200)
            }
            let extra = try TestClient(port: server.localPort)
            let refused = try extra.readResponse()
            #expect(refused.status == 429)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.text.contains("\"error\":\"rate_limited\""))
            #expect(extra.waitForClose())
            #expect(server.statistics.rejectedPerClient == 1)

            try admitted[0].send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n")
            _ = try admitted[0].readResponse()
            #expect(admitted[0].waitForClose())
            admitted.removeFirst()  // closes our side, ending the server's lingering close
            var readmitted: TestResponse?
            for _ in 0..<100 where readmitted == nil {
                // The server forgets the closed connection on its loop, a moment after the FIN.
                let client = try TestClient(port: server.localPort)
                try client.send("GET /again HTTP/1.1\r\n\r\n")
                let response = try client.readResponse()
                if response.status == 200 { readmitted = response } else { usleep(10_000) }
            }
            #expect(readmitted?.text == "GET /again ")
        }
    }

    /// A connection that has served its last answer (`Connection: close`) gives its client's slot
    /// back at once, even while the server still lingers for the peer's close: the client's next
    /// connection is admitted although the old socket is not closed on its side.
    @Test func aClosingConnectionGivesItsSlotBackBeforeThePeerCloses() throws {
        var configuration = HTTPServerConfiguration(threads: 2)
        configuration.maxConnectionsPerClient = 1
        try withServer(configuration) { server in
            let first = try TestClient(port: server.localPort)
            try first.send("GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(try first.readResponse().header("Connection") == "close")
            // `first` stays open on this side: the server lingers (up to 2 s) for its close.
            var next: TestResponse?
            for _ in 0..<50 where next == nil {
                // The slot is given back when the loop writes the last answer, a moment before
                // the client reads it; retry briefly rather than race it.
                let client = try TestClient(port: server.localPort)
                try? client.send("GET /next HTTP/1.1\r\n\r\n")
                if let response = try? client.readResponse(), response.status == 200 { next = response } else { usleep(10_000) }
            }
            #expect(next?.text == "GET /next ")
            #expect(server.statistics.openConnections >= 1)
            _ = first
        }
    }

    /// Concurrent connects from one address never exceed the cap: of 12 clients connecting at
    /// once against a cap of 5, exactly 5 are served and 7 refused.
    @Test func perClientCapHoldsUnderConcurrentConnects() throws {
        var configuration = HTTPServerConfiguration(threads: 2)
        configuration.maxConnectionsPerClient = 5
        try withServer(configuration) { server in
            let clients = try (0..<12).map { _ in try TestClient(port: server.localPort) }
            var statuses: [Int] = []
            for client in clients {
                try? client.send("GET /x HTTP/1.1\r\n\r\n")
                statuses.append((try? client.readResponse().status) ?? -1)
            }
            #expect(statuses.filter { $0 == 200 }.count == 5)
            #expect(statuses.filter { $0 == 429 }.count == 7)
            #expect(server.statistics.rejectedPerClient == 7)
            #expect(server.statistics.openConnections == 5)
        }
    }

    /// With a cap of 3 requests per connection, the 3rd answer carries `Connection: close`, the
    /// connection closes, and pipelined requests after it are not served.
    @Test func requestCapRecyclesTheConnection() throws {
        var configuration = HTTPServerConfiguration(threads: 1)
        configuration.maxRequestsPerConnection = 3
        try withServer(configuration) { server in
            let client = try TestClient(port: server.localPort)
            try client.send("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
            let first = try client.readResponse()
            let second = try client.readResponse()
            #expect(first.header("Connection") == nil && second.header("Connection") == nil)
            try client.send("GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n")
            let third = try client.readResponse()
            #expect(third.text == "GET /3 ")
            #expect(third.header("Connection") == "close")
            #expect(client.waitForClose())
            #expect(server.statistics.requestsTotal == 3)
            #expect(server.statistics.recycled == 1)
        }
    }

    /// The per-address table counts IPv4 addresses by address, not by port.
    @Test func clientAddressIgnoresThePort() {
        func address(_ host: String, _ port: Int) -> ClientAddress { ClientAddress(SocketAddress(host: host, port: port)!) }
        #expect(address("127.0.0.1", 1000) == address("127.0.0.1", 2000))
        #expect(address("127.0.0.1", 1000) != address("127.0.0.2", 1000))
        #expect(address("::ffff:127.0.0.1", 1) == address("127.0.0.1", 1))
        #expect(address("127.0.0.1", 1).description == "127.0.0.1")
        #expect(address("::1", 1).description == "::1")
        let limiter = ClientConnectionLimiter(limit: 2)
        let client = address("10.0.0.1", 1)
        #expect(limiter.tryAcquire(client) && limiter.tryAcquire(client))
        #expect(!limiter.tryAcquire(client))
        #expect(limiter.tryAcquire(address("10.0.0.2", 1)))
        limiter.release(client)
        #expect(limiter.openConnections(from: client) == 1)
        #expect(limiter.tryAcquire(client))
    }
}
