import StampedeInventory
import StampedeJSON
import Testing
@testable import StampedeService

/// The order body, composed from literals on every purchase's answer, is byte for byte what the
/// general writer (`beginObject`, `key`, `string`, …) writes — alone and inside an array.
struct ResourceEncodingTests {
    private static let orders = [
        Order(orderID: "o-1", saleID: "s1", sku: "sku-1", userID: "u1", quantity: 1, priceCents: 999,
              status: .reserved, createdAt: Timestamp(milliseconds: 1_765_000_000_000),
              expiresAt: Timestamp(milliseconds: 1_765_000_900_123)),
        Order(orderID: "o-2", saleID: "sale-ü", sku: "a\"b\\c", userID: "tab\there\u{1}ctl", quantity: 9_000_000_000,
              priceCents: 0, status: .cancelled, createdAt: Timestamp(milliseconds: 0),
              expiresAt: Timestamp(milliseconds: 253_402_300_799_999)),
    ]

    private static func general(_ order: Order, into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("order_id", order.orderID)
        writer.field("sale_id", order.saleID)
        writer.field("sku", order.sku)
        writer.field("user_id", order.userID)
        writer.field("quantity", order.quantity)
        writer.field("price_cents", order.priceCents)
        writer.field("status", order.status.rawValue)
        writer.field("created_at", order.createdAt.rfc3339)
        writer.field("expires_at", order.expiresAt.rfc3339)
        writer.endObject()
    }

    @Test func anOrderAloneMatchesTheGeneralWriter() {
        for order in Self.orders {
            var expected = JSONWriter()
            Self.general(order, into: &expected)
            #expect(JSONWriter.encoding(order).bytes == expected.bytes, "\(order.orderID)")
        }
    }

    @Test func ordersInAnArrayMatchTheGeneralWriter() {
        var composed = JSONWriter(), expected = JSONWriter()
        for writer in [0, 1] {
            if writer == 0 {
                composed.beginObject(); composed.key("orders"); composed.beginArray()
                for order in Self.orders { composed.write(order) }
                composed.endArray(); composed.endObject()
            } else {
                expected.beginObject(); expected.key("orders"); expected.beginArray()
                for order in Self.orders { Self.general(order, into: &expected) }
                expected.endArray(); expected.endObject()
            }
        }
        #expect(composed.bytes == expected.bytes)
        #expect(String(decoding: composed.bytes, as: UTF8.self).contains(#"},{"order_id":"o-2""#))
    }
}
