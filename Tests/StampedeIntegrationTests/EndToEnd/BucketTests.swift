@testable import StampedeInventory
import StampedeJSON
import StampedePostgres
import StampedeRedis
import Testing

/// Bucketed sales against real Redis (or the Redis Cluster, in the cluster phase, where the
/// buckets sit on different primaries) and PostgreSQL: a sale spread over K buckets sells exactly
/// its stock, honours every per-user limit and idempotency key, says `sold_out` only when nothing
/// is left anywhere, survives a move left half-done, and changes its bucket count under load
/// without losing or duplicating a unit. After each test the invariants are read from PostgreSQL
/// and Redis (`checkInvariants`).
@Suite(.serialized, TestServices.needsRedis, TestServices.needsPostgres)
struct BucketTests {
    static let admin = [("Authorization", "Bearer \(TestStampede.adminToken)")]

    static func array(_ value: JSONValue?) -> [JSONValue]? {
        if case .array(let items) = value { return items }
        return nil
    }

    /// Units held (reserved + paid) per counter id of the sale, from PostgreSQL.
    static func held(_ stampede: TestStampede, _ saleID: String) async throws -> [String: Int64] {
        let rows = try await stampede.service.inventory.sales.writer.query("""
        SELECT sale_id, COALESCE(sum(quantity) FILTER (WHERE status IN ('reserved', 'paid')), 0) FROM orders
        WHERE sale_id = $1 OR sale_id IN (SELECT sale_id FROM sales WHERE parent_sale_id = $1) GROUP BY sale_id
        """, [saleID]).rows
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, Int64($0[1]!)!) })
    }

    /// Once work settles (a reconciler pass commits what is stranded and finishes moves): every
    /// bucket's counters hold its allocation less its held units; the allocations add up to the
    /// sale's stock and restocks; each bucket's ledger sums to what it holds; no move is left
    /// unfinished. Returns the units left in the whole sale.
    @discardableResult
    static func checkInvariants(_ stampede: TestStampede, _ saleID: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int64 {
        let inventory = stampede.service.inventory
        let report = await inventory.reconcile(outboxGraceSeconds: 0, saleIDs: [saleID], sweeps: false)
        #expect(report.errors.isEmpty, "\(report.errors)", sourceLocation: sourceLocation)
        let state = try await inventory.buckets.moveState(of: saleID)
        #expect(state.unfinished.isEmpty, "\(state.unfinished)", sourceLocation: sourceLocation)
        let allocations = try await inventory.buckets.allocations(of: saleID)
        let seen = try await inventory.ledger.bucketAvailability(allocations.map(\.counterID))
        let held = try await held(stampede, saleID)
        let writer = inventory.sales.writer
        let total = try await writer.query("SELECT stock_total + restocked FROM sales WHERE sale_id = $1", [saleID]).rows[0][0]!
        #expect(allocations.reduce(0) { $0 + $1.allocated } == Int64(total)!, "\(allocations)", sourceLocation: sourceLocation)
        var left: Int64 = 0
        for (allocation, units) in zip(allocations, seen) {
            let holds = held[allocation.counterID] ?? 0
            #expect(units.isCurrent, "\(allocation.counterID) is not current", sourceLocation: sourceLocation)
            #expect(units.units == allocation.allocated - holds,
                    "\(allocation.counterID): available \(units.units), allocated \(allocation.allocated), held \(holds)",
                    sourceLocation: sourceLocation)
            let ledger = try await writer.query("SELECT COALESCE(sum(quantity), 0) FROM stock_movements WHERE sale_id = $1",
                                                [allocation.counterID]).rows[0][0]!
            #expect(Int64(ledger)! == allocation.allocated - holds, "\(allocation.counterID): ledger \(ledger)", sourceLocation: sourceLocation)
            let outbox = try await inventory.ledger.pending(saleID: allocation.counterID)
            #expect(outbox.isEmpty, "\(allocation.counterID): outbox \(outbox.map(\.orderID))", sourceLocation: sourceLocation)
            left += units.units
        }
        return left
    }

    /// `count` users whose bucket, in a sale of `buckets` buckets, is `bucket`.
    static func users(inBucket bucket: Int, of buckets: Int, count: Int) -> [String] {
        var users: [String] = []
        let prefix = TestServices.uniqueName("b\(bucket)")
        var n = 0
        while users.count < count {
            let user = "\(prefix)-\(n)"
            if BucketLayout.bucket(ofUser: user, count: buckets) == bucket { users.append(user) }
            n += 1
        }
        return users
    }

    /// Runs purchases by `users` (one each, all at once on their own connections); the answers.
    static func rush(_ stampede: TestStampede, _ saleID: String, users: [String], quantity: Int = 1)
        async -> [(status: Int, error: String?, orderID: String?)] {
        let port = stampede.port
        return await BlockingThreads.run(users.count) { index in
            let answer = try? HTTPTestClient(port: port).request(
                "POST", "/v1/sales/\(saleID)/orders", body: "{\"user_id\":\"\(users[index])\",\"quantity\":\(quantity)}")
            return (answer?.status ?? 0, answer?.json["error"]?.stringValue, answer?.json["order_id"]?.stringValue)
        }
    }

    @Test func bucketsAreDefinedShownAndValidated() async throws {
        try await TestStampede.with { stampede in
            let client = try stampede.client()
            let sale = TestServices.uniqueName("bk")
            for bad in ["0", "17", "\"3\"", "1.5"] {
                let refused = try await stampede.createSale(sale, stock: 10, buckets: bad)
                #expect(refused.status == 400, "buckets \(bad)")
                #expect(refused.errorCode == "invalid_body")
            }
            // Nothing was created (read from PostgreSQL: a GET would cache the sale as absent, which
            // the cache may serve for up to its maximum age after the sale is created).
            #expect(try await stampede.service.inventory.sales.sale(sale) == nil)
            #expect(try await stampede.createSale(sale, stock: 10, buckets: "3").status == 201)
            let shown = try await client.call("GET", "/v1/sales/\(sale)")
            #expect(shown.json["buckets"]?.integerValue == 3, "\(shown.status) \(shown.text)")
            #expect(shown.json["stock_available"]?.integerValue == 10)
            // A sale of one bucket says so.
            let plain = TestServices.uniqueName("plain")
            #expect(try await stampede.createSale(plain, stock: 1, buckets: nil).status == 201)
            #expect(try await client.call("GET", "/v1/sales/\(plain)").json["buckets"]?.integerValue == 1)
            // The per-bucket view: three tags, bucket 0 the sale's own, the allocations summing to
            // the stock; on the cluster each bucket on its own primary.
            let shards = try await client.call("GET", "/admin/shards", headers: Self.admin)
            let view = try #require(Self.array(shards.json["bucketed_sales"])?.first { $0["sale_id"]?.stringValue == sale })
            let buckets = try #require(Self.array(view["buckets"]))
            #expect(buckets.count == 3)
            #expect(buckets.first?["tag"]?.stringValue == "{\(sale)}")
            #expect(buckets.compactMap { $0["allocated"]?.integerValue }.reduce(0, +) == 10)
            #expect(buckets.compactMap { $0["available"]?.integerValue }.reduce(0, +) == 10)
            if TestServices.clusterMode {
                #expect(Set(buckets.compactMap { $0["primary"]?.stringValue }).count == 3, "\(buckets)")
            }
            // Replaced before it sold, with fewer buckets: the retired bucket's row and counters go.
            let inventory = stampede.service.inventory
            let three = try await inventory.buckets.allocations(of: sale).map(\.counterID)
            #expect(try await stampede.createSale(sale, stock: 10, buckets: "2").status == 200)
            #expect(try await inventory.buckets.allocations(of: sale).map(\.counterID) == Array(three.prefix(2)))
            #expect(try await inventory.ledger.sales([three[2]])[0] == nil)
            #expect(try await stampede.createSale(sale, stock: 10, buckets: "3").status == 200)
            #expect(try await inventory.buckets.allocations(of: sale).map(\.allocated) == [4, 3, 3])
            // Orders show the sale's own id; a replace (a new count too) is refused once it sold.
            let order = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(TestServices.uniqueName("u"))\",\"quantity\":1}")
            #expect(order.status == 201)
            #expect(order.json["sale_id"]?.stringValue == sale)
            let replaced = try await stampede.createSale(sale, stock: 10, buckets: "2")
            #expect(replaced.status == 409)
            #expect(replaced.errorCode == "sale_has_orders")
            // The live change's route refuses bad input and unknown sales, and changes nothing then.
            #expect(try await client.call("POST", "/admin/sales/\(sale)/buckets", body: "{\"buckets\":0}", headers: Self.admin).status == 400)
            #expect(try await client.call("POST", "/admin/sales/\(sale)/buckets", body: "{}", headers: Self.admin).status == 400)
            #expect(try await client.call("POST", "/admin/sales/\(sale)/buckets", body: "{\"buckets\":2}").status == 401)
            let unknown = try await client.call("POST", "/admin/sales/\(TestServices.uniqueName("none"))/buckets",
                                                body: "{\"buckets\":2}", headers: Self.admin)
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "unknown_sale")
            #expect(try await client.call("GET", "/v1/sales/\(sale)").json["buckets"]?.integerValue == 3)
            #expect(try await Self.checkInvariants(stampede, sale) == 9)
        }
    }

    /// Demand past the stock, no returns: exactly the stock is sold, every `201` is in
    /// PostgreSQL, `sold_out` is the only refusal, and no unit is left in any bucket.
    @Test func aRushSellsExactlyTheStockAndLeavesNothing() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("rush")
            #expect(try await stampede.createSale(sale, stock: 60, perUserLimit: 2, buckets: "3").status == 201)
            let users = (0..<90).map { "\(sale)-u\($0)" }
            let answers = await Self.rush(stampede, sale, users: users)
            let created = answers.filter { $0.status == 201 }
            #expect(created.count == 60, "\(answers.filter { $0.status != 201 })")
            #expect(answers.allSatisfy { $0.status == 201 || ($0.status == 409 && $0.error == "sold_out") }, "\(answers)")
            let held = try await Self.held(stampede, sale)
            #expect(held.values.reduce(0, +) == 60)
            #expect(try await Self.checkInvariants(stampede, sale) == 0)
            let client = try stampede.client()
            try await Task.sleep(nanoseconds: 1_100_000_000)
            let shown = try await client.call("GET", "/v1/sales/\(sale)")
            #expect(shown.json["state"]?.stringValue == "sold_out")
            #expect(shown.json["stock_available"]?.integerValue == 0)
        }
    }

    /// Buyers who all map to one bucket still buy every unit of the others: their bucket refills
    /// from the rest, and `sold_out` comes only once the whole sale is empty. Multi-unit
    /// purchases gather units from several buckets.
    @Test func buyersOfOneBucketBuyEveryUnit() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("skew")
            #expect(try await stampede.createSale(sale, stock: 31, perUserLimit: 3, buckets: "3").status == 201)
            let users = Self.users(inBucket: 2, of: 3, count: 40)
            let answers = await Self.rush(stampede, sale, users: users)
            #expect(answers.filter { $0.status == 201 }.count == 31, "\(answers.filter { $0.status != 201 })")
            #expect(answers.filter { $0.status == 409 && $0.error == "sold_out" }.count == 9, "\(answers)")
            #expect(try await Self.checkInvariants(stampede, sale) == 0)
            let moves = try await stampede.service.inventory.sales.writer.query(
                "SELECT count(*) FROM stock_moves WHERE sale_id = $1 AND state = 'done'", [sale]).rows[0][0]!
            #expect(Int(moves)! >= 2)
            // Three units in three buckets, one each: a purchase of 3 in bucket 0 gathers them.
            let spread = TestServices.uniqueName("spread")
            #expect(try await stampede.createSale(spread, stock: 3, perUserLimit: 3, buckets: "3").status == 201)
            let buyer = Self.users(inBucket: 0, of: 3, count: 1)[0]
            let client = try stampede.client()
            let all = try await client.call("POST", "/v1/sales/\(spread)/orders", body: "{\"user_id\":\"\(buyer)\",\"quantity\":3}")
            #expect(all.status == 201, "\(all.text)")
            let none = try await client.call("POST", "/v1/sales/\(spread)/orders", body: "{\"user_id\":\"\(buyer)-2\",\"quantity\":1}")
            #expect(none.errorCode == "sold_out")
            #expect(try await Self.checkInvariants(stampede, spread) == 0)
        }
    }

    /// Bucket 0 (whose counters carry the sale's own id) emptied is no sold-out sale: the very next
    /// buyer of another bucket buys, and so does the next buyer of bucket 0 (its bucket refills).
    @Test func anEmptyBucketIsNoSoldOutSale() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("empty0")
            #expect(try await stampede.createSale(sale, stock: 9, perUserLimit: 1, buckets: "3").status == 201)
            let client = try stampede.client()
            func buy(_ user: String) async throws -> HTTPTestClient.Response {
                try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
            }
            for user in Self.users(inBucket: 0, of: 3, count: 3) { #expect(try await buy(user).status == 201) }
            let other = try await buy(Self.users(inBucket: 1, of: 3, count: 1)[0])
            #expect(other.status == 201, "\(other.text)")
            let again = try await buy(Self.users(inBucket: 0, of: 3, count: 4)[3])
            #expect(again.status == 201, "\(again.text)")
            #expect(try await Self.checkInvariants(stampede, sale) == 4)
        }
    }

    /// A refill reads the buckets PostgreSQL has, not those a cached copy of the sale names: with a
    /// copy from before the count grew (two of four buckets), empty in those two, it still finds the
    /// units of the others instead of answering `sold_out`.
    @Test func aRefillDoesNotTrustAnOutdatedLayout() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("layout")
            #expect(try await stampede.createSale(sale, stock: 8, perUserLimit: 1, buckets: "4").status == 201)
            let client = try stampede.client()
            for bucket in 0..<2 {
                for user in Self.users(inBucket: bucket, of: 4, count: 2) {
                    #expect(try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status == 201)
                }
            }
            let inventory = stampede.service.inventory
            var outdated = try #require(try await inventory.loadSale(sale))
            outdated.bucketIDs = Array(outdated.bucketIDs.prefix(1))
            #expect(await inventory.refill(outdated, counterID: sale, quantity: 1) == .moved)
            #expect(try await Self.checkInvariants(stampede, sale) == 4)
        }
    }

    /// One buyer's concurrent purchases never pass the per-user limit, and keyed retries answer
    /// the first order, in a bucketed sale as in any other.
    @Test func perUserLimitsAndKeysHoldUnderConcurrency() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("limit")
            #expect(try await stampede.createSale(sale, stock: 100, perUserLimit: 3, buckets: "4").status == 201)
            let user = TestServices.uniqueName("greedy")
            let answers = await Self.rush(stampede, sale, users: Array(repeating: user, count: 20))
            #expect(answers.filter { $0.status == 201 }.count == 3, "\(answers)")
            #expect(answers.filter { $0.error == "limit_exceeded" }.count == 17, "\(answers)")
            let keyed = TestServices.uniqueName("keyed")
            let port = stampede.port
            let retries = await BlockingThreads.run(8) { _ in
                let answer = try? HTTPTestClient(port: port).request("POST", "/v1/sales/\(sale)/orders",
                                                                     body: "{\"user_id\":\"\(keyed)\",\"quantity\":1}",
                                                                     headers: [("Idempotency-Key", "once")])
                return (answer?.status ?? 0, answer?.json["order_id"]?.stringValue)
            }
            #expect(Set(retries.compactMap(\.1)).count == 1, "\(retries)")
            #expect(retries.filter { $0.0 == 201 }.count == 1, "\(retries)")
            #expect(retries.allSatisfy { $0.0 == 201 || $0.0 == 200 }, "\(retries)")
            let held = try await Self.held(stampede, sale)
            #expect(held.values.reduce(0, +) == 4)
            #expect(try await Self.checkInvariants(stampede, sale) == 96)
        }
    }

    /// Pay, cancel and expiry return units to the order's own bucket once; a restock joins the
    /// sale's own bucket; the sale's `stock_available` is the sum over the buckets.
    @Test func returnsAndRestocksKeepEveryBucketExact() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("life")
            #expect(try await stampede.createSale(sale, stock: 9, perUserLimit: 2, ttlSeconds: 1, buckets: "3").status == 201)
            let client = try stampede.client()
            var orders: [String] = []
            for bucket in 0..<3 {
                let user = Self.users(inBucket: bucket, of: 3, count: 1)[0]
                let order = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":2}")
                #expect(order.status == 201)
                orders.append(try #require(order.json["order_id"]?.stringValue))
            }
            #expect(try await client.call("POST", "/v1/orders/\(orders[0])/pay").status == 200)
            let cancelled = try await client.call("POST", "/v1/orders/\(orders[1])/cancel")
            #expect(cancelled.json["status"]?.stringValue == "cancelled")
            #expect(cancelled.json["sale_id"]?.stringValue == sale)
            #expect(try await client.call("POST", "/v1/orders/\(orders[1])/cancel").status == 200)
            try await Task.sleep(nanoseconds: 1_500_000_000)
            _ = await stampede.service.inventory.expireDueReservations()
            #expect(try await client.call("GET", "/v1/orders/\(orders[2])").json["status"]?.stringValue == "expired")
            #expect(try await client.call("POST", "/admin/sales/\(sale)/restock", body: "{\"quantity\":5}", headers: Self.admin).status == 200)
            #expect(try await Self.checkInvariants(stampede, sale) == 12)
            let allocations = try await stampede.service.inventory.buckets.allocations(of: sale)
            #expect(allocations.map(\.allocated) == [8, 3, 3])
            try await Task.sleep(nanoseconds: 1_100_000_000)
            #expect(try await client.call("GET", "/v1/sales/\(sale)").json["stock_available"]?.integerValue == 12)
        }
    }

    /// A move left half-done by a crash — planned, or revoked from its source but not granted — is
    /// finished by the reconciler (or by the next refill); one whose source was rebuilt in between
    /// is abandoned, the rebuild having given the units back. No unit is lost or counted twice.
    @Test func aMoveLeftHalfDoneIsFinished() async throws {
        try await TestStampede.with { stampede in
            let inventory = stampede.service.inventory
            let sale = TestServices.uniqueName("move")
            #expect(try await stampede.createSale(sale, stock: 30, perUserLimit: 5, buckets: "3").status == 201)
            let ids = try await inventory.buckets.allocations(of: sale).map(\.counterID)
            // 1. Planned, then the mover died: the units are still the source's.
            let planned = try #require(try await inventory.buckets.plan(saleID: sale, source: ids[1], target: ids[0], requested: 4))
            // 2. Revoked in Redis, then the mover died: the units are in transit.
            let revoked = try #require(try await inventory.buckets.plan(saleID: sale, source: ids[2], target: ids[0], requested: 3))
            #expect(try await inventory.ledger.revoke(moveID: revoked.moveID, from: ids[2], amount: 3, epoch: revoked.sourceEpoch)
                    == .applied(units: 3))
            // A repeated revocation takes nothing more.
            #expect(try await inventory.ledger.revoke(moveID: revoked.moveID, from: ids[2], amount: 3, epoch: revoked.sourceEpoch)
                    == .applied(units: 3))
            // 3. Allocated in PostgreSQL, never granted.
            let allocated = try #require(try await inventory.buckets.plan(saleID: sale, source: ids[1], target: ids[2], requested: 2))
            if case .applied(let units) = try await inventory.ledger.revoke(moveID: allocated.moveID, from: ids[1], amount: 2,
                                                                            epoch: allocated.sourceEpoch) {
                #expect(try await inventory.buckets.settleRevocation(allocated.moveID, units: units)?.state == .revoked)
            }
            // 4. Revoked, then its source rebuilt (a failover): abandoned, the units back in the source.
            let rebuilt = try #require(try await inventory.buckets.plan(saleID: sale, source: ids[0], target: ids[1], requested: 5))
            #expect(try await inventory.ledger.revoke(moveID: rebuilt.moveID, from: ids[0], amount: 5, epoch: rebuilt.sourceEpoch)
                    == .applied(units: 5))
            let epoch = try #require(try await inventory.ledger.inspect([ids[0]]).first?.epoch)
            try await inventory.ledger.invalidate(saleID: ids[0], epoch: epoch)
            #expect(try await inventory.rebuild(ids[0]))
            // The units in transit are counted as available: a dry run sees the moves, a real pass
            // (after the movers' grace) finishes them.
            let unfinished = try await inventory.buckets.moveState(of: sale).unfinished
            #expect(unfinished.count == 4)
            try await Task.sleep(nanoseconds: 2_100_000_000)
            let dry = await inventory.reconcile(dryRun: true, saleIDs: [sale], sweeps: false)
            #expect(dry.counts[.moveFinished] == 4)
            let report = await inventory.reconcile(saleIDs: [sale], sweeps: false)
            #expect(report.counts[.moveFinished] == 4, "\(report.findings) \(report.errors)")
            let moves = try await inventory.sales.writer.query(
                "SELECT move_id, state, amount FROM stock_moves WHERE sale_id = $1 ORDER BY move_id", [sale]).rows
            let states: [String] = moves.map { $0[1] ?? "" }
            let amounts: [String] = moves.map { $0[2] ?? "" }
            #expect(states == ["done", "done", "done", "abandoned"], "\(moves) \(report.findings)")
            #expect(amounts == ["4", "3", "2", "0"], "\(moves)")
            let allocations: [Int64] = try await inventory.buckets.allocations(of: sale).map(\.allocated)
            #expect(allocations == [17, 4, 9])
            #expect(try await Self.checkInvariants(stampede, sale) == 30)
            _ = planned
            // Everything sells.
            let answers = await Self.rush(stampede, sale, users: (0..<35).map { "\(sale)-u\($0)" })
            #expect(answers.filter { $0.status == 201 }.count == 30)
            #expect(try await Self.checkInvariants(stampede, sale) == 0)
        }
    }

    /// The bucket count changes while buyers rush: every `201` is an order in PostgreSQL, buyers
    /// keep their units and keys across the change, and afterwards the sale sells exactly its
    /// stock — nothing lost, nothing sold twice.
    @Test func theBucketCountChangesUnderLoad() async throws {
        try await TestStampede.with { stampede in
            let inventory = stampede.service.inventory
            let sale = TestServices.uniqueName("resize")
            #expect(try await stampede.createSale(sale, stock: 150, perUserLimit: 2, buckets: "2").status == 201)
            let client = try stampede.client()
            // A keyed buyer before the change keeps the key across it.
            let keyed = TestServices.uniqueName("keyed")
            let first = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(keyed)\",\"quantity\":1}",
                                              headers: [("Idempotency-Key", "k")])
            #expect(first.status == 201)
            let port = stampede.port
            async let rush = BlockingThreads.run(120) { index in
                let answer = try? HTTPTestClient(port: port).request(
                    "POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(sale)-u\(index)\",\"quantity\":1}")
                return (answer?.status ?? 0, answer?.json["order_id"]?.stringValue, answer?.json["error"]?.stringValue)
            }
            for count in [4, 3] {
                let changed = try await client.call("POST", "/admin/sales/\(sale)/buckets", body: "{\"buckets\":\(count)}", headers: Self.admin)
                #expect(changed.status == 200, "\(changed.text)")
                #expect(changed.json["buckets"]?.integerValue == Int64(count))
            }
            let answers = await rush
            let created = answers.filter { $0.0 == 201 }.compactMap(\.1)
            #expect(answers.allSatisfy { $0.0 == 201 || $0.0 == 503 }, "\(answers.filter { $0.0 != 201 })")
            // Every 201 is in PostgreSQL.
            let stored = try await inventory.sales.writer.query(
                "SELECT count(*) FROM orders WHERE order_id = ANY($1::text[])", [PostgresArray.text(created)]).rows[0][0]!
            #expect(Int(stored)! == created.count)
            let retried = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(keyed)\",\"quantity\":1}",
                                                headers: [("Idempotency-Key", "k")])
            #expect(retried.status == 200)
            #expect(retried.json["order_id"] == first.json["order_id"])
            let left = try await Self.checkInvariants(stampede, sale)
            #expect(left == 150 - 1 - Int64(created.count))
            #expect(try await inventory.buckets.allocations(of: sale).count == 3)
            // The rest sells exactly.
            let more = await Self.rush(stampede, sale, users: (0..<Int(left) + 10).map { "\(sale)-late\($0)" })
            #expect(more.filter { $0.status == 201 }.count == Int(left), "\(more.filter { $0.status != 201 })")
            #expect(try await Self.checkInvariants(stampede, sale) == 0)
            #expect(try await Self.held(stampede, sale).values.reduce(0, +) == 150)
        }
    }

    /// Bucketed sales in an exclusive group: the group's limit holds across the sales and their
    /// buckets, under concurrency.
    @Test func anExclusiveGroupSpansBucketedSales() async throws {
        try await TestStampede.with { stampede in
            let group = TestServices.uniqueName("bgrp")
            #expect(try await stampede.putGroup(group, perUserLimit: 1).status == 201)
            let sales = [TestServices.uniqueName("bg0"), TestServices.uniqueName("bg1")]
            for sale in sales {
                #expect(try await stampede.createSale(sale, stock: 20, perUserLimit: 2, group: group, buckets: "3").status == 201)
            }
            let user = TestServices.uniqueName("grouped")
            let port = stampede.port
            let answers = await BlockingThreads.run(12) { index in
                let answer = try? HTTPTestClient(port: port).request(
                    "POST", "/v1/sales/\(sales[index % 2])/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
                return (answer?.status ?? 0, answer?.json["error"]?.stringValue)
            }
            #expect(answers.filter { $0.0 == 201 }.count == 1, "\(answers)")
            #expect(answers.filter { $0.1 == "group_limit_exceeded" }.count == 11, "\(answers)")
            for sale in sales { try await Self.checkInvariants(stampede, sale) }
        }
    }
}
