import Logging
import StampedeHTTP
import StampedeInventory
import StampedePool
import StampedePostgres
import StampedeRedis
import StampedeSystem
import Synchronization

/// Why the service could not start.
public enum ServiceError: Error, Sendable, CustomStringConvertible {
    case redisUnreachable(address: String, reason: String)
    case postgresUnreachable(reason: String)
    case migrationFailed(reason: String)
    case listenFailed(address: String, reason: String)

    public var description: String {
        switch self {
        case .redisUnreachable(let address, let reason): return "Redis at \(address) is unreachable: \(reason)"
        case .postgresUnreachable(let reason): return "PostgreSQL is unreachable: \(reason)"
        case .migrationFailed(let reason): return "schema migration failed: \(reason)"
        case .listenFailed(let address, let reason): return "cannot listen on \(address): \(reason)"
        }
    }
}

/// The whole of Stampede wired together: pools to Redis and PostgreSQL, the schema, the sharded
/// inventory and its background work, and the HTTP server in front.
public final class StampedeService: Sendable {
    public let logger: Logger
    public let metrics: ServiceMetrics
    let configurationPath: String?
    let current: Mutex<StampedeConfiguration>
    /// The threads everything on the request path runs on: one HTTP event loop each, and the
    /// shards bound to them with their Redis and PostgreSQL connections.
    let reactors: [Reactor]
    let redis: RedisDeployment
    let postgresWriter: PostgresClient
    let postgresReader: PostgresClient
    /// The writer's non-blocking connections, one on each of `reactors`, for group commits (a
    /// shard's commit runs on its own reactor's connection); `nil` when
    /// `postgres.group_commit_on_reactors` is off (group commits then run on the writer pool).
    let postgresGroupCommitter: PostgresReactorClient?
    public let inventory: Inventory
    let handler: StampedeHandler
    let server: HTTPServer
    let maintenance = Mutex<Task<Void, Never>?>(nil)

    /// Builds the service; nothing connects or listens until `start`.
    public init(configuration: StampedeConfiguration, configurationPath: String? = nil, logger: Logger) {
        self.logger = logger
        self.configurationPath = configurationPath
        current = Mutex(configuration)
        metrics = ServiceMetrics()
        let acquire = Duration.milliseconds(configuration.poolAcquireTimeoutMilliseconds)
        let reactorCount = configuration.threads > 0 ? configuration.threads : HTTPServerConfiguration.onlineCores
        reactors = (0..<reactorCount).map { index in
            do {
                return try Reactor(name: "loop-\(index)")
            } catch {
                preconditionFailure("starting event-loop thread loop-\(index): \(error)")
            }
        }
        redis = RedisDeployment(configuration, reactors: reactors)
        postgresWriter = PostgresClient(conninfo: Self.conninfo(configuration.postgresWriter, configuration),
                                        poolSize: configuration.postgresWriterPoolSize,
                                        maxWaiting: configuration.poolMaxWaiting, acquireTimeout: acquire)
        postgresReader = PostgresClient(conninfo: Self.conninfo(configuration.postgresReader, configuration, readOnly: true),
                                        poolSize: configuration.postgresReaderPoolSize,
                                        maxWaiting: configuration.poolMaxWaiting, acquireTimeout: acquire)
        // A statement's deadline: the server's own statement timeout, plus a second for the
        // answer to arrive; past it the outcome is unknown and the connection is replaced.
        postgresGroupCommitter = !configuration.postgresGroupCommitOnReactors ? nil : PostgresReactorClient(
            reactors: reactors, conninfo: Self.conninfo(configuration.postgresWriter, configuration),
            maxPending: configuration.poolMaxWaiting,
            statementDeadline: .milliseconds(configuration.postgresStatementTimeoutMilliseconds + 1000))
        var inventoryConfiguration = InventoryConfiguration()
        configuration.inventoryTunables(into: &inventoryConfiguration)
        inventoryConfiguration.cacheMaxAgeSeconds = configuration.cacheMaxAgeSeconds
        inventoryConfiguration.replicaCheckSeconds = Double(configuration.replicaCheckMilliseconds) / 1000
        inventoryConfiguration.reconcileSeconds = configuration.reconcileIntervalSeconds
        inventoryConfiguration.outboxGraceSeconds = configuration.outboxGraceSeconds
        let metrics = self.metrics
        inventory = Inventory(redis: redis.router, redisReader: redis.reader, writer: postgresWriter, reader: postgresReader,
                              groupCommitter: postgresGroupCommitter, configuration: inventoryConfiguration, logger: logger,
                              reactors: reactors,
                              observeBatch: { metrics.recordBatch($0) })

        var serverConfiguration = HTTPServerConfiguration()
        let listen = configuration.listenAddress
        serverConfiguration.host = listen.host
        serverConfiguration.port = listen.port
        if configuration.threads > 0 { serverConfiguration.threads = configuration.threads }
        serverConfiguration.maxConnections = configuration.maxConnections
        serverConfiguration.maxHeaderBytes = configuration.maxHeaderBytes
        serverConfiguration.maxBodyBytes = configuration.maxBodyBytes
        serverConfiguration.readTimeoutSeconds = configuration.readTimeoutSeconds
        serverConfiguration.idleTimeoutSeconds = configuration.idleTimeoutSeconds
        serverConfiguration.maxConnectionsPerClient = configuration.maxConnectionsPerClient
        serverConfiguration.maxRequestsPerConnection = configuration.maxRequestsPerConnection
        serverConfiguration.connectionsFollowAnswers = configuration.connectionsFollowShards
        // Validated at load time, so every entry parses.
        serverConfiguration.trustedProxies = configuration.trustedProxies.compactMap(ClientAddressRange.init)
        if !configuration.tlsListen.isEmpty, let tls = StampedeConfiguration.splitHostPort(configuration.tlsListen) {
            serverConfiguration.tls = TLSConfiguration(
                host: tls.host, port: tls.port,
                certificateFile: configuration.tlsCertificateFile, privateKeyFile: configuration.tlsPrivateKeyFile,
                minimumVersion: configuration.tlsMinimumVersion == "1.3" ? .tls1_3 : .tls1_2,
                handshakeTimeoutSeconds: configuration.tlsHandshakeTimeoutSeconds)
        }

        // The handler's closures reach back into the service, which does not exist yet: they go
        // through this box, filled in once `self` is complete.
        let box = ServiceBox()
        handler = StampedeHandler(
            inventory: inventory, metrics: metrics, logger: logger, configuration: configuration,
            scrape: { box.service?.scrapeFigures() ?? ScrapeFigures() },
            probe: { await box.service?.probe() ?? [] },
            reload: { change in await box.service?.reload(change: change) ?? .success(([], [])) })
        server = HTTPServer(configuration: serverConfiguration, handler: handler, reactors: reactors)
        box.set(self)
    }

