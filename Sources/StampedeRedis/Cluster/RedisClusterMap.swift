/// One shard of a Redis Cluster: a primary and its replicas, serving some slot ranges.
public struct RedisClusterShard: Sendable, Equatable {
    /// The primary's address; nil while the shard has no healthy primary (a failover is running).
    public var primary: RedisNodeAddress?
    /// Replicas that report themselves online.
    public var replicas: [RedisNodeAddress]

    public init(primary: RedisNodeAddress?, replicas: [RedisNodeAddress]) {
        self.primary = primary
        self.replicas = replicas
    }
}

/// Which shard serves each of the 16384 slots, as one node described the cluster.
///
/// A value: built from a `CLUSTER SHARDS` (or, on servers without it, `CLUSTER SLOTS`) reply,
/// patched slot by slot when a `MOVED` says more than the last refresh knew.
public struct RedisClusterMap: Sendable, Equatable {
    /// The shards, in the order the reply listed them.
    public private(set) var shards: [RedisClusterShard]
    /// For each slot, the index in `shards` of the shard that serves it (`unassigned` if none).
    private var owners: [UInt16]
    static let unassigned = UInt16.max

    /// A map that knows no slot.
    public init() {
        shards = []
        owners = Array(repeating: Self.unassigned, count: RedisClusterSlot.count)
    }

    /// The primary serving `slot`, nil when no healthy primary is known for it.
    public func primary(forSlot slot: Int) -> RedisNodeAddress? {
        let owner = owners[slot]
        return owner == Self.unassigned ? nil : shards[Int(owner)].primary
    }

    /// The replicas of the shard serving `slot`.
    public func replicas(forSlot slot: Int) -> [RedisNodeAddress] {
        let owner = owners[slot]
        return owner == Self.unassigned ? [] : shards[Int(owner)].replicas
    }

    /// Every primary, once each.
    public var primaries: [RedisNodeAddress] { shards.compactMap(\.primary) }

    /// Every node the map names (primaries and replicas), once each.
    public var nodes: [RedisNodeAddress] {
        var seen: [RedisNodeAddress] = []
        for shard in shards {
            for node in (shard.primary.map { [$0] } ?? []) + shard.replicas where !seen.contains(node) { seen.append(node) }
        }
        return seen
    }

    /// How many slots have a primary.
    public var coveredSlots: Int {
        owners.reduce(0) { $0 + ($1 != Self.unassigned && shards[Int($1)].primary != nil ? 1 : 0) }
    }

    /// Records what a `MOVED` said: `slot` is served by the primary at `address` now.
    public mutating func move(slot: Int, to address: RedisNodeAddress) {
        if let index = shards.firstIndex(where: { $0.primary == address }) {
            owners[slot] = UInt16(index)
        } else {
            shards.append(RedisClusterShard(primary: address, replicas: []))
            owners[slot] = UInt16(shards.count - 1)
        }
    }

    /// Why a topology reply could not be read.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case unexpectedShape(String)

        public var description: String {
            switch self {
            case .unexpectedShape(let what): "unexpected cluster topology reply: \(what)"
            }
        }
    }

    /// Reads a `CLUSTER SHARDS` reply (Redis 7): per shard, `slots` as start/end pairs and `nodes`
    /// as field/value arrays with `ip`, `endpoint`, `port`, `role` and `health`. Only nodes whose
    /// health is `online` are used; a shard whose primary is not online has no primary.
    public init(shardsReply reply: RESPValue) throws(ParseError) {
        self.init()
        guard let shardReplies = reply.array else { throw .unexpectedShape("CLUSTER SHARDS is not an array") }
        for shardReply in shardReplies {
            let fields = shardReply.fields
            guard let slotBounds = fields["slots"]?.array, let nodeReplies = fields["nodes"]?.array else {
                throw .unexpectedShape("a shard without slots or nodes")
            }
            var shard = RedisClusterShard(primary: nil, replicas: [])
            for nodeReply in nodeReplies {
                let node = nodeReply.fields
                guard node["health"]?.string == "online", let address = Self.address(node) else { continue }
                if node["role"]?.string == "master" { shard.primary = address } else { shard.replicas.append(address) }
            }
            try add(shard, slotBounds: slotBounds.map(\.int))
        }
    }

    /// Reads a `CLUSTER SLOTS` reply: per range `[start, end, [ip, port, id, …], replica…]`.
    public init(slotsReply reply: RESPValue) throws(ParseError) {
        self.init()
        guard let ranges = reply.array else { throw .unexpectedShape("CLUSTER SLOTS is not an array") }
        for range in ranges {
            guard let items = range.array, items.count >= 3 else { throw .unexpectedShape("a short slot range") }
            let nodes = items.dropFirst(2).compactMap { item -> RedisNodeAddress? in
                guard let node = item.array, node.count >= 2, let host = node[0].string, !host.isEmpty,
                      let port = node[1].int else { return nil }
                return RedisNodeAddress(host: host, port: Int(port))
            }
            guard let primary = nodes.first else { throw .unexpectedShape("a slot range without a primary") }
            let shard = RedisClusterShard(primary: primary, replicas: Array(nodes.dropFirst()))
            if let index = shards.firstIndex(where: { $0.primary == primary }) {
                try assign(index, slotBounds: [items[0].int, items[1].int])
            } else {
                try add(shard, slotBounds: [items[0].int, items[1].int])
            }
        }
    }

    private mutating func add(_ shard: RedisClusterShard, slotBounds: [Int64?]) throws(ParseError) {
        shards.append(shard)
        try assign(shards.count - 1, slotBounds: slotBounds)
    }

    private mutating func assign(_ index: Int, slotBounds: [Int64?]) throws(ParseError) {
        guard slotBounds.count % 2 == 0 else { throw .unexpectedShape("an odd slot bound list") }
        var position = 0
        while position < slotBounds.count {
            guard let start = slotBounds[position], let end = slotBounds[position + 1], start >= 0, start <= end,
                  end < RedisClusterSlot.count else { throw .unexpectedShape("slot range out of bounds") }
            for slot in Int(start)...Int(end) { owners[slot] = UInt16(index) }
            position += 2
        }
    }

    /// A node's address: its `endpoint` when it announces one, else its `ip`; plain `port`.
    private static func address(_ node: [String: RESPValue]) -> RedisNodeAddress? {
        guard let port = node["port"]?.int, port > 0 else { return nil }
        let endpoint = node["endpoint"]?.string ?? ""
        let host = endpoint.isEmpty || endpoint == "?" ? (node["ip"]?.string ?? "") : endpoint
        return host.isEmpty ? nil : RedisNodeAddress(host: host, port: Int(port))
    }
}
