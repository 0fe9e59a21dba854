import StampedePool
import StampedeSystem
import Synchronization

/// A Redis Cluster client on hiredis: one connection pool per primary, calls routed by hash slot.
///
/// The slot map comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers without it), refreshed
/// periodically and whenever a `MOVED` shows it out of date; concurrent refreshes are coalesced,
/// so a burst of calls that all meet one `MOVED` costs one topology call. A call that a node
/// redirected or refused (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, a node that cannot be
/// reached) did not run: it is planned again — its arguments rebuilt for the node that now owns
/// the slot — within a bounded number of rounds and time. A call whose connection failed after it
/// was sent has an unknown outcome: it is never sent again here; the error is thrown.
///
/// Reads that may lag (the sale cache) can go to replicas through `replicaReads`.
///
/// Created with `reactors`, the calls to primaries run on a non-blocking connection per reactor and
/// primary (`RedisReactorClient`), on the calling reactor's own when the caller runs on one (a
/// shard on its reactor): no pool thread between a batch and its Redis call. Topology reads and
/// replica reads keep their pools.
public final class RedisClusterClient: RedisRouter {
    /// Pool sizes, timeouts and the redirect budget.
    public struct Settings: Sendable {
        /// Connections (and threads) per primary.
        public var poolSize = 4
        /// Calls that may queue per node before they fail fast.
        public var maxWaiting = 1024
        public var acquireTimeout: Duration = .seconds(1)
        public var connectTimeout: Duration = .seconds(1)
        public var commandTimeout: Duration = .seconds(2)
        /// How often the slot map and the replicas' link health are read again.
        public var refreshInterval: Duration = .seconds(1)
        /// Most rounds one batch may take (the first send plus re-plans).
        public var maxRounds = 16
        /// Longest time one batch may spend being redirected and backing off.
        public var retryBudget: Duration = .milliseconds(1500)
        /// A replica serves reads only while its link to its primary is up and it heard from the
        /// primary at most this many seconds ago.
        public var replicaMaxSilenceSeconds = 1

        public init() {}
    }

    /// Counters for `/metrics` and tests.
    public struct Statistics: Sendable, Equatable {
        /// Topology reads (`CLUSTER SHARDS` or `CLUSTER SLOTS` sent).
        public var refreshes = 0
        /// Map changes seen (by a refresh or a `MOVED`).
        public var mapChanges = 0
        public var moved = 0
        public var asks = 0
        /// `TRYAGAIN`, `CLUSTERDOWN` and unreachable nodes that made a batch wait and re-plan.
        public var retries = 0
        /// Cache reads a fresh replica served.
        public var replicaReads = 0
    }

    private struct State {
        var map = RedisClusterMap()
        /// Bumped on every map change; connections read their node's identity again when theirs
        /// is older.
        var generation: UInt64 = 1
        /// Completed refreshes: a redirected batch refreshes only if none completed since it was planned.
        var completedRefreshes = 0
        var refreshing: Task<Void, Never>?
        var periodic: Task<Void, Never>?
        var primaries: [RedisNodeAddress: RedisClient] = [:]
        /// The primaries' reactor connections, when the client runs on reactors.
        var reactorPrimaries: [RedisNodeAddress: RedisReactorClient] = [:]
        var replicas: [RedisNodeAddress: RedisClient] = [:]
        var control: [RedisNodeAddress: RedisClient] = [:]
        var freshReplicas: Set<RedisNodeAddress> = []
        var statistics = Statistics()
        var isShutdown = false
    }

    /// The seed nodes given at start.
    public let seeds: [RedisNodeAddress]
    public let settings: Settings
    /// Where calls to primaries run (empty: on the primaries' pools).
    private let reactors: [Reactor]
    private let state = Mutex(State())

