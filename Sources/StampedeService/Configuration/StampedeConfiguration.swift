import StampedeInventory

/// One shard's overridden settings (`shards.overrides`); nil fields keep the defaults.
public struct ShardOverride: Sendable, Equatable {
    public var batchSize: Int?
    public var maxInFlight: Int?

    public init(batchSize: Int? = nil, maxInFlight: Int? = nil) {
        self.batchSize = batchSize
        self.maxInFlight = maxInFlight
    }
}

/// Everything Stampede can be configured with: `Config/stampede.json`, then `STAMPEDE_*`
/// environment variables over it (see `ConfigurationKey.all` and docs/configuration.md).
public struct StampedeConfiguration: Sendable, Equatable {
    public var listen = "127.0.0.1:8080"
    /// Event-loop threads; 0 means one per core.
    public var threads = 0
    /// A connection moves to the thread of the shard that answers it (see `HTTPServerConfiguration.connectionsFollowAnswers`).
    public var connectionsFollowShards = true
    public var adminToken = ""
    /// HTTPS listen address; empty means no HTTPS listener.
    public var tlsListen = ""
    public var tlsCertificateFile = ""
    public var tlsPrivateKeyFile = ""
    public var tlsMinimumVersion = "1.2"
    public var tlsHandshakeTimeoutSeconds = 10.0
    public var purchaseTokenSecret = ""
    public var purchaseTokenPreviousSecret = ""
    public var purchaseTokenMaxLifetimeSeconds = 3600
    public var shardCount = 8
    public var shardMaxInFlight = 1024
    public var shardBatchSize = 128
    public var shardCommitGroupSize = 512
    /// A shard decides its next batch while a group commits (`Shard`), instead of waiting for it.
    public var shardDecidesDuringCommit = false
    public var pinnedSales: [String] = []
    public var shardOverrides: [Int: ShardOverride] = [:]
    public var sheddingAdaptive = true
    public var sheddingTargetLatencyMilliseconds = 50
    public var sheddingPipelineTolerance = 2.0
    public var sheddingMinLimit = 16
    public var sheddingBackoff = 0.9
    public var sheddingStockFactor = 2.0
    public var sheddingStockFloor = 32
    public var redisWriter = "127.0.0.1:6379"
    public var redisReader = "127.0.0.1:6379"
    /// Seed nodes of a Redis Cluster (`host:port`); empty = one Redis (`redisWriter`/`redisReader`).
    public var redisCluster: [String] = []
    public var redisClusterRefreshMilliseconds = 1000
    public var redisPoolSize = 4
    public var redisConnectTimeoutMilliseconds = 1000
    public var redisCommandTimeoutMilliseconds = 2000
    public var postgresWriter = "postgresql://stampede@127.0.0.1:5432/stampede"
    public var postgresReader = "postgresql://stampede@127.0.0.1:5432/stampede"
    public var postgresWriterPoolSize = 4
    public var postgresReaderPoolSize = 4
    public var postgresConnectTimeoutSeconds = 3
    public var replicaCheckMilliseconds = 250
    public var postgresStatementTimeoutMilliseconds = 5000
    public var postgresTCPTimeoutMilliseconds = 5000
    /// Whether group commits run on the shard reactors' own writer connections.
    public var postgresGroupCommitOnReactors = true
    public var reconcileIntervalSeconds = 5.0
    public var outboxGraceSeconds = 30.0
    public var drainTimeoutSeconds = 10.0
    public var poolAcquireTimeoutMilliseconds = 2000
    public var poolMaxWaiting = 4096
    public var maxConnections = 10_000
    public var maxHeaderBytes = 16_384
    public var maxBodyBytes = 65_536
    public var readTimeoutSeconds = 10.0
    public var idleTimeoutSeconds = 60.0
    public var maxConnectionsPerClient = 4096
    public var maxRequestsPerConnection = 10_000
    /// Addresses or CIDR blocks of load balancers whose PROXY v2 headers are believed.
    public var trustedProxies: [String] = []
    public var adminRequestsPerSecond = 5.0
    public var adminBurst = 20
    public var retryAfterSeconds = 1
    public var defaultReservationTTLSeconds = 900
    public var cacheMaxAgeSeconds = 1.0
    public var logLevel = "info"
    /// `text` (swift-log's stream format) or `json` (one JSON object per line).
    public var logFormat = "text"

    public init() {}

    /// The shard layout and shedding settings these values describe, for the inventory.
    public func inventoryTunables(into inventory: inout InventoryConfiguration) {
        inventory.shardCount = shardCount
        inventory.maxInFlightPerShard = shardMaxInFlight
        inventory.batchSize = shardBatchSize
        inventory.commitGroupSize = shardCommitGroupSize
        inventory.decidesDuringCommit = shardDecidesDuringCommit
        inventory.pinnedSales = pinnedSales
        inventory.shardOverrides = shardOverrides.mapValues {
            ShardSettings(batchSize: $0.batchSize ?? shardBatchSize, maxInFlight: $0.maxInFlight ?? shardMaxInFlight,
                          commitGroupSize: shardCommitGroupSize)
        }
        var shedding = SheddingSettings()
        shedding.adaptive = sheddingAdaptive
        shedding.targetLatencySeconds = Double(sheddingTargetLatencyMilliseconds) / 1000
        shedding.pipelineTolerance = sheddingPipelineTolerance
        shedding.minLimit = sheddingMinLimit
        shedding.backoff = sheddingBackoff
        shedding.stockFactor = sheddingStockFactor
        shedding.stockFloor = sheddingStockFloor
        inventory.shedding = shedding
    }

    /// `listen` split into host and port.
    public var listenAddress: (host: String, port: Int) {
        // Validated at load time, so the split cannot fail here.
        Self.splitHostPort(listen)!
    }

    /// `host:port` → parts; nil when it is not that shape.
    public static func splitHostPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        return (host, port)
    }
}
