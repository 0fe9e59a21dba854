import Foundation
import StampedePostgres
import StampedeRedis
import StampedeService
import Synchronization
import Testing

/// Stampede on a private Redis Cluster whose nodes are killed, paused and failed over mid-sale.
/// Invariants are read from PostgreSQL: no acknowledged order lost, no oversell, per-user limits,
/// one order per idempotency key, and no wrong `sold_out` or `limit_exceeded` from counters a
/// promoted node had not caught up on.
///
/// Runs in the cluster phase of `scripts/test` (`STAMPEDE_CLUSTER_FAULT_TESTS=1`), one at a time.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["STAMPEDE_CLUSTER_FAULT_TESTS"] == "1",
                "STAMPEDE_CLUSTER_FAULT_TESTS is not 1 (scripts/test runs them)"),
       .serialized)
struct ClusterFailoverTests {
    /// One buyer and how its purchase finally ended.
    struct Buyer: Sendable {
        var user: String
        var key: String
        var status = 0
        var error: String?
        var orderID: String?
        /// `503 unavailable` answers before the final one (indefinite, resolved by retrying the key).
        var unavailable = 0
        var firstUnavailable: Date?
        var lastUnavailable: Date?
    }

    static func start(_ cluster: RedisClusterProcesses, reconcileSeconds: Double = 1,
                      _ body: (TestStampede) async throws -> Void) async throws {
        #expect(await cluster.waitUntilHealthy(), "every shard has an online replica")
        try await TestStampede.with({ configuration in
            configuration.redisCluster = cluster.seeds
            configuration.redisClusterRefreshMilliseconds = 250
            configuration.redisConnectTimeoutMilliseconds = 300
            configuration.redisCommandTimeoutMilliseconds = 1000
            configuration.reconcileIntervalSeconds = reconcileSeconds
        }, body)
    }

    /// Buys one unit for each buyer, retrying every `503` with the same Idempotency-Key until a
    /// final answer (or `seconds` pass); `threads` buyers at a time.
    static func buy(port: Int, sale: String, users: [String], threads: Int = 8, seconds: Double = 40,
                    pace: useconds_t = 0) async -> [Buyer] {
        let slices = await BlockingThreads.run(threads) { thread in
            var out: [Buyer] = []
            let deadline = Date().addingTimeInterval(seconds)
            var client = try? HTTPTestClient(port: port, timeoutSeconds: 5)
            for user in users.enumerated().filter({ $0.offset % threads == thread }).map(\.element) {
                var buyer = Buyer(user: user, key: "key-\(user)")
                while Date() < deadline {
                    if client == nil { client = try? HTTPTestClient(port: port, timeoutSeconds: 5) }
                    guard let response = try? client?.request(
                        "POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}",
                        headers: [("Idempotency-Key", buyer.key)]) else {
                        client = nil
                        usleep(50_000)
                        continue
                    }
                    if response.status == 503 {
                        if response.errorCode == "unavailable" {
                            buyer.unavailable += 1
                            buyer.firstUnavailable = buyer.firstUnavailable ?? Date()
                            buyer.lastUnavailable = Date()
                        }
                        if response.headers["connection"] == "close" { client = nil }
                        usleep(50_000)
                        continue
                    }
                    buyer.status = response.status
                    buyer.error = response.errorCode
                    buyer.orderID = response.json["order_id"]?.stringValue
                    break
                }
                out.append(buyer)
                if pace > 0 { usleep(pace) }
            }
            return out
        }
        return slices.flatMap { $0 }
    }

    /// PostgreSQL's view of a sale: units held per user and every order id.
    static func committed(_ sale: String) async throws -> (perUser: [String: Int], orderIDs: Set<String>, keys: Int) {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        let rows = try await postgres.query(
            "SELECT order_id, user_id, quantity, idempotency_key FROM orders WHERE \(TestServices.ordersOfSale) AND status IN ('reserved', 'paid')", [sale])
        var perUser: [String: Int] = [:]
        var ids: Set<String> = []
        var keys = 0
        for row in rows.rows {
            ids.insert(row[0] ?? "")
            perUser[row[1] ?? "", default: 0] += Int(row[2] ?? "0") ?? 0
            if row[3] != nil { keys += 1 }
        }
        return (perUser, ids, keys)
    }

