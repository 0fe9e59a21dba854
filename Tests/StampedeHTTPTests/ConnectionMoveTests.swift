import Glibc
import StampedeSystem
import Synchronization
import Testing

@testable import StampedeHTTP

/// Answers each request from the reactor of the *other* loop than the one that read it, as a
/// shard bound to another loop's thread does, and names that reactor in the answer.
final class OtherReactorHandler: HTTPRequestHandler, Sendable {
    let reactors: [Reactor]

    init(_ reactors: [Reactor]) { self.reactors = reactors }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let here = reactors.firstIndex { $0.isCurrent } ?? -1
        let there = here == 0 ? 1 : 0
        let reactors = self.reactors
        let text = "\(request.target) read-on-\(here)"
        reactors[there].execute {
            responder.respond(HTTPResponse(status: 200, body: Array(text.utf8)))
        }
    }
}

/// A connection whose answers keep coming from another loop's thread moves to that loop between
/// two requests (`connectionsFollowAnswers`), and nothing is lost or reordered on the way.
@Suite("Connections follow their answers", .serialized)
struct ConnectionMoveTests {
    private static func withTwoReactorServer(
        follow: Bool, _ body: (HTTPServer) throws -> Void
    ) throws {
        let reactors = try (0..<2).map { try Reactor(name: "move-test-\($0)") }
        defer { for reactor in reactors { reactor.shutdown() } }
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, threads: 2, connectionsFollowAnswers: follow)
        let server = HTTPServer(configuration: configuration, handler: OtherReactorHandler(reactors), reactors: reactors)
        try server.start()
        defer { server.stop() }
        try body(server)
    }

    /// Each connection moves once after two answers from the other thread; later requests are read
    /// on the thread that answers them. Moves are at most one per 16 requests, so ten requests
    /// move each connection exactly once even though every answer keeps coming from "the other" loop.
    @Test func connectionsMoveToTheAnsweringLoop() throws {
        try Self.withTwoReactorServer(follow: true) { server in
            let clients = try (0..<8).map { _ in try TestClient(port: server.localPort) }
            var readOn: [[String]] = Array(repeating: [], count: clients.count)
            for round in 0..<10 {
                for (index, client) in clients.enumerated() {
                    try client.send("GET /\(index)/\(round) HTTP/1.1\r\n\r\n")
                }
                for (index, client) in clients.enumerated() {
                    let text = try client.readResponse().text
                    #expect(text.hasPrefix("/\(index)/\(round) read-on-"), "\(text)")
                    readOn[index].append(String(text.split(separator: "-").last ?? ""))
                }
            }
            #expect(server.statistics.moved == clients.count)
            #expect(server.statistics.requestsTotal == 80)
            #expect(server.statistics.openConnections == clients.count)
            for threads in readOn {
                // Read on one loop for two requests, then on the other from the third on.
                #expect(Set(threads[0..<2]).count == 1)
                #expect(Set(threads[2...]).count == 1)
                #expect(threads[0] != threads[2])
            }
        }
    }

    /// Pipelined requests are never cut off by a move: a connection moves only with no answer
    /// owed, and every request of a burst is answered in order.
    @Test func pipelinedBurstsSurviveMoves() throws {
        try Self.withTwoReactorServer(follow: true) { server in
            let client = try TestClient(port: server.localPort)
            for burst in 0..<6 {
                try client.send((0..<5).map { "GET /\(burst)/\($0) HTTP/1.1\r\n\r\n" }.joined())
                for index in 0..<5 {
                    #expect(try client.readResponse().text.hasPrefix("/\(burst)/\(index) read-on-"))
                }
            }
            try client.send("GET /last HTTP/1.1\r\nConnection: close\r\n\r\n")
            #expect(try client.readResponse().text.hasPrefix("/last read-on-"))
            #expect(client.waitForClose())
            #expect(server.statistics.requestsTotal == 31)
        }
    }

    /// With the setting off, connections stay where they were accepted.
    @Test func connectionsStayWhenTheSettingIsOff() throws {
        try Self.withTwoReactorServer(follow: false) { server in
            let clients = try (0..<4).map { _ in try TestClient(port: server.localPort) }
            for round in 0..<5 {
                for client in clients { try client.send("GET /\(round) HTTP/1.1\r\n\r\n") }
                for client in clients { #expect(try client.readResponse().text.hasPrefix("/\(round) read-on-")) }
            }
            #expect(server.statistics.moved == 0)
            #expect(server.statistics.requestsTotal == 20)
        }
    }
}
