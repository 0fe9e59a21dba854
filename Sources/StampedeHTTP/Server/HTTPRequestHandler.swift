/// The application side of the server: turns each request into exactly one response.
///
/// `handle` runs on an event-loop thread, so it must not block: no sleeping, no synchronous I/O,
/// no waiting on locks that are held for long. Answer with `responder.respond(_:)`:
///
/// - inline, before `handle` returns — the fast path: no thread hop, no wakeup;
/// - or later, from any thread — e.g. after a database call — and the answer is handed back to
///   the connection's loop.
///
/// Call `respond` exactly once per request. Answers to pipelined requests may be given in any
/// order; the server still writes them in request order.
///
/// ```swift
/// struct Hello: HTTPRequestHandler {
///     func handle(_ request: HTTPRequest, responder: HTTPResponder) {
///         responder.respond(.json(status: 200, Array(#"{"hello":"world"}"#.utf8)))
///     }
/// }
/// ```
public protocol HTTPRequestHandler: Sendable {
    /// Called on an event-loop thread; must not block. Call `responder.respond` exactly once,
    /// from any thread, now or later.
    func handle(_ request: HTTPRequest, responder: HTTPResponder)
}
