import Testing
@testable import StampedeInventory

/// Test fixtures shared by the inventory suites.
enum Fixture {
    static let start = Timestamp(milliseconds: 1_795_262_400_000)
    static let end = start.adding(seconds: 3600)

    static func definition(saleID: String = "s1", sku: String = "sku-42", priceCents: Int64 = 999,
                           stock: Int64 = 1000, perUserLimit: Int64 = 1, startsAt: Timestamp = start,
                           endsAt: Timestamp = end, ttl: Int64 = 900) -> SaleDefinition {
        SaleDefinition(saleID: saleID, sku: sku, priceCents: priceCents, stock: stock, perUserLimit: perUserLimit,
                       startsAt: startsAt, endsAt: endsAt, reservationTTLSeconds: ttl)
    }

    static func sale(available: Int64 = 17, saleID: String = "s1") -> Sale {
        Sale(definition: definition(saleID: saleID), restocked: 0, available: available)
    }
}

@Suite("Sale")
struct SaleTests {
    /// A well-formed definition breaks no rule.
    @Test func validDefinitionHasNoViolation() {
        #expect(Fixture.definition().violation() == nil)
        #expect(Fixture.definition(priceCents: 0, stock: 0, ttl: 1).violation() == nil)
        #expect(Fixture.definition(ttl: 604_800).violation() == nil)
    }

    /// Each rule is reported with the field it concerns.
    @Test(arguments: [
        (Fixture.definition(saleID: "bad id"), "sale_id"),
        (Fixture.definition(saleID: ""), "sale_id"),
        (Fixture.definition(sku: String(repeating: "x", count: 65)), "sku"),
        (Fixture.definition(sku: "a/b"), "sku"),
        (Fixture.definition(priceCents: -1), "price_cents"),
        (Fixture.definition(stock: -1), "stock"),
        (Fixture.definition(perUserLimit: 0), "per_user_limit"),
        (Fixture.definition(perUserLimit: -3), "per_user_limit"),
        (Fixture.definition(endsAt: Fixture.start), "ends_at"),
        (Fixture.definition(endsAt: Fixture.start.adding(seconds: -1)), "ends_at"),
        (Fixture.definition(ttl: 0), "reservation_ttl_seconds"),
        (Fixture.definition(ttl: 604_801), "reservation_ttl_seconds"),
    ])
    func violationNamesTheField(definition: SaleDefinition, field: String) {
        #expect(definition.violation()?.field == field)
        #expect(definition.violation()?.reason.isEmpty == false)
    }

    /// The first broken rule wins when several are broken.
    @Test func firstViolationWins() {
        let definition = Fixture.definition(saleID: "", priceCents: -1, stock: -1)
        #expect(definition.violation()?.field == "sale_id")
    }

    /// `starts_at` is inclusive and `ends_at` exclusive.
    @Test func stateBoundaries() {
        let sale = Fixture.sale(available: 5)
        #expect(sale.state(at: Timestamp(milliseconds: Fixture.start.milliseconds - 1)) == .scheduled)
        #expect(sale.state(at: Fixture.start) == .live)
        #expect(sale.state(at: Timestamp(milliseconds: Fixture.end.milliseconds - 1)) == .live)
        #expect(sale.state(at: Fixture.end) == .ended)
        #expect(sale.state(at: Fixture.end.adding(seconds: 86_400)) == .ended)
    }

    /// The state changes with the clock at the window's start, then at its end, then never.
    @Test func nextStateChangeIsTheWindowsNextEdge() {
        let sale = Fixture.sale(available: 5)
        #expect(sale.nextStateChange(after: Fixture.start.adding(seconds: -10)) == Fixture.start)
        #expect(sale.nextStateChange(after: Fixture.start) == Fixture.end)
        #expect(sale.nextStateChange(after: Timestamp(milliseconds: Fixture.end.milliseconds - 1)) == Fixture.end)
        #expect(sale.nextStateChange(after: Fixture.end) == nil)
    }

    /// A live sale with nothing available is sold out; outside the window the window wins.
    @Test func soldOutOnlyInsideTheWindow() {
        let sale = Fixture.sale(available: 0)
        #expect(sale.state(at: Fixture.start) == .soldOut)
        #expect(sale.state(at: Fixture.start.adding(seconds: -1)) == .scheduled)
        #expect(sale.state(at: Fixture.end) == .ended)
    }

    /// `available` is clamped to zero, so the API never shows negative stock.
    @Test func availableNeverNegative() {
        let sale = Fixture.sale(available: -3)
        #expect(sale.available == 0)
        #expect(sale.state(at: Fixture.start) == .soldOut)
        #expect(Fixture.sale(available: 3).available == 3)
    }

    /// The state names are those of the contract.
    @Test func stateRawValues() {
        #expect(SaleState.scheduled.rawValue == "scheduled")
        #expect(SaleState.live.rawValue == "live")
        #expect(SaleState.soldOut.rawValue == "sold_out")
        #expect(SaleState.ended.rawValue == "ended")
    }
}
