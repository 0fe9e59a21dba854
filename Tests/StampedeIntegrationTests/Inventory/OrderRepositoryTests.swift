import StampedeInventory
import StampedePostgres
import StampedeSystem
import Testing

/// The PostgreSQL side of the inventory, against the real server: schema, batch commits and the
/// conditional transitions of the order state machine.
@Suite(TestServices.needsPostgres)
struct OrderRepositoryTests {
    private static func repository() async throws -> (OrderRepository, PostgresClient) {
        // Tests here queue dozens of concurrent writes on four connections; they check what is
        // committed, not how fast, so a stalled shared box must not fail them on the 1 s default.
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 4, acquireTimeout: .seconds(10))
        try await SchemaMigrations.apply(on: postgres)
        return (OrderRepository(writer: postgres, reader: postgres), postgres)
    }

    /// The same repository with its group commits on a `PostgresReactorClient` (two reactors) when
    /// `onReactors`; the last value shuts the client and its reactors down.
    private static func repository(onReactors: Bool) async throws -> (OrderRepository, PostgresClient, () -> Void) {
        let (plain, postgres) = try await repository()
        guard onReactors else { return (plain, postgres, { postgres.shutdown() }) }
        let reactors = try (0..<2).map { try Reactor(name: "orders-test-\($0)") }
        let committer = PostgresReactorClient(reactors: reactors, conninfo: try TestServices.postgresConninfo(),
                                              statementDeadline: .seconds(10))
        return (OrderRepository(writer: postgres, reader: postgres, groupCommitter: committer), postgres, {
            committer.shutdown()
            for reactor in reactors { reactor.shutdown() }
            postgres.shutdown()
        })
    }

    /// The epoch test sales are registered at; commits are fenced on it.
    static let epoch = RedisEpoch(runID: "test-run", generation: 0)

    /// Registers `sale` in `sales` at `epoch` (the tests' own by default), as defining it would; returns the epochs map for commits.
    /// The sale ended two days ago, so the reconcilers of other tests' services (which skip sales
    /// ended over a day ago) do not rebuild it — it has no Redis keys — and move its epoch.
    static func register(_ sale: String, at epoch: RedisEpoch = epoch, on postgres: PostgresClient) async throws -> [String: RedisEpoch] {
        let now = Timestamp.now()
        _ = try await SaleRepository(writer: postgres).save(
            SaleDefinition(saleID: sale, sku: "sku", priceCents: 250, stock: 1000, perUserLimit: 10,
                           startsAt: now.adding(seconds: -3 * 86_400), endsAt: now.adding(seconds: -2 * 86_400),
                           reservationTTLSeconds: 900),
            epoch: epoch, requestID: "test-register")
        return [sale: epoch]
    }

    private static func order(sale: String, user: String, quantity: Int64 = 1, expiresIn: Int64 = 900) -> Order {
        let now = Timestamp.now()
        return Order(orderID: OrderIDGenerator.next(), saleID: sale, sku: "sku", userID: user, quantity: quantity,
                     priceCents: 250, status: .reserved, createdAt: now, expiresAt: now.adding(seconds: expiresIn),
                     idempotencyKey: "k-\(user)")
    }

    /// Migrations apply once: a second run applies nothing and the tables exist.
    @Test func migrationsAreIdempotent() async throws {
        let (_, postgres) = try await Self.repository()
        defer { postgres.shutdown() }
        #expect(try await SchemaMigrations.apply(on: postgres).isEmpty)
        let tables = try await postgres.query("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('orders', 'sales', 'schema_migrations')")
        #expect(tables.rows.first?[0] == "3")
    }

    /// A user's orders come newest first, ties by order id descending, at most `limit`, across
    /// sales and only the user's own; the lookup index is `orders_user` on `user_id` alone
    /// (schema version 6), the wider `orders_user_created` is gone.
    @Test func ordersOfAUserNewestFirst() async throws {
        let (orders, postgres) = try await Self.repository()
        defer { postgres.shutdown() }
        let saleA = TestServices.uniqueName("user-a"), saleB = TestServices.uniqueName("user-b")
        var epochs = try await Self.register(saleA, on: postgres)
        epochs.merge(try await Self.register(saleB, on: postgres)) { first, _ in first }
        let user = TestServices.uniqueName("buyer"), other = TestServices.uniqueName("other")
        let base = Timestamp.now().adding(seconds: -600)
        func order(_ sale: String, _ buyer: String, at seconds: Int64, id: String) -> Order {
            Order(orderID: id, saleID: sale, sku: "sku", userID: buyer, quantity: 1, priceCents: 250, status: .reserved,
                  createdAt: base.adding(seconds: seconds), expiresAt: base.adding(seconds: seconds + 900), idempotencyKey: nil)
        }
        let prefix = OrderIDGenerator.next()
        let batch = [
            order(saleA, user, at: 10, id: prefix + "-b"), order(saleB, user, at: 30, id: prefix + "-c"),
            order(saleA, user, at: 30, id: prefix + "-d"), order(saleB, user, at: 20, id: prefix + "-a"),
            order(saleA, other, at: 40, id: prefix + "-e"),
        ]
        let committed = try await orders.commitBatch(reserved: batch, replayed: [], lookup: [], epochs: epochs)
        #expect(committed.reservedCommitted == 5)
        #expect(try await orders.orders(ofUser: user).map(\.orderID) == ["-d", "-c", "-a", "-b"].map { prefix + $0 })
        #expect(try await orders.orders(ofUser: user, limit: 2).map(\.orderID) == ["-d", "-c"].map { prefix + $0 })
        let indexes = try await postgres.query("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orders' AND indexname LIKE 'orders_user%'")
        #expect(indexes.rows.map { $0[0] ?? "" } == ["orders_user"])
        #expect(indexes.rows.first?[1]?.hasSuffix("(user_id)") == true)
    }

    /// A batch commits every row once; committing the same reservations again (the reconciler or
    /// a retry) changes nothing, and the stored rows read back equal to what was written.
    @Test(arguments: [false, true]) func batchCommitIsIdempotent(onReactors: Bool) async throws {
        let (orders, postgres, shutdown) = try await Self.repository(onReactors: onReactors)
        defer { shutdown() }
        let sale = TestServices.uniqueName("repo")
        let epochs = try await Self.register(sale, on: postgres)
        let batch = (0..<50).map { Self.order(sale: sale, user: "u\($0)") }
        let first = try await orders.commitBatch(reserved: batch, replayed: [], lookup: [], epochs: epochs)
        #expect(first.reservedCommitted == 50 && first.readBack.isEmpty)
        let again = try await orders.commitBatch(reserved: [], replayed: Array(batch.prefix(10)), lookup: [batch[20].orderID], epochs: epochs)
        #expect(again.readBack[batch[20].orderID] == batch[20])
        #expect(again.readBack[batch[3].orderID] == batch[3] && again.readBack.count == 11)
        #expect(try await orders.commitRecovered(batch, saleID: sale, epoch: Self.epoch) == 0)
        let count = try await postgres.query("SELECT count(*) FROM orders WHERE sale_id = $1", [sale])
        #expect(count.rows.first?[0] == "50")
        #expect(try await orders.order(batch[7].orderID) == batch[7])
        let holdings = try await orders.holdings(saleID: sale)
        #expect(holdings.orders == 50 && holdings.users.count == 50)
    }

    /// A group commits with a plain insert and falls back to skipping existing rows when the
    /// reconciler recovered some of its orders first: sequentially and racing, every order of the
    /// group is reported committed, each row is there once and the recovered rows are untouched.
    @Test(arguments: [false, true]) func groupCommitAfterOrRacingTheReconciler(onReactors: Bool) async throws {
        let (orders, postgres, shutdown) = try await Self.repository(onReactors: onReactors)
        defer { shutdown() }
        let sale = TestServices.uniqueName("race")
        let epochs = try await Self.register(sale, on: postgres)
        let group = (0..<40).map { Self.order(sale: sale, user: "g\($0)") }
        #expect(try await orders.commitRecovered(Array(group[10..<15]), saleID: sale, epoch: Self.epoch) == 5)
        let commit = try await orders.commitBatch(reserved: group, replayed: [], lookup: [], epochs: epochs)
        #expect(commit.fenced.isEmpty && commit.reservedCommitted == 40)
        #expect(try await orders.order(group[12].orderID) == group[12])

        var rounds: [[Order]] = []
        for round in 0..<12 { rounds.append((0..<20).map { Self.order(sale: sale, user: "r\(round)-\($0)") }) }
        let recovered = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for batch in rounds {
                tasks.addTask {
                    let commit = try await orders.commitBatch(reserved: batch, replayed: [], lookup: [], epochs: epochs)
                    #expect(commit.reservedCommitted == batch.count)
                    return 0
                }
                tasks.addTask { try await orders.commitRecovered(Array(batch.suffix(7)), saleID: sale, epoch: Self.epoch) ?? -1 }
            }
            return try await tasks.reduce(0, +)
        }
        #expect(recovered >= 0 && recovered <= 12 * 7)
        let count = try await postgres.query("SELECT count(*), count(DISTINCT order_id) FROM orders WHERE sale_id = $1", [sale])
        #expect(count.rows.first == ["280", "280"])
    }

    /// A group's rows travel as PostgreSQL array literals: quotes, backslashes, commas, braces,
    /// `NULL` as text and non-ASCII text in a field arrive unchanged, and a missing key stays NULL.
    @Test(arguments: [false, true]) func groupRowsRoundTripAnyText(onReactors: Bool) async throws {
        let (orders, postgres, shutdown) = try await Self.repository(onReactors: onReactors)
        defer { shutdown() }
        let sale = TestServices.uniqueName("text")
        let epochs = try await Self.register(sale, on: postgres)
        let keys: [String?] = ["q\"uote", "back\\slash", "a,b{c}", "NULL", "grüße ✓", "", nil]
        let group = keys.enumerated().map { index, key in
            var order = Self.order(sale: sale, user: "t\(index)")
            order.idempotencyKey = key
            return order
        }
        let commit = try await orders.commitBatch(reserved: group, replayed: [], lookup: [], epochs: epochs)
        #expect(commit.reservedCommitted == group.count)
        for order in group {
            #expect(try await orders.order(order.orderID) == order)
        }
    }

    /// The reconciler's figures (orders taken, units held) are sums of deltas the orders' triggers
    /// append: after concurrent group commits, replays, payments, cancellations, expiries and
    /// concurrent folds of the deltas they equal the aggregate over the orders themselves.
    @Test func saleFiguresFollowEveryOrderWrite() async throws {
        let (orders, postgres) = try await Self.repository()
        defer { postgres.shutdown() }
        let sales = SaleRepository(writer: postgres)
        let sale = TestServices.uniqueName("counts")
        let epochs = try await Self.register(sale, on: postgres)
        var batches: [[Order]] = []
        for batch in 0..<8 {
            var orders: [Order] = []
            for user in 0..<25 {
                let expiresIn: Int64 = user % 5 == 0 ? -1 : 900
                orders.append(Self.order(sale: sale, user: "b\(batch)-u\(user)", quantity: Int64(1 + user % 3), expiresIn: expiresIn))
            }
            batches.append(orders)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in batches {
                group.addTask { _ = try await orders.commitBatch(reserved: batch, replayed: [], lookup: [], epochs: epochs) }
                group.addTask { try await sales.compactOrderCounts([sale]) }
            }
            try await group.waitForAll()
        }
        _ = try await orders.commitBatch(reserved: [], replayed: batches[0], lookup: [], epochs: epochs)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, order) in batches.joined().enumerated() where index % 7 < 3 {
                group.addTask { _ = try await orders.transition(order.orderID, to: index % 7 == 0 ? .paid : .cancelled) }
            }
            group.addTask { _ = try await orders.expireDue(limit: 500) }
            group.addTask { try await sales.compactOrderCounts([sale]) }
            try await group.waitForAll()
        }
        let truth = try await postgres.query("""
            SELECT count(*), COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0)
            FROM orders WHERE sale_id = $1
            """, [sale])
        let figures = try #require(try await sales.figures([sale])[sale])
        #expect(figures.ordersTaken == 200)
        #expect(String(figures.ordersTaken) == truth.rows.first?[0])
        #expect(String(figures.held) == truth.rows.first?[1])
        #expect(figures.held > 0)
        try await sales.compactOrderCounts([sale])
        let rows = try await postgres.query("SELECT count(*) FROM sale_order_counts WHERE sale_id = $1", [sale])
        #expect(rows.rows.first?[0] == "1", "a fold leaves one row per sale")
        #expect(try await sales.figures([sale])[sale] == figures)
    }

    /// Only a reserved, unexpired order moves; the second transition of a pair loses. (Services of
    /// other tests sweep the same database, so an expiry may be theirs rather than this test's.)
    @Test func transitionsAreConditional() async throws {
        let (orders, postgres) = try await Self.repository()
        defer { postgres.shutdown() }
        let sale = TestServices.uniqueName("state")
        let epochs = try await Self.register(sale, on: postgres)
        let live = Self.order(sale: sale, user: "a")
        let cancelled = Self.order(sale: sale, user: "c")
        let due = Self.order(sale: sale, user: "b", expiresIn: -1)
        _ = try await orders.commitBatch(reserved: [live, cancelled, due], replayed: [], lookup: [], epochs: epochs)
        #expect(try await orders.transition(live.orderID, to: .paid)?.order.status == .paid)
        #expect(try await orders.transition(live.orderID, to: .cancelled) == nil)
        #expect(try await orders.transition(due.orderID, to: .paid) == nil, "an expired reservation cannot be paid")
        let expired = try await orders.expireDue(limit: 10, orderID: due.orderID)
        #expect(expired.isEmpty || expired.map(\.order.orderID) == [due.orderID])
        #expect(expired.allSatisfy { $0.epoch == Self.epoch }, "a settled order carries its sale's epoch")
        #expect(try await orders.expireDue(limit: 10, orderID: due.orderID).isEmpty, "an order expires once")
        #expect(try await orders.order(due.orderID)?.status == .expired)
        #expect(try await orders.transition(cancelled.orderID, to: .cancelled)?.order.status == .cancelled)
        #expect(try await orders.unreturned(graceSeconds: 0, limit: 100_000).contains { $0.order.orderID == cancelled.orderID })
        try await orders.markStockReturned([cancelled.orderID])
        #expect(try await orders.unreturned(graceSeconds: 0, limit: 100_000).contains { $0.order.orderID == cancelled.orderID } == false)
    }

    /// Concurrent expiry sweeps never claim an order twice (FOR UPDATE SKIP LOCKED), and every due
    /// order ends expired (some may be claimed by other tests' services sweeping the same database).
    @Test func concurrentExpirySweepsClaimOnce() async throws {
        let (orders, postgres) = try await Self.repository()
        defer { postgres.shutdown() }
        let sale = TestServices.uniqueName("sweep")
        let epochs = try await Self.register(sale, on: postgres)
        let due = (0..<40).map { Self.order(sale: sale, user: "s\($0)", expiresIn: -5) }
        _ = try await orders.commitBatch(reserved: due, replayed: [], lookup: [], epochs: epochs)
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { try await orders.expireDue(limit: 500).map(\.order.orderID) } }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(Set(claimed).count == claimed.count, "no order is claimed by two sweeps")
        let statuses = try await postgres.query("SELECT status, count(*) FROM orders WHERE sale_id = $1 GROUP BY status", [sale])
        #expect(statuses.rows == [["expired", "40"]])
    }
}
