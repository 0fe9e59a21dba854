import Testing
@testable import StampedeLoadKit

@Suite struct InvariantCheckerTests {
    static let sale = SaleFigures(saleID: "s1", stockTotal: 3, restocked: 0, perUserLimit: 1, stockAvailable: 0)

    static func ledger(_ orders: [(String, String)]) -> RunLedger {
        var ledger = RunLedger()
        for (id, user) in orders {
            ledger.acknowledged[id] = AcknowledgedOrder(orderID: id, saleID: "s1", userID: user, quantity: 1, idempotencyKey: "k-\(user)")
        }
        return ledger
    }

    static func stored(_ orders: [(String, String)], status: String = "reserved") -> [StoredOrder] {
        orders.map { StoredOrder(orderID: $0.0, saleID: "s1", userID: $0.1, quantity: 1, status: status, idempotencyKey: "k-\($0.1)") }
    }

    static func verdicts(_ input: InvariantInput) -> [String: InvariantResult] {
        Dictionary(uniqueKeysWithValues: InvariantChecker.check(input).map { ($0.name, $0) })
    }

    /// A consistent run passes every check.
    @Test func consistentRunPasses() {
        let orders = [("o1", "a"), ("o2", "b"), ("o3", "c")]
        let input = InvariantInput(sales: [Self.sale], ledger: Self.ledger(orders), stored: Self.stored(orders),
                                   readBack: ["o1": 1, "o2": 1, "o3": 1])
        let results = InvariantChecker.check(input)
        #expect(results.count == 6)
        #expect(results.allSatisfy { $0.passed })
    }

    /// Four units held in PostgreSQL for a stock of three: oversold, and the excess order is named.
    @Test func catchesAnOversoldSale() throws {
        let orders = [("o1", "a"), ("o2", "b"), ("o3", "c"), ("o4", "d")]
        var sale = Self.sale
        sale.stockAvailable = 0
        let input = InvariantInput(sales: [sale], ledger: Self.ledger(orders), stored: Self.stored(orders), readBack: [:])
        let verdict = try #require(Self.verdicts(input)["not_oversold"])
        #expect(!verdict.passed)
        #expect(verdict.orders == ["o4"])
        #expect(verdict.detail.contains("1 oversold"))
        // Conservation fails too: 0 available + 4 held ≠ 3.
        #expect(Self.verdicts(input)["stock_conserved"]?.passed == false)
    }

    /// Cancelled and expired orders do not count as held.
    @Test func returnedOrdersDoNotCountAsHeld() {
        let orders = [("o1", "a"), ("o2", "b"), ("o3", "c")]
        let extra = StoredOrder(orderID: "o4", saleID: "s1", userID: "d", quantity: 1, status: "cancelled")
        let input = InvariantInput(sales: [Self.sale], ledger: Self.ledger(orders), stored: Self.stored(orders) + [extra], readBack: [:])
        #expect(Self.verdicts(input)["not_oversold"]?.passed == true)
        #expect(Self.verdicts(input)["stock_conserved"]?.passed == true)
    }

    /// An order answered 201 but missing from PostgreSQL and unreadable through the API is a lost
    /// order, named in the verdict; a quantity that differs is caught too.
    @Test func catchesALostOrder() throws {
        let acknowledged = [("o1", "a"), ("o2", "b"), ("o3", "c")]
        var stored = Self.stored([("o1", "a"), ("o2", "b")])
        stored[1].quantity = 2
        var sale = Self.sale
        sale.stockAvailable = 0
        let input = InvariantInput(sales: [sale], ledger: Self.ledger(acknowledged), stored: stored, readBack: ["o3": Int?.none])
        let verdict = try #require(Self.verdicts(input)["acknowledged_orders_exist"])
        #expect(!verdict.passed)
        #expect(verdict.orders == ["o2", "o3"])
        #expect(verdict.detail.contains("o3 answered 201 but is not in PostgreSQL"))
    }

    /// Without PostgreSQL, an order the API cannot find is still caught.
    @Test func catchesALostOrderThroughTheAPI() throws {
        let input = InvariantInput(sales: [Self.sale], ledger: Self.ledger([("o1", "a")]), stored: nil, readBack: ["o1": Int?.none])
        let verdict = try #require(Self.verdicts(input)["acknowledged_orders_exist"])
        #expect(!verdict.passed && verdict.orders == ["o1"] && verdict.source == "api")
    }

    /// Two units held by one user with a limit of one: the user's orders are named.
    @Test func catchesAUserOverTheLimit() throws {
        let orders = [("o1", "a"), ("o2", "a")]
        var sale = Self.sale
        sale.stockAvailable = 1
        let input = InvariantInput(sales: [sale], ledger: Self.ledger(orders), stored: Self.stored(orders), readBack: [:])
        let verdict = try #require(Self.verdicts(input)["per_user_limit"])
        #expect(!verdict.passed && verdict.orders == ["o1", "o2"])
    }

