import Foundation
import StampedeInventory
import StampedePostgres
import StampedeService
import Testing

/// The whole Stampede over real sockets, Redis and PostgreSQL, under a flash-sale rush.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct FlashSaleRushTests {
    /// One buyer's attempt and how it finally ended.
    struct Attempt: Sendable {
        var user: String
        var key: String
        var status = 0
        var error: String?
        var orderID: String?
        var overloadedRetries = 0
    }

    /// How the shards run purchases: coalesced Redis decisions and group commits (the default), or
    /// one purchase per Redis call and one commit per order (the benchmark's baseline).
    enum Pipeline: String, CaseIterable, Sendable {
        case coalesced, single
    }

    /// 2,000 concurrent purchase attempts from 1,600 users race for 100 units (limit 1 per user):
    /// exactly 100 are sold and committed, nobody holds two, sheds had no effect, and retries with
    /// the same Idempotency-Key return the same orders — with batching and group commit, and
    /// without: both paths give the same answers.
    @Test(arguments: Pipeline.allCases)
    func twoThousandBuyersBuyExactlyTheStock(pipeline: Pipeline) async throws {
        try await TestStampede.with({ configuration in
            // 2,000 connections at once from one address, and each retry round opens new ones
            // while a loaded server may not have reaped the last round's closes yet: the cap on
            // connections per client (ConnectionLimitTests has its own) is not what this tests.
            configuration.maxConnectionsPerClient = 0
            if pipeline == .single {
                configuration.shardBatchSize = 1
                configuration.shardCommitGroupSize = 1
            }
        }) { stampede in
            let sale = TestServices.uniqueName("rush")
            #expect(try await stampede.createSale(sale, stock: 100, perUserLimit: 1).status == 201)
            let port = stampede.port
            let threads = 8
            let perThread = 250
            let started = Date()
            let slices = await BlockingThreads.run(threads) { thread in
                Self.rush(port: port, sale: sale, attempts: (0..<perThread).map { i in
                    let n = thread * perThread + i
                    return Attempt(user: "u\(n % 1600)", key: "k\(n)")
                })
            }
            let elapsed = Date().timeIntervalSince(started)
            let attempts = slices.flatMap { $0 }
            #expect(attempts.count == 2000)

            let created = attempts.filter { $0.status == 201 }
            #expect(created.count == 100)
            #expect(Set(created.compactMap(\.orderID)).count == 100)
            #expect(Set(created.map(\.user)).count == 100, "no user holds two units")
            let others = Dictionary(grouping: attempts.filter { $0.status != 201 }, by: { "\($0.status) \($0.error ?? "")" })
            #expect(Set(others.keys).isSubset(of: ["409 sold_out", "409 limit_exceeded"]), "unexpected answers: \(others.keys)")
            let sheds = attempts.map(\.overloadedRetries).reduce(0, +)
            print("rush (\(pipeline.rawValue)): 2000 attempts for 100 units in \(String(format: "%.2f", elapsed)) s, \(Int(Double(2000 + sheds) / elapsed)) req/s, \(sheds) shed and retried")

            // Idempotent retries answer 200 with the same order.
            let client = try stampede.client()
            for attempt in created.prefix(100) {
                let again = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(attempt.user)\",\"quantity\":1}",
                                               headers: [("Idempotency-Key", attempt.key)])
                #expect(again.status == 200)
                #expect(again.json["order_id"]?.stringValue == attempt.orderID)
            }

            // PostgreSQL holds exactly the 100 orders; nobody is over the limit.
            let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { postgres.shutdown() }
            let totals = try await postgres.query("SELECT count(*), COALESCE(sum(quantity), 0) FROM orders WHERE \(TestServices.ordersOfSale)", [sale])
            #expect(totals.rows.first ?? [] == ["100", "100"])
            let perUser = try await postgres.query("SELECT COALESCE(max(c), 0) FROM (SELECT sum(quantity) AS c FROM orders WHERE \(TestServices.ordersOfSale) GROUP BY user_id) held", [sale])
            #expect(perUser.rows.first ?? [] == ["1"])
            let committed = try await postgres.query("SELECT order_id FROM orders WHERE \(TestServices.ordersOfSale)", [sale])
            #expect(Set(committed.rows.compactMap { $0[0] }) == Set(created.compactMap(\.orderID)))

            // The sale reads sold out within the cache's 1 s.
            try await Task.sleep(nanoseconds: 1_100_000_000)
            let view = try await client.call("GET", "/v1/sales/\(sale)")
            #expect(view.json["stock_available"]?.integerValue == 0)
            #expect(view.json["state"]?.stringValue == "sold_out")
        }
    }

    /// Sends every attempt on its own connection at once, then reads every answer; attempts shed
    /// with `503 overloaded` are retried with the same Idempotency-Key until they are decided.
    static func rush(port: Int, sale: String, attempts: [Attempt]) -> [Attempt] {
        var attempts = attempts
        var pending = Array(attempts.indices)
        for _ in 0..<200 where !pending.isEmpty {
            var clients: [Int: HTTPTestClient] = [:]
            for index in pending {
                guard let client = try? HTTPTestClient(port: port) else { continue }
                try? client.send(TestStampede.purchase(sale, user: attempts[index].user, key: attempts[index].key))
                clients[index] = client
            }
            var retry: [Int] = []
            for index in pending {
                guard let response = try? clients[index]?.readResponse() else {
                    retry.append(index)
                    continue
                }
                if response.status == 503, response.errorCode == "overloaded" {
                    attempts[index].overloadedRetries += 1
                    retry.append(index)
                    continue
                }
                attempts[index].status = response.status
                attempts[index].error = response.errorCode
                attempts[index].orderID = response.status == 201 ? response.json["order_id"]?.stringValue : nil
            }
            pending = retry
            if !pending.isEmpty { usleep(20_000) }
        }
        return attempts
    }
}
