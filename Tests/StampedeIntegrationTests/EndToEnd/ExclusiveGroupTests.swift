import Glibc
@testable import StampedeInventory
import StampedePostgres
import StampedeRedis
import Testing

/// Exclusive groups against real Redis (or the Redis Cluster, in the cluster phase) and PostgreSQL:
/// a buyer's units across a group's sales never pass the group's limit — under concurrency, with
/// idempotency keys, across instances, after the claims are lost and rebuilt — and no claim leaks:
/// a cancel or an expiry frees it, and the reconciler releases one whose purchase never happened.
/// Serialized: each test runs its own Stampede instances, and the whole suite's run in parallel
/// with every other suite's would pass PostgreSQL's connection limit.
@Suite(.serialized, TestServices.needsRedis, TestServices.needsPostgres)
struct ExclusiveGroupTests {
    static let admin = [("Authorization", "Bearer \(TestStampede.adminToken)")]

    /// Units each user holds (reserved + paid) across the group's sales, from PostgreSQL.
    static func held(group: String) async throws -> [String: Int64] {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        let rows = try await postgres.query("""
        SELECT o.user_id, sum(o.quantity) FROM orders o JOIN sales s ON s.sale_id = o.sale_id
        WHERE s.exclusive_group = $1 AND o.status IN ('reserved', 'paid') GROUP BY o.user_id
        """, [group]).rows
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, Int64($0[1]!)!) })
    }

    /// A group and `count` live sales in it, each with `stock` units and a per-sale limit of 5.
    /// On the Redis Cluster, the first sale is on another primary than the group's claims (names
    /// are drawn until one is).
    static func groupWithSales(_ stampede: TestStampede, limit: Int, count: Int, stock: Int = 10,
                               ttlSeconds: Int = 900) async throws -> (group: String, sales: [String]) {
        let group = TestServices.uniqueName("grp")
        #expect(try await stampede.putGroup(group, perUserLimit: limit).status == 201)
        let ledger = stampede.service.inventory.ledger
        let groupNode = try await ledger.nodeToken(forGroup: group)
        var sales: [String] = []
        for index in 0..<count {
            var sale = TestServices.uniqueName("gs\(index)")
            while index == 0, TestServices.clusterMode, try await ledger.nodeToken(forSale: sale) == groupNode {
                sale = TestServices.uniqueName("gs\(index)")
            }
            let created = try await stampede.createSale(sale, stock: stock, perUserLimit: 5, ttlSeconds: ttlSeconds, group: group)
            #expect(created.status == 201, "\(created.text)")
            sales.append(sale)
        }
        return (group, sales)
    }

    @Test func groupsAreDefinedShownAndProtected() async throws {
        try await TestStampede.with { stampede in
            let client = try stampede.client()
            let group = TestServices.uniqueName("grp")
            #expect(try await client.call("GET", "/admin/groups/\(group)", headers: Self.admin).json["error"]?.stringValue == "unknown_group")
            #expect(try await client.call("PUT", "/admin/groups/\(group)", body: "{\"per_user_limit\":0}", headers: Self.admin).status == 400)
            #expect(try await client.call("PUT", "/admin/groups/\(group)", body: "{}", headers: Self.admin).status == 400)
            #expect(try await client.call("PUT", "/admin/groups/\(group)", body: "{\"per_user_limit\":1}").status == 401)
            #expect(try await stampede.putGroup(group, perUserLimit: 1).status == 201)
            #expect(try await stampede.putGroup(group, perUserLimit: 2).status == 200)
            // A sale naming no existing group is refused and not created.
            let orphan = TestServices.uniqueName("orphan")
            let refused = try await stampede.createSale(orphan, stock: 1, group: TestServices.uniqueName("nogroup"))
            #expect(refused.status == 400)
            #expect(refused.json["error"]?.stringValue == "invalid_body")
            #expect(try await client.call("GET", "/v1/sales/\(orphan)").status == 404)
            let sale = TestServices.uniqueName("member")
            #expect(try await stampede.createSale(sale, stock: 3, group: group).status == 201)
            #expect(try await client.call("GET", "/v1/sales/\(sale)").json["exclusive_group"]?.stringValue == group)
            let shown = try await client.call("GET", "/admin/groups/\(group)", headers: Self.admin)
            #expect(shown.status == 200)
            #expect(shown.json["per_user_limit"]?.integerValue == 2)
            #expect(shown.json["sales"] == .array([.string(sale)]))
            let inUse = try await client.call("DELETE", "/admin/groups/\(group)", headers: Self.admin)
            #expect(inUse.status == 409)
            #expect(inUse.json["error"]?.stringValue == "group_in_use")
            // Redefined without a group (it has no orders), the group can go.
            #expect(try await stampede.createSale(sale, stock: 3).status == 200)
            #expect(try await client.call("GET", "/v1/sales/\(sale)").json["exclusive_group"] == nil)
            #expect(try await client.call("DELETE", "/admin/groups/\(group)", headers: Self.admin).status == 200)
            #expect(try await client.call("GET", "/admin/groups/\(group)", headers: Self.admin).status == 404)
        }
    }

    /// The case: 20 concurrent attempts by one user over 4 sales of a group with limit 1
    /// give exactly one `201`; the others are `409 group_limit_exceeded`, and PostgreSQL holds one
    /// unit for the user across the group. In the cluster phase the sales and the group's claims
    /// sit in different slots, on more than one primary.
    @Test func oneWinAmongConcurrentAttemptsAcrossTheGroup() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 1, count: 4)
            if TestServices.clusterMode {
                // The group's claims and its sales span more than one primary.
                let ledger = stampede.service.inventory.ledger
                var nodes: Set<String> = [try await ledger.nodeToken(forGroup: group)]
                for sale in sales { nodes.insert(try await ledger.nodeToken(forSale: sale)) }
                #expect(nodes.count >= 2)
            }
            let user = TestServices.uniqueName("shopper")
            let port = stampede.port
            let answers = await BlockingThreads.run(20) { index in
                let answer = try? HTTPTestClient(port: port).request(
                    "POST", "/v1/sales/\(sales[index % 4])/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
                return (answer?.status ?? 0, answer?.json["error"]?.stringValue)
            }
            #expect(answers.filter { $0.0 == 201 }.count == 1, "\(answers)")
            #expect(answers.filter { $0.0 == 409 && $0.1 == "group_limit_exceeded" }.count == 19, "\(answers)")
            #expect(try await Self.held(group: group)[user] == 1)
            // Another buyer is not limited by the first one's claim.
            let other = try await stampede.client().call("POST", "/v1/sales/\(sales[1])/orders",
                                                         body: "{\"user_id\":\"\(user)-other\",\"quantity\":1}")
            #expect(other.status == 201)
        }
    }

    /// A cancel frees the claim at once; an expiry frees it when the reservation expires. A
    /// purchase of more units than the group allows is refused whole.
    @Test func aCancelOrAnExpiryFreesTheClaim() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 2, count: 3, ttlSeconds: 1)
            let client = try stampede.client()
            let user = TestServices.uniqueName("buyer")
            func buy(_ sale: String, _ quantity: Int) async throws -> HTTPTestClient.Response {
                try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":\(quantity)}")
            }
            let first = try await buy(sales[0], 2)
            #expect(first.status == 201)
            let refused = try await buy(sales[1], 1)
            #expect(refused.status == 409)
            #expect(refused.json["error"]?.stringValue == "group_limit_exceeded")
            let order = try #require(first.json["order_id"]?.stringValue)
            #expect(try await client.call("POST", "/v1/orders/\(order)/cancel").status == 200)
            #expect(try await buy(sales[1], 3).json["error"]?.stringValue == "group_limit_exceeded")
            let second = try await buy(sales[1], 2)
            #expect(second.status == 201)
            #expect(try await Self.held(group: group)[user] == 2)
            // The reservation expires after a second; the sweep returns its stock and its claim.
            // Another suite's instance may sweep it first and still be releasing the claim when
            // this sweep finds nothing left: wait for the release (bounded at 10 s).
            try await Task.sleep(nanoseconds: 1_500_000_000)
            _ = await stampede.service.inventory.expireDueReservations()
            #expect(try await Self.held(group: group)[user] == nil)
            let ledger = stampede.service.inventory.ledger
            for _ in 0..<200 where try await ledger.claimedUnits(group: group, userID: user) != nil {
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            #expect(try await ledger.claimedUnits(group: group, userID: user) == nil)
            #expect(try await buy(sales[2], 2).status == 201)
        }
    }

    /// A retry with the same `Idempotency-Key` answers the first order (`200`), though the buyer
    /// is at the group's limit; a new key is refused.
    @Test func idempotentRetriesAnswerTheFirstOrder() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 1, count: 2)
            let client = try stampede.client()
            let user = TestServices.uniqueName("keyed")
            let body = "{\"user_id\":\"\(user)\",\"quantity\":1}"
            let first = try await client.call("POST", "/v1/sales/\(sales[0])/orders", body: body, headers: [("Idempotency-Key", "k1")])
            #expect(first.status == 201)
            let port = stampede.port
            let retries = await BlockingThreads.run(8) { _ in
                let answer = try? HTTPTestClient(port: port).request("POST", "/v1/sales/\(sales[0])/orders", body: body,
                                                                     headers: [("Idempotency-Key", "k1")])
                return (answer?.status ?? 0, answer?.json["order_id"]?.stringValue)
            }
            #expect(retries.allSatisfy { $0.0 == 200 && $0.1 == first.json["order_id"]?.stringValue }, "\(retries)")
            let newKey = try await client.call("POST", "/v1/sales/\(sales[0])/orders", body: body, headers: [("Idempotency-Key", "k2")])
            #expect(newKey.json["error"]?.stringValue == "group_limit_exceeded")
            let otherSale = try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: body, headers: [("Idempotency-Key", "k1")])
            #expect(otherSale.json["error"]?.stringValue == "group_limit_exceeded")
            #expect(try await Self.held(group: group)[user] == 1)
            // No claim was left behind by the refused and repeated attempts.
            #expect(try await stampede.service.inventory.ledger.claimedUnits(group: group, userID: user) == 1)
        }
    }

    /// Two instances on the same stores: one user's concurrent attempts over both give one win.
    @Test func oneWinAcrossTwoInstances() async throws {
        try await TestStampede.with { first in
            try await TestStampede.with { second in
                let (group, sales) = try await Self.groupWithSales(first, limit: 1, count: 4)
                let ports = [first.port, second.port]
                let user = TestServices.uniqueName("twin")
                let answers = await BlockingThreads.run(20) { index in
                    let answer = try? HTTPTestClient(port: ports[index % 2]).request(
                        "POST", "/v1/sales/\(sales[index % 4])/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
                    return answer?.status ?? 0
                }
                #expect(answers.filter { $0 == 201 }.count == 1, "\(answers)")
                #expect(answers.filter { $0 == 409 }.count == 19, "\(answers)")
                #expect(try await Self.held(group: group)[user] == 1)
            }
        }
    }

    /// Claims lost in Redis (the group's keys deleted, as a failover to a replica that lacked them
    /// would) are rebuilt from PostgreSQL's held orders: the buyer at the limit stays refused.
    @Test func lostClaimsAreRebuiltFromPostgreSQL() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 1, count: 2)
            let client = try stampede.client()
            let user = TestServices.uniqueName("holder")
            #expect(try await client.call("POST", "/v1/sales/\(sales[0])/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status == 201)
            try await stampede.service.inventory.ledger.deleteGroup(group)
            let again = try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
            #expect(again.json["error"]?.stringValue == "group_limit_exceeded", "\(again.text)")
            #expect(try await stampede.service.inventory.ledger.inspectGroup(group).isCurrent)
            #expect(try await stampede.service.inventory.ledger.claimedUnits(group: group, userID: user) == 1)
            #expect(try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: "{\"user_id\":\"\(user)-2\",\"quantity\":1}").status == 201)
        }
    }

    /// A claim whose purchase never reached its sale (a crash between the two) holds the buyer off
    /// until the reconciler finds no order for it and releases it.
    @Test func theReconcilerReleasesAClaimLeftByACrash() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 1, count: 2)
            let inventory = stampede.service.inventory
            let user = TestServices.uniqueName("crashed")
            let orphan = PurchaseRequest(saleID: sales[0], userID: user, quantity: 1, idempotencyKey: nil, exclusiveGroup: group)
            let round = try await inventory.ledger.claim([orphan], now: .now(), postgres: inventory.incarnation.current)
            #expect(round.results == [.granted])
            let client = try stampede.client()
            let body = "{\"user_id\":\"\(user)\",\"quantity\":1}"
            #expect(try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: body).json["error"]?.stringValue == "group_limit_exceeded")
            let dry = await inventory.reconcile(dryRun: true, outboxGraceSeconds: 0, sweeps: false)
            #expect(dry.counts[.claimReleased] == 1)
            let report = await inventory.reconcile(outboxGraceSeconds: 0, sweeps: false)
            #expect(report.counts[.claimReleased] == 1, "\(report.findings)")
            #expect(try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: body).status == 201)
            // The claim of the committed order is kept by later passes.
            let later = await inventory.reconcile(outboxGraceSeconds: 0, sweeps: false)
            #expect(later.counts[.claimReleased] == nil)
            #expect(try await inventory.ledger.claimedUnits(group: group, userID: user) == 1)
            // Confirmed: no pass looks at it again.
            #expect(try await inventory.ledger.inspectGroup(group, unconfirmedBefore: Timestamp.now().milliseconds).unconfirmed
                .allSatisfy { $0.userID != user })
        }
    }

    /// A sale redefined into a group while another instance still caches it without one: that
    /// instance's purchase is not decided outside the group (the purchase script refuses a batch
    /// claimed for another group as stale; the sale is read again and the purchase claims).
    @Test func aPurchaseFromAnOutdatedCopyOfTheSaleStillClaims() async throws {
        try await TestStampede.with { first in
            try await TestStampede.with { second in
                let (_, sales) = try await Self.groupWithSales(first, limit: 1, count: 1)
                let group = try #require(try await first.client().call("GET", "/v1/sales/\(sales[0])").json["exclusive_group"]?.stringValue)
                let joining = TestServices.uniqueName("joining")
                #expect(try await first.createSale(joining, stock: 5).status == 201)
                #expect(try await second.client().call("GET", "/v1/sales/\(joining)").json["exclusive_group"] == nil)
                let body = "{\"user_id\":\"late\",\"quantity\":1}"
                #expect(try await first.client().call("POST", "/v1/sales/\(sales[0])/orders", body: body).status == 201)
                #expect(try await first.createSale(joining, stock: 5, group: group).status == 200)
                let answer = try await second.client().call("POST", "/v1/sales/\(joining)/orders", body: body)
                #expect(answer.json["error"]?.stringValue == "group_limit_exceeded", "\(answer.text)")
                #expect(try await Self.held(group: group)["late"] == 1)
            }
        }
    }

    /// Raising a group's limit applies to the next purchase.
    @Test func aNewLimitApplies() async throws {
        try await TestStampede.with { stampede in
            let (group, sales) = try await Self.groupWithSales(stampede, limit: 1, count: 2)
            let client = try stampede.client()
            let body = "{\"user_id\":\"raised\",\"quantity\":1}"
            #expect(try await client.call("POST", "/v1/sales/\(sales[0])/orders", body: body).status == 201)
            #expect(try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: body).status == 409)
            #expect(try await stampede.putGroup(group, perUserLimit: 2).status == 200)
            #expect(try await client.call("POST", "/v1/sales/\(sales[1])/orders", body: body).status == 201)
            #expect(try await client.call("POST", "/v1/sales/\(sales[0])/orders", body: body).status == 409)
            #expect(try await Self.held(group: group)["raised"] == 2)
        }
    }
}