    /// Creates the client; nothing connects until `start`. With `reactors`, calls to primaries run
    /// on them (the caller owns the reactors and shuts them down after `shutdown()`).
    public init(seeds: [RedisNodeAddress], settings: Settings = Settings(), reactors: [Reactor] = []) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed")
        self.seeds = seeds
        self.settings = settings
        self.reactors = reactors
    }

    deinit {
        shutdown()
    }

    /// Reads the slot map from a seed and starts the periodic refresh. Throws when no seed
    /// answers with a map that has a primary (a shard failing over at start only makes its own
    /// sales wait).
    public func start() async throws(RedisError) {
        await refreshNow()
        let covered = topology.map.coveredSlots
        guard covered > 0 else {
            throw .cluster("no seed of \(seeds) answered with a slot map that has a primary")
        }
        await checkReplicas()
        let interval = settings.refreshInterval
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.refreshNow()
                await self.checkReplicas()
            }
        }
        state.withLock { $0.periodic = task }
    }

    /// The current slot map and its generation.
    public var topology: (map: RedisClusterMap, generation: UInt64) {
        state.withLock { ($0.map, $0.generation) }
    }

    /// The counters so far.
    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Every pool's occupancy and counters, by node.
    public var poolStatistics: [(node: RedisNodeAddress, role: String, pool: PoolStatistics)] {
        let (pools, onReactors) = state.withLock { state in
            (state.primaries.map { ($0.key, "primary", $0.value) } + state.replicas.map { ($0.key, "replica", $0.value) },
             state.reactorPrimaries.map { ($0.key, $0.value) })
        }
        let figures = pools.map { ($0.0, $0.1, $0.2.statistics) } + onReactors.map { ($0.0, "primary", $0.1.statistics) }
        return figures.sorted { "\($0.0)\($0.1)" < "\($1.0)\($1.1)" }.map { (node: $0.0, role: $0.1, pool: $0.2) }
    }

    // MARK: Calls

    public nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall]) async throws -> [RedisRoutedReply] {
        guard !calls.isEmpty else { return [] }
        var plan = RedisClusterPlan(keys: calls.map(\.key))
        let deadline = ContinuousClock.now + settings.retryBudget
        var delay = Duration.milliseconds(10)
        while true {
            let (map, generation, refreshesSeen) = state.withLock { ($0.map, $0.generation, $0.completedRefreshes) }
            let (groups, unrouted) = plan.route(with: map)
            var next = RedisClusterPlan.NextRound(refreshMap: !unrouted.isEmpty, backOff: !unrouted.isEmpty)
            for (_, indexes, result) in await send(groups, calls: calls, generation: generation) {
                switch result {
                case .success(let (node, replies)):
                    let (more, moves, asks) = plan.record(replies, for: indexes, node: node)
                    next.refreshMap = next.refreshMap || more.refreshMap
                    next.backOff = next.backOff || more.backOff
                    if !moves.isEmpty || asks > 0 { note(moves: moves, asks: asks) }
                case .failure(let error):
                    guard Self.didNotRun(error) else { throw error }
                    // The node is gone or refused the connection: a failover may be under way.
                    next.refreshMap = true
                    next.backOff = true
                }
            }
            if plan.isComplete {
                return zip(plan.replies, plan.nodes).map { RedisRoutedReply(node: $1!, value: $0!) }
            }
            plan.countRound()
            guard plan.rounds < settings.maxRounds, ContinuousClock.now < deadline else {
                throw RedisError.cluster("gave up after \(plan.rounds) rounds of redirects and retries")
            }
            if next.backOff {
                state.withLock { $0.statistics.retries += 1 }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(200))
            }
            if next.refreshMap { await refresh(unlessCompletedSince: refreshesSeen) }
        }
    }

    /// Sends each group as one pipeline on its node, the groups concurrently.
    private func send(_ groups: [RedisClusterPlan.Destination: [Int]], calls: [RedisRoutedCall], generation: UInt64) async
        -> [(RedisClusterPlan.Destination, [Int], Result<(RedisNodeIdentity, [RESPValue]), any Error>)] {
        if groups.count == 1, let (destination, indexes) = groups.first {
            return [(destination, indexes, await sendGroup(destination, indexes, calls: calls, generation: generation))]
        }
        return await withTaskGroup { group in
            for (destination, indexes) in groups {
                group.addTask { (destination, indexes, await self.sendGroup(destination, indexes, calls: calls, generation: generation)) }
            }
            var results: [(RedisClusterPlan.Destination, [Int], Result<(RedisNodeIdentity, [RESPValue]), any Error>)] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    private func sendGroup(_ destination: RedisClusterPlan.Destination, _ indexes: [Int], calls: [RedisRoutedCall],
                           generation: UInt64) async -> Result<(RedisNodeIdentity, [RESPValue]), any Error> {
        if !reactors.isEmpty { return await sendGroupOnReactor(destination, indexes, calls: calls, generation: generation) }
        guard let pool = primaryPool(destination.address) else { return .failure(RedisError.pool(.shutdown)) }
        do {
            return .success(try await pool.withConnection { connection in
                let node: RedisNodeIdentity
                do {
                    node = try connection.identity(asOf: generation)
                } catch {
                    // Nothing was sent yet: report it as a connection that could not be used.
                    throw RedisError.connect("\(destination.address): reading the node's identity failed: \(error)")
                }
                var pipeline: [RedisCall] = []
                pipeline.reserveCapacity(indexes.count * (destination.asking ? 2 : 1))
                for index in indexes {
                    if destination.asking { pipeline.append(.command(["ASKING"])) }
                    pipeline.append(try calls[index].build(node))
                }
                let replies = try connection.execute(pipeline)
                guard destination.asking else { return (node, replies) }
                return (node, stride(from: 1, to: replies.count, by: 2).map { replies[$0] })
            })
        } catch let error as PoolError {
            return .failure(RedisError.pool(error))
        } catch {
            return .failure(error)
        }
    }

    /// `sendGroup` on the primary's reactor connection: the same pipeline (`ASKING` before each
    /// call of an `ASK` redirect), the node's identity read again when the map changed since.
    private func sendGroupOnReactor(_ destination: RedisClusterPlan.Destination, _ indexes: [Int], calls: [RedisRoutedCall],
                                    generation: UInt64) async -> Result<(RedisNodeIdentity, [RESPValue]), any Error> {
        guard let client = primaryReactorClient(destination.address) else { return .failure(RedisError.pool(.shutdown)) }
        var pipeline: [RedisRoutedCall] = []
        pipeline.reserveCapacity(indexes.count * (destination.asking ? 2 : 1))
        for index in indexes {
            if destination.asking { pipeline.append(RedisRoutedCall(key: "", .command(["ASKING"]))) }
            pipeline.append(calls[index])
        }
        do {
            let replies = try await client.execute(pipeline, identityAsOf: generation)
            guard let node = replies.first?.node else { return .failure(RedisError.protocolViolation("no reply to a pipeline")) }
            guard destination.asking else { return .success((node, replies.map(\.value))) }
            return .success((node, stride(from: 1, to: replies.count, by: 2).map { replies[$0].value }))
        } catch {
            return .failure(error)
        }
    }

    /// Whether a failure proves the calls never reached Redis (so they may be planned again).
    static func didNotRun(_ error: any Error) -> Bool {
        switch error as? RedisError {
        case .connect?, .pool?, .cluster?: true
        default: false
        }
    }

    /// Patches the map with what `MOVED`s said and counts the redirects.
    private func note(moves: [(slot: Int, address: RedisNodeAddress)], asks: Int) {
        state.withLock { state in
            state.statistics.asks += asks
            for move in moves {
                state.statistics.moved += 1
                if state.map.primary(forSlot: move.slot) != move.address {
                    state.map.move(slot: move.slot, to: move.address)
                    state.generation += 1
                    state.statistics.mapChanges += 1
                }
            }
        }
    }

    // MARK: Topology

    /// Reads the map again unless a refresh completed since the caller planned (`seen`); joins a
    /// refresh already running.
    func refresh(unlessCompletedSince seen: Int) async {
        let task: Task<Void, Never>? = state.withLock { state in
            if state.isShutdown || state.completedRefreshes > seen { return nil }
            if let running = state.refreshing { return running }
            let task = Task { await self.performRefresh() }
            state.refreshing = task
            return task
        }
        await task?.value
    }

    /// Reads the map again now (joining one running).
    func refreshNow() async {
        await refresh(unlessCompletedSince: state.withLock { $0.completedRefreshes })
    }

    private func performRefresh() async {
        let candidates: [RedisNodeAddress] = state.withLock { state in
            var ordered = state.map.primaries
            for node in state.map.nodes + seeds where !ordered.contains(node) { ordered.append(node) }
            return ordered
        }
        var fresh: RedisClusterMap?
        for address in candidates {
            guard let control = controlPool(address) else { break }
            state.withLock { $0.statistics.refreshes += 1 }
            do {
                let reply = try await control.command(["CLUSTER", "SHARDS"])
                fresh = try RedisClusterMap(shardsReply: reply)
            } catch RedisError.server(let message) where message.contains("unknown") || message.contains("Unknown") {
                fresh = try? RedisClusterMap(slotsReply: (try? await control.command(["CLUSTER", "SLOTS"])) ?? .null)
            } catch {
                continue
            }
            if let map = fresh, map.coveredSlots > 0 { break }
            fresh = nil
        }
        state.withLock { state in
            if let fresh, fresh != state.map {
                state.map = fresh
                state.generation += 1
                state.statistics.mapChanges += 1
            }
            state.completedRefreshes += 1
            state.refreshing = nil
        }
    }

    /// Reads each replica's link to its primary; only replicas with a live, recent link serve reads.
    private func checkReplicas() async {
        let replicas = state.withLock { $0.map.shards.flatMap(\.replicas) }
        var fresh: Set<RedisNodeAddress> = []
        for address in replicas {
            guard let control = controlPool(address),
                  let info = (try? await control.command(["INFO", "replication"]))?.string else { continue }
            if Self.isFresh(replicationInfo: info, maxSilenceSeconds: settings.replicaMaxSilenceSeconds) {
                fresh.insert(address)
            }
        }
        state.withLock { $0.freshReplicas = fresh }
    }

    /// Whether an `INFO replication` reply shows a replica whose link is up and recent.
    static func isFresh(replicationInfo info: String, maxSilenceSeconds: Int) -> Bool {
        RedisInfo.field("role", in: info) == "slave"
            && RedisInfo.field("master_link_status", in: info) == "up"
            && (Int(RedisInfo.field("master_last_io_seconds_ago", in: info)).map { $0 >= 0 && $0 <= maxSilenceSeconds } ?? false)
    }

    // MARK: Pools

    private func primaryPool(_ address: RedisNodeAddress) -> RedisClient? {
        pool(address, in: \.primaries, size: settings.poolSize, readOnly: false)
    }

    private func primaryReactorClient(_ address: RedisNodeAddress) -> RedisReactorClient? {
        state.withLock { state in
            if state.isShutdown { return nil }
            if let client = state.reactorPrimaries[address] { return client }
            let client = RedisReactorClient(reactors: reactors, host: address.host, port: address.port,
                                            connectTimeout: settings.connectTimeout, commandTimeout: settings.commandTimeout,
                                            maxPending: settings.maxWaiting)
            state.reactorPrimaries[address] = client
            return client
        }
    }

    private func controlPool(_ address: RedisNodeAddress) -> RedisClient? {
        pool(address, in: \.control, size: 1, readOnly: false)
    }

    func replicaPool(_ address: RedisNodeAddress) -> RedisClient? {
        pool(address, in: \.replicas, size: max(1, settings.poolSize / 2), readOnly: true)
    }

    private func pool(_ address: RedisNodeAddress, in pools: WritableKeyPath<State, [RedisNodeAddress: RedisClient]>,
                      size: Int, readOnly: Bool) -> RedisClient? {
        state.withLock { state in
            if state.isShutdown { return nil }
            if let pool = state[keyPath: pools][address] { return pool }
            let pool = RedisClient(host: address.host, port: address.port, poolSize: size, maxWaiting: settings.maxWaiting,
                                   acquireTimeout: settings.acquireTimeout, connectTimeout: settings.connectTimeout,
                                   commandTimeout: settings.commandTimeout, readOnlyReplica: readOnly)
            state[keyPath: pools][address] = pool
            return pool
        }
    }

    func freshReplica(forSlot slot: Int, spreading: Int) -> RedisNodeAddress? {
        state.withLock { state in
            let candidates = state.map.replicas(forSlot: slot).filter { state.freshReplicas.contains($0) }
            return candidates.isEmpty ? nil : candidates[spreading % candidates.count]
        }
    }

    func countReplicaReads(_ count: Int) {
        state.withLock { $0.statistics.replicaReads += count }
    }

    // MARK: Life cycle

    /// Whether some primary of the map answers `PING`.
    ///
    /// Not every primary: while one shard fails over, its sales are answered `503 unavailable`
    /// by the purchase path, and the sales of the other shards keep selling. A readiness check
    /// that failed with one primary would take every instance out of the balancer instead.
    public func ping() async -> Bool {
        for address in topology.map.primaries {
            if !reactors.isEmpty {
                // Over the connections purchases use (a pool per primary would be threads for PING alone).
                if let client = primaryReactorClient(address), await client.ping() { return true }
            } else if let pool = primaryPool(address), (try? await pool.command(["PING"]))?.string == "PONG" {
                return true
            }
        }
        return false
    }

    public func shutdown() {
        let (pools, onReactors) = state.withLock { state -> ([RedisClient], [RedisReactorClient]) in
            guard !state.isShutdown else { return ([], []) }
            state.isShutdown = true
            state.periodic?.cancel()
            return (Array(state.primaries.values) + Array(state.replicas.values) + Array(state.control.values),
                    Array(state.reactorPrimaries.values))
        }
        for pool in pools { pool.shutdown() }
        for client in onReactors { client.shutdown() }
    }

    /// Routes reads to a replica of each call's slot whose link is fresh, falling back to the
    /// primary: for reads that may lag by about a second (the sale cache), never for decisions.
    public var replicaReads: RedisClusterReplicaReads { RedisClusterReplicaReads(cluster: self) }
}
