/// A sale as the checks need it: its definition and, once settled, the available stock the API reports.
public struct SaleFigures: Sendable, Equatable {
    public var saleID: String
    public var stockTotal: Int
    public var restocked: Int
    public var perUserLimit: Int
    /// `stock_available` from `GET /v1/sales/{id}` after the run settled; `nil` if unread.
    public var stockAvailable: Int?

    public init(saleID: String, stockTotal: Int, restocked: Int, perUserLimit: Int, stockAvailable: Int?) {
        self.saleID = saleID
        self.stockTotal = stockTotal
        self.restocked = restocked
        self.perUserLimit = perUserLimit
        self.stockAvailable = stockAvailable
    }

    public var capacity: Int { stockTotal + restocked }
}

/// An order row as stored in PostgreSQL.
public struct StoredOrder: Sendable, Equatable {
    public var orderID: String
    public var saleID: String
    public var userID: String
    public var quantity: Int
    public var status: String
    public var idempotencyKey: String?

    public init(orderID: String, saleID: String, userID: String, quantity: Int, status: String, idempotencyKey: String? = nil) {
        self.orderID = orderID
        self.saleID = saleID
        self.userID = userID
        self.quantity = quantity
        self.status = status
        self.idempotencyKey = idempotencyKey
    }

    /// Reserved and paid orders hold stock; cancelled and expired ones gave it back.
    public var holdsStock: Bool { status == "reserved" || status == "paid" }
}

/// Everything the checks compare: what the run was told, what PostgreSQL holds, what the API
/// answers afterwards.
public struct InvariantInput: Sendable {
    public var sales: [SaleFigures]
    public var ledger: RunLedger
    /// Orders of the run's sales in PostgreSQL; `nil` when the run had no `--pg`.
    public var stored: [StoredOrder]?
    /// `GET /v1/orders/{id}` of acknowledged orders: the quantity answered, or `nil` if not `200`.
    /// Orders not in the map were not read back (sampling).
    public var readBack: [String: Int?]

    public init(sales: [SaleFigures], ledger: RunLedger, stored: [StoredOrder]?, readBack: [String: Int?]) {
        self.sales = sales
        self.ledger = ledger
        self.stored = stored
        self.readBack = readBack
    }
}

/// The verdict of one invariant.
public struct InvariantResult: Codable, Sendable, Equatable {
    /// Stable name: `not_oversold`, `acknowledged_orders_exist`, `per_user_limit`,
    /// `stock_conserved`, `overloaded_had_no_effect`, `idempotency_key_once`.
    public var name: String
    public var passed: Bool
    /// `postgres`, `api` or `postgres+api`: where the facts came from. `skipped` when not checkable.
    public var source: String
    public var detail: String
    /// Order ids involved in a violation (at most 50 listed; `detail` gives the count).
    public var orders: [String]
}

/// Proves the flash-sale invariants after a run. Pure: facts in, verdicts out, so tests feed it
/// data made to violate each invariant and see it caught.
public enum InvariantChecker {
    static let listed = 50

    public static func check(_ input: InvariantInput) -> [InvariantResult] {
        [notOversold(input), acknowledgedExist(input), perUserLimit(input), stockConserved(input), overloadedNoEffect(input),
         idempotencyKeyOnce(input)]
    }

    /// Orders holding stock per sale: from PostgreSQL, or else what the run was acknowledged minus what it cancelled.
    static func holding(_ input: InvariantInput) -> [String: [StoredOrder]] {
        if let stored = input.stored {
            return Dictionary(grouping: stored.filter(\.holdsStock), by: \.saleID)
        }
        let held = input.ledger.acknowledged.values
            .filter { !input.ledger.cancelled.contains($0.orderID) }
            .map { StoredOrder(orderID: $0.orderID, saleID: $0.saleID, userID: $0.userID, quantity: $0.quantity,
                               status: input.ledger.paid.contains($0.orderID) ? "paid" : "reserved", idempotencyKey: $0.idempotencyKey) }
        return Dictionary(grouping: held, by: \.saleID)
    }

