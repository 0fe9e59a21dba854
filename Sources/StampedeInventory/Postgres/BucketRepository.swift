import StampedePostgres

/// The `stock_moves` table: every move of units between a bucketed sale's buckets, each step
/// recorded before or after its Redis step so that a crash anywhere leaves a move someone can
/// finish (`StockMove`). Allocations are the buckets' `sales.stock_total`.
public struct BucketRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// What the moves and buckets of a sale look like now: a version that changes with every step
    /// of any move (the count and sum of their `version`s: a step replaces its row's version with a
    /// larger one), the unfinished moves, and the sale's buckets with the epochs PostgreSQL accepts
    /// for them (bucket 0 first) — which a rebuild or a change of the bucket count changes.
    public struct MoveState: Sendable, Equatable {
        public var version: String
        public var unfinished: [StockMove]
        public var buckets: [Bucket]

        /// A bucket's counter id and the epoch PostgreSQL accepts for it (nil: none yet).
        public struct Bucket: Sendable, Equatable {
            public var counterID: String
            public var epoch: RedisEpoch?
        }
    }

    static let columns = "move_id, sale_id, source, target, requested, amount, state, source_epoch, target_epoch"

    /// The moves' version, the unfinished moves and the buckets of `saleID`, in one snapshot.
    public func moveState(of saleID: String) async throws(InventoryError) -> MoveState {
        let summary = """
        (SELECT count(*) || ':' || COALESCE(sum(version), 0) FROM stock_moves WHERE sale_id = $1),
        (SELECT string_agg(sale_id || '=' || COALESCE(redis_epoch, ''), ',' ORDER BY bucket) FROM sales
         WHERE sale_id = $1 OR parent_sale_id = $1)
        """
        let result = try await writer.inventoryQuery("""
        SELECT \(Self.columns), \(summary) FROM stock_moves WHERE sale_id = $1 AND state IN ('planned', 'revoked')
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \(summary)
        """, [saleID])
        let row = result.rows.first
        let buckets = (row?[10] ?? "").split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return MoveState.Bucket(counterID: String(parts[0]), epoch: parts.count > 1 ? RedisEpoch(String(parts[1])) : nil)
        }
        return MoveState(version: (row?[9] ?? nil) ?? "", unfinished: result.rows.compactMap(Self.decode), buckets: buckets)
    }

    /// Unfinished moves older than `seconds` (of `saleIDs` only, when given), oldest first.
    public func unfinished(olderThanSeconds seconds: Double, saleIDs: [String]?, limit: Int = 200) async throws(InventoryError) -> [StockMove] {
        let result = try await writer.inventoryQuery("""
        SELECT \(Self.columns) FROM stock_moves
        WHERE state IN ('planned', 'revoked') AND created_at < now() - make_interval(secs => $1::float8)
          AND ($2::text[] IS NULL OR sale_id = ANY($2::text[]))
        ORDER BY created_at LIMIT $3
        """, [String(seconds), saleIDs.map(PostgresArray.text), String(limit)])
        return result.rows.compactMap(Self.decode)
    }

    /// Records a planned move of up to `requested` units from `source` to `target` at the
    /// source's current epoch; nil when the source has no epoch (never defined in Redis).
    public func plan(saleID: String, source: String, target: String, requested: Int64) async throws(InventoryError) -> StockMove? {
        let result = try await writer.inventoryQuery("""
        INSERT INTO stock_moves (sale_id, source, target, requested, state, source_epoch)
        SELECT $1, $2, $3, $4, 'planned', redis_epoch FROM sales WHERE sale_id = $2 AND redis_epoch IS NOT NULL
        RETURNING \(Self.columns)
        """, [saleID, source, target, String(requested)])
        return result.rows.first.flatMap(Self.decode)
    }

    /// Step 3 of a move whose revocation took `units` from the source: in one transaction holding
    /// both buckets' rows `FOR NO KEY UPDATE` (a rebuild's `FOR UPDATE` waits for it, and it for a
    /// rebuild; order inserts' `FOR KEY SHARE` do not), the units move from the source's allocation
    /// to the target's with a `moved` movement each, and the move becomes `revoked` at the
    /// target's epoch — or `done` when nothing was taken. A source whose epoch changed since the
    /// plan was rebuilt, which gave the units back: the move is `abandoned`. A move no longer
    /// `planned` is returned as it is.
    public func settleRevocation(_ moveID: Int64, units: Int64) async throws(InventoryError) -> StockMove? {
        try await writer.inventoryTransaction { connection -> StockMove? in
            guard var move = try connection.query("SELECT \(Self.columns) FROM stock_moves WHERE move_id = $1 FOR UPDATE",
                                                  [String(moveID)]).rows.first.flatMap(Self.decode) else { return nil }
            guard move.state == .planned else { return move }
            var epochs: [String: String] = [:]
            for row in try connection.query("""
            SELECT sale_id, redis_epoch FROM sales WHERE sale_id IN ($1, $2) ORDER BY sale_id FOR NO KEY UPDATE
            """, [move.source, move.target]).rows {
                if let id = row[0] { epochs[id] = row[1] ?? "" }
            }
            let reference = "move \(moveID)"
            if epochs[move.source] != move.sourceEpoch.description || units <= 0 {
                move.state = epochs[move.source] != move.sourceEpoch.description ? .abandoned : .done
                move.amount = 0
                _ = try connection.query("""
                UPDATE stock_moves SET state = $2, amount = 0, version = nextval('stock_move_versions'), updated_at = now()
                WHERE move_id = $1
                """, [String(moveID), move.state.rawValue])
                return move
            }
            // Only a bucket's child row holds its allocation in `stock_total`; the sale's own
            // allocation is what its children do not hold, so it changes with theirs.
            _ = try connection.query("""
            UPDATE sales SET stock_total = stock_total + CASE WHEN sale_id = $1 THEN -$3::bigint ELSE $3::bigint END
            WHERE sale_id IN ($1, $2) AND parent_sale_id IS NOT NULL
            """, [move.source, move.target, String(units)])
            try SaleRepository.recordMovement(.moved, saleID: move.source, quantity: -units, reference: reference, on: connection)
            try SaleRepository.recordMovement(.moved, saleID: move.target, quantity: units, reference: reference, on: connection)
            move.state = .revoked
            move.amount = units
            move.targetEpoch = epochs[move.target].flatMap(RedisEpoch.init)
            _ = try connection.query("""
            UPDATE stock_moves SET state = 'revoked', amount = $2, target_epoch = $3,
                   version = nextval('stock_move_versions'), updated_at = now()
            WHERE move_id = $1
            """, [String(moveID), String(units), epochs[move.target] ?? ""])
            return move
        }
    }

    /// Marks a move `abandoned` (its revocation met counters at another epoch) if still `planned`.
    public func abandon(_ moveID: Int64) async throws(InventoryError) {
        _ = try await writer.inventoryQuery("""
        UPDATE stock_moves SET state = 'abandoned', amount = 0, version = nextval('stock_move_versions'), updated_at = now()
        WHERE move_id = $1 AND state = 'planned'
        """, [String(moveID)])
    }

    /// Marks a `revoked` move `done`: its units are in the target's counters (granted, or counted
    /// by a rebuild of the target).
    public func finish(_ moveID: Int64) async throws(InventoryError) {
        _ = try await writer.inventoryQuery("""
        UPDATE stock_moves SET state = 'done', version = nextval('stock_move_versions'), updated_at = now()
        WHERE move_id = $1 AND state = 'revoked'
        """, [String(moveID)])
    }

    static func decode(_ row: [String?]) -> StockMove? {
        guard row.count >= 9, let id = row[0].flatMap({ Int64($0) }), let saleID = row[1], let source = row[2],
              let target = row[3], let requested = row[4].flatMap({ Int64($0) }),
              let state = row[6].flatMap(StockMove.State.init(rawValue:)), let sourceEpoch = row[7].flatMap(RedisEpoch.init)
        else { return nil }
        return StockMove(moveID: id, saleID: saleID, source: source, target: target, requested: requested,
                         amount: row[5].flatMap { Int64($0) }, state: state, sourceEpoch: sourceEpoch,
                         targetEpoch: row[8].flatMap(RedisEpoch.init))
    }
}

