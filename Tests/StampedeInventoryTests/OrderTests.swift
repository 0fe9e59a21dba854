import StampedeInventory
import Testing

/// `Order` shares its fields between copies until one is changed: a value all the same.
struct OrderTests {
    static let order = Order(orderID: "o-1", saleID: "sale-1", sku: "sku-1", userID: "a-user-with-a-long-id",
                             quantity: 2, priceCents: 999, status: .reserved, createdAt: Timestamp(milliseconds: 1_000),
                             expiresAt: Timestamp(milliseconds: 901_000), idempotencyKey: "key-1")

    @Test func aChangedCopyLeavesTheOriginalAlone() {
        let original = Self.order
        var copy = original
        copy.status = .paid
        copy.userID += "-2"
        copy.idempotencyKey = nil
        #expect(original.status == .reserved)
        #expect(original.userID == "a-user-with-a-long-id")
        #expect(original.idempotencyKey == "key-1")
        #expect(copy.status == .paid && copy.userID == "a-user-with-a-long-id-2" && copy.idempotencyKey == nil)
        #expect(copy != original)
    }

    @Test func equalityComparesTheFieldsNotTheBox() {
        var separate = Order(orderID: "o-1", saleID: "sale-1", sku: "sku-1", userID: "a-user-with-a-long-id",
                             quantity: 2, priceCents: 999, status: .reserved, createdAt: Timestamp(milliseconds: 1_000),
                             expiresAt: Timestamp(milliseconds: 901_000), idempotencyKey: "key-1")
        #expect(separate == Self.order)
        separate.quantity = 3
        #expect(separate != Self.order)
        separate.quantity = 2
        #expect(separate == Self.order)
    }
}
