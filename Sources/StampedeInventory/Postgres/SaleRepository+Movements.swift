import StampedePostgres

/// The stock movement ledger (`stock_movements`, schema version 8): reading a sale's movements,
/// and the reconciler's check that each sale's movements sum to its figures.
extension SaleRepository {
    /// Inserts one movement on `connection`; call it inside the transaction that moves the stock
    /// (a definition, a restock). Orders write theirs by trigger.
    static func recordMovement(_ kind: StockMovement.Kind, saleID: String, quantity: Int64, reference: String,
                               on connection: PostgresConnection) throws {
        _ = try connection.query("INSERT INTO stock_movements (sale_id, kind, quantity, reference) VALUES ($1, $2, $3, $4)",
                                 [saleID, kind.rawValue, String(quantity), reference], prepared: true)
    }

    /// A page of the sale's movements, newest first: at most `limit` rows with an id below
    /// `before` (all when nil); for a bucketed sale, its buckets' rows too (a move between two of
    /// them is a `moved` row each, which cancel out). Nil when the sale does not exist.
    public func movements(_ saleID: String, before: Int64?, limit: Int) async throws(InventoryError) -> StockMovementPage? {
        // One round trip: the sale's row (absent: unknown sale) joined with up to limit + 1 of its
        // movements, the extra one only telling whether an older page exists.
        let result = try await run("""
        SELECT m.id, (extract(epoch FROM m.at) * 1000)::bigint, m.kind, m.quantity, m.reference
        FROM sales s LEFT JOIN LATERAL (
            SELECT id, at, kind, quantity, reference FROM stock_movements
            WHERE sale_id = ANY(array_append(ARRAY(SELECT b.sale_id FROM sales b WHERE b.parent_sale_id = s.sale_id), s.sale_id))
              AND id < $2::bigint ORDER BY id DESC LIMIT $3::bigint
        ) m ON true
        WHERE s.sale_id = $1 AND s.parent_sale_id IS NULL
        """, [saleID, String(before ?? Int64.max), String(limit + 1)])
        guard !result.rows.isEmpty else { return nil }
        var movements: [StockMovement] = []
        for row in result.rows {
            guard row.count == 5, let id = row[0].flatMap({ Int64($0) }) else { continue }
            movements.append(StockMovement(id: id, at: Timestamp(milliseconds: row[1].flatMap { Int64($0) } ?? 0),
                                           kind: row[2].flatMap(StockMovement.Kind.init(rawValue:)) ?? .repaired,
                                           quantity: row[3].flatMap { Int64($0) } ?? 0, reference: row[4] ?? ""))
        }
        guard movements.count > limit else { return StockMovementPage(movements: movements, nextBefore: nil) }
        movements.removeLast(movements.count - limit)
        return StockMovementPage(movements: movements, nextBefore: movements.last?.id)
    }

    /// Compares each sale's movements with `stock_total + restocked − held` (less the units
    /// allocated to its buckets, for a bucketed sale: `SaleRepository.allocation`; held from
    /// `sale_order_counts`) and, unless `dryRun`, writes a `repaired` movement referenced by
    /// `reference` for each difference. Returns the differences found.
    ///
    /// The comparison is one statement, so it reads the ledger and the figures in one snapshot:
    /// every writer of orders, definitions and restocks commits its movement with its change, so a
    /// difference is never a commit in flight. An advisory lock keeps two instances' passes from
    /// repairing the same difference twice; a pass that finds it taken skips the check (nil).
    public func reconcileLedger(_ saleIDs: [String], reference: String, dryRun: Bool) async throws(InventoryError) -> [LedgerDifference]? {
        guard !saleIDs.isEmpty else { return [] }
        let differences = """
        WITH expected AS (
            SELECT s.sale_id, \(SaleRepository.allocation("s"))
                   - COALESCE((SELECT sum(c.held) FROM sale_order_counts c WHERE c.sale_id = s.sale_id), 0) AS units
            FROM sales s WHERE s.sale_id = ANY($1::text[])
        ), differences AS (
            SELECT e.sale_id, e.units - COALESCE((SELECT sum(m.quantity) FROM stock_movements m WHERE m.sale_id = e.sale_id), 0) AS quantity
            FROM expected e
        )
        """
        let parameters = [PostgresArray.text(saleIDs), reference]
        let taken: [[String?]]? = try await writer.inventoryTransaction { connection in
            if dryRun {
                return try connection.query(differences + "SELECT sale_id, quantity FROM differences WHERE quantity <> 0",
                                            [parameters[0]], prepared: true).rows
            }
            let locked = try connection.query("SELECT pg_try_advisory_xact_lock(7243052)").rows.first?[0] == "t"
            guard locked else { return nil }
            return try connection.query(differences + """
            INSERT INTO stock_movements (sale_id, kind, quantity, reference)
            SELECT sale_id, 'repaired', quantity, $2 FROM differences WHERE quantity <> 0
            RETURNING sale_id, quantity
            """, parameters, prepared: true).rows
        }
        guard let rows = taken else { return nil }
        return rows.compactMap { row in
            guard row.count == 2, let id = row[0], let quantity = row[1].flatMap({ Int64($0) }) else { return nil }
            return LedgerDifference(saleID: id, quantity: quantity)
        }
    }
}
