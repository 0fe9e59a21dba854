/// Every family `/metrics` can show. docs/observability.md, Config/alerts.yml, the Grafana
/// dashboard and the load tools name these families: a rename here is a change of the contract.
extension MetricFamily {
    // MARK: Instruments (recorded as things happen, in the swift-metrics registry)

    /// Every answer: count and latency, by route and status.
    public static let httpRequestDuration = MetricFamily(
        "stampede_http_request_duration_seconds", .histogram, nil, labels: ["route", "status"], presence: .afterFirstUse)
    /// Purchases by how they ended (`ServiceMetrics.PurchaseOutcomeName`).
    public static let purchases = MetricFamily("stampede_purchases_total", .counter, nil, labels: ["outcome"])
    /// Requests refused by a limit against abuse (`admin_rate`, `purchase_token_expired`, …).
    public static let refused = MetricFamily("stampede_refused_total", .counter, nil, labels: ["reason"], presence: .afterFirstUse)
    /// Purchases shed with `503 overloaded`, by gate (`Admission.reason`).
    public static let shed = MetricFamily("stampede_shed_total", .counter, nil, labels: ["reason"])
    /// Purchases per Redis decision.
    public static let purchaseBatchSize = MetricFamily("stampede_purchase_batch_size", .histogram, nil)
    /// Orders per PostgreSQL group commit.
    public static let commitGroupSize = MetricFamily("stampede_commit_group_size", .histogram, nil)
    /// Group commits that failed.
    public static let commitGroupsFailed = MetricFamily("stampede_commit_groups_failed_total", .counter, nil)
    /// Time of each Redis decision.
    public static let redisBatchDuration = MetricFamily("stampede_redis_batch_seconds", .histogram, nil)
    /// Time of each PostgreSQL group commit.
    public static let postgresBatchDuration = MetricFamily("stampede_postgres_batch_seconds", .histogram, nil)

    // MARK: The HTTP server (read at scrape time)

    public static let httpOpenConnections = MetricFamily(
        "stampede_http_open_connections", .gauge, "Open HTTP connections.")
    public static let httpConnectionsAccepted = MetricFamily(
        "stampede_http_connections_accepted_total", .counter, "HTTP connections accepted.")
    public static let httpConnectionsRejected = MetricFamily(
        "stampede_http_connections_rejected_total", .counter, "Connections refused over limits.max_connections (503 overloaded).")
    public static let httpParseErrors = MetricFamily(
        "stampede_http_parse_errors_total", .counter, "Requests refused as malformed (400/411/413/431).")
    public static let httpTimeouts = MetricFamily(
        "stampede_http_timeouts_total", .counter, "Connections closed by the read or idle timeout.")
    public static let httpConnectionsRejectedPerClient = MetricFamily(
        "stampede_http_connections_rejected_per_client_total", .counter, "Connections refused over limits.max_connections_per_client.")
    public static let httpConnectionsRecycled = MetricFamily(
        "stampede_http_connections_recycled_total", .counter, "Connections closed after limits.max_requests_per_connection requests.")
    public static let httpConnectionsMoved = MetricFamily(
        "stampede_http_connections_moved_total", .counter, "Connections moved to the thread of the shard that kept answering them (connections_follow_shards).")
    public static let tlsHandshakes = MetricFamily(
        "stampede_tls_handshakes_total", .counter, "TLS handshakes completed.")
    public static let tlsHandshakeFailures = MetricFamily(
        "stampede_tls_handshake_failures_total", .counter, "TLS handshakes that failed (including plain HTTP on the HTTPS port).")
    public static let tlsHandshakeTimeouts = MetricFamily(
        "stampede_tls_handshake_timeouts_total", .counter, "TLS handshakes closed by tls.handshake_timeout_seconds.")
    public static let limit = MetricFamily(
        "stampede_limit", .gauge, "The configured limits (0 = no cap).", labels: ["limit"])

    // MARK: Connection pools (read at scrape time)

