/// What a Redis Cluster error reply says about where a call must go, or why it must wait.
///
/// Each of these means the call did **not** run on the node that answered, so it may be planned
/// again — with arguments built for the node it goes to next, never its old bytes.
public enum RedisRedirection: Sendable, Equatable {
    /// `MOVED slot host:port`: the slot lives on another primary now; refresh the map.
    case moved(slot: Int, address: RedisNodeAddress)
    /// `ASK slot host:port`: the slot is migrating; send `ASKING` and this one call there.
    case ask(slot: Int, address: RedisNodeAddress)
    /// `TRYAGAIN …` (a multi-key call during a migration) or `CLUSTERDOWN …` (no quorum or a
    /// slot without a primary yet): back off, then plan again.
    case retryLater(String)

    /// The redirection an error reply carries, or nil for any other reply.
    public init?(_ reply: RESPValue) {
        guard case .error(let message) = reply else { return nil }
        self.init(message: message)
    }

    /// Parses an error message such as `MOVED 3999 127.0.0.1:7002`.
    public init?(message: String) {
        if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
            self = .retryLater(message)
            return
        }
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<RedisClusterSlot.count).contains(slot),
              let address = RedisNodeAddress(String(parts[2])) else { return nil }
        switch parts[0] {
        case "MOVED": self = .moved(slot: slot, address: address)
        case "ASK": self = .ask(slot: slot, address: address)
        default: return nil
        }
    }
}

/// A Redis node's `host:port`.
public struct RedisNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` too); nil when the port is missing or out of range.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
