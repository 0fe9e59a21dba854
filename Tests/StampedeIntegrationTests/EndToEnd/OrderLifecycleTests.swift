import StampedeInventory
import StampedePostgres
import StampedeService
import Testing

/// Orders after the purchase, over HTTP: pay, cancel, expiry, and the stock they return.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct OrderLifecycleTests {
    private static func buy(_ client: HTTPTestClient, _ sale: String, _ user: String, quantity: Int = 1) async throws -> String {
        let response = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":\(quantity)}")
        #expect(response.status == 201, "\(response.text)")
        return response.json["order_id"]?.stringValue ?? ""
    }

    private static func available(_ stampede: TestStampede, _ sale: String) async throws -> Int64? {
        try await stampede.service.inventory.loadSale(sale)?.available
    }

    /// Ten concurrent cancels of one order all answer 200 and return its stock exactly once.
    @Test func concurrentCancelsReturnStockOnce() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("cancel")
            _ = try await stampede.createSale(sale, stock: 5, perUserLimit: 3)
            let order = try await Self.buy(try stampede.client(), sale, "alice", quantity: 3)
            #expect(try await Self.available(stampede, sale) == 2)
            let port = stampede.port
            let answers = await BlockingThreads.run(10) { _ in
                (try? HTTPTestClient(port: port).request("POST", "/v1/orders/\(order)/cancel"))?.status ?? 0
            }
            #expect(answers == Array(repeating: 200, count: 10))
            #expect(try await Self.available(stampede, sale) == 5)
            let view = try await stampede.client().call("GET", "/v1/orders/\(order)")
            #expect(view.json["status"]?.stringValue == "cancelled")
            // The limit counts only reserved and paid orders: alice can buy again.
            _ = try await Self.buy(try stampede.client(), sale, "alice", quantity: 3)
        }
    }

    /// A payment racing a cancel has exactly one winner; the loser gets 409 order_not_reserved,
    /// and stock comes back only when the cancel won.
    @Test func payRacingCancelHasOneWinner() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("race")
            _ = try await stampede.createSale(sale, stock: 20, perUserLimit: 1)
            let client = try stampede.client()
            var orders: [String] = []
            for index in 0..<20 { orders.append(try await Self.buy(client, sale, "racer\(index)")) }
            let ordered = orders
            let port = stampede.port
            let results = await BlockingThreads.run(40) { i in
                let action = i % 2 == 0 ? "pay" : "cancel"
                let response = try? HTTPTestClient(port: port).request("POST", "/v1/orders/\(ordered[i / 2])/\(action)")
                return (i / 2, action, response?.status ?? 0)
            }
            var cancelled = 0
            for index in 0..<20 {
                let pair = results.filter { $0.0 == index }
                #expect(pair.filter { $0.2 == 200 }.count == 1, "exactly one of pay/cancel wins for order \(index)")
                #expect(pair.filter { $0.2 == 409 }.count == 1)
                if pair.contains(where: { $0.1 == "cancel" && $0.2 == 200 }) { cancelled += 1 }
            }
            #expect(try await Self.available(stampede, sale) == Int64(cancelled))
        }
    }

    /// Paying twice answers the paid order; cancelling a paid order is 409; unknown orders are 404.
    @Test func payIsIdempotentAndFinal() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("pay")
            _ = try await stampede.createSale(sale, stock: 3)
            let client = try stampede.client()
            let order = try await Self.buy(client, sale, "bob")
            #expect(try await client.call("POST", "/v1/orders/\(order)/pay").json["status"]?.stringValue == "paid")
            let again = try await client.call("POST", "/v1/orders/\(order)/pay")
            #expect(again.status == 200 && again.json["status"]?.stringValue == "paid")
            let cancel = try await client.call("POST", "/v1/orders/\(order)/cancel")
            #expect(cancel.status == 409 && cancel.errorCode == "order_not_reserved")
            #expect(try await client.call("POST", "/v1/orders/0000deadbeef/pay").errorCode == "unknown_order")
        }
    }

    /// An unpaid reservation expires after the sale's TTL: its status becomes expired, its stock
    /// returns, and paying it afterwards is 409.
    @Test func reservationsExpireAndReturnStock() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("expiry")
            _ = try await stampede.createSale(sale, stock: 2, perUserLimit: 2, ttlSeconds: 1)
            let client = try stampede.client()
            let order = try await Self.buy(client, sale, "carol", quantity: 2)
            // The reservation took the stock — unless, on a loaded machine, its one-second TTL
            // already ran out between the answer and this read, and the sweeper expired it.
            let afterPurchase = try await Self.available(stampede, sale)
            if afterPurchase != 0 {
                let now = try await client.call("GET", "/v1/orders/\(order)").json["status"]?.stringValue
                #expect(now == "expired", "stock \(String(describing: afterPurchase)) left while the order is \(now ?? "?")")
            }
            var status = ""
            for _ in 0..<40 where status != "expired" {
                try await Task.sleep(nanoseconds: 150_000_000)
                status = try await client.call("GET", "/v1/orders/\(order)").json["status"]?.stringValue ?? ""
            }
            #expect(status == "expired")
            // The stock goes back right after the expiry commits (by whichever instance's sweeper
            // claimed it), so wait for it briefly rather than racing it.
            var available = try await Self.available(stampede, sale)
            for _ in 0..<30 where available != 2 {
                try await Task.sleep(nanoseconds: 100_000_000)
                available = try await Self.available(stampede, sale)
            }
            #expect(available == 2)
            let pay = try await client.call("POST", "/v1/orders/\(order)/pay")
            #expect(pay.status == 409 && pay.errorCode == "order_not_reserved")
        }
    }

    /// A user's orders come newest first.
    @Test func userOrdersNewestFirst() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("mine")
            _ = try await stampede.createSale(sale, stock: 10, perUserLimit: 3)
            let client = try stampede.client()
            let user = TestServices.uniqueName("dave")
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try await Self.buy(client, sale, user))
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            let list = try await client.call("GET", "/v1/users/\(user)/orders")
            guard case .array(let orders)? = list.json["orders"] else {
                Issue.record("no orders array: \(list.text)")
                return
            }
            #expect(orders.compactMap { $0["order_id"]?.stringValue } == ids.reversed())
        }
    }
}
