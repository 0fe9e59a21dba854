import Glibc
import StampedeInventory
import StampedePostgres
import StampedeService
import Testing

/// Two Stampede instances on the same Redis and PostgreSQL: purchases, pays, cancels and expiry
/// racing across them keep every invariant — one winner per order, stock returned exactly once.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct TwoInstanceTests {
    private static func statuses(_ sale: String) async throws -> [String: String] {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        let rows = try await postgres.query("SELECT order_id, status FROM orders WHERE \(TestServices.ordersOfSale)", [sale]).rows
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0]!, $0[1]!) })
    }

    /// Buyers split across two instances buy exactly the stock; then, on reservations that expire
    /// while they race, one instance pays, the other cancels and both expire: every order ends in
    /// exactly one state, each answer agrees with it, and the stock that came back is exactly the
    /// quantity of the orders that did not end paid.
    @Test func racesAcrossInstancesReturnStockOnce() async throws {
        try await TestStampede.with { first in
            try await TestStampede.with { second in
                let sale = TestServices.uniqueName("twin")
                _ = try await first.createSale(sale, stock: 40, perUserLimit: 1, ttlSeconds: 2)
                let ports = [first.port, second.port]
                let bought = await BlockingThreads.run(60) { index in
                    let answer = try? HTTPTestClient(port: ports[index % 2]).request(
                        "POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"twin\(index)\",\"quantity\":1}")
                    return (answer?.status ?? 0, answer.flatMap { $0.json["order_id"]?.stringValue })
                }
                #expect(bought.filter { $0.0 == 201 }.count == 40)
                #expect(bought.allSatisfy { $0.0 == 201 || $0.0 == 409 })
                let orders = bought.compactMap(\.1)
                // Pays on one instance, cancels on the other, both instances expiring meanwhile;
                // the calls are spread over the reservations' last second and past their expiry.
                let actions = await BlockingThreads.run(orders.count * 2) { index in
                    let order = orders[index / 2]
                    let pay = index % 2 == 0
                    usleep(UInt32((index % 25) * 60_000))
                    let answer = try? HTTPTestClient(port: ports[pay ? 0 : 1]).request("POST", "/v1/orders/\(order)/\(pay ? "pay" : "cancel")")
                    return (order, pay, answer?.status ?? 0, answer?.json["status"]?.stringValue)
                }
                try await Task.sleep(nanoseconds: 2_500_000_000)
                async let a = first.service.inventory.expireDueReservations()
                async let b = second.service.inventory.expireDueReservations()
                _ = await (a, b)
                _ = await first.service.inventory.retryStockReturns(graceSeconds: 0)
                let final = try await Self.statuses(sale)
                #expect(final.count == 40)
                for (order, pay, status, body) in actions where status == 200 {
                    #expect(final[order] == (pay ? "paid" : "cancelled"), "a 200 matches the order's final state")
                    #expect(body == final[order])
                }
                for order in orders {
                    let wins = actions.filter { $0.0 == order && $0.2 == 200 }
                    #expect(wins.count <= 1, "at most one of pay/cancel wins")
                    if wins.isEmpty { #expect(final[order] == "expired") }
                }
                let paid = final.values.filter { $0 == "paid" }.count
                #expect(try await first.service.inventory.loadSale(sale)?.available == Int64(40 - paid),
                        "every unpaid order's unit came back exactly once")
            }
        }
    }
}
