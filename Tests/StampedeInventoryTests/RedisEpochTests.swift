import Testing
@testable import StampedeInventory
@testable import StampedeService

@Suite("Epochs and reconciler reports")
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

    /// Repairs are counted by kind and described; a dry run says "would repair"; zero counts add nothing.
    @Test func reportRecordsRepairs() {
        var report = ReconcileReport(dryRun: true)
        report.record(.saleRebuilt, 1, "sale s1: behind")
        report.record(.outboxCommitted, 0, "nothing")
        report.record(.outboxCommitted, 3, "sale s1: 3 stranded")
        #expect(report.counts == [.saleRebuilt: 1, .outboxCommitted: 3])
        #expect(report.total == 4)
        #expect(report.findings == ["would repair: sale s1: behind", "would repair: sale s1: 3 stranded"])
        #expect(ReconcileReport.Kind.allCases.map(\.rawValue) == ["sale_rebuilt", "outbox_committed", "outbox_acknowledged", "stock_returned", "expired"])
    }

    /// Conservation: available + held + uncommitted equals stock + restocked, and nothing else does.
    @Test func conservation() {
        #expect(ReconcileReport.isConserved(available: 3, held: 5, uncommitted: 2, stock: 8, restocked: 2))
        #expect(!ReconcileReport.isConserved(available: 4, held: 5, uncommitted: 2, stock: 8, restocked: 2))
    }

    /// Every PostgreSQL URI gets bounded connect, statement and TCP time unless it sets them itself.
    @Test func conninfoBoundsTime() {
        var configuration = StampedeConfiguration()
        configuration.postgresStatementTimeoutMilliseconds = 4000
        configuration.postgresTCPTimeoutMilliseconds = 6000
        let uri = StampedeService.conninfo("postgresql://u@h:1/db", configuration)
        #expect(uri.hasPrefix("postgresql://u@h:1/db?connect_timeout=3&"))
        for part in ["keepalives=1", "keepalives_idle=2", "keepalives_count=2", "tcp_user_timeout=6000",
                     "options=-c%20statement_timeout%3D4000", "application_name=stampede"] {
            #expect(uri.contains(part), "\(part) in \(uri)")
        }
        let own = StampedeService.conninfo("postgresql://u@h/db?connect_timeout=9&tcp_user_timeout=1", configuration)
        #expect(own.contains("connect_timeout=9") && !own.contains("connect_timeout=3"))
        #expect(own.contains("tcp_user_timeout=1") && !own.contains("tcp_user_timeout=6000"))
    }

    /// The fleet's multi-host URIs (scripts/serve --cluster, Patroni) keep every host and their
    /// target_session_attrs; the bounds are appended after it with `&`.
    @Test func conninfoKeepsMultiHostTargets() {
        let configuration = StampedeConfiguration()
        let hosts = "postgresql://stampede@127.0.0.1:5445,127.0.0.1:5446,127.0.0.1:5447/stampede"
        let writer = StampedeService.conninfo(hosts + "?target_session_attrs=read-write", configuration)
        #expect(writer.hasPrefix(hosts + "?target_session_attrs=read-write&connect_timeout="), "\(writer)")
        let reader = StampedeService.conninfo(hosts + "?target_session_attrs=prefer-standby", configuration, readOnly: true)
        #expect(reader.hasPrefix(hosts + "?target_session_attrs=prefer-standby&"), "\(reader)")
        #expect(reader.contains("default_transaction_read_only%3Don") && reader.contains("application_name=stampede-reader"))
        #expect(writer.split(separator: "?").count == 2, "one query string: \(writer)")
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
