import Glibc
import StampedeSystem

/// The IP address a connection comes from (without the port), as a small value: cheap to copy into
/// every request and to use as a dictionary key for per-address limits.
///
/// IPv4 addresses and IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the same client.
public struct ClientAddress: Hashable, Sendable, CustomStringConvertible {
    /// The first 8 bytes of an IPv6 address; 0 for IPv4.
    let high: UInt64
    /// The last 8 bytes of an IPv6 address, or the IPv4 address in its low 4 bytes.
    let low: UInt64
    let isIPv6: Bool

    /// An address nobody connects from, for requests built in tests.
    public static let unspecified = ClientAddress(high: 0, low: 0, isIPv6: false)

    private init(high: UInt64, low: UInt64, isIPv6: Bool) {
        self.high = high
        self.low = low
        self.isIPv6 = isIPv6
    }

    /// An IPv4 address from its 32 bits in host order.
    init(ipv4: UInt32) {
        self.init(high: 0, low: UInt64(ipv4), isIPv6: false)
    }

    /// An IPv6 address from its two 64-bit halves in host order; an IPv4-mapped address is the
    /// IPv4 client.
    init(ipv6High high: UInt64, low: UInt64) {
        if high == 0 && low >> 32 == 0xFFFF {
            self.init(high: 0, low: low & 0xFFFF_FFFF, isIPv6: false)
        } else {
            self.init(high: high, low: low, isIPv6: true)
        }
    }

    /// Parses a numeric IPv4 or IPv6 address; nil for anything else.
    public init?(_ text: String) {
        guard let address = SocketAddress(host: text, port: 0) else { return nil }
        self.init(address)
    }

    /// The address of a peer as `accept` reported it; `.unspecified` for other families.
    init(_ address: SocketAddress) {
        self = withUnsafeBytes(of: address.storage) { bytes in
            switch address.family {
            case AF_INET:
                let raw = bytes.load(fromByteOffset: MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!, as: UInt32.self)
                return ClientAddress(high: 0, low: UInt64(UInt32(bigEndian: raw)), isIPv6: false)
            case AF_INET6:
                let offset = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
                let high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                return ClientAddress(ipv6High: high, low: low)
            default:
                return .unspecified
            }
        }
    }

    /// `"127.0.0.1"` or `"::1"`.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if isIPv6 {
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { bytes in
                bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        } else {
            var address = in_addr(s_addr: UInt32(truncatingIfNeeded: low).bigEndian)
            _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
