/// The routing of one batch of calls over a Redis Cluster, round by round: where each call goes,
/// which replies are final, and what the redirected ones need before they are planned again.
///
/// Pure: the driver (`RedisClusterClient`) sends each round and feeds the replies back.
struct RedisClusterPlan {
    /// Where one call goes in the next round.
    struct Destination: Hashable {
        var address: RedisNodeAddress
        /// Send `ASKING` first: the slot is being imported by this node.
        var asking: Bool
    }

    /// What the driver must do before the next round.
    struct NextRound: Equatable {
        /// A `MOVED` said the map is out of date: refresh it (coalesced) before planning again.
        var refreshMap = false
        /// `TRYAGAIN`/`CLUSTERDOWN`, or a node that could not be reached: wait before planning again.
        var backOff = false
    }

    let slots: [Int]
    private(set) var replies: [RESPValue?]
    private(set) var nodes: [RedisNodeIdentity?]
    private var askTargets: [Int: RedisNodeAddress] = [:]
    /// Rounds sent so far.
    private(set) var rounds = 0

    init(keys: [String]) {
        slots = keys.map(RedisClusterSlot.of)
        replies = Array(repeating: nil, count: keys.count)
        nodes = Array(repeating: nil, count: keys.count)
    }

    /// Whether every call has its final reply.
    var isComplete: Bool { !replies.contains { $0 == nil } }

    /// The calls still without a final reply, grouped by where they go under `map`. Calls whose
    /// slot has no known primary are returned apart (`unrouted`).
    func route(with map: RedisClusterMap) -> (groups: [Destination: [Int]], unrouted: [Int]) {
        var groups: [Destination: [Int]] = [:]
        var unrouted: [Int] = []
        for index in replies.indices where replies[index] == nil {
            if let target = askTargets[index] {
                groups[Destination(address: target, asking: true), default: []].append(index)
            } else if let primary = map.primary(forSlot: slots[index]) {
                groups[Destination(address: primary, asking: false), default: []].append(index)
            } else {
                unrouted.append(index)
            }
        }
        return (groups, unrouted)
    }

    /// Records the replies of one round's group; returns what the next round needs, the `MOVED`s
    /// seen (for the driver to patch its map) and how many calls were answered `ASK`.
    mutating func record(_ groupReplies: [RESPValue], for indexes: [Int], node: RedisNodeIdentity)
        -> (next: NextRound, moves: [(slot: Int, address: RedisNodeAddress)], asks: Int) {
        var next = NextRound()
        var moves: [(Int, RedisNodeAddress)] = []
        var asks = 0
        for (index, reply) in zip(indexes, groupReplies) {
            askTargets[index] = nil
            switch RedisRedirection(reply) {
            case .moved(let slot, let address)?:
                next.refreshMap = true
                moves.append((slot, address))
            case .ask(_, let address)?:
                askTargets[index] = address
                asks += 1
            case .retryLater?:
                next.backOff = true
            case nil:
                replies[index] = reply
                nodes[index] = node
            }
        }
        return (next, moves, asks)
    }

    /// Counts a round sent.
    mutating func countRound() { rounds += 1 }
}
