/// The HTTP versions the server speaks.
///
/// Only HTTP/1.0 and HTTP/1.1 are accepted; the version decides the keep-alive default.
public enum HTTPVersion: Sendable, Equatable {
    /// HTTP/1.0: connections close after each answer unless the client asks for keep-alive.
    case http1_0
    /// HTTP/1.1: connections stay open unless either side sends `Connection: close`.
    case http1_1
}