    public static let poolSize = MetricFamily("stampede_pool_size", .gauge, "Connections a pool may hold.", labels: ["pool"])
    public static let poolBusy = MetricFamily("stampede_pool_busy", .gauge, "Connections running a call.", labels: ["pool"])
    public static let poolWaiting = MetricFamily("stampede_pool_waiting", .gauge, "Calls waiting for a connection.", labels: ["pool"])
    public static let poolConnected = MetricFamily("stampede_pool_connected", .gauge, "Connections currently open.", labels: ["pool"])
    public static let poolCalls = MetricFamily("stampede_pool_calls_total", .counter, "Calls run by the pool.", labels: ["pool"])
    public static let poolFailedCalls = MetricFamily("stampede_pool_failed_calls_total", .counter, "Calls that failed.", labels: ["pool"])
    public static let poolAcquireTimeouts = MetricFamily(
        "stampede_pool_acquire_timeouts_total", .counter, "Calls that waited past the acquire timeout.", labels: ["pool"])
    public static let poolRejected = MetricFamily(
        "stampede_pool_rejected_total", .counter, "Calls refused because too many were waiting.", labels: ["pool"])
    public static let poolReconnects = MetricFamily("stampede_pool_reconnects_total", .counter, "Reconnections.", labels: ["pool"])
    public static let poolCallDuration = MetricFamily(
        "stampede_pool_call_duration_seconds", .histogram,
        "How long each Redis or PostgreSQL call held a pooled connection (connect included), by pool.", labels: ["pool"])

    // MARK: Redis Cluster (read at scrape time)

    public static let redisClusterPrimaries = MetricFamily(
        "stampede_redis_cluster_primaries", .gauge, "Primaries in the Redis Cluster's slot map.", presence: .redisCluster)
    public static let redisClusterRefreshes = MetricFamily(
        "stampede_redis_cluster_refreshes_total", .counter, "Slot map reads (CLUSTER SHARDS or CLUSTER SLOTS sent).",
        presence: .redisCluster)
    public static let redisClusterMapChanges = MetricFamily(
        "stampede_redis_cluster_map_changes_total", .counter, "Changes of the slot map seen (by a refresh or a MOVED).",
        presence: .redisCluster)
    public static let redisClusterRedirects = MetricFamily(
        "stampede_redis_cluster_redirects_total", .counter, "Calls redirected by the cluster and planned again, by kind.",
        labels: ["kind"], presence: .redisCluster)
    public static let redisClusterRetries = MetricFamily(
        "stampede_redis_cluster_retries_total", .counter,
        "Batches that waited and planned again (TRYAGAIN, CLUSTERDOWN, a node unreachable).", presence: .redisCluster)
    public static let redisClusterReplicaReads = MetricFamily(
        "stampede_redis_cluster_replica_reads_total", .counter, "Cache reads served by a replica whose link is fresh.",
        presence: .redisCluster)

    // MARK: The process (read at scrape time)

    /// Read from `/proc/self/statm` (so absent where `/proc` is).
    public static let processResidentMemory = MetricFamily(
        "process_resident_memory_bytes", .gauge, "Resident memory of the process (for soak runs' drift).")

    // MARK: The PostgreSQL reader (read at scrape time)

    public static let postgresReads = MetricFamily(
        "stampede_postgres_reads_total", .counter, "Order reads by the pool that served them and why.", labels: ["target", "reason"])
    public static let postgresReplicaUp = MetricFamily(
        "stampede_postgres_replica_up", .gauge, "1 when the reader answered its last health check and call.")
    public static let postgresReplicaInRecovery = MetricFamily(
        "stampede_postgres_replica_in_recovery", .gauge, "1 when the reader is a streaming replica (pg_is_in_recovery()).")
    public static let postgresReplicaLagBytes = MetricFamily(
        "stampede_postgres_replica_lag_bytes", .gauge, "WAL bytes the replica had not replayed at the last check.")
    public static let postgresReplicaLagSeconds = MetricFamily(
        "stampede_postgres_replica_lag_seconds", .gauge, "Replay delay the replica reports (0 when caught up).")
    public static let postgresReplicaChecks = MetricFamily(
        "stampede_postgres_replica_checks_total", .counter, "Replica health checks, by result.", labels: ["result"])
    public static let postgresReadYourWritesPending = MetricFamily(
        "stampede_postgres_read_your_writes_pending", .gauge, "Orders and users written and not yet known to be on the replica.")

    // MARK: Shards (read at scrape time)

