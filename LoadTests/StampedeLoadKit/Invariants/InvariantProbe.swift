import Foundation
import StampedePostgres
import StampedeSystem

/// Gathers the facts for `InvariantChecker` after a run: sale figures through the API, order rows
/// straight from PostgreSQL (through the project's libpq client), acknowledged orders read back
/// through `GET /v1/orders/{id}`. Waits for the state to settle (the sale cache may lag by 1 s).
public struct InvariantProbe {
    public let admin: SaleAdmin
    public let postgresURI: String?
    /// Acknowledged orders read back through the API at most (a sample beyond).
    public var maxReadBack = 2000

    public init(admin: SaleAdmin, postgresURI: String?) {
        self.admin = admin
        self.postgresURI = postgresURI
    }

    /// Checks the run's sales; re-reads up to `attempts` times while only `stock_conserved` fails
    /// (reservations still settling), one second apart.
    public func check(saleIDs: [String], ledger: RunLedger, attempts: Int = 6) throws(LoadError) -> [InvariantResult] {
        let connection: PostgresConnection?
        if let postgresURI {
            do { connection = try PostgresConnection(conninfo: postgresURI) } catch {
                throw .setup("cannot connect to PostgreSQL (--pg): \(error)")
            }
        } else {
            connection = nil
        }
        let readBack = readBack(ledger)
        var results: [InvariantResult] = []
        for attempt in 1...attempts {
            System.sleep(nanoseconds: 1_100_000_000)  // the sale cache's maximum age, and a margin
            let stored = try connection.map { connection throws(LoadError) in try orders(of: saleIDs, connection) }
            var sales: [SaleFigures] = []
            for saleID in saleIDs {
                var figures = admin.figures(of: saleID)
                if let connection, let definition = try? definitionFromPostgres(saleID, connection) {
                    figures = SaleFigures(saleID: saleID, stockTotal: definition.stockTotal, restocked: definition.restocked,
                                          perUserLimit: definition.perUserLimit, stockAvailable: figures?.stockAvailable)
                }
                guard let figures else { throw .setup("cannot read sale \(saleID) back") }
                sales.append(figures)
            }
            results = InvariantChecker.check(InvariantInput(sales: sales, ledger: ledger, stored: stored, readBack: readBack))
            let failing = results.filter { !$0.passed }.map(\.name)
            if failing.isEmpty || failing != ["stock_conserved"] || attempt == attempts { break }
        }
        return results
    }

    private func readBack(_ ledger: RunLedger) -> [String: Int?] {
        var ids = ledger.acknowledged.keys.sorted()
        if ids.count > maxReadBack {
            var random = RandomSource(seed: 42)
            ids.shuffle(using: &random)
            ids = Array(ids.prefix(maxReadBack))
        }
        var answers: [String: Int?] = [:]
        for id in ids {
            if let response = try? admin.client.get("/v1/orders/\(id)"), response.status == 200 {
                answers[id] = JSONFields.integer("quantity", in: response.body)
            } else {
                answers[id] = .some(nil)
            }
        }
        return answers
    }

    private func orders(of saleIDs: [String], _ connection: PostgresConnection) throws(LoadError) -> [StoredOrder] {
        do {
            let result = try connection.query(
                // A bucketed sale's orders are stored under its buckets' ids (`<sale_id>~<n>`).
                """
                SELECT order_id, split_part(sale_id, '~', 1) AS sale_id, user_id, quantity, status, idempotency_key FROM orders
                WHERE sale_id IN (SELECT sale_id FROM sales WHERE sale_id = ANY($1::text[]) OR parent_sale_id = ANY($1::text[]))
                """,
                ["{" + saleIDs.joined(separator: ",") + "}"])
            return (0..<result.rows.count).map { row in
                StoredOrder(orderID: result.string(row, "order_id") ?? "", saleID: result.string(row, "sale_id") ?? "",
                            userID: result.string(row, "user_id") ?? "", quantity: Int(result.int64(row, "quantity") ?? -1),
                            status: result.string(row, "status") ?? "", idempotencyKey: result.string(row, "idempotency_key"))
            }
        } catch {
            throw .setup("reading orders from PostgreSQL: \(error)")
        }
    }

    private func definitionFromPostgres(_ saleID: String, _ connection: PostgresConnection) throws -> SaleFigures? {
        let result = try connection.query("SELECT stock_total, restocked, per_user_limit FROM sales WHERE sale_id = $1", [saleID])
        guard !result.rows.isEmpty else { return nil }
        return SaleFigures(saleID: saleID, stockTotal: Int(result.int64(0, "stock_total") ?? 0), restocked: Int(result.int64(0, "restocked") ?? 0),
                           perUserLimit: Int(result.int64(0, "per_user_limit") ?? 0), stockAvailable: nil)
    }
}
