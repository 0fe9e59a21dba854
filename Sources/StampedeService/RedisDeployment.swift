import StampedePool
import StampedeRedis
import StampedeSystem

/// The Redis Stampede runs on: one primary (with an optional replica for cache reads), or a Redis
/// Cluster whose primaries own sales by hash slot (`redis.cluster`).
enum RedisDeployment: Sendable {
    case single(writer: RedisClient, reader: RedisClient)
    /// One primary whose stock decisions run on reactors (a non-blocking connection per reactor);
    /// cache refreshes stay on a pooled client.
    case reactor(writer: RedisReactorClient, reader: RedisClient)
    /// A Redis Cluster (`RedisClusterClient` follows MOVED, ASK and TRYAGAIN); with reactors, its
    /// calls to primaries run on them too.
    case cluster(RedisClusterClient)

    /// The clients `configuration` asks for; nothing connects yet. With `reactors`, a single
    /// node's writer — or a cluster's calls to its primaries — run on them (the caller owns the
    /// reactors and shuts them down after `shutdown()`).
    init(_ configuration: StampedeConfiguration, reactors: [Reactor] = [], poolSize: Int? = nil, maxWaiting: Int? = nil) {
        let acquire = Duration.milliseconds(configuration.poolAcquireTimeoutMilliseconds)
        let connect = Duration.milliseconds(configuration.redisConnectTimeoutMilliseconds)
        let command = Duration.milliseconds(configuration.redisCommandTimeoutMilliseconds)
        if !configuration.redisCluster.isEmpty {
            var settings = RedisClusterClient.Settings()
            settings.poolSize = poolSize ?? configuration.redisPoolSize
            settings.maxWaiting = maxWaiting ?? configuration.poolMaxWaiting
            settings.acquireTimeout = acquire
            settings.connectTimeout = connect
            settings.commandTimeout = command
            settings.refreshInterval = .milliseconds(configuration.redisClusterRefreshMilliseconds)
            self = .cluster(RedisClusterClient(seeds: configuration.redisCluster.compactMap(RedisNodeAddress.init), settings: settings,
                                               reactors: reactors))
            return
        }
        func client(_ address: String) -> RedisClient {
            let (host, port) = StampedeConfiguration.splitHostPort(address)!
            return RedisClient(host: host, port: port, poolSize: poolSize ?? configuration.redisPoolSize,
                               maxWaiting: maxWaiting ?? configuration.poolMaxWaiting, acquireTimeout: acquire,
                               connectTimeout: connect, commandTimeout: command)
        }
        if !reactors.isEmpty {
            let (host, port) = StampedeConfiguration.splitHostPort(configuration.redisWriter)!
            let writer = RedisReactorClient(reactors: reactors, host: host, port: port, connectTimeout: connect,
                                            commandTimeout: command, maxPending: maxWaiting ?? configuration.poolMaxWaiting)
            self = .reactor(writer: writer, reader: client(configuration.redisReader))
            return
        }
        let writer = client(configuration.redisWriter)
        let reader = configuration.redisReader == configuration.redisWriter ? writer : client(configuration.redisReader)
        self = .single(writer: writer, reader: reader)
    }

    /// Where stock decisions go.
    var router: any RedisRouter {
        switch self {
        case .single(let writer, _): writer
        case .reactor(let writer, _): writer
        case .cluster(let cluster): cluster
        }
    }

    /// Where cache refreshes go (a replica when there is a fresh one).
    var reader: any RedisRouter {
        switch self {
        case .single(_, let reader): reader
        case .reactor(_, let reader): reader
        case .cluster(let cluster): cluster.replicaReads
        }
    }

    /// What the configuration names, for errors and logs.
    static func describe(_ configuration: StampedeConfiguration) -> String {
        configuration.redisCluster.isEmpty ? configuration.redisWriter : "cluster " + configuration.redisCluster.joined(separator: ",")
    }

    /// Connects where a first connection is needed (the cluster's slot map) and checks that
    /// every primary answers. Throws a reason when it does not.
    func start() async throws(RedisError) {
        if case .cluster(let cluster) = self { try await cluster.start() }
        guard await router.ping() else { throw .connect("no answer to PING") }
    }

    func ping() async -> Bool { await router.ping() }

    func shutdown() {
        switch self {
        case .single(let writer, let reader):
            writer.shutdown()
            if reader !== writer { reader.shutdown() }
        case .reactor(let writer, let reader):
            writer.shutdown()
            reader.shutdown()
        case .cluster(let cluster):
            cluster.shutdown()
        }
    }

    /// Each pool's figures, named for `/metrics` (`redis-writer`, `redis-reader`, or
    /// `redis-primary-HOST:PORT` / `redis-replica-HOST:PORT` in a cluster).
    var pools: [(name: String, item: PoolStatistics)] {
        switch self {
        case .single(let writer, let reader):
            return [("redis-writer", writer.statistics)] + (reader !== writer ? [("redis-reader", reader.statistics)] : [])
        case .reactor(let writer, let reader):
            return [("redis-writer", writer.statistics), ("redis-reader", reader.statistics)]
        case .cluster(let cluster):
            return cluster.poolStatistics.map { ("redis-\($0.role)-\($0.node)", $0.pool) }
        }
    }
}
