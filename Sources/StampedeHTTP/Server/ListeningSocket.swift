import StampedeSystem
import Glibc

/// Creates the listening sockets of the event loops.
enum ListeningSocket {
    /// The accept backlog per listener; the kernel caps it at `net.core.somaxconn`.
    static let backlog: Int32 = 4096

    /// A non-blocking socket bound to `address` with `SO_REUSEPORT`, listening.
    ///
    /// Every loop binds its own socket to the same address; `SO_REUSEPORT` lets the kernel spread
    /// incoming connections across them, so loops never share an accept queue or a lock.
    static func open(_ address: SocketAddress) throws(SystemCallError) -> Int32 {
        let fd = try System.socket(domain: address.family)
        do {
            try System.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            try System.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1)
            try System.bind(fd, to: address)
            try System.listen(fd, backlog: backlog)
            return fd
        } catch {
            System.close(fd)
            throw error
        }
    }
}
