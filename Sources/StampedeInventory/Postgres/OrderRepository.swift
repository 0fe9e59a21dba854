import StampedePostgres

/// The `orders` table: committed orders are the truth of what was sold.
///
/// Writes go to the writer (primary) pool; reads to the reader pool (a streaming replica) when
/// `routing` says the replica has replayed this process's writes of that order or user, else to the
/// writer (read-your-writes for the buyer). A row the replica does not have, or a replica that
/// fails, is read again on the writer.
public struct OrderRepository: Sendable {
    public let writer: PostgresClient
    public let reader: PostgresClient
    /// Where reads go; every write records its orders and users here once committed.
    public let routing: ReplicaReadRouter

    public init(writer: PostgresClient, reader: PostgresClient, routing: ReplicaReadRouter = ReplicaReadRouter()) {
        self.writer = writer
        self.reader = reader
        self.routing = routing
    }

    static let columns = """
    order_id, sale_id, sku, user_id, quantity, price_cents, status,
    (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM expires_at) * 1000)::bigint,
    idempotency_key
    """

    /// The outcome of committing one batch.
    public struct BatchCommit: Sendable {
        /// Orders of the batch as committed (inserted now or found already committed).
        public var orders: [String: Order]
    }

    /// Commits a group: inserts `reserved` (new reservations) and `replayed` (reservations still in
    /// the outbox, re-sent by idempotent retries) — each at most once — and reads back every order
    /// of `lookup`. Returning means committed.
    ///
    /// The common group — only new reservations — is one `INSERT` statement, which PostgreSQL runs
    /// and commits atomically on its own: one round trip and one commit for the whole group.
    public func commitBatch(reserved: [Order], replayed: [Order], lookup: [String]) async throws(InventoryError) -> BatchCommit {
        do {
            defer { routing.recordWrite(orders: (reserved + replayed).map(\.orderID), users: (reserved + replayed).map(\.userID)) }
            if replayed.isEmpty && lookup.isEmpty {
                guard !reserved.isEmpty else { return BatchCommit(orders: [:]) }
                try await writer.withConnection { connection in _ = try Self.insert(reserved, on: connection) }
                return BatchCommit(orders: Dictionary(reserved.map { ($0.orderID, $0) }, uniquingKeysWith: { first, _ in first }))
            }
            let inserts = reserved + replayed
            return try await writer.transaction { connection in
                if !inserts.isEmpty { try Self.insert(inserts, on: connection) }
                var found: [String: Order] = [:]
                for order in reserved { found[order.orderID] = order }
                let missing = Array(Set(lookup + replayed.map(\.orderID)))
                if !missing.isEmpty {
                    for order in try Self.find(missing, on: connection) { found[order.orderID] = order }
                }
                return BatchCommit(orders: found)
            }
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// Inserts orders that are not there yet (`ON CONFLICT DO NOTHING`): committing the same
    /// reservation twice — by the shard and by the reconciler — is harmless. Returns how many rows
    /// were new. One statement whatever the group size: the rows travel as ten arrays, so the SQL
    /// text is constant and cheap to parse.
    @discardableResult
    static func insert(_ orders: [Order], on connection: PostgresConnection) throws -> Int {
        var ids: [String?] = [], sales: [String?] = [], skus: [String?] = [], users: [String?] = []
        var quantities: [Int64] = [], prices: [Int64] = [], statuses: [String?] = []
        var created: [Int64] = [], expires: [Int64] = [], keys: [String?] = []
        ids.reserveCapacity(orders.count); sales.reserveCapacity(orders.count); skus.reserveCapacity(orders.count)
        users.reserveCapacity(orders.count); quantities.reserveCapacity(orders.count); prices.reserveCapacity(orders.count)
        statuses.reserveCapacity(orders.count); created.reserveCapacity(orders.count)
        expires.reserveCapacity(orders.count); keys.reserveCapacity(orders.count)
        for order in orders {
            ids.append(order.orderID); sales.append(order.saleID); skus.append(order.sku); users.append(order.userID)
            quantities.append(order.quantity); prices.append(order.priceCents); statuses.append(order.status.rawValue)
            created.append(order.createdAt.milliseconds); expires.append(order.expiresAt.milliseconds)
            keys.append(order.idempotencyKey)
        }
        let sql = """
        INSERT INTO orders (order_id, sale_id, sku, user_id, quantity, price_cents, status, created_at, expires_at, idempotency_key)
        SELECT o, s, k, u, q, p, st, to_timestamp(c / 1000.0), to_timestamp(e / 1000.0), i
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
                    $8::bigint[], $9::bigint[], $10::text[]) AS t(o, s, k, u, q, p, st, c, e, i)
        ON CONFLICT (order_id) DO NOTHING
        """
        return try connection.query(sql, [
            PostgresArray.text(ids), PostgresArray.text(sales), PostgresArray.text(skus), PostgresArray.text(users),
            PostgresArray.integers(quantities), PostgresArray.integers(prices), PostgresArray.text(statuses),
            PostgresArray.integers(created), PostgresArray.integers(expires), PostgresArray.text(keys),
        ]).affectedRows
    }

    static func find(_ ids: [String], on connection: PostgresConnection) throws -> [Order] {
        let result = try connection.query("SELECT \(columns) FROM orders WHERE order_id = ANY($1::text[])",
                                          [PostgresArray.text(ids)])
        return try decode(result)
    }

    /// The order, from the reader, else from the writer (only the writer with `primaryOnly`);
    /// nil when it does not exist.
    public func order(_ orderID: String, primaryOnly: Bool = false) async throws(InventoryError) -> Order? {
        let sql = "SELECT \(Self.columns) FROM orders WHERE order_id = $1"
        if primaryOnly { return try await fetch(writer, sql, [orderID]).first }
        return try await read(sql, [orderID], target: routing.target(order: orderID), missIsEmpty: true).first
    }

    /// A user's newest orders first, at most `limit`.
    public func orders(ofUser userID: String, limit: Int = 100) async throws(InventoryError) -> [Order] {
        try await read("SELECT \(Self.columns) FROM orders WHERE user_id = $1 ORDER BY created_at DESC, order_id DESC LIMIT $2",
                       [userID, String(limit)], target: routing.target(user: userID), missIsEmpty: false)
    }

    /// Reads on the replica when `target` allows it; reads on the writer when it does not, when the
    /// replica fails, or (`missIsEmpty`) when the replica has no row.
    private func read(_ sql: String, _ params: [String?], target: ReplicaReadPolicy.Target,
                      missIsEmpty: Bool) async throws(InventoryError) -> [Order] {
        switch target {
        case .replica:
            do {
                let found = try await fetch(reader, sql, params)
                if !found.isEmpty || !missIsEmpty {
                    routing.countReplicaRead()
                    return found
                }
                routing.countPrimaryRead(.replicaMiss)
            } catch {
                routing.replicaFailed()
                routing.countPrimaryRead(.replicaDown)
            }
        case .primary(let reason):
            routing.countPrimaryRead(reason)
        }
        return try await fetch(writer, sql, params)
    }

    /// Moves a `reserved`, unexpired order to `paid` or `cancelled`; the one conditional update that
    /// decides a race with expiry or a concurrent cancel/pay. Returns the order when it moved.
    public func transition(_ orderID: String, to status: OrderStatus) async throws(InventoryError) -> Order? {
        defer { routing.recordWrite(orders: [orderID], users: []) }
        let moved = try await fetch(writer, """
        UPDATE orders SET status = $2, updated_at = now()
        WHERE order_id = $1 AND status = 'reserved' AND expires_at > now()
        RETURNING \(Self.columns)
        """, [orderID, status.rawValue]).first
        if let moved { routing.recordWrite(orders: [], users: [moved.userID]) }
        return moved
    }

    /// Expires reserved orders past `expires_at` (at most `limit`, skipping rows another instance
    /// is expiring); returns them so their stock can be returned.
    public func expireDue(limit: Int = 500, orderID: String? = nil) async throws(InventoryError) -> [Order] {
        let expired = try await fetch(writer, """
        UPDATE orders SET status = 'expired', updated_at = now()
        WHERE order_id IN (
            SELECT order_id FROM orders
            WHERE status = 'reserved' AND expires_at <= now() AND ($2::text IS NULL OR order_id = $2)
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING \(Self.columns)
        """, [String(limit), orderID])
        routing.recordWrite(orders: expired.map(\.orderID), users: expired.map(\.userID))
        return expired
    }

    /// Cancelled or expired orders whose stock return is not yet recorded, older than `graceSeconds`.
    public func unreturned(graceSeconds: Int, limit: Int = 500) async throws(InventoryError) -> [Order] {
        try await fetch(writer, """
        SELECT \(Self.columns) FROM orders
        WHERE status IN ('cancelled', 'expired') AND NOT stock_returned
          AND updated_at < now() - make_interval(secs => $1)
        ORDER BY updated_at LIMIT $2
        """, [String(graceSeconds), String(limit)])
    }

    /// Records that these orders' stock went back to Redis.
    public func markStockReturned(_ orderIDs: [String]) async throws(InventoryError) {
        guard !orderIDs.isEmpty else { return }
        _ = try await run(writer, "UPDATE orders SET stock_returned = true WHERE order_id = ANY($1::text[])",
                          [PostgresArray.text(orderIDs)])
    }

    /// Inserts reservations recovered from the outbox (the reconciler); returns how many were new.
    public func commitRecovered(_ orders: [Order]) async throws(InventoryError) -> Int {
        guard !orders.isEmpty else { return 0 }
        do {
            defer { routing.recordWrite(orders: orders.map(\.orderID), users: orders.map(\.userID)) }
            return try await writer.withConnection { connection in try Self.insert(orders, on: connection) }
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// What PostgreSQL says a sale has sold: reservations ever taken, and units held per user by
    /// `reserved` and `paid` orders. Used to rebuild Redis.
    public func holdings(saleID: String) async throws(InventoryError) -> (orders: Int64, users: [(userID: String, units: Int64)]) {
        let count = try await run(writer, "SELECT count(*) FROM orders WHERE sale_id = $1", [saleID])
        let rows = try await run(writer, """
        SELECT user_id, sum(quantity) FROM orders
        WHERE sale_id = $1 AND status IN ('reserved', 'paid') GROUP BY user_id
        """, [saleID])
        let users = rows.rows.compactMap { row -> (String, Int64)? in
            guard let user = row[0], let units = row[1].flatMap({ Int64($0) }) else { return nil }
            return (user, units)
        }
        return (Int64(count.rows.first?[0] ?? "0") ?? 0, users)
    }

    private func fetch(_ client: PostgresClient, _ sql: String, _ params: [String?]) async throws(InventoryError) -> [Order] {
        let result = try await run(client, sql, params)
        do {
            return try Self.decode(result)
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    private func run(_ client: PostgresClient, _ sql: String, _ params: [String?]) async throws(InventoryError) -> PostgresResult {
        do {
            return try await client.query(sql, params)
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    static func decode(_ result: PostgresResult) throws(InventoryError) -> [Order] {
        try result.rows.map { row throws(InventoryError) in
            guard row.count == 10, let id = row[0], let sale = row[1], let sku = row[2], let user = row[3],
                  let quantity = row[4].flatMap({ Int64($0) }), let price = row[5].flatMap({ Int64($0) }),
                  let status = row[6].flatMap(OrderStatus.init(rawValue:)),
                  let created = row[7].flatMap({ Int64($0) }), let expires = row[8].flatMap({ Int64($0) })
            else { throw .unavailable("postgres: malformed order row") }
            return Order(orderID: id, saleID: sale, sku: sku, userID: user, quantity: quantity, priceCents: price,
                         status: status, createdAt: Timestamp(milliseconds: created),
                         expiresAt: Timestamp(milliseconds: expires), idempotencyKey: row[9])
        }
    }
}

/// Text-format PostgreSQL array literals for `= ANY($1::text[])` parameters.
enum PostgresArray {
    /// `{"a","b",NULL}`; ids are `[A-Za-z0-9._:-]`, but quotes and backslashes are escaped anyway.
    static func text(_ values: [String?]) -> String {
        var out = "{"
        out.reserveCapacity(2 + values.count * 32)
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            guard let value else {
                out += "NULL"
                continue
            }
            out += "\""
            if value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for ch in value {
                    if ch == "\"" || ch == "\\" { out += "\\" }
                    out.append(ch)
                }
            } else {
                out += value
            }
            out += "\""
        }
        return out + "}"
    }

    /// `{"a","b"}`.
    static func text(_ values: [String]) -> String { text(values.map(Optional.some)) }

    /// `{1,2,3}`.
    static func integers(_ values: [Int64]) -> String {
        var out = "{"
        out.reserveCapacity(2 + values.count * 14)
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            out += String(value)
        }
        return out + "}"
    }
}
