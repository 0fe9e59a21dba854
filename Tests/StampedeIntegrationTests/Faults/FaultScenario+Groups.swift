import Foundation
import Glibc
import StampedeInventory
import Testing

/// An exclusive group under faults: a group of sales with a per-user limit, a rush of buyers who
/// each try every sale of the group (each attempt with its own Idempotency-Key, retried after a
/// 503, a timeout or a dropped connection), and the group's invariants checked straight on
/// PostgreSQL and Redis once repairs have run.
extension FaultScenario {
    /// The group's id and its sales' ids (the scenario's sale first).
    struct GroupSetup: Sendable {
        var groupID: String
        var sales: [String]
        var stockPerSale: Int
        var limit: Int
    }

    /// Defines a group with `limit` and `count` sales of `stockPerSale` units each in it.
    func createGroup(on instance: FaultStampede, sales count: Int, stockPerSale: Int, limit: Int) throws -> GroupSetup {
        let admin = [("Authorization", "Bearer \(Self.adminToken)")]
        let setup = GroupSetup(groupID: saleID + "-group", sales: (0..<count).map { $0 == 0 ? saleID : "\(saleID)-\($0)" },
                               stockPerSale: stockPerSale, limit: limit)
        let client = try HTTPTestClient(port: instance.port)
        let group = try client.request("PUT", "/admin/groups/\(setup.groupID)", body: "{\"per_user_limit\":\(limit)}", headers: admin)
        guard group.status == 201 else { throw ChildFailure(description: "create group: \(group.status) \(group.text)") }
        let now = Date()
        let format = ISO8601DateFormatter()
        for sale in setup.sales {
            let body = """
            {"sku":"sku-fault","price_cents":500,"stock":\(stockPerSale),"per_user_limit":\(limit),\
            "starts_at":"\(format.string(from: now.addingTimeInterval(-60)))","ends_at":"\(format.string(from: now.addingTimeInterval(3600)))",\
            "exclusive_group":"\(setup.groupID)"}
            """
            let answer = try client.request("PUT", "/admin/sales/\(sale)", body: body, headers: admin)
            guard answer.status == 201 else { throw ChildFailure(description: "create sale: \(answer.status) \(answer.text)") }
        }
        return setup
    }

    /// What one buyer of the group saw: per sale it tried, the final status and the orders
    /// confirmed to it.
    struct GroupBuyer: Sendable {
        var user: String
        var finals: [String: Int] = [:]
        var confirmed: [String: Set<String>] = [:]
        var attempts = 0
        var unresolved: [String] = []
    }

    /// `buyers` buyers on `threads` threads; each tries every sale of the group in turn (starting
    /// at a different one per buyer), one unit each, until each attempt has a final answer (201,
    /// 200 or 409) or `deadline` seconds pass.
    func groupRush(_ setup: GroupSetup, buyers: Int, threads: Int = 24, pace: Double = 0.03, deadline: Double = 40) async -> [GroupBuyer] {
        let ends = Date().addingTimeInterval(deadline)
        let ports = self.ports
        let perThread = await BlockingThreads.run(threads) { thread -> [GroupBuyer] in
            var out: [GroupBuyer] = []
            var client: HTTPTestClient?
            var clientPort = 0
            var index = thread
            while index < buyers {
                var buyer = GroupBuyer(user: "gbuyer\(index)")
                for turn in 0..<setup.sales.count {
                    let sale = setup.sales[(index + turn) % setup.sales.count]
                    var resolved = false
                    while !resolved && Date() < ends {
                        buyer.attempts += 1
                        guard let connected = ports.connection(&client, &clientPort, seed: index + buyer.attempts) else { continue }
                        guard let answer = try? connected.request("POST", "/v1/sales/\(sale)/orders",
                                                                body: "{\"user_id\":\"\(buyer.user)\",\"quantity\":1}",
                                                                headers: [("Idempotency-Key", "\(buyer.user)-\(sale)")]) else {
                            client = nil
                            usleep(50_000)
                            continue
                        }
                        buyer.finals[sale] = answer.status
                        switch answer.status {
                        case 200, 201:
                            buyer.confirmed[sale, default: []].insert(answer.json["order_id"]?.stringValue ?? "?")
                            resolved = true
                        case 503:
                            if answer.headers["connection"] == "close" { client = nil }
                            usleep(100_000)
                        default:
                            resolved = true
                        }
                    }
                    if !resolved { buyer.unresolved.append(sale) }
                }
                out.append(buyer)
                index += threads
                usleep(UInt32(pace * 1_000_000))
            }
            return out
        }
        return perThread.flatMap { $0 }
    }

