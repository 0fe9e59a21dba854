import StampedeInventory
import Testing

/// Once a sale is sold out, rejections come from memory — and stock that comes back is sold again.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct SoldOutShortCircuitTests {
    /// After the last unit went, purchases without an idempotency key are answered `409 sold_out`
    /// without reaching the shard (no Redis call); a retry with a key still reaches Redis and gets
    /// its order back; a cancel returns the unit and the next buyer gets it.
    @Test func soldOutIsAnsweredFromMemoryUntilStockReturns() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("soldout")
            #expect(try await stampede.createSale(sale, stock: 2, perUserLimit: 1).status == 201)
            let client = try stampede.client()
            func buy(_ user: String, key: String? = nil) async throws -> HTTPTestClient.Response {
                try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}",
                                      headers: key.map { [("Idempotency-Key", $0)] } ?? [])
            }
            let first = try await buy("a", key: "ka")
            #expect(first.status == 201)
            #expect(try await buy("b").status == 201)
            #expect(try await buy("c").errorCode == "sold_out")   // Redis decides: 0 left
            #expect(stampede.service.inventory.soldOut.isSoldOut(sale))

            let shard = stampede.service.inventory.shard(for: sale)
            let servedBefore = shard.statistics.served
            for n in 0..<20 {
                let answer = try await buy("late-\(n)")
                #expect(answer.status == 409)
                #expect(answer.errorCode == "sold_out")
            }
            #expect(shard.statistics.served == servedBefore, "sold-out answers must not reach the shard")

            // A retry with the first buyer's key reaches Redis and returns the first order.
            let retry = try await buy("a", key: "ka")
            #expect(retry.status == 200)
            #expect(retry.json["order_id"]?.stringValue == first.json["order_id"]?.stringValue)
            #expect(shard.statistics.served == servedBefore + 1)

            // Stock comes back: the next buyer gets it.
            let orderID = try #require(first.json["order_id"]?.stringValue)
            #expect(try await client.call("POST", "/v1/orders/\(orderID)/cancel").status == 200)
            #expect(!stampede.service.inventory.soldOut.isSoldOut(sale))
            #expect(try await buy("d").status == 201)
            #expect(try await buy("e").errorCode == "sold_out")
        }
    }

    /// Stock returned by a restock reopens the sale at once.
    @Test func restockReopensASoldOutSale() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("restock")
            #expect(try await stampede.createSale(sale, stock: 1, perUserLimit: 1).status == 201)
            let client = try stampede.client()
            func buy(_ user: String) async throws -> HTTPTestClient.Response {
                try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
            }
            #expect(try await buy("a").status == 201)
            #expect(try await buy("b").errorCode == "sold_out")
            #expect(try await buy("c").errorCode == "sold_out")
            let restock = try await client.call("POST", "/admin/sales/\(sale)/restock", body: "{\"quantity\":1}",
                                                headers: [("Authorization", "Bearer \(TestStampede.adminToken)")])
            #expect(restock.status == 200)
            #expect(try await buy("d").status == 201)
            #expect(try await buy("e").errorCode == "sold_out")
        }
    }
}
