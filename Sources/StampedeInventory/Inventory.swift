import Logging
import StampedeSystem
import StampedePostgres
import StampedeRedis
import Synchronization

/// The tunables of the inventory: sharding, batching, shedding and background work.
public struct InventoryConfiguration: Sendable, Equatable {
    /// How many shards own purchase traffic (a sale belongs to `fnv1a(sale_id) % shardCount`).
    public var shardCount: Int = 8
    /// Purchases a shard holds at once (waiting + in its batch); past it, `503 overloaded`.
    public var maxInFlightPerShard: Int = 1024
    /// The most purchases one Redis decision carries (one script call per sale in the batch).
    public var batchSize: Int = 128
    /// The most orders one PostgreSQL commit carries (reservations of one or more decisions).
    public var commitGroupSize: Int = 512
    /// A shard decides its next batch while a group commits, instead of waiting for the commit.
    public var decidesDuringCommit = false
    /// Sales with a dedicated shard each (after the hashed ones).
    public var pinnedSales: [String] = []
    /// Settings of particular shards, by index.
    public var shardOverrides: [Int: ShardSettings] = [:]
    /// Adaptive in-flight limit and stock-aware admission.
    public var shedding = SheddingSettings()

    /// The shard layout these settings describe.
    public var layout: ShardLayout {
        ShardLayout(hashedCount: shardCount, pinned: pinnedSales,
                    defaults: ShardSettings(batchSize: batchSize, maxInFlight: maxInFlightPerShard, commitGroupSize: commitGroupSize),
                    overrides: shardOverrides)
    }
    /// How old a cached sale may be when served.
    public var cacheMaxAgeSeconds: Double = 1.0
    /// How often cached sales are refreshed from Redis.
    public var cacheRefreshSeconds: Double = 0.25
    /// How often due reservations are expired.
    public var expirySweepSeconds: Double = 1.0
    /// How often the reconciler commits stranded outbox entries and retries stock returns.
    public var reconcileSeconds: Double = 5.0
    /// An outbox entry older than this is stranded (no batch can still be committing it).
    public var outboxGraceSeconds: Double = 30.0
    /// How often the read replica's health and replay position are checked.
    public var replicaCheckSeconds: Double = 0.25
    /// The reconciler checks the epochs of sales that ended less than this long ago.
    public var reconcileEndedSaleSeconds: Int = 86_400

    public init() {}
}

/// Stampede's inventory: sales, the sharded purchase path, and the order life cycle.
///
/// It joins Redis (`StockLedger`: who gets a unit, decided atomically) and PostgreSQL
/// (`OrderRepository`, `SaleRepository`: what was sold, durably). Every method is safe to call
/// from any thread; the HTTP layer calls `submit` straight from an event loop.
public final class Inventory: Sendable {
    public let ledger: StockLedger
    public let orders: OrderRepository
    public let sales: SaleRepository
    /// Exclusive groups and the epochs of their claims.
    public let groups: GroupRepository
    /// Named admin credentials (their token hashes and roles).
    public let credentials: CredentialRepository
    /// Stock moves between the buckets of bucketed sales.
    public let buckets: BucketRepository
    public let cache: SaleCache
    /// The live shards: routing, admission, layout changes.
    public let directory: ShardDirectory
    /// Sales known to be sold out, answered without a Redis call.
    public let soldOut = SoldOutBoard()
    let configuration: Mutex<InventoryConfiguration>
    let logger: Logger
    let repairs = Mutex(RepairCounts())
    /// Rebuilds in progress in this process, one per sale or group; concurrent callers join it.
    let rebuilds = JoinedWork<Bool>()
    /// Refills of buckets in progress in this process, one per bucket; concurrent callers join it.
    let refills = JoinedWork<RefillOutcome>()

    /// What the background work has repaired since start (for logs and `/metrics`).
    public struct RepairCounts: Sendable, Equatable {
        public var expired = 0
        public var stockReturned = 0
        public var outboxCommitted = 0
        public var outboxDropped = 0
        public var salesRebuilt = 0
        public var salesInvalidated = 0
        public var groupsRebuilt = 0
        public var claimsReleased = 0
        /// `repaired` movements the reconciler wrote (sales whose ledger did not sum to its figures).
        public var ledgerRepaired = 0
        /// Stock moves between buckets the reconciler finished (or abandoned) for a crashed mover.
        public var movesFinished = 0
    }

