import Glibc
import StampedeSystem
import StampedeHTTP

/// Answers every request inline with `200` and the text `"<METHOD> <target> <body>"`.
struct EchoHandler: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let text = "\(request.method.rawValue) \(request.target) \(String(decoding: request.body, as: UTF8.self))"
        responder.respond(HTTPResponse(status: 200, body: Array(text.utf8)))
    }
}

/// Answers `/slow` from another thread after `delayMilliseconds`, everything else inline, so a
/// later pipelined request is answered before an earlier one.
struct SlowFirstHandler: HTTPRequestHandler {
    var delayMilliseconds: UInt32 = 300

    func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        let response = HTTPResponse(status: 200, body: Array(request.path.utf8))
        if request.path == "/slow" {
            let delay = delayMilliseconds
            runDetached {
                usleep(delay * 1000)
                responder.respond(response)
            }
        } else {
            responder.respond(response)
        }
    }
}

/// Runs `body` on a new detached POSIX thread: the delayed answer must not depend on the Swift
/// concurrency pool, which the blocking test clients may be occupying.
func runDetached(_ body: @escaping @Sendable () -> Void) {
    do {
        try SystemThread.spawn(name: "test-detached", body).detach()
    } catch {
        preconditionFailure("\(error)")
    }
}

/// Starts a server on an ephemeral 127.0.0.1 port, runs `body`, and stops it.
func withServer(
    _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
    handler: some HTTPRequestHandler = EchoHandler(),
    _ body: (HTTPServer) throws -> Void
) throws {
    var configuration = configuration
    configuration.host = "127.0.0.1"
    configuration.port = 0
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.stop() }
    try body(server)
}
