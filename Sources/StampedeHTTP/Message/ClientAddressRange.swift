/// A block of client addresses in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address), for
/// `HTTPServerConfiguration.trustedProxies`.
///
/// IPv4 blocks also match IPv4-mapped IPv6 peers, as `ClientAddress` treats them as the same client.
public struct ClientAddressRange: Hashable, Sendable, CustomStringConvertible {
    private let network: ClientAddress
    /// Leading bits that must match: 0–32 for IPv4, 0–128 for IPv6.
    private let prefixLength: Int

    /// Parses `address` or `address/prefix`; nil when either part is not valid.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = ClientAddress(String(parts[0])) else { return nil }
        let maxLength = address.isIPv6 ? 128 : 32
        var length = maxLength
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maxLength).contains(parsed), !parts[1].hasPrefix("+") else { return nil }
            length = parsed
        }
        self.network = address
        self.prefixLength = length
    }

    /// Whether `address` lies in this block.
    public func contains(_ address: ClientAddress) -> Bool {
        guard address.isIPv6 == network.isIPv6 else { return false }
        if network.isIPv6 {
            return Self.leadingBitsMatch(address.high, network.high, count: min(64, prefixLength))
                && Self.leadingBitsMatch(address.low, network.low, count: max(0, prefixLength - 64))
        }
        return Self.leadingBitsMatch(address.low << 32, network.low << 32, count: prefixLength)
    }

    private static func leadingBitsMatch(_ a: UInt64, _ b: UInt64, count: Int) -> Bool {
        count == 0 || (a ^ b) >> (64 - count) == 0
    }

    /// `"10.0.0.0/8"`.
    public var description: String { "\(network)/\(prefixLength)" }
}

extension Array where Element == ClientAddressRange {
    /// Whether any block holds `address`.
    public func contains(_ address: ClientAddress) -> Bool {
        contains { $0.contains(address) }
    }
}