    /// Checks every invariant for a sale of `stock` units, limit 1 per user, that every buyer has
    /// finished with: every `201`/`200` in PostgreSQL, nobody over the limit, each `sold_out`
    /// only when PostgreSQL holds the whole stock, each `limit_exceeded` only for a user who holds
    /// a unit, and exactly `stock` sold when demand exceeded it.
    static func checkInvariants(sale: String, stock: Int, buyers: [Buyer]) async throws {
        let (perUser, orderIDs, _) = try await committed(sale)
        let sold = perUser.values.reduce(0, +)
        #expect(sold <= stock, "oversold: \(sold) of \(stock)")
        #expect(perUser.values.allSatisfy { $0 <= 1 }, "a user holds more than the limit")
        for buyer in buyers {
            switch (buyer.status, buyer.error) {
            case (201, _), (200, _):
                #expect(orderIDs.contains(buyer.orderID ?? "-"), "acknowledged order \(buyer.orderID ?? "nil") of \(buyer.user) is not in PostgreSQL")
            case (409, "sold_out"?):
                #expect(sold == stock, "\(buyer.user) was told sold_out while PostgreSQL holds \(sold) of \(stock)")
            case (409, "limit_exceeded"?):
                #expect(perUser[buyer.user, default: 0] >= 1, "\(buyer.user) was told limit_exceeded but holds nothing")
            default:
                Issue.record("\(buyer.user) ended with \(buyer.status) \(buyer.error ?? "")")
            }
        }
        let demand = Set(buyers.map(\.user)).count
        if demand >= stock { #expect(sold == stock, "stock stranded: \(sold) of \(stock) sold with \(demand) buyers") }
    }

    static func report(_ name: String, promotion: Double?, buyers: [Buyer]) {
        let unavailable = buyers.filter { $0.unavailable > 0 }
        let first = unavailable.compactMap(\.firstUnavailable).min(), last = unavailable.compactMap(\.lastUnavailable).max()
        let window = first.flatMap { f in last.map { $0.timeIntervalSince(f) } } ?? 0
        print("cluster failover \(name): promotion after \(promotion.map { String(format: "%.2f s", $0) } ?? "-"), "
              + "unavailable for \(String(format: "%.2f", window)) s, \(unavailable.count) indefinite answers resolved by retries "
              + "(\(unavailable.filter { $0.status == 201 || $0.status == 200 }.count) of them bought)")
    }

    static func createSale(_ stampede: TestStampede, stock: Int) async throws -> String {
        let sale = TestServices.uniqueName("failover")
        #expect(try await stampede.createSale(sale, stock: stock, perUserLimit: 1).status == 201)
        return sale
    }

    static func primary(of sale: String, in cluster: RedisClusterProcesses) async throws -> (slot: Int, primary: RedisNodeAddress, replica: RedisNodeAddress) {
        let slot = RedisClusterSlot.of("{\(sale)}")
        let map = try #require(await cluster.map())
        return (slot, try #require(map.primary(forSlot: slot)), try #require(map.replicas(forSlot: slot).first))
    }

    /// Writes ~48 MiB to `node` so that what follows stays in its replication buffers, which a
    /// `kill -9` loses: a paused replica then truly lags behind its killed primary.
    static func fillReplicationBuffers(_ node: RedisNodeAddress, cluster: RedisClusterProcesses, map: RedisClusterMap) async throws {
        let client = RedisClient(host: node.host, port: node.port, poolSize: 1)
        defer { client.shutdown() }
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        var written = 0
        var index = 0
        while written < 48 {
            let key = "filler-\(index)"
            index += 1
            guard map.primary(forSlot: RedisClusterSlot.of(key)) == node else { continue }
            _ = try await client.command([Array("SET".utf8), Array(key.utf8), value])
            written += 1
        }
    }

    /// After a manual failover the client's calls meet `MOVED`, follow it, and the promoted
    /// replica — whose script cache is empty — answers `NOSCRIPT`: the script is loaded there and
    /// the call sent again.
    @Test func movedAndNoscriptAfterAFailover() async throws {
        let cluster = try RedisClusterProcesses(name: "noscript")
        defer { cluster.stopAll() }
        #expect(await cluster.waitUntilHealthy())
        var settings = RedisClusterClient.Settings()
        settings.refreshInterval = .seconds(600)
        let client = RedisClusterClient(seeds: cluster.seeds.compactMap(RedisNodeAddress.init), settings: settings)
        try await client.start()
        defer { client.shutdown() }
        let key = "{noscript}:counter"
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- failover test")
        let call = RedisRoutedCall(key: key, .script(RedisScriptCall(script, keys: [key], arguments: ["2"])))
        #expect(try await client.execute([call])[0].value == .integer(2))
        let slot = RedisClusterSlot.of(key)
        let map = try #require(await cluster.map())
        let (primary, replica) = (try #require(map.primary(forSlot: slot)), try #require(map.replicas(forSlot: slot).first))
        try cluster.cli(primary, ["WAIT", "1", "2000"])
        #expect(try cluster.cli(replica, ["SCRIPT", "EXISTS", script.sha1]) == "0", "the replica has not loaded the script")
        try cluster.cli(replica, ["CLUSTER", "FAILOVER"])
        #expect(await cluster.waitForNewPrimary(slot: slot, replacing: primary, seconds: 20) == replica)
        let reply = try await client.execute([call])[0]
        #expect(reply.value == .integer(4), "the call ran once on the promoted replica")
        #expect(client.statistics.moved >= 1)
        #expect(client.topology.map.primary(forSlot: slot) == replica)
        #expect(try cluster.cli(replica, ["SCRIPT", "EXISTS", script.sha1]) == "1", "loaded after NOSCRIPT")
        #expect(try cluster.cli(replica, ["GET", key]) == "4")
    }

    /// Rushes 800 buyers at `sale` (paced so that it is still selling when the primary dies), kills
    /// the primary owning `slot` half a second in, waits for a replica's promotion, and checks every
    /// invariant once the buyers are done.
    static func rushThroughAPrimaryKill(_ name: String, _ stampede: TestStampede, cluster: RedisClusterProcesses, sale: String,
                                        stock: Int, slot: Int, primary: RedisNodeAddress) async throws {
        let port = stampede.port
        async let rush = Self.buy(port: port, sale: sale, users: (0..<800).map { "rush-\($0)" }, threads: 8, pace: 15_000)
        try await Task.sleep(for: .milliseconds(500))
        let killed = Date()
        cluster.kill(primary)
        let promoted = await cluster.waitForNewPrimary(slot: slot, replacing: primary, seconds: 30)
        let promotion = Date().timeIntervalSince(killed)
        #expect(promoted != nil, "no replica was promoted")
        let buyers = await rush
        #expect(buyers.contains { $0.unavailable > 0 }, "the kill happened mid-rush")
        Self.report(name, promotion: promoted == nil ? nil : promotion, buyers: buyers)
        try await Self.checkInvariants(sale: sale, stock: stock, buyers: buyers)
    }

    /// `kill -9` of the primary that owns a sale in the middle of a rush: a replica is promoted,
    /// buyers retrying with their keys finish, and every invariant holds.
    @Test func killThePrimaryOfARushingSale() async throws {
        let cluster = try RedisClusterProcesses(name: "kill-primary")
        defer { cluster.stopAll() }
        try await Self.start(cluster) { stampede in
            let sale = try await Self.createSale(stampede, stock: 600)
            let (slot, primary, _) = try await Self.primary(of: sale, in: cluster)
            try await Self.rushThroughAPrimaryKill("kill -9 primary", stampede, cluster: cluster, sale: sale, stock: 600,
                                                   slot: slot, primary: primary)
        }
    }

    /// `kill -9` of the primary that owns one bucket of a rushing sale in 3 buckets (each on its own
    /// primary): a replica is promoted, that bucket is rebuilt from PostgreSQL alone, the others
    /// keep selling, and every invariant holds — the whole stock sold, nothing twice.
    @Test func killThePrimaryOfOneBucketOfARushingSale() async throws {
        let cluster = try RedisClusterProcesses(name: "kill-bucket-primary")
        defer { cluster.stopAll() }
        try await Self.start(cluster) { stampede in
            let sale = TestServices.uniqueName("bucketfail")
            #expect(try await stampede.createSale(sale, stock: 600, perUserLimit: 1, buckets: "3").status == 201)
            let ids = try await stampede.service.inventory.buckets.allocations(of: sale).map(\.counterID)
            #expect(ids.count == 3)
            let (slot, primary, _) = try await Self.primary(of: ids[1], in: cluster)
            let others = try await [Self.primary(of: ids[0], in: cluster).primary, Self.primary(of: ids[2], in: cluster).primary]
            #expect(!others.contains(primary), "each bucket on its own primary")
            try await Self.rushThroughAPrimaryKill("kill -9 one bucket's primary", stampede, cluster: cluster, sale: sale, stock: 600,
                                                   slot: slot, primary: primary)
            #expect(try await BucketTests.checkInvariants(stampede, sale) == 0)
        }
    }

    /// A replica that lags (paused while its primary sells, the tail still in the primary's
    /// buffers) is promoted by `CLUSTER FAILOVER TAKEOVER` after the primary is killed: the sale is
    /// rebuilt from PostgreSQL, earlier buyers are refused by their limit, and the stock sells out
    /// exactly.
    @Test func laggingReplicaTakesOver() async throws {
        let cluster = try RedisClusterProcesses(name: "lagging-replica")
        defer { cluster.stopAll() }
        try await Self.start(cluster) { stampede in
            let stock = 120
            let sale = try await Self.createSale(stampede, stock: stock)
            let (slot, primary, replica) = try await Self.primary(of: sale, in: cluster)
            let port = stampede.port
            let first = await Self.buy(port: port, sale: sale, users: (0..<30).map { "early-\($0)" })
            try cluster.cli(primary, ["WAIT", "1", "2000"])
            cluster.pause(replica)
            try await Self.fillReplicationBuffers(primary, cluster: cluster, map: try #require(await cluster.map()))
            let lost = await Self.buy(port: port, sale: sale, users: (0..<30).map { "tail-\($0)" })
            #expect(lost.allSatisfy { $0.status == 201 })
            let killed = Date()
            cluster.kill(primary)
            cluster.resume(replica)
            try cluster.cli(replica, ["CLUSTER", "FAILOVER", "TAKEOVER"])
            let promoted = await cluster.waitForNewPrimary(slot: slot, replacing: primary, seconds: 30)
            #expect(promoted == replica)
            // The tail's buyers come back with new keys: they hold a unit in PostgreSQL.
            let again = await Self.buy(port: port, sale: sale, users: (0..<30).map { "tail-\($0)" }.map { $0 }, threads: 4)
                .map { buyer in buyer }
            let after = await Self.buy(port: port, sale: sale, users: (0..<100).map { "late-\($0)" })
            Self.report("lagging replica takeover", promotion: Date().timeIntervalSince(killed), buyers: lost + again + after)
            for buyer in again {
                #expect(buyer.status == 200 || buyer.error == "limit_exceeded",
                        "\(buyer.user) bought in the lost tail and must not buy again: \(buyer.status) \(buyer.error ?? "")")
            }
            try await Self.checkInvariants(sale: sale, stock: stock, buyers: first + lost + after)
        }
    }

    /// Fail-back: the sale sells out on primary A; a manual failover makes B primary; A is paused
    /// (a lagging replica that never restarts); on B some orders are cancelled and the sale is
    /// rebuilt and sells again; B is killed and A, with its old `run_id`, takes over. A's copy of
    /// the sale is stale — only its new `master_replid` shows it — so the sale is rebuilt from
    /// PostgreSQL and the returned units sell: no wrong `sold_out`.
    @Test func failBackOntoALaggingFormerPrimary() async throws {
        let cluster = try RedisClusterProcesses(name: "fail-back")
        defer { cluster.stopAll() }
        // The reconciler would also repair the sale (its epoch differs from PostgreSQL's): keep it
        // out of the way, so the purchase path's own check is what is tested.
        try await Self.start(cluster, reconcileSeconds: 600) { stampede in
            let stock = 20
            let sale = try await Self.createSale(stampede, stock: stock)
            let (slot, a, b) = try await Self.primary(of: sale, in: cluster)
            let port = stampede.port
            let soldOnA = await Self.buy(port: port, sale: sale, users: (0..<25).map { "a-\($0)" })
            #expect(soldOnA.filter { $0.status == 201 }.count == stock)
            try cluster.cli(a, ["WAIT", "1", "2000"])
            try cluster.cli(b, ["CLUSTER", "FAILOVER"])
            #expect(await cluster.waitForNewPrimary(slot: slot, replacing: a, seconds: 20) == b)
            try await Task.sleep(for: .milliseconds(500))
            cluster.pause(a)
            try await Self.fillReplicationBuffers(b, cluster: cluster, map: try #require(await cluster.map()))
            let client = try stampede.client()
            let cancelled = soldOnA.filter { $0.status == 201 }.prefix(5)
            for buyer in cancelled {
                #expect(try await client.call("POST", "/v1/orders/\(buyer.orderID ?? "")/cancel").status == 200)
            }
            let onB = await Self.buy(port: port, sale: sale, users: ["b-0"])
            #expect(onB.first?.status == 201, "B rebuilt the sale and sold a returned unit")
            let killed = Date()
            cluster.kill(b)
            cluster.resume(a)
            try cluster.cli(a, ["CLUSTER", "FAILOVER", "TAKEOVER"])
            #expect(await cluster.waitForNewPrimary(slot: slot, replacing: b, seconds: 30) == a)
            let afterFailBack = await Self.buy(port: port, sale: sale, users: (0..<10).map { "late-\($0)" })
            Self.report("fail-back", promotion: Date().timeIntervalSince(killed), buyers: afterFailBack)
            #expect(afterFailBack.filter { $0.status == 201 }.count == 4, "the 4 units still returned sell after the fail-back")
            let remaining = soldOnA.filter { buyer in !cancelled.contains { $0.user == buyer.user } }
            try await Self.checkInvariants(sale: sale, stock: stock, buyers: remaining + onB + afterFailBack)
        }
    }
}