    /// `redis` decides and writes stock; `redisReader` (default: `redis`) serves cache refreshes;
    /// `writer` commits orders; `reader` serves order reads; `groupCommitter` (the writer's
    /// connections on reactors), when given, runs the common group commit. `reactors`: the
    /// threads the shards run on, shard `i` on `reactors[i % count]` (none: each shard runs on
    /// the threads that hand it work).
    public init(redis: any RedisRouter, redisReader: (any RedisRouter)? = nil, writer: PostgresClient, reader: PostgresClient,
                groupCommitter: PostgresReactorClient? = nil, configuration: InventoryConfiguration, logger: Logger,
                reactors: [Reactor] = [],
                observeBatch: @escaping @Sendable (PurchaseBatchProcessor.StageReport) -> Void = { _ in }) {
        ledger = StockLedger(redis: redis, reader: redisReader)
        orders = OrderRepository(writer: writer, reader: reader, groupCommitter: groupCommitter)
        sales = SaleRepository(writer: writer)
        groups = GroupRepository(writer: writer)
        credentials = CredentialRepository(writer: writer)
        buckets = BucketRepository(writer: writer)
        cache = SaleCache(maxAgeSeconds: configuration.cacheMaxAgeSeconds)
        let processor = PurchaseBatchProcessor(ledger: ledger, orders: orders, soldOut: soldOut, observe: observeBatch)
        directory = ShardDirectory(layout: configuration.layout, shedding: configuration.shedding, processor: processor,
                                   reactors: reactors, decidesDuringCommit: configuration.decidesDuringCommit)
        self.configuration = Mutex(configuration)
        self.logger = logger
    }

    /// PostgreSQL's incarnation as last read (`refreshIncarnation`), part of every sale's epoch.
    public var incarnation: PostgresIncarnationWatch { ledger.incarnation }

    /// The shard that owns `saleID` now.
    public func shard(for saleID: String) -> Shard { directory.shard(for: saleID) }

    /// The index of the shard that owns `saleID` now.
    public func shardIndex(for saleID: String) -> Int { directory.layout.owner(of: saleID) }

    /// Applies new shard tunables, count and pins live; a change that moves sales drains the old
    /// shards first. Returns once the new layout serves purchases.
    public func reshard(_ update: InventoryConfiguration) async {
        configuration.withLock {
            $0.shardCount = update.shardCount
            $0.maxInFlightPerShard = update.maxInFlightPerShard
            $0.batchSize = update.batchSize
            $0.commitGroupSize = update.commitGroupSize
            $0.pinnedSales = update.pinnedSales
            $0.shardOverrides = update.shardOverrides
            $0.shedding = update.shedding
        }
        await directory.apply(update.layout, shedding: update.shedding)
    }

    /// Every shard's figures.
    public func shardStatistics() -> [ShardStatistics] { directory.statistics().map(\.figures) }

    /// Every shard's figures with latency percentiles and hot flags.
    public func shardReports() -> [ShardReport] { directory.statistics() }

    /// What background work repaired so far.
    public var repairCounts: RepairCounts { repairs.withLock { $0 } }

    // MARK: Sales

    /// Reads a sale from Redis, rebuilding it from PostgreSQL if Redis lost it; caches the answer.
    public func loadSale(_ saleID: String) async throws(InventoryError) -> Sale? {
        let started = MonotonicClock.now()
        if let sale = try await ledger.sales([saleID])[0] {
            cache.store(saleID, sale, now: started)
            return sale
        }
        guard try await rebuild(saleID) else {
            cache.store(saleID, nil)
            return nil
        }
        guard let sale = try await ledger.sales([saleID])[0] else { throw .unavailable("sale \(saleID) is being rebuilt") }
        cache.store(saleID, sale)
        return sale
    }

    /// Rebuilds a sale's Redis counters from PostgreSQL at a new epoch, unless Redis already holds
    /// current counters at the epoch PostgreSQL accepts. Returns false when the sale does not exist.
    ///
    /// Concurrent calls in this process share one rebuild; instances racing each other are safe
    /// (the newer generation wins in Redis, and PostgreSQL accepts only its own epoch).
    public func rebuild(_ saleID: String) async throws(InventoryError) -> Bool {
        try await joiningRebuild(saleID) { try await self.performRebuild(saleID) }
    }