    public static let shardQueueDepth = MetricFamily(
        "stampede_shard_queue_depth", .gauge, "Purchases waiting for the next batch.", labels: ["shard"])
    public static let shardInFlight = MetricFamily(
        "stampede_shard_in_flight", .gauge, "Purchases admitted and not yet answered.", labels: ["shard"])
    public static let shardMaxInFlight = MetricFamily(
        "stampede_shard_max_in_flight", .gauge, "In-flight limit past which purchases are shed.", labels: ["shard"])
    public static let shardRequests = MetricFamily(
        "stampede_shard_requests_total", .counter, "Purchases processed by the shard.", labels: ["shard"])
    public static let shardShed = MetricFamily(
        "stampede_shard_shed_total", .counter, "Purchases shed by the shard (503 overloaded).", labels: ["shard"])
    public static let shardBatches = MetricFamily(
        "stampede_shard_batches_total", .counter, "Redis decisions (batches) made by the shard.", labels: ["shard"])
    public static let shardCommitQueueDepth = MetricFamily(
        "stampede_shard_commit_queue_depth", .gauge, "Reservations waiting for the next group commit.", labels: ["shard"])
    public static let shardCommitGroups = MetricFamily(
        "stampede_shard_commit_groups_total", .counter, "PostgreSQL group commits made by the shard.", labels: ["shard"])
    public static let shardCommittedOrders = MetricFamily(
        "stampede_shard_committed_orders_total", .counter, "Order rows the shard's group commits carried.", labels: ["shard"])
    public static let shardLimitCeiling = MetricFamily(
        "stampede_shard_limit_ceiling", .gauge, "Configured ceiling of the adaptive in-flight limit.", labels: ["shard"])
    public static let shardStockShed = MetricFamily(
        "stampede_shard_stock_shed_total", .counter, "Purchases shed for stock (waiting > remaining units × stock factor).",
        labels: ["shard"])
    public static let shardHot = MetricFamily(
        "stampede_shard_hot", .gauge, "1 when /admin/shards flags the shard hot.", labels: ["shard"])
    public static let shardPurchaseP50 = MetricFamily(
        "stampede_shard_purchase_p50_seconds", .gauge,
        "Median purchase latency (admission to answer) over the last 10-20 s (bucket bound).", labels: ["shard"])
    public static let shardPurchaseP99 = MetricFamily(
        "stampede_shard_purchase_p99_seconds", .gauge,
        "p99 purchase latency (admission to answer) over the last 10-20 s (bucket bound).", labels: ["shard"])

    // MARK: Background work, readiness, sales, build (read at scrape time)

    /// By `ReconcileReport.Kind` raw value.
    public static let reconcilerRepairs = MetricFamily(
        "stampede_reconciler_repairs_total", .counter, "What background work repaired, by kind.", labels: ["kind"])
    public static let ready = MetricFamily(
        "stampede_ready", .gauge,
        "1 when /health/ready would answer 200 (the stores answered the last check, at most 2 s ago, and the instance is not draining).")
    public static let dependencyUp = MetricFamily(
        "stampede_dependency_up", .gauge, "1 when the store answered the last readiness check.", labels: ["dependency"])
    public static let saleUnitsAvailable = MetricFamily(
        "stampede_sale_units_available", .gauge,
        "Units left to sell per sale (as cached, at most sales.cache_max_age_seconds old), for the sales this instance served in the last minute.",
        labels: ["sale"])
    public static let buildInfo = MetricFamily(
        "stampede_build_info", .gauge, "Always 1; the labels say which build runs.", labels: ["version", "configuration", "swift"])

    /// Every family, in no particular order (the exposition's order is the code's).
    public static let catalogue: [MetricFamily] = [
        httpRequestDuration, purchases, refused, shed, purchaseBatchSize, commitGroupSize, commitGroupsFailed,
        redisBatchDuration, postgresBatchDuration,
        httpOpenConnections, httpConnectionsAccepted, httpConnectionsRejected, httpParseErrors, httpTimeouts,
        httpConnectionsRejectedPerClient, httpConnectionsRecycled, httpConnectionsMoved, tlsHandshakes, tlsHandshakeFailures, tlsHandshakeTimeouts, limit,
        poolSize, poolBusy, poolWaiting, poolConnected, poolCalls, poolFailedCalls, poolAcquireTimeouts, poolRejected,
        poolReconnects, poolCallDuration,
        redisClusterPrimaries, redisClusterRefreshes, redisClusterMapChanges, redisClusterRedirects, redisClusterRetries,
        redisClusterReplicaReads,
        processResidentMemory,
        postgresReads, postgresReplicaUp, postgresReplicaInRecovery, postgresReplicaLagBytes, postgresReplicaLagSeconds,
        postgresReplicaChecks, postgresReadYourWritesPending,
        shardQueueDepth, shardInFlight, shardMaxInFlight, shardRequests, shardShed, shardBatches, shardCommitQueueDepth,
        shardCommitGroups, shardCommittedOrders, shardLimitCeiling, shardStockShed, shardHot, shardPurchaseP50, shardPurchaseP99,
        reconcilerRepairs, ready, dependencyUp, saleUnitsAvailable, buildInfo,
    ]
}
