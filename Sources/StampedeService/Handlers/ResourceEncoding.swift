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
        beginObject()
        field("order_id", order.orderID)
        field("sale_id", order.saleID)
        field("sku", order.sku)
        field("user_id", order.userID)
        field("quantity", order.quantity)
        field("price_cents", order.priceCents)
        field("status", order.status.rawValue)
        field("created_at", order.createdAt.rfc3339)
        field("expires_at", order.expiresAt.rfc3339)
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