    /// The group's invariants: every confirmed order is in PostgreSQL; no buyer holds more than
    /// the group's limit across its sales; and, once the reconciler has run, Redis's claims are
    /// exactly PostgreSQL's held orders (no claim leaked, none missing) and every sale's stock is
    /// conserved with an empty outbox.
    func verifyGroup(_ setup: GroupSetup, _ buyers: [GroupBuyer], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let sales = setup.sales.map { "'\($0)'" }.joined(separator: ",")
        let rows = try postgres.query("SELECT order_id, user_id, status, quantity, sale_id FROM orders WHERE sale_id IN (\(sales))")
        let byID = Dictionary(rows.map { ($0[0], $0) }, uniquingKeysWith: { first, _ in first })
        var confirmed = 0
        for buyer in buyers {
            #expect(buyer.unresolved.isEmpty, "buyer \(buyer.user) got no final answer on \(buyer.unresolved)", sourceLocation: sourceLocation)
            for (sale, orders) in buyer.confirmed {
                #expect(orders.count == 1, "key \(buyer.user)-\(sale) answered with two orders \(orders)", sourceLocation: sourceLocation)
                for id in orders {
                    confirmed += 1
                    #expect(byID[id]?[1] == buyer.user, "order \(id) confirmed to \(buyer.user) is not in PostgreSQL",
                            sourceLocation: sourceLocation)
                }
            }
        }
        #expect(confirmed > 0, "the rush confirmed nothing", sourceLocation: sourceLocation)
        var heldByUser: [String: Int] = [:]
        for row in rows where ["reserved", "paid"].contains(row[2]) { heldByUser[row[1], default: 0] += Int(row[3]) ?? 0 }
        let over = heldByUser.filter { $0.value > setup.limit }
        #expect(over.isEmpty, "buyers past the group's limit \(setup.limit): \(over)", sourceLocation: sourceLocation)
        let retried = buyers.filter { $0.attempts > setup.sales.count }.count
        #expect(retried > 0, "no buyer had to retry: the fault did not hit the rush", sourceLocation: sourceLocation)
        print("[fault \(name)] group buyers \(buyers.count), confirmed \(confirmed), retried \(retried), "
              + "holders \(heldByUser.count), held \(heldByUser.values.reduce(0, +))")

        // Once the reconciler has released what the fault left (grace 2 s, every 0.5 s) and
        // rebuilt what it lost: claims = held orders, per user and per order.
        var last = ""
        let settled = FaultEnvironment.wait(seconds: 30, every: 0.5) {
            guard let claims = try? redis.cli(["HGETALL", "{\(setup.groupID)~group}:claims"]),
                  let entries = try? redis.cli(["HLEN", "{\(setup.groupID)~group}:entries"]),
                  let rows = try? postgres.query("""
                  SELECT user_id, sum(quantity), count(*) FROM orders WHERE sale_id IN (\(sales)) AND status IN ('reserved', 'paid')
                  GROUP BY user_id
                  """) else { return false }
            let fields = claims.split(separator: "\n").map(String.init)
            var claimed: [String: Int] = [:]
            for pair in stride(from: 0, to: fields.count - 1, by: 2) { claimed[fields[pair]] = Int(fields[pair + 1]) }
            var held: [String: Int] = [:]
            var orders = 0
            for row in rows {
                held[row[0]] = Int(row[1])
                orders += Int(row[2]) ?? 0
            }
            last = "claims for \(claimed.count) users (\(claimed.values.reduce(0, +)) units, \(entries) entries), "
                + "held by \(held.count) users (\(held.values.reduce(0, +)) units, \(orders) orders)"
            return claimed == held && Int(entries) == orders
        }
        #expect(settled, "the group's claims are not the held orders after reconciliation: \(last)", sourceLocation: sourceLocation)
        for sale in setup.sales {
            let (conserved, state) = awaitConservation(of: sale, stock: setup.stockPerSale)
            #expect(conserved, "sale \(sale): stock not conserved after reconciliation: \(state)", sourceLocation: sourceLocation)
            // The ledger adds up to the same, with no repair needed.
            let ledger = try postgres.query(
                "SELECT COALESCE(sum(quantity), 0), count(*) FILTER (WHERE kind = 'repaired') FROM stock_movements WHERE sale_id = '\(sale)'")
            let avail = try? redis.cli(["HGET", "{\(sale)}:sale", "avail"])
            #expect(ledger.first?[0] == avail, "sale \(sale): Σ stock movements \(ledger.first?[0] ?? "?") ≠ avail \(avail ?? "?")",
                    sourceLocation: sourceLocation)
            #expect(ledger.first?[1] == "0", "sale \(sale): repaired movements after the fault", sourceLocation: sourceLocation)
        }
    }
}
