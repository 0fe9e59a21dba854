import Foundation
import Glibc
import StampedeService
import Testing

/// Background work when every instance runs it: both instances' expiry sweepers (every second)
/// race over the same reservations, and each expiry returns its stock exactly once. Uses the
/// fault tests' own Redis and PostgreSQL so the counters see nothing but this sale.
@Suite(.serialized, FleetEnvironment.trait)
struct FleetBackgroundWorkTests {
    /// 60 one-second reservations bought through HAProxy, 10 paid: the other 50 expire — the
    /// instances' `expired` repair counters add up to exactly 50, every expired order has its stock
    /// returned, and Redis holds exactly 50 units available again.
    @Test func eachExpiryReturnsItsStockOnce() async throws {
        let scenario = try FaultScenario("fleet-expiry", stock: 60)
        defer { scenario.tearDown() }
        let trusted = ["STAMPEDE_LIMITS_TRUSTED_PROXIES": "127.0.0.1"]
        let instances = [try scenario.startStampede(environment: trusted), try scenario.startStampede(environment: trusted)]
        let balancer = try FleetBalancer(instancePorts: instances.map(\.port), directory: scenario.directory + "/haproxy")
        defer { balancer.stop() }
        let sale = scenario.saleID
        let port = balancer.port
        let format = ISO8601DateFormatter()
        let body = """
        {"sku":"sku-expiry","price_cents":100,"stock":60,"per_user_limit":1,"reservation_ttl_seconds":1,\
        "starts_at":"\(format.string(from: Date().addingTimeInterval(-60)))","ends_at":"\(format.string(from: Date().addingTimeInterval(600)))"}
        """
        let created = try HTTPTestClient(port: port).request("PUT", "/admin/sales/\(sale)", body: body,
                                                             headers: [("Authorization", "Bearer \(FaultScenario.adminToken)")])
        #expect(created.status == 201)
        let orders = await BlockingThreads.run(12) { thread -> [String] in
            (0..<5).compactMap { index in
                let answer = try? HTTPTestClient(port: port).request("POST", "/v1/sales/\(sale)/orders",
                                                                    body: "{\"user_id\":\"exp-\(thread)-\(index)\",\"quantity\":1}")
                return answer?.status == 201 ? answer?.json["order_id"]?.stringValue : nil
            }
        }.flatMap { $0 }
        #expect(orders.count == 60)
        for order in orders.prefix(10) {
            #expect(try HTTPTestClient(port: port).request("POST", "/v1/orders/\(order)/pay").status == 200)
        }
        var last = ""
        let settled = FaultEnvironment.wait(seconds: 10, every: 0.2) {
            guard let rows = try? scenario.postgres.query(
                "SELECT status, count(*), count(*) FILTER (WHERE stock_returned) FROM orders WHERE sale_id = '\(sale)' GROUP BY status ORDER BY status")
            else { return false }
            last = rows.map { $0.joined(separator: " ") }.joined(separator: ", ")
            return last == "expired 50 50, paid 10 0"
        }
        #expect(settled, "orders by status (count, stock returned): \(last)")
        let expiredPerInstance = try instances.map { instance -> Int in
            let metrics = try HTTPTestClient(port: instance.port).request("GET", "/metrics").text
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("stampede_reconciler_repairs_total{kind=\"expired\"}") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
        }
        #expect(expiredPerInstance.reduce(0, +) == 50, "expiries counted per instance: \(expiredPerInstance)")
        #expect(try scenario.redis.cli(["HGET", "{\(sale)}:sale", "avail"]) == "50")
        print("[fleet expiry] expired per instance: \(expiredPerInstance)")
    }
}
