import StampedeInventory
import StampedePostgres
import StampedeRedis
import StampedeService
import Testing

/// Redis counters that are behind PostgreSQL — a restart that lost its AOF tail, a failover to a
/// lagging replica — are detected by their epoch and rebuilt from the committed orders before the
/// sale sells again; decisions made against replaced counters cannot commit.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct EpochRebuildTests {
    private static func redis() throws -> RedisClient {
        let address = try TestServices.redisAddress()
        return RedisClient(host: address.host, port: address.port, poolSize: 1)
    }

    /// Moves the sales' windows two days into the past in PostgreSQL, so the periodic reconciler
    /// passes of other tests' services (which skip sales ended over a day ago) leave them alone
    /// while this test arranges a broken state; scoped passes (`saleIDs:`) still see them.
    private static func hideFromOtherReconcilers(_ sales: [String]) async throws {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        _ = try await postgres.query("UPDATE sales SET starts_at = now() - interval '3 days', ends_at = now() - interval '2 days' "
                                     + "WHERE sale_id = ANY($1::text[])", ["{" + sales.joined(separator: ",") + "}"])
    }

    private static func held(_ sale: String) async throws -> Int {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        let result = try await postgres.query(
            "SELECT COALESCE(sum(quantity), 0) FROM orders WHERE sale_id = $1 AND status IN ('reserved', 'paid')", [sale])
        return Int(result.rows.first?[0] ?? "") ?? -1
    }

    /// Counters put back to an older state under another Redis run (as after a restart that lost
    /// the last writes: more units available than the truth, a forgotten idempotency key) are
    /// rebuilt on the next purchase: a rush then sells exactly the stock, and a retry of a
    /// confirmed purchase still answers its first order.
    @Test func behindCountersAreRebuiltBeforeSelling() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("behind")
            _ = try await stampede.createSale(sale, stock: 30, perUserLimit: 1)
            let client = try stampede.client()
            var first: [String: String] = [:]
            for index in 0..<10 {
                let answer = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"early\(index)\",\"quantity\":1}",
                                                   headers: [("Idempotency-Key", "k\(index)")])
                #expect(answer.status == 201)
                first["k\(index)"] = answer.json["order_id"]?.stringValue
            }
            // Roll Redis back: the ten sales "lost" (avail 30, no holders, no keys), under an old run.
            let keys = SaleKeys(saleID: sale)
            let redis = try await TestRedis.connect()
            defer { redis.shutdown() }
            _ = try await redis.pipeline([["HSET", keys.sale, "avail", "30", "orders", "0", "run", "lost-tail-run"],
                                          ["DEL", keys.users, keys.idempotency, keys.released]])
            let retry = try await client.call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"early3","quantity":1}"#,
                                              headers: [("Idempotency-Key", "k3")])
            #expect(retry.status == 200, "\(retry.text)")
            #expect(retry.json["order_id"]?.stringValue == first["k3"])
            let port = stampede.port
            let statuses = await BlockingThreads.run(40) { index in
                (try? HTTPTestClient(port: port).request(
                    "POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"late\(index)\",\"quantity\":1}"))?.status ?? 0
            }
            #expect(statuses.filter { $0 == 201 }.count == 20, "only the 20 units PostgreSQL has not sold are sold again")
            // 503 overloaded (the shard's adaptive or stock-aware admission under 40 buyers) promises
            // no effect and is allowed; anything else is not.
            #expect(statuses.allSatisfy { $0 == 201 || $0 == 409 || $0 == 503 }, "\(statuses)")
            #expect(try await Self.held(sale) == 30)
            #expect(try await stampede.service.inventory.loadSale(sale)?.available == 0)
            // The counters were rebuilt for the current Redis run — by this instance or by the
            // reconciler of another test's instance sharing these stores, whichever came first (so
            // this instance's own repair count may be 0).
            let run = try await redis.command(["HGET", keys.sale, "run"]).string
            let currentRun = RedisEpoch.run(redis: try await redis.nodeToken(forKey: keys.sale),
                                            postgres: stampede.service.inventory.incarnation.current)
            #expect(run == currentRun, "the sale's counters still carry run \(run ?? "nil")")
        }
    }

    /// Every Redis connection knows the node it talks to: the `run_id` from `INFO server` and the
    /// `master_replid` from `INFO replication`, joined in the token epochs carry.
    @Test func connectionsKnowTheRedisNode() async throws {
        let redis = try Self.redis()
        defer { redis.shutdown() }
        let identity = try await redis.withConnection { $0.identity }
        #expect(identity.runID.count == 40 && identity.runID.allSatisfy(\.isHexDigit), "\(identity)")
        #expect(identity.replicationID.count == 40 && identity.replicationID.allSatisfy(\.isHexDigit), "\(identity)")
        #expect(identity.token == "\(identity.runID):\(identity.replicationID)")
        let info = try await redis.command(["INFO", "server"]).string ?? ""
        #expect(info.contains("run_id:\(identity.runID)"))
        let replication = try await redis.command(["INFO", "replication"]).string ?? ""
        #expect(replication.contains("master_replid:\(identity.replicationID)"))
    }

    /// A reservation decided against counters that a rebuild then replaced is refused at commit
    /// (the fence), so the rebuilt counters — which do not count it — stay exact.
    @Test func decisionsAgainstReplacedCountersCannotCommit() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("fence")
            _ = try await stampede.createSale(sale, stock: 5, perUserLimit: 1)
            let inventory = stampede.service.inventory
            let request = PurchaseRequest(saleID: sale, userID: "slow", quantity: 1, idempotencyKey: nil)
            let decided = try await inventory.ledger.decideBatch([request], now: .now())
            guard case .reserved(let order) = decided.decisions[0] else {
                Issue.record("expected a reservation, got \(decided.decisions)")
                return
            }
            // Another instance (or the reconciler) rebuilds the sale before this batch commits.
            _ = try await inventory.ledger.invalidate(saleID: sale, epoch: decided.epochs[sale]!)
            #expect(try await inventory.rebuild(sale))
            let commit = try await inventory.orders.commitBatch(reserved: [order], replayed: [], lookup: [], epochs: decided.epochs)
            #expect(commit.fenced == [sale] && commit.reservedCommitted == 0)
            #expect(try await inventory.orders.order(order.orderID) == nil)
            #expect(try await inventory.loadSale(sale)?.available == 5, "the rebuilt counters never counted it")
            #expect(try await inventory.ledger.pending(saleID: sale).isEmpty, "the rebuild dropped the uncommitted outbox entry")
        }
    }

    /// A dry run reports a sale whose counters are from another Redis run and a stranded outbox
    /// entry without touching anything; the real pass repairs both, and a second pass finds nothing.
    @Test func reconcileDryRunOnlyReports() async throws {
        try await TestStampede.with({ $0.outboxGraceSeconds = 3600 }) { stampede in
            let inventory = stampede.service.inventory
            let staleSale = TestServices.uniqueName("dry-stale")
            let outboxSale = TestServices.uniqueName("dry-outbox")
            // The stale sale ended two days ago from the start, so no other suite's reconciler (they
            // pass over sales that ended less than a day ago) ever lists it and rebuilds it during
            // the dry run; the outbox sale must be live to take a reservation, and is hidden after.
            _ = try await stampede.createSale(staleSale, stock: 3, startsIn: -259_200, endsIn: -172_800)
            _ = try await stampede.createSale(outboxSale, stock: 3)
            try await Self.hideFromOtherReconcilers([outboxSale])
            let redis = try await TestRedis.connect()
            defer { redis.shutdown() }
            try await redis.command(["HSET", SaleKeys(saleID: staleSale).sale, "run", "old-run"])
            let stranded = PurchaseRequest(saleID: outboxSale, userID: "stranded", quantity: 1, idempotencyKey: nil)
            _ = try await inventory.ledger.decide([stranded], now: .now())

            let dry = await inventory.reconcile(dryRun: true, outboxGraceSeconds: 0, saleIDs: [staleSale, outboxSale])
            #expect(dry.findings.contains { $0.contains(staleSale) && $0.contains("would repair") })
            #expect(dry.findings.contains { $0.contains(outboxSale) && $0.contains("stranded") })
            #expect(try await inventory.ledger.inspect([staleSale])[0].epoch?.runID == "old-run", "a dry run changes nothing")
            #expect(try await inventory.orders.order(stranded.orderID) == nil)

            let real = await inventory.reconcile(outboxGraceSeconds: 0, saleIDs: [staleSale, outboxSale])
            // The stale sale is current afterwards. The rebuild is not counted here: a reconciler
            // of another suite in this process may have listed the sale before it was hidden and
            // rebuild it first (its decision is `ReconcilePlanTests`' to check).
            #expect((real.counts[.outboxCommitted] ?? 0) >= 1)
            #expect(try await inventory.ledger.inspect([staleSale])[0].isCurrent)
            #expect(try await inventory.orders.order(stranded.orderID)?.status == .reserved)
            // A second pass finds nothing. A reconciler of another suite (another Inventory) that
            // listed the stale sale before it was hidden may be rebuilding it at the same time; a
            // dry run between that rebuild's new epoch in PostgreSQL and its counters in Redis
            // reports the sale as behind. Such a finding settles within that rebuild (bounded here
            // at 10 s), while one the real pass left would stay.
            var again = await inventory.reconcile(dryRun: true, outboxGraceSeconds: 0, saleIDs: [staleSale, outboxSale])
            for _ in 0..<50 where again.findings.contains(where: { $0.contains(staleSale) || $0.contains(outboxSale) }) {
                try await Task.sleep(nanoseconds: 200_000_000)
                again = await inventory.reconcile(dryRun: true, outboxGraceSeconds: 0, saleIDs: [staleSale, outboxSale])
            }
            #expect(!again.findings.contains { $0.contains(staleSale) || $0.contains(outboxSale) }, "\(again.findings)")
        }
    }

    /// A cancel whose sale is being rebuilt defers its stock return (fenced on the epoch), and the
    /// retry after the rebuild returns it exactly once.
    @Test func stockReturnWaitsForTheRebuild() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("defer")
            _ = try await stampede.createSale(sale, stock: 2, perUserLimit: 1)
            let client = try stampede.client()
            let bought = try await client.call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"una","quantity":1}"#)
            let orderID = try #require(bought.json["order_id"]?.stringValue)
            try await Self.hideFromOtherReconcilers([sale])
            let inventory = stampede.service.inventory
            let epoch = try #require(try await inventory.ledger.inspect([sale])[0].epoch)
            _ = try await inventory.ledger.invalidate(saleID: sale, epoch: epoch)
            #expect(try await client.call("POST", "/v1/orders/\(orderID)/cancel").status == 200)
            #expect(try await inventory.orders.unreturned(graceSeconds: 0, limit: 100_000).contains { $0.order.orderID == orderID })
            #expect(try await inventory.rebuild(sale))
            _ = await inventory.retryStockReturns(graceSeconds: 0)
            _ = await inventory.retryStockReturns(graceSeconds: 0)
            #expect(try await inventory.orders.unreturned(graceSeconds: 0, limit: 100_000).contains { $0.order.orderID == orderID } == false)
            #expect(try await inventory.loadSale(sale)?.available == 2, "returned once: not 3")
        }
    }
}