    static func notOversold(_ input: InvariantInput) -> InvariantResult {
        let holding = holding(input)
        var problems: [String] = []
        var orders: [String] = []
        for sale in input.sales {
            let held = (holding[sale.saleID] ?? []).sorted { $0.orderID < $1.orderID }
            let units = held.reduce(0) { $0 + $1.quantity }
            guard units > sale.capacity else { continue }
            problems.append("\(sale.saleID): \(units) units held by orders for \(sale.capacity) in stock (\(units - sale.capacity) oversold)")
            // Order ids start with the creation time: the orders past the capacity are the excess.
            var running = 0
            for order in held {
                running += order.quantity
                if running > sale.capacity { orders.append(order.orderID) }
            }
        }
        return result("not_oversold", input.stored == nil ? "api" : "postgres", problems, orders,
                      ok: "no sale holds more units than its stock (\(input.sales.count) sales)")
    }

    static func acknowledgedExist(_ input: InvariantInput) -> InvariantResult {
        var problems: [String] = []
        var orders: [String] = []
        let stored = input.stored.map { Dictionary($0.map { ($0.orderID, $0) }, uniquingKeysWith: { first, _ in first }) }
        for ack in input.ledger.acknowledged.values.sorted(by: { $0.orderID < $1.orderID }) {
            if let stored {
                guard let row = stored[ack.orderID] else {
                    problems.append("\(ack.orderID) answered 201 but is not in PostgreSQL")
                    orders.append(ack.orderID)
                    continue
                }
                if row.quantity != ack.quantity || row.saleID != ack.saleID || row.userID != ack.userID {
                    problems.append("\(ack.orderID) differs in PostgreSQL: quantity \(row.quantity) vs \(ack.quantity), sale \(row.saleID), user \(row.userID)")
                    orders.append(ack.orderID)
                    continue
                }
            }
            if let answer = input.readBack[ack.orderID] {
                if answer != ack.quantity {
                    problems.append(answer == nil ? "\(ack.orderID) answered 201 but GET /v1/orders/{id} does not find it"
                                                  : "\(ack.orderID) reads back with quantity \(answer!) instead of \(ack.quantity)")
                    orders.append(ack.orderID)
                }
            }
        }
        let source = input.stored == nil ? "api" : "postgres+api"
        return result("acknowledged_orders_exist", source, problems, orders,
                      ok: "all \(input.ledger.acknowledged.count) acknowledged orders exist with the quantity answered (\(input.readBack.count) read back through the API)")
    }

    static func perUserLimit(_ input: InvariantInput) -> InvariantResult {
        let holding = holding(input)
        var problems: [String] = []
        var orders: [String] = []
        for sale in input.sales {
            let byUser = Dictionary(grouping: holding[sale.saleID] ?? [], by: \.userID)
            for (user, held) in byUser.sorted(by: { $0.key < $1.key }) {
                let units = held.reduce(0) { $0 + $1.quantity }
                if units > sale.perUserLimit {
                    problems.append("\(sale.saleID): user \(user) holds \(units) units, limit \(sale.perUserLimit)")
                    orders += held.map(\.orderID).sorted()
                }
            }
        }
        return result("per_user_limit", input.stored == nil ? "api" : "postgres", problems, orders,
                      ok: "no user holds more than the per-user limit")
    }

