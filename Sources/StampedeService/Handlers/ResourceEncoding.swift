import StampedeInventory
import StampedeJSON

/// The JSON shapes of the contract's resources.
extension JSONWriter {
    /// The sale body of `GET /v1/sales/{id}` (plus `restocked` and `reservation_ttl_seconds`).
    mutating func write(_ sale: Sale, now: Timestamp) {
        let d = sale.definition
        beginObject()
        field("sale_id", d.saleID)
        field("sku", d.sku)
        field("price_cents", d.priceCents)
        field("stock_total", d.stock)
        field("stock_available", sale.available)
        field("per_user_limit", d.perUserLimit)
        field("starts_at", d.startsAt.rfc3339)
        field("ends_at", d.endsAt.rfc3339)
        field("state", sale.state(at: now).rawValue)
        field("restocked", sale.restocked)
        field("reservation_ttl_seconds", d.reservationTTLSeconds)
        field("purchase_token_required", d.purchaseTokenRequired)
        endObject()
    }

    /// The order body.
    mutating func write(_ order: Order) {
        // On every purchase's answer: names written as they are, times straight from the clock
        // value (no String per field).
        beginObject()
        key(static: "order_id"); string(order.orderID)
        key(static: "sale_id"); string(order.saleID)
        key(static: "sku"); string(order.sku)
        key(static: "user_id"); string(order.userID)
        key(static: "quantity"); int(order.quantity)
        key(static: "price_cents"); int(order.priceCents)
        key(static: "status"); string(order.status.rawValue)
        key(static: "created_at"); order.createdAt.withRFC3339 { string(utf8: $0) }
        key(static: "expires_at"); order.expiresAt.withRFC3339 { string(utf8: $0) }
        endObject()
    }

    static func encoding(_ sale: Sale, now: Timestamp = .now()) -> JSONWriter {
        var writer = JSONWriter()
        writer.write(sale, now: now)
        return writer
    }

    static func encoding(_ order: Order) -> JSONWriter {
        var writer = JSONWriter()
        writer.write(order)
        return writer
    }
}