extension BucketRepository {
    /// Each bucket of `saleID` (bucket 0 first): its counter id and the units allocated to it.
    public func allocations(of saleID: String) async throws(InventoryError) -> [(counterID: String, bucket: Int, allocated: Int64)] {
        try await writer.inventoryQuery("""
        SELECT sale_id, bucket, \(SaleRepository.allocation("s")) FROM sales s
        WHERE sale_id = $1 OR parent_sale_id = $1 ORDER BY bucket
        """, [saleID]).rows.compactMap { row in
            guard let id = row[0], let bucket = row[1].flatMap({ Int($0) }), let units = row[2].flatMap({ Int64($0) }) else { return nil }
            return (id, bucket, units)
        }
    }
}

extension BucketRepository {
    /// Changes the bucket count of a live sale to `bucketIDs.count + 1`, drain-first, in one
    /// transaction (`Inventory.changeBuckets`):
    ///
    /// 1. Every row of the sale and of its buckets is locked `FOR UPDATE`: the lock waits for each
    ///    order insert, cancel and expiry in flight (they hold `FOR KEY SHARE`) and holds off the
    ///    rest, so nothing commits under the old layout from here on.
    /// 2. Unfinished stock moves are abandoned: the allocations are recomputed below.
    /// 3. Each buyer's orders move to the buyer's bucket in the new layout, with their idempotency
    ///    keys (they are columns of the orders); the order counts per bucket are recounted.
    /// 4. Each bucket gets its buyers' held units plus an even share of the units nobody holds;
    ///    each change of allocation is a `moved` movement. Buckets no longer in the layout go.
    /// 5. Every bucket moves to a new epoch with its counters computed from its orders
    ///    (`SaleRepository.snapshot`): reservations decided under the old layout are fenced off,
    ///    and the caller writes the snapshots to Redis.
    ///
    /// `runIDs` gives the run string of the node owning each counter id (the sale's and every new
    /// bucket's). Returns the snapshots (the sale's last), or nil when the sale does not exist.
    public func rebucket(_ saleID: String, bucketIDs: [String], runIDs: [String: String],
                         change: AdminChange) async throws(InventoryError) -> [SaleSnapshot]? {
        try await writer.inventoryTransaction { connection -> [SaleSnapshot]? in
            let reference = change.reference
            guard let head = try connection.query(
                "SELECT to_jsonb(s)::text, stock_total + restocked FROM sales s WHERE sale_id = $1 AND parent_sale_id IS NULL FOR UPDATE",
                [saleID]).rows.first, let total = head[1].flatMap({ Int64($0) }) else { return nil }
            _ = try connection.query("SELECT 1 FROM sales WHERE parent_sale_id = $1 ORDER BY sale_id FOR UPDATE", [saleID])
            // Each bucket's allocation (the sale's own depends on its buckets'), read once all are locked.
            var before: [String: Int64] = [:]
            for row in try connection.query("""
            SELECT sale_id, \(SaleRepository.allocation("s")) FROM sales s WHERE sale_id = $1 OR parent_sale_id = $1
            """, [saleID]).rows {
                if let id = row[0], let units = row[1].flatMap({ Int64($0) }) { before[id] = units }
            }
            let family = Array(before.keys)
            _ = try connection.query("""
            UPDATE stock_moves SET state = 'abandoned', version = nextval('stock_move_versions'), updated_at = now()
            WHERE sale_id = $1 AND state IN ('planned', 'revoked')
            """, [saleID])
            // New buckets' rows (their stock is set below), as the sale's definition.
            for (offset, childID) in bucketIDs.enumerated() {
                _ = try connection.query("""
                INSERT INTO sales (sale_id, sku, price_cents, stock_total, per_user_limit, starts_at, ends_at,
                                   reservation_ttl_seconds, purchase_token_required, exclusive_group, parent_sale_id, bucket, buckets)
                SELECT $2, sku, price_cents, 0, per_user_limit, starts_at, ends_at, reservation_ttl_seconds,
                       purchase_token_required, exclusive_group, sale_id, $3, 1
                FROM sales WHERE sale_id = $1
                ON CONFLICT (sale_id) DO UPDATE SET bucket = EXCLUDED.bucket
                """, [saleID, childID, String(offset + 1)])
            }
            let layout = [saleID] + bucketIDs
            let users = try connection.query("SELECT DISTINCT user_id FROM orders WHERE sale_id = ANY($1::text[])",
                                             [PostgresArray.text(family)]).rows.compactMap { $0[0] }
            let targets = users.map { layout[BucketLayout.bucket(ofUser: $0, count: layout.count)] }
            _ = try connection.query("""
            UPDATE orders o SET sale_id = m.target, updated_at = now()
            FROM unnest($1::text[], $2::text[]) AS m(user_id, target)
            WHERE o.sale_id = ANY($3::text[]) AND o.user_id = m.user_id AND o.sale_id <> m.target
            """, [PostgresArray.text(users), PostgresArray.text(targets), PostgresArray.text(family)])
            let everyone = PostgresArray.text(Array(Set(family).union(layout)))
            _ = try connection.query("DELETE FROM sale_order_counts WHERE sale_id = ANY($1::text[])", [everyone])
            _ = try connection.query("""
            INSERT INTO sale_order_counts (sale_id, orders_taken, held)
            SELECT sale_id, count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
            FROM orders WHERE sale_id = ANY($1::text[]) GROUP BY sale_id
            """, [everyone])
            var held: [String: Int64] = [:]
            for row in try connection.query("""
            SELECT sale_id, sum(quantity) FROM orders WHERE sale_id = ANY($1::text[]) AND status IN ('reserved', 'paid') GROUP BY sale_id
            """, [everyone]).rows {
                if let id = row[0], let units = row[1].flatMap({ Int64($0) }) { held[id] = units }
            }
            let free = total - layout.reduce(0) { $0 + (held[$1] ?? 0) }
            let shares = BucketLayout.initialShares(stock: max(0, free), count: layout.count)
            for (index, id) in layout.enumerated() where index > 0 {
                _ = try connection.query("UPDATE sales SET stock_total = $2, updated_at = now() WHERE sale_id = $1",
                                         [id, String((held[id] ?? 0) + shares[index])])
            }
            try SaleRepository.deleteBuckets(family.filter { !layout.contains($0) }, on: connection)
            _ = try connection.query("UPDATE sales SET buckets = $2, updated_at = now() WHERE sale_id = $1",
                                     [saleID, String(layout.count)])
            // The ledger: each bucket's allocation changed by what it holds now less what it held
            // (its orders' moves wrote their own rows through the orders' trigger).
            for id in layout {
                let after = (held[id] ?? 0) + shares[layout.firstIndex(of: id)!]
                let delta = after - (before[id] ?? 0)
                if delta != 0 { try SaleRepository.recordMovement(.moved, saleID: id, quantity: delta, reference: reference, on: connection) }
            }
            var snapshots: [SaleSnapshot] = []
            for id in bucketIDs + [saleID] {
                guard let runID = runIDs[id] else { throw InventoryError.unavailable("no Redis node known for \(id)") }
                if let snapshot = try SaleRepository.snapshot(id, runID: runID, on: connection) { snapshots.append(snapshot) }
            }
            let after = try connection.query("SELECT to_jsonb(s)::text FROM sales s WHERE sale_id = $1", [saleID]).rows.first?[0] ?? nil
            try AuditLog.record(AuditEntry(change: change, action: .saleRebucketed, target: saleID, before: head[0], after: after),
                                on: connection)
            return snapshots
        }
    }
}