    static func stockConserved(_ input: InvariantInput) -> InvariantResult {
        if input.stored == nil && !(input.ledger.unknownKeys.isEmpty) {
            return InvariantResult(name: "stock_conserved", passed: true, source: "skipped",
                                   detail: "without --pg and with purchases of unknown outcome the held units are not known", orders: [])
        }
        let holding = holding(input)
        var problems: [String] = []
        var unread: [String] = []
        for sale in input.sales {
            guard let available = sale.stockAvailable else { unread.append(sale.saleID); continue }
            let held = (holding[sale.saleID] ?? []).reduce(0) { $0 + $1.quantity }
            if available + held != sale.capacity {
                problems.append("\(sale.saleID): available \(available) + held \(held) = \(available + held), expected stock_total + restocked = \(sale.capacity)")
            }
        }
        if !unread.isEmpty { problems.append("stock_available unread for \(unread.joined(separator: ", "))") }
        return result("stock_conserved", input.stored == nil ? "api" : "postgres+api", problems, [],
                      ok: "stock_available + reserved + paid = stock_total + restocked for every sale")
    }

    static func overloadedNoEffect(_ input: InvariantInput) -> InvariantResult {
        var problems: [String] = []
        var orders: [String] = input.ledger.overloadEffects.sorted()
        if !orders.isEmpty {
            problems.append("\(orders.count) retries after only 503 overloaded were answered 200 (the shed try had taken the order)")
        }
        if let stored = input.stored, !input.ledger.shedOnlyKeys.isEmpty {
            let leaked = stored.filter { $0.idempotencyKey.map(input.ledger.shedOnlyKeys.contains) ?? false }
            if !leaked.isEmpty {
                problems.append("\(leaked.count) orders exist for purchases that were only ever answered 503 overloaded")
                orders += leaked.map(\.orderID).sorted()
            }
        }
        return result("overloaded_had_no_effect", input.stored == nil ? "api" : "postgres+api", problems, orders,
                      ok: "no 503 overloaded took stock (\(input.ledger.overloadRetries) shed tries retried, \(input.ledger.shedOnlyKeys.count) given up)")
    }

    /// One Idempotency-Key (per sale and user) takes at most one order: the answers never name two
    /// orders for a key, and PostgreSQL never holds two — a retry or a reshard that ran a purchase
    /// twice would show here.
    static func idempotencyKeyOnce(_ input: InvariantInput) -> InvariantResult {
        struct Key: Hashable { var sale: String, user: String, key: String }
        var problems: [String] = []
        var orders: [String] = []
        func twice(_ source: String, _ pairs: [(Key, String)]) {
            let byKey = Dictionary(grouping: pairs, by: \.0).filter { Set($0.value.map(\.1)).count > 1 }
            guard !byKey.isEmpty else { return }
            problems.append("\(byKey.count) Idempotency-Keys with more than one order \(source)")
            orders += byKey.values.flatMap { $0.map(\.1) }.sorted()
        }
        twice("in the answers", input.ledger.acknowledged.values.compactMap { order in
            order.idempotencyKey.map { (Key(sale: order.saleID, user: order.userID, key: $0), order.orderID) }
        })
        if let stored = input.stored {
            twice("in PostgreSQL", stored.compactMap { order in
                order.idempotencyKey.map { (Key(sale: order.saleID, user: order.userID, key: $0), order.orderID) }
            })
        }
        let keys = input.ledger.acknowledged.values.filter { $0.idempotencyKey != nil }.count
        return result("idempotency_key_once", input.stored == nil ? "api" : "postgres+api", problems, orders,
                      ok: "no Idempotency-Key took more than one order (\(keys) acknowledged with a key)")
    }

    private static func result(_ name: String, _ source: String, _ problems: [String], _ orders: [String], ok: String) -> InvariantResult {
        guard !problems.isEmpty else { return InvariantResult(name: name, passed: true, source: source, detail: ok, orders: []) }
        var detail = problems.prefix(10).joined(separator: "; ")
        if problems.count > 10 { detail += "; … \(problems.count - 10) more" }
        if orders.count > listed { detail += " (\(orders.count) orders, first \(listed) listed)" }
        return InvariantResult(name: name, passed: false, source: source, detail: detail, orders: Array(orders.prefix(listed)))
    }
}
