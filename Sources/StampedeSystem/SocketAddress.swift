import Glibc

/// A numeric IPv4 or IPv6 socket address.
///
/// Resolution of names is deliberately absent: the server binds to a literal address (or
/// `localhost`), so starting never blocks on DNS.
public struct SocketAddress: Sendable {
    /// The address in the kernel's generic layout.
    public var storage: sockaddr_storage
    /// The number of meaningful bytes in `storage`.
    public var length: socklen_t

    /// Wraps an address returned by the kernel.
    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// Parses a numeric `host` (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`; `"localhost"` means
    /// `127.0.0.1`), or returns `nil` when it is not one.
    public init?(host: String, port: Int) {
        let numericHost = host == "localhost" ? "127.0.0.1" : host
        var storage = sockaddr_storage()
        var ipv4 = sockaddr_in()
        var ipv6 = sockaddr_in6()
        if inet_pton(AF_INET, numericHost, &ipv4.sin_addr) == 1 {
            ipv4.sin_family = sa_family_t(AF_INET)
            ipv4.sin_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: ipv4, as: sockaddr_in.self) }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        } else if inet_pton(AF_INET6, numericHost, &ipv6.sin6_addr) == 1 {
            ipv6.sin6_family = sa_family_t(AF_INET6)
            ipv6.sin6_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: ipv6, as: sockaddr_in6.self) }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        } else {
            return nil
        }
    }

    /// The first TCP address `host` resolves to (getaddrinfo(3): numeric addresses, `/etc/hosts`,
    /// DNS), or nil when it resolves to none. Blocks for as long as the lookup takes.
    public static func resolve(host: String, port: Int) -> SocketAddress? {
        if let numeric = SocketAddress(host: host, port: port) { return numeric }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else { return nil }
        defer { freeaddrinfo(results) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            let family = current.pointee.ai_family
            if (family == AF_INET || family == AF_INET6), let address = current.pointee.ai_addr {
                var storage = sockaddr_storage()
                let length = current.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
                }
                return SocketAddress(storage: storage, length: length)
            }
            entry = current.pointee.ai_next
        }
        return nil
    }

    /// The address family, `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order.
    public var port: Int {
        withUnsafeBytes(of: storage) { bytes in
            switch family {
            case AF_INET: Int(UInt16(bigEndian: bytes.load(as: sockaddr_in.self).sin_port))
            case AF_INET6: Int(UInt16(bigEndian: bytes.load(as: sockaddr_in6.self).sin6_port))
            default: 0
            }
        }
    }

    /// The same address with another port.
    public func withPort(_ port: Int) -> SocketAddress {
        var copy = self
        withUnsafeMutableBytes(of: &copy.storage) { bytes in
            let networkPort = in_port_t(UInt16(port).bigEndian)
            switch family {
            case AF_INET: bytes.storeBytes(of: networkPort, toByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_port)!, as: in_port_t.self)
            case AF_INET6: bytes.storeBytes(of: networkPort, toByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \.sin6_port)!, as: in_port_t.self)
            default: break
            }
        }
        return copy
    }
}