    /// Stock that vanished (available too low for what is held) is a leak.
    @Test func catchesAStockLeak() throws {
        let orders = [("o1", "a")]
        var sale = Self.sale
        sale.stockAvailable = 1  // 1 + 1 held ≠ 3
        let input = InvariantInput(sales: [sale], ledger: Self.ledger(orders), stored: Self.stored(orders), readBack: [:])
        #expect(Self.verdicts(input)["stock_conserved"]?.passed == false)
    }

    /// A retry answered 200 after only 503 overloaded, or an order stored for a key that was only
    /// ever shed, means a shed request had an effect.
    @Test func catchesAnOverloadedAnswerThatTookStock() throws {
        var ledger = Self.ledger([])
        ledger.overloadEffects = ["o9"]
        ledger.shedOnlyKeys = ["k-z"]
        var sale = Self.sale
        sale.stockAvailable = 1
        let stored = [StoredOrder(orderID: "o8", saleID: "s1", userID: "z", quantity: 1, status: "reserved", idempotencyKey: "k-z"),
                      StoredOrder(orderID: "o9", saleID: "s1", userID: "y", quantity: 1, status: "reserved", idempotencyKey: "k-y")]
        let input = InvariantInput(sales: [sale], ledger: ledger, stored: stored, readBack: [:])
        let verdict = try #require(Self.verdicts(input)["overloaded_had_no_effect"])
        #expect(!verdict.passed && verdict.orders == ["o9", "o8"])
    }

    /// Two orders for one Idempotency-Key — answered, or stored in PostgreSQL — are caught and
    /// named; the same key of another user is not a duplicate.
    @Test func catchesAKeyThatTookTwoOrders() throws {
        var ledger = Self.ledger([("o1", "a"), ("o2", "b")])
        ledger.acknowledged["o3"] = AcknowledgedOrder(orderID: "o3", saleID: "s1", userID: "a", quantity: 1, idempotencyKey: "k-a")
        var sale = Self.sale
        sale.stockAvailable = 0
        let answered = InvariantInput(sales: [sale], ledger: ledger, stored: nil, readBack: [:])
        let verdict = try #require(Self.verdicts(answered)["idempotency_key_once"])
        #expect(!verdict.passed && verdict.orders == ["o1", "o3"])

        let clean = Self.ledger([("o1", "a"), ("o2", "b")])
        var stored = Self.stored([("o1", "a"), ("o2", "b")])
        stored.append(StoredOrder(orderID: "o4", saleID: "s1", userID: "b", quantity: 1, status: "reserved", idempotencyKey: "k-b"))
        let inPostgres = InvariantInput(sales: [sale], ledger: clean, stored: stored, readBack: [:])
        let stored2 = try #require(Self.verdicts(inPostgres)["idempotency_key_once"])
        #expect(!stored2.passed && stored2.orders == ["o2", "o4"] && stored2.detail.contains("PostgreSQL"))

        var otherUser = Self.stored([("o1", "a")])
        otherUser.append(StoredOrder(orderID: "o5", saleID: "s1", userID: "b", quantity: 1, status: "reserved", idempotencyKey: "k-a"))
        let distinct = InvariantInput(sales: [sale], ledger: Self.ledger([]), stored: otherUser, readBack: [:])
        #expect(try #require(Self.verdicts(distinct)["idempotency_key_once"]).passed)
    }

    /// The purchase answers turn a 200 after only overloaded tries into an overload effect, but
    /// not after a try whose answer was lost.
    @Test func purchaseAnswersTrackOverloadEffects() {
        var answers = PurchaseAnswers(maxAttempts: 5)
        var request = LoadRequest(route: .buy, method: "POST", path: "/", idempotencyKey: "k")
        let shed = ClientResponse(status: 503, retryAfterSeconds: 1, body: Array("{\"error\":\"overloaded\"}".utf8))
        guard case .retry(let retry, let due) = answers.handle(request, saleID: "s", userID: "u", quantity: 1, response: shed, now: 10).0 else {
            Issue.record("a 503 overloaded must be retried"); return
        }
        #expect(due >= 10 + 1_000_000_000 && retry.attempt == 2 && retry.idempotencyKey == "k")
        let existing = ClientResponse(status: 200, body: Array("{\"order_id\":\"o1\",\"quantity\":1}".utf8))
        _ = answers.handle(retry, saleID: "s", userID: "u", quantity: 1, response: existing, now: 20)
        #expect(answers.ledger.overloadEffects == ["o1"])

        var other = PurchaseAnswers(maxAttempts: 5)
        request.attempt = 2
        request.hadUnknownOutcome = true
        request.onlyOverloadedBefore = false
        _ = other.handle(request, saleID: "s", userID: "u", quantity: 1, response: existing, now: 20)
        #expect(other.ledger.overloadEffects.isEmpty)
        #expect(other.ledger.acknowledged["o1"]?.quantity == 1)
    }
}
