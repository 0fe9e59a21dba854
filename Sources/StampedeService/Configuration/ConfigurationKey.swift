import StampedeHTTP

/// One configuration key: its name in the JSON file (dotted path), its environment variable, its
/// type and range, whether it can change without a restart, and what it means.
public struct ConfigurationKey: Sendable {
    /// How a key's value is typed and checked.
    public enum Kind: Sendable {
        case string(WritableKeyPath<StampedeConfiguration, String> & Sendable, validate: @Sendable (String) -> String?)
        case int(WritableKeyPath<StampedeConfiguration, Int> & Sendable, ClosedRange<Int>)
        case double(WritableKeyPath<StampedeConfiguration, Double> & Sendable, ClosedRange<Double>)
        case bool(WritableKeyPath<StampedeConfiguration, Bool> & Sendable)
        /// A JSON array of strings (`items` says what they are, for errors), each checked by
        /// `validate` (nil = valid, else why not); in the environment, a comma-separated list.
        case list(WritableKeyPath<StampedeConfiguration, [String]> & Sendable, items: String, validate: @Sendable (String) -> String?)
        /// `{"<shard index>": {"batch_size": N, "max_in_flight": N}}`; in the environment,
        /// `index:batch_size:max_in_flight` items separated by commas (empty fields keep the default).
        case shardOverrides(WritableKeyPath<StampedeConfiguration, [Int: ShardOverride]> & Sendable)
    }

    /// The dotted path in the file, e.g. `shards.batch_size`.
    public let name: String
    public let kind: Kind
    /// Applied by `POST /admin/config/reload` or SIGHUP without a restart.
    public let live: Bool
    public let help: String
    /// The value is a secret: never echoed in errors, logs or `/admin` answers.
    public let secret: Bool

    public init(name: String, kind: Kind, live: Bool, help: String, secret: Bool = false) {
        self.name = name
        self.kind = kind
        self.live = live
        self.help = help
        self.secret = secret
    }

    /// `STAMPEDE_` + the name in upper case with `_` for `.`: `STAMPEDE_SHARDS_BATCH_SIZE`.
    public var environmentName: String {
        "STAMPEDE_" + String(name.map { $0 == "." ? "_" : Character($0.uppercased()) })
    }

    /// The value of this key in `configuration`, as text (for diffs and docs/configuration.md).
    public func describe(_ configuration: StampedeConfiguration) -> String {
        switch kind {
        case .string(let path, _): return configuration[keyPath: path]
        case .int(let path, _): return String(configuration[keyPath: path])
        case .double(let path, _): return String(configuration[keyPath: path])
        case .bool(let path): return String(configuration[keyPath: path])
        case .list(let path, _, _): return configuration[keyPath: path].joined(separator: ",")
        case .shardOverrides(let path):
            return configuration[keyPath: path].sorted { $0.key < $1.key }
                .map { "\($0.key):\($0.value.batchSize.map(String.init) ?? ""):\($0.value.maxInFlight.map(String.init) ?? "")" }
                .joined(separator: ",")
        }
    }

    /// Copies this key's value from `source` into `target` (the others are untouched).
    public func copy(from source: StampedeConfiguration, into target: inout StampedeConfiguration) {
        switch kind {
        case .string(let path, _): target[keyPath: path] = source[keyPath: path]
        case .int(let path, _): target[keyPath: path] = source[keyPath: path]
        case .double(let path, _): target[keyPath: path] = source[keyPath: path]
        case .bool(let path): target[keyPath: path] = source[keyPath: path]
        case .list(let path, _, _): target[keyPath: path] = source[keyPath: path]
        case .shardOverrides(let path): target[keyPath: path] = source[keyPath: path]
        }
    }

    /// The value as a JSON literal, as it would be written in the file.
    public func jsonLiteral(_ configuration: StampedeConfiguration) -> String {
        switch kind {
        case .string(let path, _): return "\"" + configuration[keyPath: path] + "\""
        case .int, .double, .bool: return describe(configuration)
        case .list(let path, _, _):
            return "[" + configuration[keyPath: path].map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        case .shardOverrides(let path):
            return "{" + configuration[keyPath: path].sorted { $0.key < $1.key }.map { index, value in
                var fields: [String] = []
                if let batch = value.batchSize { fields.append("\"batch_size\": \(batch)") }
                if let limit = value.maxInFlight { fields.append("\"max_in_flight\": \(limit)") }
                return "\"\(index)\": {" + fields.joined(separator: ", ") + "}"
            }.joined(separator: ", ") + "}"
        }
    }

