@testable import StampedeInventory
import StampedePostgres
import StampedeRedis
import Synchronization
import Testing

/// The commit stage of the purchase pipeline (`PurchaseBatchProcessor.commit`) against the real
/// PostgreSQL and Redis: how a group's items are answered when all were decided at the sale's
/// epoch, when some were decided at an older one, and when PostgreSQL fences the sale off.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct GroupCommitTests {
    /// The epoch PostgreSQL holds for the test sale, and an older one of the same Redis run.
    static let current = RedisEpoch(runID: "group-run", generation: 2)
    static let older = RedisEpoch(runID: "group-run", generation: 1)

    /// Answers by buyer, as the commit stage gives them.
    final class Answers: Sendable {
        private let byUser = Mutex<[String: PurchaseOutcome]>([:])
        func record(_ user: String, _ outcome: PurchaseOutcome) { byUser.withLock { $0[user] = outcome } }
        subscript(user: String) -> PurchaseOutcome? { byUser.withLock { $0[user] } }
        var count: Int { byUser.withLock { $0.count } }
    }

    private struct Fixture {
        let processor: PurchaseBatchProcessor
        let postgres: PostgresClient
        let redis: RedisClient
        let sale: String

        func shutdown() {
            postgres.shutdown()
            redis.shutdown()
        }

        /// A reservation of `user`, decided at `epoch`, answered into `answers`.
        func item(_ user: String, epoch: RedisEpoch, _ answers: Answers) -> PurchaseBatchProcessor.PendingCommit {
            let now = Timestamp.now()
            let request = PurchaseRequest(saleID: sale, userID: user, quantity: 1, idempotencyKey: nil)
            let order = Order(orderID: request.orderID, saleID: sale, sku: "sku", userID: user, quantity: 1, priceCents: 250,
                              status: .reserved, createdAt: now, expiresAt: now.adding(seconds: 900), idempotencyKey: nil)
            return PurchaseBatchProcessor.PendingCommit(
                purchase: PendingPurchase(request: request) { answers.record(user, $0) },
                decision: .reserved(order), epoch: epoch)
        }

        /// The users whose orders of the sale are rows in PostgreSQL.
        func storedUsers() async throws -> Set<String> {
            let rows = try await postgres.query("SELECT user_id FROM orders WHERE sale_id = $1", [sale]).rows
            return Set(rows.compactMap { $0[0] })
        }
    }

    /// A sale registered in PostgreSQL at `current` (as `OrderRepositoryTests` registers theirs),
    /// with a commit stage over the real servers.
    private static func fixture() async throws -> Fixture {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 2, acquireTimeout: .seconds(10))
        try await SchemaMigrations.apply(on: postgres)
        let address = try TestServices.redisAddress()
        let redis = RedisClient(host: address.host, port: address.port, poolSize: 2)
        let sale = TestServices.uniqueName("group")
        _ = try await OrderRepositoryTests.register(sale, at: current, on: postgres)
        let processor = PurchaseBatchProcessor(ledger: StockLedger(redis: redis),
                                               orders: OrderRepository(writer: postgres, reader: postgres))
        return Fixture(processor: processor, postgres: postgres, redis: redis, sale: sale)
    }

    /// Every item decided at the sale's epoch: each is answered `created` with its own order, and
    /// each is a row.
    @Test func aGroupAtTheSalesEpochCommitsEveryItem() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.shutdown() }
        let answers = Answers()
        let users = (0..<6).map { "all\($0)" }
        let committed = await fixture.processor.commit(users.map { fixture.item($0, epoch: Self.current, answers) })
        #expect(answers.count == users.count)
        #expect(Set(committed.map(\.userID)) == Set(users), "every committed order is handed on for acknowledgement")
        for user in users {
            guard case .created(let order)? = answers[user] else {
                Issue.record("\(user): \(String(describing: answers[user]))")
                continue
            }
            #expect(order.userID == user && order.saleID == fixture.sale)
        }
        #expect(try await fixture.storedUsers() == Set(users))
    }

    /// Items decided at an older epoch than the group's latest are answered `stale` without a
    /// row (the buyer's request is retried after a rebuild); the current ones commit.
    @Test func itemsOfAnOlderEpochAreStaleAndTheRestCommit() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.shutdown() }
        let answers = Answers()
        let group = [fixture.item("old0", epoch: Self.older, answers), fixture.item("new0", epoch: Self.current, answers),
                     fixture.item("old1", epoch: Self.older, answers), fixture.item("new1", epoch: Self.current, answers)]
        let committed = await fixture.processor.commit(group)
        #expect(answers["old0"] == .stale && answers["old1"] == .stale)
        #expect(Set(committed.map(\.userID)) == ["new0", "new1"], "only committed orders are acknowledged")
        if case .created = answers["new0"], case .created = answers["new1"] {} else {
            Issue.record("new0: \(String(describing: answers["new0"])), new1: \(String(describing: answers["new1"]))")
        }
        #expect(try await fixture.storedUsers() == ["new0", "new1"])
    }

    /// A group decided at an epoch PostgreSQL no longer holds is fenced off whole: every item is
    /// answered `stale` and nothing is stored.
    @Test func aFencedGroupCommitsNothing() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.shutdown() }
        let answers = Answers()
        let committed = await fixture.processor.commit((0..<3).map { fixture.item("fenced\($0)", epoch: Self.older, answers) })
        #expect(answers.count == 3)
        #expect(committed.isEmpty, "a fenced sale's entries are never acknowledged")
        #expect((0..<3).allSatisfy { answers["fenced\($0)"] == .stale })
        #expect(try await fixture.storedUsers().isEmpty)
    }
}
