/// Reads from fresh replicas of a `RedisClusterClient` (see `replicaReads`).
public struct RedisClusterReplicaReads: RedisRouter {
    let cluster: RedisClusterClient

    public nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall]) async throws -> [RedisRoutedReply] {
        var groups: [RedisNodeAddress: [Int]] = [:]
        var viaPrimary: [Int] = []
        for (index, call) in calls.enumerated() {
            if let replica = cluster.freshReplica(forSlot: RedisClusterSlot.of(call.key), spreading: index) {
                groups[replica, default: []].append(index)
            } else {
                viaPrimary.append(index)
            }
        }
        var replies = [RedisRoutedReply?](repeating: nil, count: calls.count)
        for (address, indexes) in groups {
            guard let pool = cluster.replicaPool(address) else { viaPrimary += indexes; continue }
            let answered = try? await pool.withConnection { connection in
                let node = connection.identity
                return (node, try connection.execute(try indexes.map { try calls[$0].build(node) }))
            }
            guard let (node, values) = answered else { viaPrimary += indexes; continue }
            var served = 0
            for (index, value) in zip(indexes, values) {
                if RedisRedirection(value) != nil || value.errorMessage != nil {
                    viaPrimary.append(index)
                } else {
                    replies[index] = RedisRoutedReply(node: node, value: value)
                    served += 1
                }
            }
            cluster.countReplicaReads(served)
        }
        if !viaPrimary.isEmpty {
            let answered = try await cluster.execute(viaPrimary.map { calls[$0] })
            for (index, reply) in zip(viaPrimary, answered) { replies[index] = reply }
        }
        return replies.map { $0! }
    }

    public func ping() async -> Bool { await cluster.ping() }

    /// The cluster client owns the pools: shut it down instead.
    public func shutdown() {}
}
