/// The one-shot return path for the answer to one request.
///
/// It names its connection and the request's place in that connection's pipeline, not the
/// connection itself, so it can be carried to any thread; an answer for a connection that has
/// closed meanwhile is dropped silently.
public struct HTTPResponder: Sendable {
    let loop: EventLoop
    let connectionID: UInt64
    let sequence: UInt64

    /// Sends `response` as the answer to this responder's request. Call it once; later calls are
    /// ignored. Safe from any thread.
    public func respond(_ response: HTTPResponse) {
        loop.deliver(response, connectionID: connectionID, sequence: sequence)
    }
}
