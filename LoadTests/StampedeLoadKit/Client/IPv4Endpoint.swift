import Glibc
import StampedeSystem

/// An IPv4 address and port (the harness targets loopback or a LAN address, never a name).
public struct IPv4Endpoint: Sendable, Equatable {
    public let host: String
    public let port: Int

    /// `nil` when `host` is not a dotted IPv4 address (`localhost` is accepted as 127.0.0.1).
    public init?(host: String, port: Int) {
        let host = host == "localhost" ? "127.0.0.1" : host
        var address = in_addr()
        guard (1...65535).contains(port), inet_pton(AF_INET, host, &address) == 1 else { return nil }
        self.host = host
        self.port = port
    }

    /// The address for `System.connect`.
    var address: SocketAddress {
        SocketAddress(host: host, port: port)!
    }

    /// Opens a non-blocking TCP socket with `TCP_NODELAY` and starts connecting; returns at once
    /// (the socket turns writable once connected, then `System.pendingError` tells the outcome).
    func startConnect() throws(SystemCallError) -> Int32 {
        let fd = try System.socket(domain: AF_INET)
        do {
            try System.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            _ = try System.connect(fd, to: address)
            return fd
        } catch {
            System.close(fd)
            throw error
        }
    }
}
