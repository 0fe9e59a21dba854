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
    /// Whether the writer was last seen unreachable (a commit failed to connect or lost its
    /// connection); purchases are refused up front meanwhile instead of taking stock in Redis.
    public let writerHealth = DependencyHealth()

    /// The writer's connections on the reactors, for the common group commit (one statement, no
    /// transaction around it); `nil` runs it on the `writer` pool like everything else.
    public let groupCommitter: PostgresReactorClient?

    public init(writer: PostgresClient, reader: PostgresClient, groupCommitter: PostgresReactorClient? = nil,
                routing: ReplicaReadRouter = ReplicaReadRouter()) {
        self.writer = writer
        self.reader = reader
        self.groupCommitter = groupCommitter
        self.routing = routing
    }

    static let columns = """
    order_id, sale_id, sku, user_id, quantity, price_cents, status,
    (extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM expires_at) * 1000)::bigint,
    idempotency_key
    """

    /// Commits a group: inserts `reserved` (new reservations) and `replayed` (reservations still in
    /// the outbox, re-sent by idempotent retries) — each at most once — and reads back every order
    /// of `lookup`. Returning means committed.
    ///
    /// Each sale's row is locked `FOR KEY SHARE` and its `redis_epoch` must equal the epoch the
    /// sale's purchases were decided at (`epochs`); otherwise that sale's orders are left out and
    /// reported in `fenced`. This is what keeps a rebuild's snapshot exact (see
    /// `SaleRepository.rebuildSnapshot`).
    ///
    /// The common group — only new reservations — is one `INSERT` statement (fence included),
    /// which PostgreSQL runs and commits atomically on its own: one round trip and one commit for
    /// the whole group.
    public nonisolated(nonsending) func commitBatch(reserved: [Order], replayed: [Order], lookup: [String],
                            epochs: [String: RedisEpoch], groups: [String: GroupFence] = [:]) async throws(InventoryError) -> GroupCommit {
        do {
            defer { if routing.recordsWrites { Self.recordWrite(reserved, replayed, in: routing) } }
            let requested = Self.saleIDs(of: reserved).union(Self.saleIDs(of: replayed))
            if replayed.isEmpty && lookup.isEmpty {
                guard !reserved.isEmpty else { return GroupCommit() }
                let accepted: Set<String>
                if let groupCommitter {
                    // On the calling shard's reactor: written, and the shard resumes at its sync.
                    accepted = try await Self.insertNewGroup(reserved, epochs: epochs, groups: groups, on: groupCommitter)
                } else {
                    accepted = try await writer.withConnection { connection in
                        do {
                            return try Self.insertFenced(reserved, epochs: epochs, groups: groups, skippingExisting: false,
                                                         on: connection).accepted
                        } catch let error as PostgresError where error.isUniqueViolation {
                            // An order of the group is committed already (the reconciler recovered it
                            // from the outbox first); the statement inserted nothing. Insert the rest.
                            return try Self.insertFenced(reserved, epochs: epochs, groups: groups, on: connection).accepted
                        }
                    }
                }
                let fenced = requested.subtracting(accepted)
                return GroupCommit(fenced: fenced, reservedCommitted: Self.count(reserved, outside: fenced))
            }
            return try await writer.transaction { connection in
                let accepted = try Self.insertFenced(reserved + replayed, epochs: epochs, groups: groups, on: connection).accepted
                let fenced = requested.subtracting(accepted)
                var found: [String: Order] = [:]
                let missing = Array(Set(lookup + replayed.map(\.orderID)))
                if !missing.isEmpty {
                    for order in try Self.find(missing, on: connection) { found[order.orderID] = order }
                }
                return GroupCommit(readBack: found, fenced: fenced, reservedCommitted: Self.count(reserved, outside: fenced))
            }
        } catch let error as InventoryError {
            throw error
        } catch {
            if DependencyHealth.isConnectionFailure(error) { writerHealth.markDown() }
            throw .unavailable("postgres: \(error)")
        }
    }

    /// The sales of `orders` (a group of one hot sale — a rush — builds its set without hashing
    /// every order).
    static func saleIDs(of orders: [Order]) -> Set<String> {
        guard let first = orders.first?.saleID else { return [] }
        if orders.allSatisfy({ $0.saleID == first }) { return [first] }
        return Set(orders.map(\.saleID))
    }

    /// Records a group's orders and users for read-your-writes: one array each, no concatenation.
    private static func recordWrite(_ reserved: [Order], _ replayed: [Order], in routing: ReplicaReadRouter) {
        var orderIDs: [String] = [], userIDs: [String] = []
        orderIDs.reserveCapacity(reserved.count + replayed.count)
        userIDs.reserveCapacity(reserved.count + replayed.count)
        for order in reserved { orderIDs.append(order.orderID); userIDs.append(order.userID) }
        for order in replayed { orderIDs.append(order.orderID); userIDs.append(order.userID) }
        routing.recordWrite(orders: orderIDs, users: userIDs)
    }

    /// How many of `orders` belong to sales not in `fenced`.
    private static func count(_ orders: [Order], outside fenced: Set<String>) -> Int {
        fenced.isEmpty ? orders.count : orders.reduce(0) { $0 + (fenced.contains($1.saleID) ? 0 : 1) }
    }

    /// Inserts orders that are not there yet (`ON CONFLICT DO NOTHING`: committing the same
    /// reservation twice — by the shard and by the reconciler — is harmless), but only those of
    /// sales whose row, locked `FOR KEY SHARE`, holds the epoch they were decided at — and, for a
    /// sale of an exclusive group (`groups`), whose group's row, locked likewise, holds the epoch
    /// of the claims they were decided under (a rebuild of the group fences them off). One statement
    /// whatever the group size: the rows travel as arrays, so the SQL text is constant. Returns the
    /// sales that passed the fence and how many rows were new.
    ///
    /// `skippingExisting: false` leaves out the `ON CONFLICT` clause: a plain insert, for a group
    /// whose orders are new but for a rare race with the reconciler. PostgreSQL then skips the
    /// speculative insertion (a primary-key probe and an extra WAL record per row), about an
    /// eighth of its CPU per order at peak; an order that exists fails the whole statement with a
    /// unique violation (23505) and nothing is inserted, so the caller runs it again skipping.
    static func insertFenced(_ orders: [Order], epochs: [String: RedisEpoch], groups: [String: GroupFence] = [:],
                             skippingExisting: Bool = true,
                             on connection: PostgresConnection) throws -> (accepted: Set<String>, inserted: Int) {
        guard !orders.isEmpty else { return ([], 0) }
        let rows = try connection.query(Self.fencedInsert(skippingExisting: skippingExisting),
                                        fencedInsertParameters(orders, epochs: epochs, groups: groups), prepared: true).rows
        return fencedInsertOutcome(rows)
    }

    /// `insertFenced` as one statement on a reactor connection (its own implicit transaction).
    nonisolated(nonsending) static func insertFenced(_ orders: [Order], epochs: [String: RedisEpoch], groups: [String: GroupFence],
                             skippingExisting: Bool = true,
                             on client: PostgresReactorClient) async throws(PostgresError) -> (accepted: Set<String>, inserted: Int) {
        guard !orders.isEmpty else { return ([], 0) }
        let rows = try await client.query(Self.fencedInsert(skippingExisting: skippingExisting),
                                          fencedInsertParameters(orders, epochs: epochs, groups: groups), prepared: true).rows
        return fencedInsertOutcome(rows)
    }

    /// A group of new reservations inserted by one plain statement; when an order of it is
    /// committed already (the reconciler recovered it from the outbox first) the statement
    /// inserted nothing, and the group is inserted again skipping existing rows. Returns the
    /// sales that passed the fence.
    private nonisolated(nonsending) static func insertNewGroup(_ orders: [Order], epochs: [String: RedisEpoch], groups: [String: GroupFence],
                                       on client: PostgresReactorClient) async throws(PostgresError) -> Set<String> {
        do {
            return try await insertFenced(orders, epochs: epochs, groups: groups, skippingExisting: false, on: client).accepted
        } catch {
            guard error.isUniqueViolation else { throw error }
        }
        return try await insertFenced(orders, epochs: epochs, groups: groups, on: client).accepted
    }

    /// The parameters of the fenced insert: the orders' columns as arrays ($1…$10), the sales to
    /// fence and their epochs ($11, $12), each sale's exclusive group and its claims' epoch ($13,
    /// $14; NULL for a sale of no group), written straight from the orders into one buffer that
    /// libpq reads in place: no array of Strings per column, no String per literal, no C-string
    /// copies.
    private static func fencedInsertParameters(_ orders: [Order], epochs: [String: RedisEpoch],
                                               groups: [String: GroupFence]) -> PostgresParameters {
        let fenceSales = saleIDs(of: orders).sorted()
        var parameters = PostgresParameters(byteCapacity: 256 + orders.count * 160)
        PostgresArray.appendText(orders, to: &parameters) { $0.orderID }
        PostgresArray.appendText(orders, to: &parameters) { $0.saleID }
        PostgresArray.appendText(orders, to: &parameters) { $0.sku }
        PostgresArray.appendText(orders, to: &parameters) { $0.userID }
        PostgresArray.appendIntegers(orders, to: &parameters) { $0.quantity }
        PostgresArray.appendIntegers(orders, to: &parameters) { $0.priceCents }
        PostgresArray.appendText(orders, to: &parameters) { $0.status.rawValue }
        PostgresArray.appendIntegers(orders, to: &parameters) { $0.createdAt.milliseconds }
        PostgresArray.appendIntegers(orders, to: &parameters) { $0.expiresAt.milliseconds }
        PostgresArray.appendText(orders, to: &parameters) { $0.idempotencyKey }
        PostgresArray.appendText(fenceSales, to: &parameters) { $0 }
        PostgresArray.appendText(fenceSales, to: &parameters) { epochs[$0]?.description }
        PostgresArray.appendText(fenceSales, to: &parameters) { groups.isEmpty ? nil : groups[$0]?.groupID }
        PostgresArray.appendText(fenceSales, to: &parameters) { groups.isEmpty ? nil : groups[$0]?.epoch.description }
        return parameters
    }

    /// The sales that passed the fence and how many rows were new, from the fenced insert's rows.
    private static func fencedInsertOutcome(_ rows: [[String?]]) -> (accepted: Set<String>, inserted: Int) {
        (Set(rows.compactMap { $0[0] }), Int(rows.first?[1] ?? "0") ?? 0)
    }

    private static func fencedInsert(skippingExisting: Bool) -> String {
        skippingExisting ? fencedInsertSkippingExisting : fencedInsert
    }

    /// The statement of `insertFenced`, with and without skipping existing rows (built once: the
    /// text is also the key of the connection's prepared statement).
    private static let fencedInsert = fencedInsertSQL(onConflict: "")
    private static let fencedInsertSkippingExisting = fencedInsertSQL(onConflict: "ON CONFLICT (order_id) DO NOTHING")

    private static func fencedInsertSQL(onConflict: String) -> String {
        """
        WITH group_fence AS (
            SELECT g.group_id, g.redis_epoch FROM exclusive_groups g
            WHERE g.group_id = ANY($13::text[])
            ORDER BY g.group_id
            FOR KEY SHARE OF g),
        fence AS (
            SELECT s.sale_id FROM sales s
            JOIN unnest($11::text[], $12::text[], $13::text[], $14::text[]) AS f(id, epoch, grp, grp_epoch)
              ON s.sale_id = f.id AND s.redis_epoch = f.epoch
            WHERE f.grp IS NULL
               OR EXISTS (SELECT 1 FROM group_fence h WHERE h.group_id = f.grp AND h.redis_epoch = f.grp_epoch)
            ORDER BY s.sale_id
            FOR KEY SHARE OF s),
        ins AS (
            INSERT INTO orders (order_id, sale_id, sku, user_id, quantity, price_cents, status, created_at, expires_at, idempotency_key)
            SELECT o, s, k, u, q, p, st, to_timestamp(c / 1000.0), to_timestamp(e / 1000.0), i
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
                        $8::bigint[], $9::bigint[], $10::text[]) AS t(o, s, k, u, q, p, st, c, e, i)
            WHERE t.s IN (SELECT sale_id FROM fence)
            \(onConflict)
            RETURNING 1)
        SELECT sale_id, (SELECT count(*) FROM ins) FROM fence
        """
    }

    static func find(_ ids: [String], on connection: PostgresConnection) throws -> [Order] {
        let result = try connection.query("SELECT \(columns) FROM orders WHERE order_id = ANY($1::text[])",
                                          [PostgresArray.text(ids)], prepared: true)
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
    /// decides a race with expiry or a concurrent cancel/pay. Returns the order when it moved, with
    /// its sale's epoch read under `FOR KEY SHARE` (a cancel's stock return is fenced on it).
    public func transition(_ orderID: String, to status: OrderStatus) async throws(InventoryError) -> SettledOrder? {
        defer { routing.recordWrite(orders: [orderID], users: []) }
        let moved = try await fetchSettled("""
        WITH moved AS (
            UPDATE orders SET status = $2, updated_at = now()
            WHERE order_id = $1 AND status = 'reserved' AND expires_at > now()
            RETURNING *)
        SELECT \(Self.settledColumns) FROM moved o JOIN sales s ON s.sale_id = o.sale_id FOR KEY SHARE OF s
        """, [orderID, status.rawValue]).first
        if let moved { routing.recordWrite(orders: [], users: [moved.order.userID]) }
        return moved
    }

    /// Expires reserved orders past `expires_at` (at most `limit`, skipping rows another instance
    /// is expiring); returns them, with their sales' epochs, so their stock can be returned.
    public func expireDue(limit: Int = 500, orderID: String? = nil) async throws(InventoryError) -> [SettledOrder] {
        let expired = try await fetchSettled("""
        WITH moved AS (
            UPDATE orders SET status = 'expired', updated_at = now()
            WHERE order_id IN (
                SELECT order_id FROM orders
                WHERE status = 'reserved' AND expires_at <= now() AND ($2::text IS NULL OR order_id = $2)
                ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING *)
        SELECT \(Self.settledColumns) FROM moved o JOIN sales s ON s.sale_id = o.sale_id FOR KEY SHARE OF s
        """, [String(limit), orderID])
        routing.recordWrite(orders: expired.map(\.order.orderID), users: expired.map(\.order.userID))
        return expired
    }

    /// Cancelled or expired orders whose stock return is not yet recorded, older than `graceSeconds`,
    /// with their sales' current epochs.
    public func unreturned(graceSeconds: Int, limit: Int = 500) async throws(InventoryError) -> [SettledOrder] {
        try await fetchSettled("""
        SELECT \(Self.settledColumns) FROM orders o JOIN sales s ON s.sale_id = o.sale_id
        WHERE o.status IN ('cancelled', 'expired') AND NOT o.stock_returned
          AND o.updated_at < now() - make_interval(secs => $1)
        ORDER BY o.updated_at LIMIT $2
        """, [String(graceSeconds), String(limit)])
    }

    static let settledColumns = """
    o.order_id, o.sale_id, o.sku, o.user_id, o.quantity, o.price_cents, o.status,
    (extract(epoch FROM o.created_at) * 1000)::bigint, (extract(epoch FROM o.expires_at) * 1000)::bigint,
    o.idempotency_key, s.redis_epoch, s.exclusive_group,
    (SELECT g.redis_epoch FROM exclusive_groups g WHERE g.group_id = s.exclusive_group)
    """

    private func fetchSettled(_ sql: String, _ params: [String?]) async throws(InventoryError) -> [SettledOrder] {
        let result = try await run(writer, sql, params)
        let orders = try Self.decode(PostgresResult(columns: Array(result.columns.prefix(10)),
                                                    rows: result.rows.map { Array($0.prefix(10)) },
                                                    affectedRows: result.affectedRows, commandTag: result.commandTag))
        return zip(orders, result.rows).map { order, row in
            SettledOrder(order: order, epoch: (row.count > 10 ? row[10] : nil).flatMap(RedisEpoch.init),
                         group: row.count > 11 ? row[11] : nil,
                         groupEpoch: (row.count > 12 ? row[12] : nil).flatMap(RedisEpoch.init))
        }
    }

    /// Which of `orderIDs` are committed (primary).
    public func committed(_ orderIDs: [String]) async throws(InventoryError) -> Set<String> {
        guard !orderIDs.isEmpty else { return [] }
        let result = try await run(writer, "SELECT order_id FROM orders WHERE order_id = ANY($1::text[])",
                                   [PostgresArray.text(orderIDs)])
        return Set(result.rows.compactMap { $0[0] })
    }

    /// How many reservations are past `expires_at`, and how many settled orders still wait for
    /// their stock to go back (for `stampede reconcile --dry-run`).
    public func backlog(graceSeconds: Int) async throws(InventoryError) -> (due: Int, unreturned: Int) {
        let result = try await run(writer, """
        SELECT (SELECT count(*) FROM orders WHERE status = 'reserved' AND expires_at <= now()),
               (SELECT count(*) FROM orders WHERE status IN ('cancelled', 'expired') AND NOT stock_returned
                  AND updated_at < now() - make_interval(secs => $1))
        """, [String(graceSeconds)])
        let row = result.rows.first ?? []
        return (Int(row.first.flatMap { $0 } ?? "0") ?? 0, Int(row.count > 1 ? row[1] ?? "0" : "0") ?? 0)
    }

    /// Records that these orders' stock went back to Redis.
    public func markStockReturned(_ orderIDs: [String]) async throws(InventoryError) {
        guard !orderIDs.isEmpty else { return }
        _ = try await run(writer, "UPDATE orders SET stock_returned = true WHERE order_id = ANY($1::text[])",
                          [PostgresArray.text(orderIDs)])
    }

    /// Inserts reservations of one sale recovered from its outbox (the reconciler), fenced like a
    /// batch on the epoch they were read under; returns how many were new, nil when fenced off.
    public func commitRecovered(_ orders: [Order], saleID: String, epoch: RedisEpoch,
                                group: GroupFence? = nil) async throws(InventoryError) -> Int? {
        guard !orders.isEmpty else { return 0 }
        do {
            defer { routing.recordWrite(orders: orders.map(\.orderID), users: orders.map(\.userID)) }
            return try await writer.withConnection { connection -> Int? in
                let result = try Self.insertFenced(orders, epochs: [saleID: epoch], groups: group.map { [saleID: $0] } ?? [:],
                                                   on: connection)
                return result.accepted.contains(saleID) ? result.inserted : nil
            }
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
            return try await client.query(sql, params, prepared: true)
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

/// An order that left `reserved` for `cancelled` or `expired`, with the epoch its sale's
/// counters must be at for its stock to go back (`StockLedger.release`).
public struct SettledOrder: Sendable, Equatable {
    public var order: Order
    public var epoch: RedisEpoch?
    /// The order's exclusive group, and the epoch its claims were at when the order settled: the
    /// order's claim is released at that epoch.
    public var group: String?
    public var groupEpoch: RedisEpoch?

    public init(order: Order, epoch: RedisEpoch?, group: String? = nil, groupEpoch: RedisEpoch? = nil) {
        self.order = order
        self.epoch = epoch
        self.group = group
        self.groupEpoch = groupEpoch
    }
}

/// Text-format PostgreSQL array literals for `= ANY($1::text[])` and `unnest` parameters.
enum PostgresArray {
    /// `{"a","b",NULL}`; ids are `[A-Za-z0-9._:-]`, but quotes and backslashes are escaped anyway.
    static func text(_ values: [String?]) -> String {
        var parameters = PostgresParameters(byteCapacity: 2 + values.count * 32)
        appendText(values, to: &parameters) { $0 }
        return parameters.value(at: 0)!
    }

    /// `{"a","b"}`.
    static func text(_ values: [String]) -> String { text(values.map(Optional.some)) }

    /// Appends the literal `{"a","b",NULL}` of `text(item)` for each of `items`, as one value of
    /// `parameters`, straight from the items: a group commit sends ten such arrays of ~50 elements.
    static func appendText<Items: Collection>(_ items: Items, to parameters: inout PostgresParameters,
                                              _ text: (Items.Element) -> String?) {
        appendArray(items, to: &parameters) { item, parameters in
            guard let value = text(item) else {
                parameters.appendBytes(of: "NULL")
                return
            }
            parameters.appendByte(UInt8(ascii: "\""))
            let plain = value.utf8.withContiguousStorageIfAvailable { utf8 in
                !utf8.contains { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
            }
            if plain == true {
                parameters.appendBytes(of: value)
            } else {
                // Byte by byte: `"` and `\` never occur inside a multi-byte UTF-8 sequence.
                for byte in value.utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { parameters.appendByte(UInt8(ascii: "\\")) }
                    parameters.appendByte(byte)
                }
            }
            parameters.appendByte(UInt8(ascii: "\""))
        }
    }

    /// Appends the literal `{1,2,3}` of `value(item)` for each of `items`, as one value of
    /// `parameters`, with no `String` per number.
    static func appendIntegers<Items: Collection>(_ items: Items, to parameters: inout PostgresParameters,
                                                  _ value: (Items.Element) -> Int64) {
        appendArray(items, to: &parameters) { item, parameters in parameters.appendDecimal(value(item)) }
    }

    /// Appends `{e1,e2,…}` as one value of `parameters`, `element` writing each item's element.
    private static func appendArray<Items: Collection>(_ items: Items, to parameters: inout PostgresParameters,
                                                       _ element: (Items.Element, inout PostgresParameters) -> Void) {
        parameters.beginValue()
        parameters.appendByte(UInt8(ascii: "{"))
        var first = true
        // By index: the subscript lends each item to `element` where `for item in items` would
        // copy it.
        var index = items.startIndex
        while index != items.endIndex {
            if !first { parameters.appendByte(UInt8(ascii: ",")) }
            first = false
            element(items[index], &parameters)
            items.formIndex(after: &index)
        }
        parameters.appendByte(UInt8(ascii: "}"))
        parameters.endValue()
    }
}
