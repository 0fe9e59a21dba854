import StampedeSystem

/// One keep-alive connection of a loop, with at most one request in flight.
///
/// Owned by its loop thread. `generation` changes with each new socket so a stale epoll event of
/// a closed socket is recognised and dropped.
final class ClientConnection {
    enum State { case closed, connecting, handshaking, idle, busy }

    let index: Int
    var fd: Int32 = -1
    /// The TLS session of an `https://` target (nil for plain HTTP).
    var tls: ClientTLSSession?
    var generation: UInt32 = 0
    var state = State.closed
    var parser = ResponseParser()
    var output: [UInt8] = []
    var written = 0
    var request: LoadRequest?
    var sentAt: UInt64 = 0
    /// When a closed connection may try again (after a refused connect).
    var reconnectAt: UInt64 = 0

    init(index: Int) {
        self.index = index
        output.reserveCapacity(512)
    }

    var token: UInt64 { UInt64(generation) << 32 | UInt64(index) }

    /// Reads from the socket, through TLS when there is a session.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        if let tls { return try tls.read(into: buffer) }
        return try System.read(fd, into: buffer)
    }

    /// Sends on the socket, through TLS when there is a session.
    func transmit(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        if let tls { return try tls.send(bytes) }
        return try System.send(fd, bytes)
    }
}
