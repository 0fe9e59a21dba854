import StampedeInventory
import StampedeJSON
import StampedePostgres
import StampedeService
import Testing

/// The stock movement ledger over HTTP and straight in PostgreSQL: every change of a sale's
/// available stock is a row, and once work settles the rows sum to `stock_available`.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct StockMovementLedgerTests {
    static let admin = [("Authorization", "Bearer \(TestStampede.adminToken)")]

    /// Every movement of the sale, newest first, read page by page through the API.
    private static func allMovements(_ stampede: TestStampede, _ sale: String, pageSize: Int = 1000) async throws -> [JSONValue] {
        var out: [JSONValue] = []
        var path = "/admin/sales/\(sale)/movements?limit=\(pageSize)"
        while true {
            let page = try await stampede.client().call("GET", path, headers: admin)
            #expect(page.status == 200, "\(page.text)")
            guard case .array(let rows)? = page.json["movements"] else {
                Issue.record("no movements array: \(page.text)")
                return out
            }
            out += rows
            guard let next = page.json["next_before"]?.stringValue.flatMap(Int64.init) else { return out }
            path = "/admin/sales/\(sale)/movements?limit=\(pageSize)&before=\(next)"
        }
    }

    private static func sum(_ movements: [JSONValue]) -> Int64 {
        movements.reduce(0) { $0 + ($1["quantity"]?.integerValue ?? 0) }
    }

    private static func figures(_ postgres: PostgresClient, _ sale: String) async throws -> (expected: Int64, held: Int64, ledger: Int64) {
        let row = try await postgres.query("""
        SELECT s.stock_total + s.restocked, COALESCE((SELECT sum(quantity) FROM orders o WHERE o.sale_id = s.sale_id
                                                      AND o.status IN ('reserved', 'paid')), 0),
               COALESCE((SELECT sum(quantity) FROM stock_movements m WHERE m.sale_id = s.sale_id), 0)
        FROM sales s WHERE s.sale_id = $1
        """, [sale]).rows.first ?? []
        let n = row.map { $0.flatMap { Int64($0) } ?? -1 }
        return (n[0] - n[1], n[1], n[2])
    }

    private static func stockAvailable(_ stampede: TestStampede, _ sale: String) async throws -> Int64? {
        try await stampede.client().call("GET", "/v1/sales/\(sale)").json["stock_available"]?.integerValue
    }

    /// A rush with more buyers than stock, some orders paid, some cancelled, the rest left to expire,
    /// and a restock: once settled, the movements sum to `stock_available` and to
    /// stock + restocked − held in PostgreSQL; one `sold` row per group commit (fewer rows than
    /// orders), one `returned` row per cancelled or expired order, `defined` and `restocked`
    /// referenced by the admin request ids.
    @Test func rushSettlesToStockAvailable() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("ledger_rush")
            let stock = 30
            let now = Timestamp.now()
            let definition = """
            {"sku":"sku-l","price_cents":100,"stock":\(stock),"per_user_limit":1,"starts_at":"\(now.adding(seconds: -60).rfc3339)",\
            "ends_at":"\(now.adding(seconds: 86_400).rfc3339)","reservation_ttl_seconds":2}
            """
            let defineID = TestServices.uniqueName("define")
            let created = try await stampede.client().call("PUT", "/admin/sales/\(sale)", body: definition,
                                                          headers: Self.admin + [("X-Request-Id", defineID)])
            #expect(created.status == 201)
            let port = stampede.port
            let answers = await BlockingThreads.run(90) { index -> String? in
                let client = try? HTTPTestClient(port: port)
                let answer = try? client?.request("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"rusher\(index)\",\"quantity\":1}")
                return answer?.status == 201 ? answer?.json["order_id"]?.stringValue : nil
            }
            let orders = answers.compactMap { $0 }
            #expect(orders.count == stock, "a rush of 90 buyers for \(stock) units sold \(orders.count)")
            let client = try stampede.client()
            var paidOrders: Set<String> = []
            for order in orders.prefix(6) where try await client.call("POST", "/v1/orders/\(order)/pay").status == 200 {
                paidOrders.insert(order)
            }
            for order in orders.dropFirst(6).prefix(6) {
                _ = try await client.call("POST", "/v1/orders/\(order)/cancel")  // 409 if it expired first
            }
            let paid = paidOrders.count
            let restockID = TestServices.uniqueName("restock")
            let restocked = try await client.call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity":7}"#,
                                                  headers: Self.admin + [("X-Request-Id", restockID)])
            #expect(restocked.status == 200)

            // Settle: the rest expire (2 s TTL, 1 s sweep) and their stock goes back to Redis.
            let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { postgres.shutdown() }
            var figures = try await Self.figures(postgres, sale)
            var available = try await Self.stockAvailable(stampede, sale)
            for _ in 0..<150 where figures.held != Int64(paid) || available != figures.expected || figures.ledger != figures.expected {
                try await Task.sleep(nanoseconds: 200_000_000)
                figures = try await Self.figures(postgres, sale)
                available = try await Self.stockAvailable(stampede, sale)
            }
            #expect(figures.held == Int64(paid), "only the paid orders hold units once the rest expired")
            #expect(figures.expected == Int64(stock + 7 - paid))
            #expect(available == figures.expected)

            let movements = try await Self.allMovements(stampede, sale, pageSize: 7)
            #expect(Self.sum(movements) == figures.expected, "Σ movements \(Self.sum(movements)) vs stock_available \(figures.expected)")
            let ids = movements.compactMap { $0["id"]?.stringValue.flatMap { Int64($0) } }
            #expect(ids == ids.sorted(by: >) && Set(ids).count == ids.count, "newest first, no row twice across pages")
            let kinds = Dictionary(grouping: movements) { $0["kind"]?.stringValue ?? "?" }
            let defined = kinds["defined"] ?? []
            #expect(defined.count == 1 && defined.first?["quantity"]?.integerValue == Int64(stock)
                    && defined.first?["reference"]?.stringValue == defineID)
            let restocks = kinds["restocked"] ?? []
            #expect(restocks.count == 1 && restocks.first?["quantity"]?.integerValue == 7
                    && restocks.first?["reference"]?.stringValue == restockID)
            // One `sold` row per group commit: its reference names the group's first order and how
            // many others it carried, and its quantity is minus the units of them all.
            let sold = kinds["sold"] ?? []
            #expect(Self.sum(sold) == -Int64(orders.count))
            var grouped = 0
            for row in sold {
                let reference = row["reference"]?.stringValue ?? ""
                let parts = reference.split(separator: " +")
                #expect(orders.contains(String(parts[0])), "sold reference \(reference) names no order of the rush")
                let count = 1 + (parts.count == 2 ? Int(parts[1]) ?? -1000 : 0)
                #expect(row["quantity"]?.integerValue == -Int64(count), "\(row)")
                grouped += count
            }
            #expect(grouped == orders.count)
            #expect(sold.count < orders.count, "\(sold.count) sold rows for \(orders.count) orders: the rush's group commits did not batch")
            // One `returned` row per cancelled or expired order, +1 each, referenced by the order id.
            let returned = kinds["returned"] ?? []
            #expect(returned.count == orders.count - paid)
            #expect(returned.allSatisfy { $0["quantity"]?.integerValue == 1 })
            let returnedOrders = Set(returned.compactMap { $0["reference"]?.stringValue })
            #expect(returnedOrders.count == returned.count && returnedOrders == Set(orders).subtracting(paidOrders))
            #expect((kinds["repaired"] ?? []).isEmpty, "nothing for the reconciler to repair")
            #expect(Set(kinds.keys).isSubset(of: ["defined", "restocked", "sold", "returned"]))
            // `at` is RFC 3339 with milliseconds.
            #expect(movements.allSatisfy { ($0["at"]?.stringValue).flatMap { Timestamp(rfc3339: $0) } != nil
                                           && $0["at"]?.stringValue?.contains(".") == true })
        }
    }

    /// Replacing a sale that has no orders writes a `defined` row of the difference (new stock less
    /// the old stock and restocks), and the movements sum to the new stock.
    @Test func replaceWritesTheDifference() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("ledger_replace")
            #expect(try await stampede.createSale(sale, stock: 10).status == 201)
            #expect(try await stampede.client().call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity":5}"#,
                                                    headers: Self.admin).status == 200)
            #expect(try await stampede.createSale(sale, stock: 8).status == 200)
            let movements = try await Self.allMovements(stampede, sale)
            #expect(movements.map { $0["kind"]?.stringValue ?? "?" } == ["defined", "restocked", "defined"])
            #expect(movements.map { $0["quantity"]?.integerValue ?? 0 } == [-7, 5, 10])
            #expect(Self.sum(movements) == 8)
            #expect(try await Self.stockAvailable(stampede, sale) == 8)
        }
    }

    /// An order deleted behind Stampede's back (SQL) leaves the ledger short; the reconciler's pass
    /// writes one `repaired` row of the difference, referenced by the pass, and the sum matches again.
    @Test func reconcilerRepairsADifference() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("ledger_repair")
            _ = try await stampede.createSale(sale, stock: 10)
            let client = try stampede.client()
            for user in ["ann", "ben", "cid"] {
                #expect(try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status == 201)
            }
            let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { postgres.shutdown() }
            #expect(try await Self.figures(postgres, sale).ledger == 7)
            _ = try await postgres.query("DELETE FROM orders WHERE sale_id = $1 AND user_id = 'ben'", [sale])
            #expect(try await Self.figures(postgres, sale).expected == 8)

            // A dry run writes nothing (another service's pass may have repaired it already).
            let dry = await stampede.service.inventory.reconcile(dryRun: true, saleIDs: [sale], sweeps: false)
            #expect((dry.counts[.ledgerRepaired] ?? 0) <= 1)
            let inventory = stampede.service.inventory
            var repaired: [[String?]] = []
            for _ in 0..<20 where repaired.isEmpty {
                let report = await inventory.reconcile(saleIDs: [sale], sweeps: false)
                #expect(report.errors.isEmpty, "\(report.errors)")
                repaired = try await postgres.query(
                    "SELECT quantity, reference FROM stock_movements WHERE sale_id = $1 AND kind = 'repaired'", [sale]).rows
                if repaired.isEmpty { try await Task.sleep(nanoseconds: 100_000_000) }
            }
            #expect(repaired.count == 1 && repaired.first?[0] == "1", "\(repaired)")
            #expect((repaired.first?[1] ?? nil)?.hasPrefix("reconciler ") == true)
            let after = try await Self.figures(postgres, sale)
            #expect(after.ledger == after.expected && after.expected == 8)
            // Another pass finds nothing more.
            let again = await inventory.reconcile(saleIDs: [sale], sweeps: false)
            #expect(again.counts[.ledgerRepaired] == nil)
            #expect(try await postgres.query("SELECT count(*) FROM stock_movements WHERE sale_id = $1 AND kind = 'repaired'",
                                             [sale]).rows.first?[0] == "1")
            let newest = try await client.call("GET", "/admin/sales/\(sale)/movements?limit=1", headers: Self.admin)
            guard case .array(let newestRows)? = newest.json["movements"] else {
                Issue.record("no movements array: \(newest.text)")
                return
            }
            #expect(newestRows.count == 1 && newestRows.first?["kind"]?.stringValue == "repaired")
        }
    }

    /// Paging: `before` gives the next older page without overlap, `next_before` is null on the
    /// last page; an unknown sale is 404 unknown_sale, a bad query 400 invalid_query, no token 401.
    @Test func pagesAndErrors() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("ledger_pages")
            _ = try await stampede.createSale(sale, stock: 3)
            let client = try stampede.client()
            for quantity in 1...4 {
                #expect(try await client.call("POST", "/admin/sales/\(sale)/restock", body: "{\"quantity\":\(quantity)}",
                                              headers: Self.admin).status == 200)
            }
            var pages: [[Int64]] = []
            var path = "/admin/sales/\(sale)/movements?limit=2"
            var quantities: [Int64] = []
            while pages.count < 5 {
                let page = try await client.call("GET", path, headers: Self.admin)
                #expect(page.status == 200)
                guard case .array(let rows)? = page.json["movements"] else { break }
                pages.append(rows.compactMap { $0["id"]?.stringValue.flatMap { Int64($0) } })
                quantities += rows.compactMap { $0["quantity"]?.integerValue }
                guard let next = page.json["next_before"]?.stringValue.flatMap(Int64.init) else {
                    #expect(page.json["next_before"] == .null)
                    break
                }
                #expect(next == pages.last?.last)
                path = "/admin/sales/\(sale)/movements?before=\(next)&limit=2"
            }
            #expect(pages.map(\.count) == [2, 2, 1])
            let ids = pages.flatMap { $0 }
            #expect(ids == ids.sorted(by: >) && Set(ids).count == 5)
            #expect(quantities == [4, 3, 2, 1, 3])
            let all = try await client.call("GET", "/admin/sales/\(sale)/movements", headers: Self.admin)
            if case .array(let rows)? = all.json["movements"] { #expect(rows.count == 5) } else { Issue.record("no movements: \(all.text)") }
            #expect(all.json["next_before"] == .null)

            let unknown = try await client.call("GET", "/admin/sales/\(TestServices.uniqueName("nosale"))/movements", headers: Self.admin)
            #expect(unknown.status == 404 && unknown.errorCode == "unknown_sale")
            for query in ["limit=0", "limit=1001", "limit=x", "before=abc", "before=0", "before="] {
                let bad = try await client.call("GET", "/admin/sales/\(sale)/movements?\(query)", headers: Self.admin)
                #expect(bad.status == 400 && bad.errorCode == "invalid_query", "\(query): \(bad.text)")
            }
            #expect(try await client.call("GET", "/admin/sales/\(sale)/movements").status == 401)
        }
    }
}
