import Testing
@testable import StampedeInventory

/// The pure parts of exclusive groups: a group's rules, claim records, and the refusals a batch's
/// claims hand to its sales' purchase scripts.
@Suite("Group claims")
struct GroupClaimTests {
    @Test func groupRules() {
        #expect(ExclusiveGroup(groupID: "doorbusters", perUserLimit: 1).violation() == nil)
        #expect(ExclusiveGroup(groupID: "doorbusters", perUserLimit: 0).violation()?.field == "per_user_limit")
        #expect(ExclusiveGroup(groupID: "doorbusters", perUserLimit: 1_000_001).violation()?.field == "per_user_limit")
        #expect(ExclusiveGroup(groupID: "a b", perUserLimit: 1).violation()?.field == "group_id")
        var sale = SaleDefinition(saleID: "s", sku: "k", priceCents: 1, stock: 1, perUserLimit: 1,
                                  startsAt: Timestamp(milliseconds: 0), endsAt: Timestamp(milliseconds: 1), reservationTTLSeconds: 60)
        sale.exclusiveGroup = "bad group"
        #expect(sale.violation()?.field == "exclusive_group")
        sale.exclusiveGroup = "doorbusters"
        #expect(sale.violation() == nil)
    }

    @Test func claimRecordsParse() {
        let claim = GroupClaim(orderID: "o1", record: "alice|2|flash1|1700000000000")
        #expect(claim == GroupClaim(orderID: "o1", userID: "alice", quantity: 2, saleID: "flash1",
                                    createdAt: Timestamp(milliseconds: 1_700_000_000_000)))
        #expect(GroupClaim(orderID: "o1", record: "alice|two|flash1|1") == nil)
        #expect(GroupClaim(orderID: "o1", record: "alice|2|flash1") == nil)
    }

    /// Positions are 1-based within one sale's call; granted claims and purchases of no group are
    /// not refused; a refused claim is `group_limit_exceeded`, a stale one `stale`.
    @Test func refusalsOfOneSalesCall() {
        let round = ClaimRound(results: [.granted, .refused, .none, .stale, .refused])
        #expect(round.refusals(for: [0, 2]) == "")
        #expect(round.refusals(for: [1, 3, 4]) == "1:9,2:8,3:9")
        #expect(round.refusals(for: [0, 1]) == "2:\(InventoryScripts.PurchaseCode.groupLimitExceeded.rawValue)")
    }

    /// Keys of a group share one hash tag, which no sale's tag can equal.
    @Test func groupKeysShareATagNoSaleHas() {
        let keys = GroupKeys(groupID: "g1")
        #expect(keys.group == "{g1~group}:group")
        #expect(keys.claims.hasPrefix("{g1~group}"))
        #expect(keys.entries.hasPrefix("{g1~group}"))
        #expect(!Identifier.isValid("g1~group"))
    }
}
