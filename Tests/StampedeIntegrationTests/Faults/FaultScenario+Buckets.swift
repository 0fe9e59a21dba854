import Foundation
import Glibc
import StampedeInventory
import Testing

/// A bucketed sale under faults: the invariants of `verify`, for a sale whose stock is spread over
/// buckets — every bucket's counters, outbox, allocation and ledger checked straight on PostgreSQL
/// and Redis once repairs have run, and no stock move left unfinished.
extension FaultScenario {
    /// The sale's counter ids: its own, then its buckets'.
    func counterIDs() throws -> [String] {
        try postgres.query("SELECT sale_id FROM sales WHERE sale_id = '\(saleID)' OR parent_sale_id = '\(saleID)' ORDER BY bucket")
            .compactMap(\.first)
    }

    /// Per counter id: the units PostgreSQL allocates to it, those its reserved and paid orders
    /// hold, and the sum of its stock movements.
    func bucketFigures() throws -> [(id: String, allocated: Int, held: Int, ledger: Int, repaired: Int)] {
        try postgres.query("""
        SELECT s.sale_id,
               s.stock_total + s.restocked - COALESCE((SELECT sum(b.stock_total) FROM sales b WHERE b.parent_sale_id = s.sale_id), 0),
               COALESCE((SELECT sum(o.quantity) FROM orders o WHERE o.sale_id = s.sale_id AND o.status IN ('reserved', 'paid')), 0),
               COALESCE((SELECT sum(m.quantity) FROM stock_movements m WHERE m.sale_id = s.sale_id), 0),
               (SELECT count(*) FROM stock_movements m WHERE m.sale_id = s.sale_id AND m.kind = 'repaired')
        FROM sales s WHERE s.sale_id = '\(saleID)' OR s.parent_sale_id = '\(saleID)' ORDER BY s.bucket
        """).map { ($0[0], Int($0[1]) ?? -1, Int($0[2]) ?? -1, Int($0[3]) ?? -1, Int($0[4]) ?? -1) }
    }

    /// The invariants of a bucketed sale after a fault, with demand past the stock and no
    /// returns: every confirmed order is in PostgreSQL, keys name one order, nobody passes the
    /// limit, the whole stock is sold (`sold_out` was only answered once nothing was left), and
    /// once repaired no move is unfinished and every bucket holds its allocation less its held
    /// units — 0 — with an empty outbox and a ledger that sums to it without repairs.
    func verifyBuckets(_ buyers: [Buyer], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ids = try counterIDs()
        #expect(ids.count > 1, "the sale has no buckets", sourceLocation: sourceLocation)
        let list = ids.map { "'\($0)'" }.joined(separator: ",")
        let rows = try postgres.query(
            "SELECT order_id, user_id, status, quantity FROM orders WHERE sale_id IN (\(list))")
        let byID = Dictionary(rows.map { ($0[0], $0) }, uniquingKeysWith: { first, _ in first })
        var confirmed = 0
        for buyer in buyers {
            #expect(buyer.resolved, "buyer \(buyer.user) got no final answer (last status \(buyer.finalStatus))", sourceLocation: sourceLocation)
            #expect(Set(buyer.confirmed).count <= 1, "key \(buyer.key) answered with two orders \(buyer.confirmed)",
                    sourceLocation: sourceLocation)
            #expect(buyer.oddAnswers.isEmpty, "buyer \(buyer.user): \(buyer.oddAnswers)", sourceLocation: sourceLocation)
            for id in Set(buyer.confirmed) {
                confirmed += 1
                #expect(byID[id]?[1] == buyer.user, "order \(id) confirmed to \(buyer.user) is not in PostgreSQL", sourceLocation: sourceLocation)
            }
        }
        #expect(Dictionary(grouping: rows, by: { $0[1] }).values.allSatisfy { $0.count == 1 }, "a user has two orders",
                sourceLocation: sourceLocation)
        let held = rows.reduce(0) { $0 + (Int($1[3]) ?? 0) }
        #expect(held == stock, "\(held) units sold of \(stock): demand was past the stock", sourceLocation: sourceLocation)
        #expect(confirmed == stock, "\(confirmed) confirmed of \(stock)", sourceLocation: sourceLocation)
        let statuses = Dictionary(grouping: buyers, by: \.finalStatus).mapValues(\.count).sorted { $0.key < $1.key }
        print("[fault \(name)] buckets \(ids), buyers \(buyers.count), final statuses \(statuses), confirmed \(confirmed), "
              + "retried \(buyers.filter { $0.attempts > 1 }.count), held \(held) of \(stock)")

        var last = ""
        let settled = FaultEnvironment.wait(seconds: 30, every: 0.25) {
            guard let unfinished = try? postgres.query(
                "SELECT count(*) FROM stock_moves WHERE sale_id = '\(saleID)' AND state IN ('planned', 'revoked')").first?.first,
                  let figures = try? bucketFigures() else { return false }
            var parts = ["unfinished moves \(unfinished)"]
            var exact = unfinished == "0"
            for figure in figures {
                let avail = (try? redis.cli(["HGET", "{\(figure.id)}:sale", "avail"])).flatMap { Int($0) }
                let pending = try? redis.cli(["EVAL", "return redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], ARGV[1])",
                                              "1", "{\(figure.id)}:pending", InventoryScripts.outboxAnchorField])
                parts.append("\(figure.id): avail \(avail.map(String.init) ?? "?"), allocated \(figure.allocated), held \(figure.held), pending \(pending ?? "?")")
                exact = exact && avail == figure.allocated - figure.held && pending == "0"
            }
            last = parts.joined(separator: "; ")
            return exact
        }
        #expect(settled, "buckets not exact after repairs: \(last)", sourceLocation: sourceLocation)
        let figures = try bucketFigures()
        #expect(figures.reduce(0) { $0 + $1.allocated } == stock, "allocations \(figures)", sourceLocation: sourceLocation)
        for figure in figures {
            #expect(figure.ledger == figure.allocated - figure.held, "\(figure.id): ledger \(figure.ledger)", sourceLocation: sourceLocation)
            #expect(figure.repaired == 0, "\(figure.id): \(figure.repaired) repaired movements", sourceLocation: sourceLocation)
        }
    }
}