    /// Connects, migrates the schema, starts background work and listens. Throws a `ServiceError`
    /// naming what is unreachable; nothing is left running after a throw.
    public func start() async throws {
        let configuration = current.withLock { $0 }
        do {
            try await redis.start()
        } catch {
            throw ServiceError.redisUnreachable(address: RedisDeployment.describe(configuration), reason: "\(error)")
        }
        do {
            let applied = try await SchemaMigrations.apply(on: postgresWriter)
            if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)"]) }
        } catch {
            throw ServiceError.migrationFailed(reason: "\(error)")
        }
        do {
            // Before the first sale: every epoch names the PostgreSQL incarnation it was built under.
            try await inventory.refreshIncarnation()
        } catch {
            throw ServiceError.migrationFailed(reason: "reading PostgreSQL's system identifier and timeline: \(error)")
        }
        // Named admin credentials work from the first request; a failure here is retried by the watch.
        await handler.refreshCredentials()
        do {
            try server.start()
        } catch {
            throw ServiceError.listenFailed(address: configuration.listen, reason: "\(error)")
        }
        let inventory = self.inventory
        let handler = self.handler
        maintenance.withLock { task in
            task = Task {
                // runMaintenance starts with a reconciler pass (Redis restarted? stranded outbox?)
                async let maintained: Void = inventory.runMaintenance()
                // The readiness gauges of /metrics (`MetricFamily.ready`) follow the stores between scrapes.
                async let watched: Void = handler.watchReadiness(every: .seconds(2))
                // A credential rotated or revoked on another instance stops working here within a second.
                async let credentials: Void = handler.watchCredentials(every: StampedeHandler.credentialRefreshInterval)
                _ = await (maintained, watched, credentials)
            }
        }
        var addresses: Logger.Metadata = ["address": "\(configuration.listenAddress.host):\(server.localPort)"]
        if let tls = server.configuration.tls {
            addresses["https"] = "\(tls.host):\(server.localTLSPort)"
        }
        logger.notice("stampede listening", metadata: addresses.merging([
            "shards": "\(configuration.shardCount)", "batch_size": "\(configuration.shardBatchSize)",
            "commit_group_size": "\(configuration.shardCommitGroupSize)",
        ]) { first, _ in first })
    }

    /// Applies the schema migrations with a short-lived connection (`stampede migrate`).
    public static func migrate(configuration: StampedeConfiguration) async throws -> [Int] {
        let postgres = PostgresClient(conninfo: conninfo(configuration.postgresWriter, configuration),
                                      poolSize: 1, maxWaiting: 1,
                                      acquireTimeout: .milliseconds(configuration.poolAcquireTimeoutMilliseconds))
        defer { postgres.shutdown() }
        return try await SchemaMigrations.apply(on: postgres)
    }

    /// One reconciler pass for ops (`stampede reconcile`), with short-lived pools. A dry run only
    /// reads; otherwise the schema is migrated first and every repair is made.
    public static func reconcile(configuration: StampedeConfiguration, dryRun: Bool, outboxGraceSeconds: Double?,
                                 logger: Logger) async throws -> ReconcileReport {
        let acquire = Duration.milliseconds(configuration.poolAcquireTimeoutMilliseconds)
        let redis = RedisDeployment(configuration, poolSize: 1, maxWaiting: 64)
        let postgres = PostgresClient(conninfo: conninfo(configuration.postgresWriter, configuration),
                                      poolSize: 1, maxWaiting: 64, acquireTimeout: acquire)
        defer {
            redis.shutdown()
            postgres.shutdown()
        }
        do {
            try await redis.start()
        } catch {
            throw ServiceError.redisUnreachable(address: RedisDeployment.describe(configuration), reason: "\(error)")
        }
        guard await postgres.ping() else { throw ServiceError.postgresUnreachable(reason: "no answer to SELECT 1") }
        if !dryRun { try await SchemaMigrations.apply(on: postgres) }
        var settings = InventoryConfiguration()
        settings.shardCount = 1
        settings.outboxGraceSeconds = configuration.outboxGraceSeconds
        let inventory = Inventory(redis: redis.router, writer: postgres, reader: postgres, configuration: settings, logger: logger)
        // The same epochs as the serving instances (else it would take every sale for stale).
        do {
            try await inventory.refreshIncarnation()
        } catch {
            throw ServiceError.postgresUnreachable(reason: "reading its system identifier and timeline: \(error)")
        }
        return await inventory.reconcile(dryRun: dryRun, outboxGraceSeconds: outboxGraceSeconds)
    }

    /// The port the server listens on (useful with port 0).
    public var localPort: Int { server.localPort }

    /// The port of the HTTPS listener (useful with port 0); 0 when there is none.
    public var localTLSPort: Int { server.localTLSPort }

    /// Stops gracefully: closes the listeners (new connections are refused), answers new
    /// purchases on open connections `503 unavailable` (nothing taken; retry elsewhere), waits up
    /// to `shutdown.drain_timeout_seconds` for every admitted purchase to be committed and
    /// answered, commits what the outbox still holds, then closes connections and pools.
    /// Returns whether everything in flight finished in time.
    @discardableResult
    public func stop() async -> Bool {
        let drainTimeout = current.withLock { $0.drainTimeoutSeconds }
        server.stopAccepting()
        handler.beginDraining()
        let deadline = ContinuousClock.now + .milliseconds(Int(drainTimeout * 1000))
        while inventory.shardStatistics().contains(where: { $0.inFlight > 0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        let drained = !inventory.shardStatistics().contains(where: { $0.inFlight > 0 })
        // Let the loops write the last answers before their connections close.
        try? await Task.sleep(nanoseconds: 100_000_000)
        maintenance.withLock { $0?.cancel() }
        if drained {
            // Reservations this instance took but could not commit (PostgreSQL failed under them)
            // are committed now rather than after the grace, for the sales it sold lately;
            // committing another instance's in-flight entry too is harmless (the insert is
            // idempotent and fenced).
            let touched = Array(Set(inventory.shardStatistics().flatMap(\.sales)))
            let report = touched.isEmpty ? ReconcileReport(dryRun: false)
                : await inventory.reconcile(outboxGraceSeconds: 0, saleIDs: touched, sweeps: false)
            if report.total > 0 { logger.notice("shutdown reconciler pass", metadata: ["repairs": "\(report.total)"]) }
        } else {
            logger.error("shutdown: purchases still in flight after the drain timeout; the reconciler of the next start commits their outbox entries",
                         metadata: ["drain_timeout_seconds": "\(drainTimeout)"])
        }
        server.stop()
        redis.shutdown()
        postgresWriter.shutdown()
        postgresReader.shutdown()
        postgresGroupCommitter?.shutdown()
        for reactor in reactors { reactor.shutdown() }
        logger.notice("stampede stopped")
        return drained
    }

    /// Re-reads the configuration file (and environment); applies the live keys. Returns once a
    /// new shard layout serves purchases (after the old shards drained, when sales move).
    ///
    /// A successful reload is recorded in the audit log (`config.reloaded`, made by `change`) with
    /// the applied keys' values before and after, secrets redacted. The configuration is not held
    /// by PostgreSQL, so the entry has a transaction of its own; when PostgreSQL cannot take it
    /// the reload stays applied and the failure is logged.
    public func reload(change: AdminChange) async -> Result<(applied: [String], needsRestart: [String]), ConfigurationError> {
        let fresh: StampedeConfiguration
        do {
            fresh = try ConfigurationLoader.load(path: configurationPath)
        } catch {
            return .failure(error)
        }
        // Restart-only keys stay as the process runs them: a change to one is reported by this
        // reload and by every later one until a restart applies it.
        let (old, applied) = current.withLock { current in
            let old = current
            current = ConfigurationLoader.inForce(running: old, read: fresh)
            return (old, current)
        }
        let difference = ConfigurationLoader.difference(from: old, to: fresh)
        handler.apply(applied)
        var tunables = InventoryConfiguration()
        applied.inventoryTunables(into: &tunables)
        await inventory.reshard(tunables)
        logger.notice("configuration reloaded", metadata: [
            "applied": "\(difference.live)", "needs_restart": "\(difference.restart)",
            "shards": "\(fresh.shardCount)", "pinned": "\(fresh.pinnedSales)"])
        let values = ConfigurationAudit.values(of: difference.live, before: old, after: applied)
        do {
            try await inventory.recordAudit(AuditEntry(change: change, action: .configReloaded, target: "config",
                                                       before: values.before, after: values.after))
        } catch {
            logger.error("configuration reloaded but its audit entry could not be written", metadata: [
                "request_id": "\(change.requestID ?? "")", "actor": "\(change.actor)", "error": "\(error)"])
        }
        return .success((difference.live, difference.restart))
    }

    func probe() async -> [(name: String, ok: Bool)] {
        async let redisOK = redis.ping()
        async let postgresOK = postgresWriter.ping()
        return [("redis", await redisOK), ("postgres", await postgresOK)]
    }

    func scrapeFigures() -> ScrapeFigures {
        var figures = ScrapeFigures()
        let http = server.statistics
        figures.add(.httpOpenConnections, value: Double(http.openConnections))
        figures.add(.httpConnectionsAccepted, value: Double(http.acceptedTotal))
        figures.add(.httpConnectionsRejected, value: Double(http.rejectedOverLimit))
        figures.add(.httpParseErrors, value: Double(http.parseErrors))
        figures.add(.httpTimeouts, value: Double(http.timeouts))
        figures.add(.httpConnectionsRejectedPerClient, value: Double(http.rejectedPerClient))
        figures.add(.httpConnectionsRecycled, value: Double(http.recycled))
        figures.add(.httpConnectionsMoved, value: Double(http.moved))
        figures.add(.tlsHandshakes, value: Double(http.tlsHandshakes))
        figures.add(.tlsHandshakeFailures, value: Double(http.tlsHandshakeFailures))
        figures.add(.tlsHandshakeTimeouts, value: Double(http.tlsHandshakeTimeouts))
        let server = self.server.configuration
        let limits: [(name: String, item: Double)] = [
            ("max_connections", Double(server.maxConnections)),
            ("max_connections_per_client", Double(server.maxConnectionsPerClient)),
            ("max_requests_per_connection", Double(server.maxRequestsPerConnection)),
            ("max_header_bytes", Double(server.maxHeaderBytes)),
            ("max_body_bytes", Double(server.maxBodyBytes)),
            ("admin_requests_per_second", handler.adminRateSettings.rate),
            ("admin_burst", handler.adminRateSettings.burst),
            ("tls_handshake_timeout_seconds", server.tls?.handshakeTimeoutSeconds ?? 0),
        ]
        figures.add(.limit, limits.map { ScrapeFigures.Sample([$0.name], value: $0.item) })
        let pools: [(name: String, item: PoolStatistics)] = redis.pools + [
            ("postgres-writer", postgresWriter.statistics), ("postgres-reader", postgresReader.statistics),
        ] + (postgresGroupCommitter.map { [("postgres-group-commit", $0.statistics)] } ?? [])
        figures.add(.poolSize, pools, \.size)
        figures.add(.poolBusy, pools, \.busy)
        figures.add(.poolWaiting, pools, \.waiting)
        figures.add(.poolConnected, pools, \.connected)
        figures.add(.poolCalls, pools, \.totalJobs)
        figures.add(.poolFailedCalls, pools, \.failedJobs)
        figures.add(.poolAcquireTimeouts, pools, \.timeouts)
        figures.add(.poolRejected, pools, \.rejectedOverloaded)
        figures.add(.poolReconnects, pools, \.reconnects)
        if case .cluster(let cluster) = redis {
            let counts = cluster.statistics
            figures.add(.redisClusterPrimaries, value: Double(cluster.topology.map.primaries.count))
            figures.add(.redisClusterRefreshes, value: Double(counts.refreshes))
            figures.add(.redisClusterMapChanges, value: Double(counts.mapChanges))
            figures.add(.redisClusterRedirects, [ScrapeFigures.Sample(["moved"], value: Double(counts.moved)),
                                                         ScrapeFigures.Sample(["ask"], value: Double(counts.asks))])
            figures.add(.redisClusterRetries, value: Double(counts.retries))
            figures.add(.redisClusterReplicaReads, value: Double(counts.replicaReads))
        }
        if let resident = ProcessMemory.residentBytes() {
            figures.add(.processResidentMemory, value: Double(resident))
        }
        figures.addHistogram(.poolCallDuration, pools.map { ($0.name, $0.item.callLatency) })
        let replica = inventory.orders.routing.statistics
        figures.add(.postgresReads, [ScrapeFigures.Sample(["replica", "fresh"], value: Double(replica.replicaReads))]
                                    + replica.primaryReads.map { ScrapeFigures.Sample(["primary", $0.reason.rawValue], value: Double($0.count)) })
        figures.add(.postgresReplicaUp, value: replica.replicaUp ? 1 : 0)
        figures.add(.postgresReplicaInRecovery, value: replica.replicaInRecovery ? 1 : 0)
        figures.add(.postgresReplicaLagBytes, value: Double(replica.lagBytes))
        figures.add(.postgresReplicaLagSeconds, value: replica.lagSeconds)
        figures.add(.postgresReplicaChecks, [ScrapeFigures.Sample(["ok"], value: Double(replica.checks - replica.failedChecks)),
                                                     ScrapeFigures.Sample(["failed"], value: Double(replica.failedChecks))])
        figures.add(.postgresReadYourWritesPending, value: Double(replica.pendingWrites))
        return figures
    }

    /// A libpq URI with the bounded-time parameters added when absent: `connect_timeout`, TCP
    /// keepalives and `tcp_user_timeout` (a vanished server is noticed), `statement_timeout`
    /// (no statement, and so no pool thread, waits forever), and `application_name`; `readOnly`
    /// makes every session read-only (`default_transaction_read_only`), so the reader pool can
    /// never write, even when it points at the primary.
    static func conninfo(_ uri: String, _ configuration: StampedeConfiguration, readOnly: Bool = false) -> String {
        let tcpMilliseconds = configuration.postgresTCPTimeoutMilliseconds
        let keepaliveSeconds = max(1, tcpMilliseconds / 3000)
        var options = "-c%20statement_timeout%3D\(configuration.postgresStatementTimeoutMilliseconds)"
        if readOnly { options += "%20-c%20default_transaction_read_only%3Don" }
        let parameters: [(String, String)] = [
            ("connect_timeout", String(configuration.postgresConnectTimeoutSeconds)),
            ("keepalives", "1"),
            ("keepalives_idle", String(keepaliveSeconds)),
            ("keepalives_interval", String(keepaliveSeconds)),
            ("keepalives_count", "2"),
            ("tcp_user_timeout", String(tcpMilliseconds)),
            ("options", options),
            ("application_name", readOnly ? "stampede-reader" : "stampede"),
        ]
        var out = uri
        var separator = uri.contains("?") ? "&" : "?"
        for (name, value) in parameters where !uri.contains(name + "=") {
            out += separator + name + "=" + value
            separator = "&"
        }
        return out
    }
}

/// Lets the handler's closures reach the service that owns the handler (set once, after init).
/// The reference is weak: the service owns the handler, not the other way round.
final class ServiceBox: Sendable {
    private struct WeakService { weak var service: StampedeService? }
    private let slot = Mutex(WeakService())
    var service: StampedeService? { slot.withLock { $0.service } }
    func set(_ service: StampedeService) { slot.withLock { $0.service = service } }
}
