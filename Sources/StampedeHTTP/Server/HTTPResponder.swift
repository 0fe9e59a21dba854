/// The one-shot return path for the answer to one request.
///
/// It names its connection and the request's place in that connection's pipeline, not the
/// connection itself, so it can be carried to any thread; an answer for a connection that has
/// closed meanwhile is dropped silently.
public struct HTTPResponder: Sendable {
    let loop: EventLoop
    let connectionID: UInt64
    let sequence: UInt64
    /// When the request was handed to its handler, on the monotonic clock (`MonotonicClock.now()`
    /// nanoseconds): the time its loop woke up for the bytes that completed it, or for the answer
    /// that let it out of the pipeline. A handler starts its latency here instead of reading the
    /// clock again; it is earlier by the loop's work before the handler ran, never later.
    public let dispatchedAtNanos: UInt64

    /// Sends `response` as the answer to this responder's request. Call it once; later calls are
    /// ignored. Safe from any thread.
    public func respond(_ response: HTTPResponse) {
        loop.deliver(response, connectionID: connectionID, sequence: sequence)
    }
}
