import Foundation
import StampedeInventory
import StampedePostgres
import StampedeService
import Testing

/// Live shard changes and stock-aware shedding, over real sockets, Redis and PostgreSQL.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct LiveShardTuningTests {
    static let auth = [("Authorization", "Bearer \(TestStampede.adminToken)")]

    /// While 8 threads buy a 300-unit sale, the configuration is reloaded 6 times — pinning the sale
    /// to its own shard, changing the shard count, unpinning — and no purchase is lost or duplicated:
    /// every request gets an answer, every 201 is committed once, exactly the stock is sold.
    @Test func reshardingUnderLoadLosesNothing() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(TestServices.uniqueName("reshard") + ".json").path
        try #"{"admin_token": "test-admin-token", "shards": {"count": 4}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestStampede.with(configurationPath: path, { $0.sheddingStockFactor = 0 }) { stampede in
            let sale = TestServices.uniqueName("moving")
            #expect(try await stampede.createSale(sale, stock: 300, perUserLimit: 1).status == 201)
            let port = stampede.port
            let layouts = [
                #"{"admin_token": "test-admin-token", "shards": {"count": 4, "pinned": ["\#(sale)"], "overrides": {"4": {"batch_size": 16}}}}"#,
                #"{"admin_token": "test-admin-token", "shards": {"count": 2}}"#,
                #"{"admin_token": "test-admin-token", "shards": {"count": 3, "pinned": ["\#(sale)"]}}"#,
                #"{"admin_token": "test-admin-token", "shards": {"count": 3, "pinned": ["\#(sale)"], "batch_size": 4}}"#,
                #"{"admin_token": "test-admin-token", "shards": {"count": 5}}"#,
                #"{"admin_token": "test-admin-token", "shards": {"count": 2, "pinned": ["other", "\#(sale)"]}}"#,
            ]
            async let answers = BlockingThreads.run(8) { thread -> [(Int, String?)] in
                guard let client = try? HTTPTestClient(port: port) else { return [] }
                return (0..<60).map { i in
                    let body = "{\"user_id\":\"t\(thread)-\(i)\",\"quantity\":1}"
                    let response = try? client.request("POST", "/v1/sales/\(sale)/orders", body: body)
                    return (response?.status ?? 0, response?.json["order_id"]?.stringValue)
                }
            }
            for layout in layouts {
                try layout.write(toFile: path, atomically: true, encoding: .utf8)
                let reloaded = try await stampede.client().call("POST", "/admin/config/reload", headers: Self.auth)
                #expect(reloaded.status == 200, "\(reloaded.text)")
            }
            let all = await answers.flatMap { $0 }
            #expect(all.count == 480)
            #expect(all.allSatisfy { [201, 409, 503].contains($0.0) }, "every purchase answered")
            let created = all.compactMap { $0.0 == 201 ? $0.1 : nil }
            #expect(Set(created).count == created.count)
            let rows = try await stampede.service.inventory.orders.writer.query(
                "SELECT count(*), count(DISTINCT user_id) FROM orders WHERE sale_id = $1", [sale])
            #expect(rows.rows.first?[0] == String(created.count), "every 201 committed exactly once")
            #expect(rows.rows.first?[1] == String(created.count))
            let sold = try await stampede.service.inventory.loadSale(sale)?.available
            #expect(sold.map { Int($0) + created.count } == 300, "units sold match the committed orders")
            // The last layout pins the sale to the second dedicated shard.
            let table = try await stampede.client().call("GET", "/admin/shards", headers: Self.auth)
            #expect(table.json["shard_count"]?.integerValue == 4)
            #expect(stampede.service.inventory.shardIndex(for: sale) == 3)
        }
    }

    /// A rush of 200 pipelined purchases for 5 units with a stock factor of 1 sheds the surplus at
    /// the door as 503 overloaded (counted by reason), sells exactly the 5 units, and the shed
    /// purchases had no effect.
    @Test func stockAwareSheddingAnswersOverloaded() async throws {
        try await TestStampede.with({ $0.sheddingStockFactor = 1; $0.sheddingStockFloor = 1 }) { stampede in
            let sale = TestServices.uniqueName("scarce")
            #expect(try await stampede.createSale(sale, stock: 5, perUserLimit: 1).status == 201)
            let port = stampede.port
            let statuses = await BlockingThreads.run(2) { thread -> [(Int, String?)] in
                guard let client = try? HTTPTestClient(port: port) else { return [] }
                var batch: [UInt8] = []
                for i in 0..<100 { batch += TestStampede.purchase(sale, user: "p\(thread)-\(i)") }
                guard (try? client.send(batch)) != nil else { return [] }
                return (0..<100).map { _ in
                    let response = try? client.readResponse()
                    return (response?.status ?? 0, response?.errorCode)
                }
            }.flatMap { $0 }
            #expect(statuses.count == 200)
            #expect(statuses.filter { $0.0 == 201 }.count == 5)
            let shed = statuses.filter { $0.0 == 503 }
            #expect(shed.allSatisfy { $0.1 == "overloaded" })
            #expect(statuses.allSatisfy { $0.0 == 201 || $0.1 == "overloaded" || $0.1 == "sold_out" })
            #expect(!shed.isEmpty, "the surplus of a 200-buyer rush for 5 units is shed")
            let metrics = try await stampede.client().call("GET", "/metrics").text
            #expect(metrics.contains("stampede_shed_total{reason=\"stock\"} \(shed.count)"))
            let rows = try await stampede.service.inventory.orders.writer.query("SELECT count(*) FROM orders WHERE sale_id = $1", [sale])
            #expect(rows.rows.first?[0] == "5")
        }
    }
}
