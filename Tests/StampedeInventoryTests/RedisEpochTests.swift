import Testing
@testable import StampedeInventory

@Suite("Epochs")
struct RedisEpochTests {
    /// `run/gen` round-trips, and a run id containing slashes keeps them (the last one splits).
    @Test func parsesAndPrints() throws {
        let epoch = try #require(RedisEpoch("6f1c0b7e/12"))
        #expect(epoch == RedisEpoch(runID: "6f1c0b7e", generation: 12))
        #expect(epoch.description == "6f1c0b7e/12")
        #expect(RedisEpoch("a/b/3") == RedisEpoch(runID: "a/b", generation: 3))
    }

    /// Anything else — an old sale's NULL, a missing generation — is no epoch at all.
    @Test(arguments: ["", "run", "run/", "run/x", "run/1.5"])
    func rejectsMalformed(text: String) {
        #expect(RedisEpoch(text) == nil)
    }

    /// A rebuild moves to the next generation on the run it rebuilds for; from nothing it starts at 1.
    @Test func nextGeneration() {
        #expect(RedisEpoch.next(after: RedisEpoch(runID: "old", generation: 4), runID: "new") == RedisEpoch(runID: "new", generation: 5))
        #expect(RedisEpoch.next(after: nil, runID: "r") == RedisEpoch(runID: "r", generation: 1))
    }
}

struct RedisEpochRunTests {
    static let now = PostgresIncarnation(systemIdentifier: "7301", timeline: 2)

    /// The run string is the node's token, then `@sysid.timeline`; without an incarnation, the token.
    @Test func composesTheNodeAndPostgres() {
        #expect(RedisEpoch.run(redis: "r:m", postgres: Self.now) == "r:m@7301.2")
        #expect(RedisEpoch.run(redis: "r:m", postgres: nil) == "r:m")
        #expect(RedisEpoch.postgresPart(of: "r:m@7301.2") == "7301.2")
        #expect(RedisEpoch.postgresPart(of: "r:m") == nil)
        let epoch = RedisEpoch(runID: RedisEpoch.run(redis: "r:m", postgres: Self.now), generation: 3)
        #expect(RedisEpoch(epoch.description) == epoch, "round-trips through sales.redis_epoch")
    }

    /// Orders Redis took that PostgreSQL lacks are lost only when Redis's epoch names another
    /// incarnation; committed ones never are; an outbox entry counts once.
    @Test func lostOrdersOnlyAcrossIncarnations() {
        let record = PendingRecord("u2|1|0|0|k2")!
        let idempotency = [(field: "u1|k1", orderID: "o1"), (field: "u2|k2", orderID: "o2")]
        let outbox = [(orderID: "o2", record: record), (orderID: "o3", record: PendingRecord("u3|1|0|0|")!)]
        let before = RedisEpoch(runID: "r:m@7301.1", generation: 1)
        let lost = LostOrder.find(saleID: "s", redisEpoch: before, now: Self.now, idempotency: idempotency, outbox: outbox, committed: ["o1"])
        #expect(lost.map(\.orderID) == ["o2", "o3"])
        #expect(lost.first?.userID == "u2" && lost.first?.idempotencyKey == "k2" && lost.first?.postgresIncarnation == "7301.2")
        let same = RedisEpoch(runID: "r:m@7301.2", generation: 1)
        #expect(LostOrder.find(saleID: "s", redisEpoch: same, now: Self.now, idempotency: idempotency, outbox: outbox, committed: []).isEmpty)
        let redisOnly = RedisEpoch(runID: "r:m", generation: 1)
        #expect(LostOrder.find(saleID: "s", redisEpoch: redisOnly, now: Self.now, idempotency: idempotency, outbox: outbox, committed: []).isEmpty)
    }
}