    /// Runs `rebuild` as the one rebuild of `key` in this process: a caller that comes while one
    /// runs joins it and gets its result.
    func joiningRebuild(_ key: String, _ rebuild: @escaping @Sendable () async throws -> Bool) async throws(InventoryError) -> Bool {
        do {
            return try await rebuilds.run(key, rebuild)
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    private func performRebuild(_ saleID: String) async throws(InventoryError) -> Bool {
        var lastError = InventoryError.unavailable("rebuild of \(saleID) did not finish")
        for _ in 0..<3 {
            if try await isCurrent(saleID, waitingForAnotherRebuild: true) { return true }
            await recordOrdersLostByPostgres(saleID)
            let runID = try await ledger.nodeToken(forSale: saleID)
            guard let snapshot = try await sales.rebuildSnapshot(saleID, runID: runID) else { return false }
            do {
                if try await ledger.restore(snapshot) {
                    soldOut.clear(saleID)
                    repairs.withLock { $0.salesRebuilt += 1 }
                    logger.warning("rebuilt a sale's Redis counters from PostgreSQL", metadata: [
                        "sale_id": "\(saleID)", "epoch": "\(snapshot.epoch)",
                        "available": "\(snapshot.sale.available)", "orders": "\(snapshot.ordersTaken)",
                    ])
                }
                cache.store(saleID, snapshot.sale)
                return true
            } catch {
                lastError = error  // Redis restarted again mid-rebuild: start over on the new run
            }
        }
        throw lastError
    }

    /// Whether Redis holds current counters for the sale at the epoch PostgreSQL accepts. When
    /// PostgreSQL already moved to a newer epoch on this Redis run — another rebuild (maybe
    /// another instance's) committed its snapshot and is writing Redis — waits up to a second for
    /// that write instead of starting a rebuild that would fence the other one's purchases.
    private func isCurrent(_ saleID: String, waitingForAnotherRebuild: Bool) async throws(InventoryError) -> Bool {
        for attempt in 0..<20 {
            guard let seen = try await ledger.inspect([saleID]).first else { return false }
            let accepted = try await sales.epochs([saleID])[saleID]
            if seen.isCurrent, accepted == seen.epoch { return true }
            guard waitingForAnotherRebuild, attempt < 19, let accepted, accepted.runID == seen.serverRunID,
                  seen.generation < accepted.generation
            else { return false }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// Creates (`created` true) or replaces a sale; refused with `saleHasOrders` once it sold.
    /// The PostgreSQL row, its audit entry (made by `change`) and its `defined` movement in the
    /// ledger (referenced by the change's request id) commit together; a refused definition
    /// records nothing.
    public func define(_ definition: SaleDefinition, change: AdminChange) async throws(InventoryError) -> (sale: Sale, created: Bool) {
        if let violation = definition.violation() {
            throw .invalidField(field: violation.field, reason: violation.reason)
        }
        if try await sales.hasOrders(definition.saleID) { throw .saleHasOrders(definition.saleID) }
        if let group = definition.exclusiveGroup, try await groups.group(group) == nil {
            throw .invalidField(field: "exclusive_group", reason: "names no group: define it first with PUT /admin/groups/\(group)")
        }
        // Buckets first, then the sale's own counters, which name them: a purchase that finds the
        // sale finds its buckets defined. PostgreSQL records all of them in one transaction.
        let shares = BucketLayout.initialShares(stock: definition.stock, count: definition.buckets)
        let previous = try await sales.withBuckets([definition.saleID]).dropFirst()
        let bucketIDs = try await chooseBucketIDs(definition.saleID, count: definition.buckets)
        let buckets = try await defineBuckets(definition, ids: bucketIDs, shares: shares)
        let defined = try await ledger.define(definition, available: shares[0], bucketIDs: bucketIDs)
        let createdInPostgres = try await sales.save(definition, epoch: defined.epoch, change: change, buckets: buckets)
        // Buckets a replace with fewer of them retired: their counters go too.
        let retired = previous.filter { !bucketIDs.contains($0) }
        if !retired.isEmpty { try? await ledger.forget(Array(retired)) }
        let sale = Sale(definition: definition, restocked: 0, available: definition.stock, bucketIDs: bucketIDs)
        soldOut.clear(definition.saleID)
        cache.store(definition.saleID, sale)
        return (sale, defined.created && createdInPostgres)
    }

    /// Adds units to a sale: durably first (PostgreSQL), then to the live counter (Redis) if it is
    /// at the epoch PostgreSQL holds; otherwise the sale is rebuilt, which counts the restock.
    /// The restock, its audit entry (made by `change`) and its `restocked` movement in the ledger
    /// commit together.
    public func restock(_ saleID: String, quantity: Int64, change: AdminChange) async throws(InventoryError) -> Sale {
        guard quantity >= 1, quantity <= 1_000_000_000 else {
            throw .invalidField(field: "quantity", reason: "must be between 1 and 1000000000")
        }
        let recorded = try await sales.restock(saleID, quantity: quantity, change: change)
        guard recorded.found else { throw .unknownSale(saleID) }
        defer { soldOut.clear(saleID) }
        var applied = false
        if let epoch = recorded.epoch { applied = try await ledger.restock(saleID: saleID, quantity: quantity, epoch: epoch) }
        if !applied {
            if let current = try await ledger.inspect([saleID]).first?.epoch {
                try await ledger.invalidate(saleID: saleID, epoch: current)
            }
            _ = try await rebuild(saleID)
        }
        guard let sale = try await loadSale(saleID) else { throw .unknownSale(saleID) }
        return sale
    }

    // MARK: Audit

    /// The audit entries `query` selects, newest first (read from the writer: an entry is seen
    /// as soon as its change is).
    public func auditEntries(_ query: AuditQuery) async throws(InventoryError) -> [RecordedAuditEntry] {
        try await AuditLog.entries(query, on: sales.writer)
    }

    /// Records a change PostgreSQL does not hold (a configuration reload) in a transaction of its own.
    public func recordAudit(_ entry: AuditEntry) async throws(InventoryError) {
        try await AuditLog.record(entry, on: sales.writer)
    }

    // MARK: Orders

    /// An order by id (reader pool, falling back to the writer).
    public func order(_ orderID: String) async throws(InventoryError) -> Order {
        guard let order = try await orders.order(orderID) else { throw .unknownOrder(orderID) }
        return order
    }

    /// A user's newest orders, at most 100.
    public func orders(ofUser userID: String) async throws(InventoryError) -> [Order] {
        try await orders.orders(ofUser: userID, limit: 100)
    }
}