    /// Every key Stampede reads.
    public static let all: [ConfigurationKey] = [
        ConfigurationKey(name: "listen", kind: .string(\.listen, validate: { StampedeConfiguration.splitHostPort($0) == nil ? "must be host:port" : nil }),
                         live: false, help: "HTTP listen address, host:port."),
        ConfigurationKey(name: "threads", kind: .int(\.threads, 0...256), live: false,
                         help: "Event-loop threads; 0 = one per core. Each runs HTTP connections, and the shards i with i % threads equal to its number with their Redis and PostgreSQL connections."),
        ConfigurationKey(name: "connections_follow_shards", kind: .bool(\.connectionsFollowShards), live: false,
                         help: "A keep-alive connection whose answers keep coming from another thread's shard moves to that thread between two requests (fewer thread crossings per purchase)."),
        ConfigurationKey(name: "admin_token", kind: .string(\.adminToken, validate: { _ in nil }), live: true,
                         help: "Bearer token for /admin routes; empty disables them (every call is 401).", secret: true),
        ConfigurationKey(name: "tls.listen", kind: .string(\.tlsListen, validate: { $0.isEmpty || StampedeConfiguration.splitHostPort($0) != nil ? nil : "must be host:port or empty" }),
                         live: false, help: "HTTPS listen address, host:port, served next to `listen`; empty = no HTTPS."),
        ConfigurationKey(name: "tls.certificate_file", kind: .string(\.tlsCertificateFile, validate: { _ in nil }), live: false,
                         help: "PEM certificate chain of the HTTPS listener (server certificate first)."),
        ConfigurationKey(name: "tls.private_key_file", kind: .string(\.tlsPrivateKeyFile, validate: { _ in nil }), live: false,
                         help: "PEM private key of the HTTPS certificate."),
        ConfigurationKey(name: "tls.min_version", kind: .string(\.tlsMinimumVersion, validate: { $0 == "1.2" || $0 == "1.3" ? nil : "must be 1.2 or 1.3" }),
                         live: false, help: "Oldest TLS version accepted (1.2 or 1.3); 1.3 is always offered."),
        ConfigurationKey(name: "tls.handshake_timeout_seconds", kind: .double(\.tlsHandshakeTimeoutSeconds, 0.1...300), live: false,
                         help: "A TLS handshake not complete after this long is closed."),
        ConfigurationKey(name: "purchase_tokens.secret", kind: .string(\.purchaseTokenSecret, validate: secretValue), live: true,
                         help: "HMAC-SHA256 key shared with the storefront for sales with purchase_token_required.", secret: true),
        ConfigurationKey(name: "purchase_tokens.previous_secret", kind: .string(\.purchaseTokenPreviousSecret, validate: secretValue), live: true,
                         help: "A second accepted key, for rotation; empty = none.", secret: true),
        ConfigurationKey(name: "purchase_tokens.max_lifetime_seconds", kind: .int(\.purchaseTokenMaxLifetimeSeconds, 1...86_400), live: true,
                         help: "Tokens whose expiry lies further ahead than this are refused."),
        ConfigurationKey(name: "shards.count", kind: .int(\.shardCount, 1...4096), live: true,
                         help: "Hashed shards owning purchase traffic; a sale's shard is fnv1a64(sale_id) % count. A change drains the old shards first."),
        ConfigurationKey(name: "shards.max_in_flight", kind: .int(\.shardMaxInFlight, 1...1_000_000), live: true,
                         help: "Ceiling of purchases a shard holds at once (the adaptive limit moves below it); past it, 503 overloaded without touching Redis or PostgreSQL."),
        ConfigurationKey(name: "shards.batch_size", kind: .int(\.shardBatchSize, 1...5000), live: true,
                         help: "Most purchases one Redis decision carries (one purchase-script call per sale); 1 = no coalescing."),
        ConfigurationKey(name: "shards.commit_group_size", kind: .int(\.shardCommitGroupSize, 1...5000), live: true,
                         help: "Most orders one PostgreSQL commit carries (group commit); 1 = one commit per order."),
        ConfigurationKey(name: "shards.decide_during_commit", kind: .bool(\.shardDecidesDuringCommit), live: false,
                         help: "A shard decides its next batch while a group commits (lower latency when commits are slow) instead of waiting for the commit, so that purchases arriving meanwhile join one larger batch (fewer Redis calls and commits per purchase)."),
        ConfigurationKey(name: "shards.pinned", kind: .list(\.pinnedSales, items: "sale ids", validate: saleID), live: true,
                         help: "Sale ids that get a dedicated shard each (indices count, count+1, … in this order). A change drains the old shards first."),
        ConfigurationKey(name: "shards.overrides", kind: .shardOverrides(\.shardOverrides), live: true,
                         help: "Per-shard batch_size / max_in_flight by shard index (pinned shards included)."),
        ConfigurationKey(name: "shedding.adaptive", kind: .bool(\.sheddingAdaptive), live: true,
                         help: "Adapt each shard's in-flight limit to purchase latency (AIMD); false = fixed at shards.max_in_flight."),
        ConfigurationKey(name: "shedding.target_latency_ms", kind: .int(\.sheddingTargetLatencyMilliseconds, 1...60_000), live: true,
                         help: "Mean purchase latency (admission to answer) per window over which the adaptive limit shrinks (when also over the pipeline term)."),
        ConfigurationKey(name: "shedding.pipeline_tolerance", kind: .double(\.sheddingPipelineTolerance, 1...100), live: true,
                         help: "The adaptive limit shrinks only when mean latency is also over this multiple of the shard's pipeline time (decide start to commit), so a full pipeline is never throttled."),
        ConfigurationKey(name: "shedding.min_limit", kind: .int(\.sheddingMinLimit, 1...1_000_000), live: true,
                         help: "The adaptive limit never goes below this (nor below the shard's batch size)."),
        ConfigurationKey(name: "shedding.backoff", kind: .double(\.sheddingBackoff, 0.5...0.99), live: true,
                         help: "Multiplicative decrease of the limit after a congested window (one target latency long)."),
        ConfigurationKey(name: "shedding.stock_factor", kind: .double(\.sheddingStockFactor, 0...1000), live: true,
                         help: "Shed a purchase (503 overloaded) when its sale already has remaining units × this many purchases waiting; 0 = off."),
        ConfigurationKey(name: "shedding.stock_floor", kind: .int(\.sheddingStockFloor, 1...1_000_000), live: true,
                         help: "Purchases of a sale always allowed to wait, whatever its stock."),
        ConfigurationKey(name: "redis.writer", kind: .string(\.redisWriter, validate: hostPort), live: false,
                         help: "Redis primary, host:port (stock decisions)."),
        ConfigurationKey(name: "redis.reader", kind: .string(\.redisReader, validate: hostPort), live: false,
                         help: "Redis for cache refreshes, host:port (a replica, or the primary)."),
        ConfigurationKey(name: "redis.cluster", kind: .list(\.redisCluster, items: "host:port seeds", validate: hostPort), live: false,
                         help: "Seed nodes of a Redis Cluster, host:port each; non-empty turns cluster mode on (redis.writer and redis.reader are then unused: sales are routed by hash slot to the primaries, cache reads to fresh replicas)."),
        ConfigurationKey(name: "redis.cluster_refresh_ms", kind: .int(\.redisClusterRefreshMilliseconds, 50...600_000), live: false,
                         help: "How often the cluster's slot map and its replicas' link health are read again (MOVED also triggers a read)."),
        ConfigurationKey(name: "redis.pool_size", kind: .int(\.redisPoolSize, 1...256), live: false,
                         help: "Connections per Redis pool (the reader, each cluster node); a single Redis's writer has one non-blocking connection per reactor instead."),
        ConfigurationKey(name: "redis.connect_timeout_ms", kind: .int(\.redisConnectTimeoutMilliseconds, 10...60_000), live: false,
                         help: "Redis connect timeout."),
        ConfigurationKey(name: "redis.command_timeout_ms", kind: .int(\.redisCommandTimeoutMilliseconds, 10...60_000), live: false,
                         help: "Redis socket read/write timeout per call."),
        ConfigurationKey(name: "postgres.writer", kind: .string(\.postgresWriter, validate: nonEmpty), live: false,
                         help: "PostgreSQL primary, a libpq connection URI (orders are committed here)."),
        ConfigurationKey(name: "postgres.reader", kind: .string(\.postgresReader, validate: nonEmpty), live: false,
                         help: "PostgreSQL for order reads, a libpq URI (a replica, or the primary); misses fall back to the writer."),
        ConfigurationKey(name: "postgres.writer_pool_size", kind: .int(\.postgresWriterPoolSize, 1...256), live: false,
                         help: "Connections in the writer pool."),
        ConfigurationKey(name: "postgres.reader_pool_size", kind: .int(\.postgresReaderPoolSize, 1...256), live: false,
                         help: "Connections in the reader pool."),
        ConfigurationKey(name: "postgres.connect_timeout_seconds", kind: .int(\.postgresConnectTimeoutSeconds, 1...60), live: false,
                         help: "PostgreSQL connect timeout."),
        ConfigurationKey(name: "postgres.replica_check_ms", kind: .int(\.replicaCheckMilliseconds, 10...60_000), live: false,
                         help: "How often the reader's health and replay position are checked (read-your-writes, replica lag)."),
        ConfigurationKey(name: "postgres.statement_timeout_ms", kind: .int(\.postgresStatementTimeoutMilliseconds, 100...600_000), live: false,
                         help: "Longest a PostgreSQL statement may run (statement_timeout), so no pool thread waits forever."),
        ConfigurationKey(name: "postgres.group_commit_on_reactors", kind: .bool(\.postgresGroupCommitOnReactors), live: false,
                         help: "Group commits (the common case: new orders only) run on a non-blocking, pipelined writer connection per shard reactor instead of the writer pool; deadline: statement_timeout_ms + 1 s."),
        ConfigurationKey(name: "postgres.tcp_timeout_ms", kind: .int(\.postgresTCPTimeoutMilliseconds, 500...600_000), live: false,
                         help: "How long unacknowledged data or silent keepalives may last before a PostgreSQL connection counts as dead (tcp_user_timeout, keepalives)."),
        ConfigurationKey(name: "pools.acquire_timeout_ms", kind: .int(\.poolAcquireTimeoutMilliseconds, 1...60_000), live: false,
                         help: "How long a call waits for a pooled connection before 503 unavailable."),
        ConfigurationKey(name: "pools.max_waiting", kind: .int(\.poolMaxWaiting, 1...1_000_000), live: false,
                         help: "Calls that may wait for a pooled connection; past it they fail at once."),
        ConfigurationKey(name: "limits.max_connections", kind: .int(\.maxConnections, 1...1_000_000), live: false,
                         help: "Open HTTP connections; past it a new one gets 503 overloaded and is closed."),
        ConfigurationKey(name: "limits.max_header_bytes", kind: .int(\.maxHeaderBytes, 1024...1_048_576), live: false,
                         help: "Request line + headers; past it 431."),
        ConfigurationKey(name: "limits.max_body_bytes", kind: .int(\.maxBodyBytes, 1...16_777_216), live: false,
                         help: "Request body; past it 413 without reading it."),
        ConfigurationKey(name: "limits.read_timeout_seconds", kind: .double(\.readTimeoutSeconds, 0.1...3600), live: false,
                         help: "A request not fully received after this long gets 408 and the connection closes."),
        ConfigurationKey(name: "limits.idle_timeout_seconds", kind: .double(\.idleTimeoutSeconds, 0.1...86_400), live: false,
                         help: "An idle keep-alive connection is closed after this long."),
        ConfigurationKey(name: "limits.max_connections_per_client", kind: .int(\.maxConnectionsPerClient, 0...1_000_000), live: false,
                         help: "Open connections from one client address; past it 429 rate_limited (HTTPS: closed). 0 = no cap."),
        ConfigurationKey(name: "limits.max_requests_per_connection", kind: .int(\.maxRequestsPerConnection, 0...100_000_000), live: false,
                         help: "Requests served on one connection before it is recycled (Connection: close). 0 = no cap."),
        ConfigurationKey(name: "limits.trusted_proxies", kind: .list(\.trustedProxies, items: "addresses or CIDR blocks", validate: addressRange), live: false,
                         help: "Load balancers (addresses or CIDR blocks) whose PROXY protocol v2 header names the client of a plain HTTP connection; that client's address is used for the per-client limits, the admin limiter and the logs. A header from anyone else is answered 400. Empty = trust nobody."),
        ConfigurationKey(name: "limits.admin_requests_per_second", kind: .double(\.adminRequestsPerSecond, 0...100_000), live: true,
                         help: "Failed /admin authentications (wrong or missing token) per second per client address once the burst is spent; past it 429 rate_limited with a lock-out that doubles while failures go on. The right token is never refused. 0 = no limit."),
        ConfigurationKey(name: "limits.admin_burst", kind: .int(\.adminBurst, 1...100_000), live: true,
                         help: "Failed /admin authentications a client address may make at once before the rate applies."),
        ConfigurationKey(name: "limits.retry_after_seconds", kind: .int(\.retryAfterSeconds, 0...3600), live: true,
                         help: "Retry-After on 503 overloaded."),
        ConfigurationKey(name: "sales.default_reservation_ttl_seconds", kind: .int(\.defaultReservationTTLSeconds, 1...604_800), live: true,
                         help: "Reservation time-to-live when PUT /admin/sales omits reservation_ttl_seconds."),
        ConfigurationKey(name: "sales.cache_max_age_seconds", kind: .double(\.cacheMaxAgeSeconds, 0.01...1.0), live: false,
                         help: "Oldest cached sale GET /v1/sales/{id} may serve (the contract allows 1 s)."),
        ConfigurationKey(name: "reconciler.interval_seconds", kind: .double(\.reconcileIntervalSeconds, 0.1...3600), live: false,
                         help: "How often the reconciler runs (it also runs at start)."),
        ConfigurationKey(name: "reconciler.outbox_grace_seconds", kind: .double(\.outboxGraceSeconds, 0...3600), live: false,
                         help: "Age past which an outbox entry is stranded and the reconciler commits it; longer than any batch can take."),
        ConfigurationKey(name: "shutdown.drain_timeout_seconds", kind: .double(\.drainTimeoutSeconds, 0...600), live: false,
                         help: "On SIGTERM, how long in-flight purchases may take to finish before Stampede exits anyway."),
        ConfigurationKey(name: "log.level", kind: .string(\.logLevel, validate: { ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains($0) ? nil : "must be trace, debug, info, notice, warning, error or critical" }),
                         live: false, help: "Log level; debug adds an access line per request (request_id, route, status, duration)."),
        ConfigurationKey(name: "log.format", kind: .string(\.logFormat, validate: { ["text", "json"].contains($0) ? nil : "must be text or json" }),
                         live: false, help: "Log line format: text, or json (one JSON object per line)."),
    ]

    private static let saleID: @Sendable (String) -> String? = {
        ConfigurationLoader.isIdentifier($0) ? nil : "is not a sale id ([A-Za-z0-9._:-]{1,64})"
    }
    private static let addressRange: @Sendable (String) -> String? = {
        ClientAddressRange($0) == nil ? "is not an IP address or CIDR block (e.g. 10.0.0.0/8)" : nil
    }
    private static let hostPort: @Sendable (String) -> String? = {
        StampedeConfiguration.splitHostPort($0) == nil ? "must be host:port" : nil
    }
    private static let secretValue: @Sendable (String) -> String? = {
        $0.isEmpty || $0.utf8.count >= 16 ? nil : "must be empty or at least 16 bytes"
    }
    private static let nonEmpty: @Sendable (String) -> String? = { $0.isEmpty ? "must not be empty" : nil }
}
