import StampedePostgres

/// The `sales` table: the durable record of every sale's definition and restocks.
public struct SaleRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// Creates or replaces a sale's row at `epoch` (what Redis was defined at) and records the
    /// change in the audit log (`sale.defined` / `sale.replaced`, the row before and after) and in
    /// the stock ledger (a `defined` movement of the new stock less the old `stock_total +
    /// restocked`, referenced by the change's request id), in one transaction; true when created.
    public func save(_ d: SaleDefinition, epoch: RedisEpoch, change: AdminChange,
                     buckets: [DefinedBucket] = []) async throws(InventoryError) -> Bool {
        let parameters: [String?] = [
            d.saleID, d.sku, String(d.priceCents), String(d.stock), String(d.perUserLimit),
            String(d.startsAt.milliseconds), String(d.endsAt.milliseconds), String(d.reservationTTLSeconds),
            d.purchaseTokenRequired ? "true" : "false", epoch.description, d.exclusiveGroup, nil, "0", String(d.buckets),
        ]
        return try await writer.inventoryTransaction { connection in
            // The lock the UPDATE takes anyway, taken first so `before` is the row it changes; it
            // does not conflict with the `FOR KEY SHARE` of order inserts, so purchases go on.
            let old = try connection.query(
                "SELECT to_jsonb(s)::text, \(Self.allocation("s")) FROM sales s WHERE sale_id = $1 FOR NO KEY UPDATE",
                [d.saleID], prepared: true).rows.first
            let before = old?[0] ?? nil
            let previous = old?[1].flatMap { Int64($0) } ?? 0
            let saved = try connection.query(Self.upsertSale, parameters, prepared: true)
            let created = saved.rows.first?[0] == "t"
            // Buckets: one child row each, with its share as its stock; children past the new count
            // go (a replace is refused once the sale has orders, so they hold none).
            var own = d.stock
            for bucket in buckets {
                own -= bucket.share
                let prior = try connection.query("SELECT stock_total FROM sales WHERE sale_id = $1 FOR NO KEY UPDATE",
                                                 [bucket.childID], prepared: true).rows.first?[0].flatMap { Int64($0) } ?? 0
                var child = parameters
                child[0] = bucket.childID
                child[3] = String(bucket.share)
                child[9] = bucket.epoch.description
                child[11] = d.saleID
                child[12] = String(bucket.index)
                child[13] = "1"
                _ = try connection.query(Self.upsertSale, child, prepared: true)
                try Self.recordMovement(.defined, saleID: bucket.childID, quantity: bucket.share - prior, reference: change.reference,
                                        on: connection)
            }
            let retired = try connection.query("""
            SELECT sale_id, stock_total FROM sales WHERE parent_sale_id = $1 AND NOT (sale_id = ANY($2::text[])) FOR UPDATE
            """, [d.saleID, PostgresArray.text(buckets.map(\.childID))]).rows.compactMap { $0[0] }
            try Self.deleteBuckets(retired, on: connection)
            // The ledger's `defined` movement: the change in stock (a replace is only allowed while
            // the sale has no orders, so the old available stock is its allocation).
            try Self.recordMovement(.defined, saleID: d.saleID, quantity: own - previous, reference: change.reference, on: connection)
            try AuditLog.record(AuditEntry(change: change, action: created ? .saleDefined : .saleReplaced, target: d.saleID,
                                           before: before, after: saved.rows.first?[1] ?? nil), on: connection)
            return created
        }
    }

    /// A bucket of a sale being defined: its child id (its Redis hash tag), index, units and the
    /// epoch Redis defined its counters at.
    public struct DefinedBucket: Sendable, Equatable {
        public var childID: String
        public var index: Int
        public var share: Int64
        public var epoch: RedisEpoch

        public init(childID: String, index: Int, share: Int64, epoch: RedisEpoch) {
            self.childID = childID
            self.index = index
            self.share = share
            self.epoch = epoch
        }
    }

    /// Inserts or replaces a sale's or a bucket's row ($12 its parent, $13 its bucket index, $14
    /// the bucket count).
    static let upsertSale = """
    INSERT INTO sales (sale_id, sku, price_cents, stock_total, per_user_limit, starts_at, ends_at, reservation_ttl_seconds,
                       purchase_token_required, redis_epoch, exclusive_group, parent_sale_id, bucket, buckets)
    VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0), to_timestamp($7::bigint / 1000.0), $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (sale_id) DO UPDATE SET
        sku = EXCLUDED.sku, price_cents = EXCLUDED.price_cents, stock_total = EXCLUDED.stock_total,
        restocked = 0, per_user_limit = EXCLUDED.per_user_limit, starts_at = EXCLUDED.starts_at,
        ends_at = EXCLUDED.ends_at, reservation_ttl_seconds = EXCLUDED.reservation_ttl_seconds,
        purchase_token_required = EXCLUDED.purchase_token_required, redis_epoch = EXCLUDED.redis_epoch,
        exclusive_group = EXCLUDED.exclusive_group, parent_sale_id = EXCLUDED.parent_sale_id, bucket = EXCLUDED.bucket,
        buckets = EXCLUDED.buckets, updated_at = now()
    RETURNING (xmax = 0), to_jsonb(sales.*)::text
    """

    /// The units a `sales` row (aliased `alias`) holds for its own counters: `stock_total +
    /// restocked`, less what is allocated to its buckets' child rows. For a bucket's row (and a
    /// sale of one bucket) that is `stock_total + restocked`.
    static func allocation(_ alias: String) -> String {
        "(\(alias).stock_total + \(alias).restocked - \(allocatedToBuckets(alias)))"
    }

    /// The units allocated to the buckets of a `sales` row (aliased `alias`): 0 for a sale of one bucket.
    static func allocatedToBuckets(_ alias: String) -> String {
        "COALESCE((SELECT sum(b.stock_total) FROM sales b WHERE b.parent_sale_id = \(alias).sale_id), 0)"
    }

    /// Deletes buckets' rows that hold no order any more (retired by a redefinition or a change of
    /// the bucket count), with their moves, movements and order counts.
    static func deleteBuckets(_ childIDs: [String], on connection: PostgresConnection) throws {
        guard !childIDs.isEmpty else { return }
        let ids = PostgresArray.text(childIDs)
        _ = try connection.query("DELETE FROM stock_moves WHERE source = ANY($1::text[]) OR target = ANY($1::text[])", [ids])
        _ = try connection.query("DELETE FROM stock_movements WHERE sale_id = ANY($1::text[])", [ids])
        _ = try connection.query("DELETE FROM sale_order_counts WHERE sale_id = ANY($1::text[])", [ids])
        _ = try connection.query("DELETE FROM sales WHERE sale_id = ANY($1::text[])", [ids])
    }

    /// Whether PostgreSQL holds any order of the sale (of any of its buckets).
    public func hasOrders(_ saleID: String) async throws(InventoryError) -> Bool {
        try await run("""
        SELECT 1 FROM orders WHERE sale_id = $1 OR sale_id IN (SELECT sale_id FROM sales WHERE parent_sale_id = $1) LIMIT 1
        """, [saleID]).rows.isEmpty == false
    }

    /// Records a restock, its audit entry (`sale.restocked`, the row before and after) and its
    /// `restocked` movement in the stock ledger (referenced by the change's request id) in one
    /// transaction; returns whether the sale exists and the epoch it is at (the Redis counters that
    /// may receive the units; a rebuild after this commit counts them itself). An unknown sale
    /// changes and records nothing.
    public func restock(_ saleID: String, quantity: Int64, change: AdminChange) async throws(InventoryError) -> (found: Bool, epoch: RedisEpoch?) {
        try await writer.inventoryTransaction { connection -> (found: Bool, epoch: RedisEpoch?) in
            // As in `save`: the UPDATE's own lock, which order inserts do not wait for.
            let before = try connection.query("SELECT to_jsonb(s)::text FROM sales s WHERE sale_id = $1 FOR NO KEY UPDATE",
                                              [saleID], prepared: true)
            guard let beforeRow = before.rows.first else { return (false, nil) }
            let updated = try connection.query(
                "UPDATE sales SET restocked = restocked + $2, updated_at = now() WHERE sale_id = $1 RETURNING redis_epoch, to_jsonb(sales.*)::text",
                [saleID, String(quantity)], prepared: true)
            guard let row = updated.rows.first else { return (false, nil) }
            try Self.recordMovement(.restocked, saleID: saleID, quantity: quantity, reference: change.reference, on: connection)
            try AuditLog.record(AuditEntry(change: change, action: .saleRestocked, target: saleID,
                                           before: beforeRow[0], after: row[1]), on: connection)
            return (true, row[0].flatMap(RedisEpoch.init))
        }
    }

    /// The epoch PostgreSQL accepts commits for, per sale (absent: unknown sale or never set).
    public func epochs(_ saleIDs: [String]) async throws(InventoryError) -> [String: RedisEpoch] {
        try await writer.inventoryEpochs("SELECT sale_id, redis_epoch FROM sales WHERE sale_id = ANY($1::text[])", ids: saleIDs)
    }

    /// Moves a sale to the next epoch on Redis run `runID` and computes its counters from the
    /// committed orders, in one transaction holding the sale row `FOR UPDATE`.
    ///
    /// Every order insert, cancel and expiry takes the row `FOR KEY SHARE`, so the lock waits for
    /// those in flight (the counts include them) and holds off the rest until the new epoch is
    /// committed (inserts decided under the old one are then refused; returns are fenced to the new
    /// one). Nil when the sale does not exist.
    public func rebuildSnapshot(_ saleID: String, runID: String) async throws(InventoryError) -> SaleSnapshot? {
        do {
            return try await writer.transaction { connection -> SaleSnapshot? in
                try Self.snapshot(saleID, runID: runID, on: connection)
            }
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// `rebuildSnapshot`'s work inside the caller's transaction (which holds the sale row `FOR
    /// UPDATE` from here to its commit).
    static func snapshot(_ saleID: String, runID: String, on connection: PostgresConnection) throws -> SaleSnapshot? {
        let head = try connection.query("""
        SELECT redis_epoch, \(Self.allocatedToBuckets("s")), \(Self.definitionColumns)
        FROM sales s WHERE sale_id = $1 FOR UPDATE
        """, [saleID])
        guard let row = head.rows.first, let stored = Self.definition(saleID, row[2...]) else { return nil }
        let epoch = RedisEpoch.next(after: row[0].flatMap(RedisEpoch.init), runID: runID)
        _ = try connection.query("UPDATE sales SET redis_epoch = $2 WHERE sale_id = $1", [saleID, epoch.description])
        // A bucketed sale's own counters hold its allocation only (the rest is its buckets').
        let allocatedToBuckets = row[1].flatMap { Int64($0) } ?? 0
        let totals = try connection.query("""
        SELECT count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
        FROM orders WHERE sale_id = $1
        """, [saleID])
        let taken = Int64(totals.rows.first?[0] ?? "0") ?? 0
        let held = Int64(totals.rows.first?[1] ?? "0") ?? 0
        let users = try connection.query("""
        SELECT user_id, sum(quantity) FROM orders
        WHERE sale_id = $1 AND status IN ('reserved', 'paid') GROUP BY user_id
        """, [saleID]).rows.compactMap { row -> (userID: String, units: Int64)? in
            guard let user = row[0], let units = row[1].flatMap({ Int64($0) }) else { return nil }
            return (user, units)
        }
        let keys = try connection.query(
            "SELECT user_id || '|' || idempotency_key, order_id FROM orders WHERE sale_id = $1 AND idempotency_key IS NOT NULL",
            [saleID]).rows.compactMap { row -> (field: String, orderID: String)? in
                guard let field = row[0], let id = row[1] else { return nil }
                return (field, id)
            }
        let released = try connection.query(
            "SELECT order_id FROM orders WHERE sale_id = $1 AND status IN ('cancelled', 'expired')",
            [saleID]).rows.compactMap { $0[0] }
        let sale = Sale(definition: stored.definition, restocked: stored.restocked,
                        available: stored.definition.stock + stored.restocked - allocatedToBuckets - held, bucketIDs: stored.bucketIDs)
        return SaleSnapshot(epoch: epoch, sale: sale, ordersTaken: taken, holdings: users,
                            idempotencyKeys: keys, released: released)
    }

    /// The sale with its availability computed from committed orders (the truth after Redis lost it).
    public func sale(_ saleID: String) async throws(InventoryError) -> Sale? {
        let result = try await run("""
        SELECT COALESCE((SELECT sum(quantity) FROM orders o WHERE (o.sale_id = s.sale_id OR o.sale_id IN (
                   SELECT b.sale_id FROM sales b WHERE b.parent_sale_id = s.sale_id)) AND o.status IN ('reserved', 'paid')), 0),
               \(Self.definitionColumns)
        FROM sales s WHERE s.sale_id = $1
        """, [saleID])
        guard let row = result.rows.first, let stored = Self.definition(saleID, row[1...]) else { return nil }
        let held = row[0].flatMap { Int64($0) } ?? 0
        return Sale(definition: stored.definition, restocked: stored.restocked,
                    available: stored.definition.stock + stored.restocked - held, bucketIDs: stored.bucketIDs)
    }

    /// The columns of a `sales` row (aliased `s`) that `definition(_:_:)` reads, in its order: the
    /// definition, the restocked units and the ids of its buckets (comma-separated, by bucket).
    static let definitionColumns = """
    s.sku, s.price_cents, s.stock_total, s.restocked, s.per_user_limit,
    (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,
    s.reservation_ttl_seconds, s.purchase_token_required, s.exclusive_group,
    COALESCE((SELECT string_agg(b.sale_id, ',' ORDER BY b.bucket) FROM sales b WHERE b.parent_sale_id = s.sale_id), '')
    """

    /// Decodes `definitionColumns` (`columns`, a row's slice starting at them); nil when short.
    static func definition(_ saleID: String, _ columns: ArraySlice<String?>) -> (definition: SaleDefinition, restocked: Int64, bucketIDs: [String])? {
        guard columns.count == 11 else { return nil }
        let c = Array(columns)
        let n = c.map { $0.flatMap { Int64($0) } ?? 0 }
        let bucketIDs = (c[10] ?? "").split(separator: ",").map(String.init)
        let definition = SaleDefinition(saleID: saleID, sku: c[0] ?? "", priceCents: n[1], stock: n[2],
                                        perUserLimit: n[4], startsAt: Timestamp(milliseconds: n[5]),
                                        endsAt: Timestamp(milliseconds: n[6]), reservationTTLSeconds: n[7],
                                        purchaseTokenRequired: c[8] == "t", exclusiveGroup: c[9],
                                        buckets: bucketIDs.count + 1)
        return (definition, n[3], bucketIDs)
    }

    /// What PostgreSQL says about a sale, for the reconciler.
    public struct Figures: Sendable, Equatable {
        /// The stock of the sale's own counters: for a bucketed sale, less what its buckets hold.
        public var stock: Int64
        public var restocked: Int64
        /// The epoch PostgreSQL accepts commits for; nil when never set.
        public var epoch: RedisEpoch?
        /// Orders ever committed (any status), and units held by reserved + paid ones.
        public var ordersTaken: Int64
        public var held: Int64
    }

    /// Figures of each sale that exists, in one query.
    public func figures(_ saleIDs: [String]) async throws(InventoryError) -> [String: Figures] {
        guard !saleIDs.isEmpty else { return [:] }
        // The order figures are the sums of the sale's deltas in `sale_order_counts` (schema
        // version 4), which the orders' triggers append in the same transactions as the orders.
        let result = try await run("""
        SELECT s.sale_id, \(Self.allocation("s")) - s.restocked, s.restocked, s.redis_epoch,
               COALESCE(sum(c.orders_taken), 0), COALESCE(sum(c.held), 0)
        FROM sales s LEFT JOIN sale_order_counts c ON c.sale_id = s.sale_id
        WHERE s.sale_id = ANY($1::text[]) GROUP BY s.sale_id
        """, [PostgresArray.text(saleIDs)])
        var out: [String: Figures] = [:]
        for row in result.rows {
            guard let id = row[0] else { continue }
            let n = row.map { $0.flatMap { Int64($0) } ?? 0 }
            out[id] = Figures(stock: n[1], restocked: n[2], epoch: row[3].flatMap(RedisEpoch.init), ordersTaken: n[4], held: n[5])
        }
        return out
    }

    /// Folds the order-count deltas of `saleIDs` into one row per sale (those with more than one),
    /// in one statement: deltas that commit meanwhile are not seen by its delete and stay, and a
    /// concurrent fold skips the rows this one deleted, so no count is lost or doubled.
    public func compactOrderCounts(_ saleIDs: [String]) async throws(InventoryError) {
        guard !saleIDs.isEmpty else { return }
        _ = try await run("""
        WITH folded AS (
            DELETE FROM sale_order_counts WHERE sale_id IN (
                SELECT sale_id FROM sale_order_counts WHERE sale_id = ANY($1::text[])
                GROUP BY sale_id HAVING count(*) > 1)
            RETURNING sale_id, orders_taken, held
        )
        INSERT INTO sale_order_counts (sale_id, orders_taken, held)
        SELECT sale_id, sum(orders_taken), sum(held) FROM folded GROUP BY sale_id
        """, [PostgresArray.text(saleIDs)])
    }

    /// `saleIDs` and the child ids of their buckets.
    public func withBuckets(_ saleIDs: [String]) async throws(InventoryError) -> [String] {
        guard !saleIDs.isEmpty else { return [] }
        let children = try await run("SELECT sale_id FROM sales WHERE parent_sale_id = ANY($1::text[]) ORDER BY sale_id",
                                     [PostgresArray.text(saleIDs)]).rows.compactMap { $0[0] }
        return saleIDs + children
    }

    /// Every sale id (and bucket child id), for the reconciler's sweep; with `endedBeforeSeconds`, only sales that had
    /// not ended that many seconds ago.
    public func saleIDs(endedBeforeSeconds: Int? = nil) async throws(InventoryError) -> [String] {
        guard let seconds = endedBeforeSeconds else {
            return try await run("SELECT sale_id FROM sales ORDER BY sale_id", []).rows.compactMap { $0[0] }
        }
        return try await run("SELECT sale_id FROM sales WHERE ends_at > now() - make_interval(secs => $1) ORDER BY sale_id",
                             [String(seconds)]).rows.compactMap { $0[0] }
    }

    /// The primary's incarnation: its system identifier and the timeline it writes on.
    public func incarnation() async throws(InventoryError) -> PostgresIncarnation {
        let row = try await run(PostgresIncarnation.query, []).rows.first ?? []
        guard row.count == 2, let system = row[0], let timeline = row[1].flatMap({ Int64($0) }) else {
            throw .unavailable("postgres: could not read its system identifier and timeline")
        }
        return PostgresIncarnation(systemIdentifier: system, timeline: timeline)
    }

    /// Keeps orders Redis had taken that PostgreSQL lacks after going back in time (`lost_orders`,
    /// for support: the buyers to contact); an order recorded already stays as first recorded.
    public func recordLostOrders(_ lost: [LostOrder]) async throws(InventoryError) {
        guard !lost.isEmpty else { return }
        _ = try await run("""
        INSERT INTO lost_orders (order_id, sale_id, user_id, idempotency_key, redis_epoch, postgres_incarnation)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        ON CONFLICT (order_id) DO NOTHING
        """, [PostgresArray.text(lost.map(\.orderID)), PostgresArray.text(lost.map(\.saleID)),
              PostgresArray.text(lost.map(\.userID)), PostgresArray.text(lost.map(\.idempotencyKey)),
              PostgresArray.text(lost.map(\.redisEpoch)), PostgresArray.text(lost.map(\.postgresIncarnation))])
    }

    func run(_ sql: String, _ params: [String?]) async throws(InventoryError) -> PostgresResult {
        try await writer.inventoryQuery(sql, params)
    }
}
