import StampedePostgres

/// The `sales` table: the durable record of every sale's definition and restocks.
public struct SaleRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// Creates or replaces a sale's row; true when it was created.
    public func save(_ d: SaleDefinition) async throws(InventoryError) -> Bool {
        let result = try await run("""
        INSERT INTO sales (sale_id, sku, price_cents, stock_total, per_user_limit, starts_at, ends_at, reservation_ttl_seconds,
                           purchase_token_required)
        VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0), to_timestamp($7::bigint / 1000.0), $8, $9)
        ON CONFLICT (sale_id) DO UPDATE SET
            sku = EXCLUDED.sku, price_cents = EXCLUDED.price_cents, stock_total = EXCLUDED.stock_total,
            restocked = 0, per_user_limit = EXCLUDED.per_user_limit, starts_at = EXCLUDED.starts_at,
            ends_at = EXCLUDED.ends_at, reservation_ttl_seconds = EXCLUDED.reservation_ttl_seconds,
            purchase_token_required = EXCLUDED.purchase_token_required, updated_at = now()
        RETURNING (xmax = 0)
        """, [d.saleID, d.sku, String(d.priceCents), String(d.stock), String(d.perUserLimit),
              String(d.startsAt.milliseconds), String(d.endsAt.milliseconds), String(d.reservationTTLSeconds),
              d.purchaseTokenRequired ? "true" : "false"])
        return result.rows.first?[0] == "t"
    }

    /// Whether PostgreSQL holds any order of the sale.
    public func hasOrders(_ saleID: String) async throws(InventoryError) -> Bool {
        try await run("SELECT 1 FROM orders WHERE sale_id = $1 LIMIT 1", [saleID]).rows.isEmpty == false
    }

    /// Records a restock; false when the sale does not exist.
    public func restock(_ saleID: String, quantity: Int64) async throws(InventoryError) -> Bool {
        try await run("UPDATE sales SET restocked = restocked + $2, updated_at = now() WHERE sale_id = $1",
                      [saleID, String(quantity)]).affectedRows == 1
    }

    /// The sale with its availability computed from committed orders (the truth after Redis lost it).
    public func sale(_ saleID: String) async throws(InventoryError) -> Sale? {
        let result = try await run("""
        SELECT s.sku, s.price_cents, s.stock_total, s.restocked, s.per_user_limit,
               (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,
               s.reservation_ttl_seconds,
               COALESCE((SELECT sum(quantity) FROM orders o WHERE o.sale_id = s.sale_id AND o.status IN ('reserved', 'paid')), 0),
               s.purchase_token_required
        FROM sales s WHERE s.sale_id = $1
        """, [saleID])
        guard let row = result.rows.first, row.count == 10 else { return nil }
        let n = row.map { $0.flatMap { Int64($0) } ?? 0 }
        let definition = SaleDefinition(saleID: saleID, sku: row[0] ?? "", priceCents: n[1], stock: n[2],
                                        perUserLimit: n[4], startsAt: Timestamp(milliseconds: n[5]),
                                        endsAt: Timestamp(milliseconds: n[6]), reservationTTLSeconds: n[7],
                                        purchaseTokenRequired: row[9] == "t")
        return Sale(definition: definition, restocked: n[3], available: n[2] + n[3] - n[8])
    }

    /// Every sale id, for the reconciler's sweep over outboxes.
    public func saleIDs() async throws(InventoryError) -> [String] {
        try await run("SELECT sale_id FROM sales ORDER BY sale_id", []).rows.compactMap { $0[0] }
    }

    private func run(_ sql: String, _ params: [String?]) async throws(InventoryError) -> PostgresResult {
        do {
            return try await writer.query(sql, params)
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }
}
