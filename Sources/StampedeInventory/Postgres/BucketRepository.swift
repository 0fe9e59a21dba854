import StampedePostgres

/// The `stock_moves` table: every move of units between a bucketed sale's buckets, each step
/// recorded before or after its Redis step so that a crash anywhere leaves a move someone can
/// finish (`StockMove`). Allocations are the buckets' `sales.stock_total`.
public struct BucketRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// What the moves of a sale look like now: a version that changes with every step of any of
    /// them (the count and sum of their `version`s: a step replaces its row's version with a
    /// larger one), and those unfinished.
    public struct MoveState: Sendable, Equatable {
        public var version: String
        public var unfinished: [StockMove]
    }

    static let columns = "move_id, sale_id, source, target, requested, amount, state, source_epoch, target_epoch"

    /// The moves' version and unfinished moves of `saleID`, in one snapshot.
    public func moveState(of saleID: String) async throws(InventoryError) -> MoveState {
        let result = try await writer.inventoryQuery("""
        SELECT \(Self.columns), (SELECT count(*) || ':' || COALESCE(sum(version), 0) FROM stock_moves WHERE sale_id = $1)
        FROM stock_moves WHERE sale_id = $1 AND state IN ('planned', 'revoked')
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               (SELECT count(*) || ':' || COALESCE(sum(version), 0) FROM stock_moves WHERE sale_id = $1)
        """, [saleID])
        let version = result.rows.first?[9] ?? ""
        return MoveState(version: version, unfinished: result.rows.compactMap(Self.decode))
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

    /// The epoch PostgreSQL holds for a counter id now (nil: none).
    public func epoch(of counterID: String) async throws(InventoryError) -> RedisEpoch? {
        let text: String?? = try await writer.inventoryQuery("SELECT redis_epoch FROM sales WHERE sale_id = $1", [counterID]).rows.first?[0]
        return (text ?? nil).flatMap(RedisEpoch.init)
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
