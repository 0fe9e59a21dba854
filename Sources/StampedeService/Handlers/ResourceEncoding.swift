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
        if let group = d.exclusiveGroup { field("exclusive_group", group) }
        field("buckets", d.buckets)
        endObject()
    }

    /// The body of an exclusive group: `{"group_id", "per_user_limit", "sales"}`.
    mutating func write(_ group: ExclusiveGroup) {
        beginObject()
        field("group_id", group.groupID)
        field("per_user_limit", group.perUserLimit)
        key("sales")
        beginArray()
        for sale in group.sales { string(sale) }
        endArray()
        endObject()
    }

    static func encoding(_ group: ExclusiveGroup) -> JSONWriter {
        var writer = JSONWriter()
        writer.write(group)
        return writer
    }

    /// The order body.
    mutating func write(_ order: Order) {
        // On every purchase's answer: the punctuation and names as one literal between values,
        // times straight from the clock value (no String per field, no nesting stack). The same
        // bytes as `beginObject`/`key`/`string`… would write (tested).
        beginComposedValue()
        literal(#"{"order_id":"#); composedString(order.orderID)
        literal(#","sale_id":"#); composedString(order.publicSaleID)
        literal(#","sku":"#); composedString(order.sku)
        literal(#","user_id":"#); composedString(order.userID)
        literal(#","quantity":"#); composedInt(order.quantity)
        literal(#","price_cents":"#); composedInt(order.priceCents)
        literal(#","status":"#); composedString(order.status.rawValue)
        literal(#","created_at":""#); composedRaw { order.createdAt.appendRFC3339(to: &$0) }
        literal(#"","expires_at":""#); composedRaw { order.expiresAt.appendRFC3339(to: &$0) }
        literal(#""}"#)
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

    /// The body of `GET /admin/sales/{id}/movements`: `{"movements": […], "next_before": "<id>" | null}`,
    /// each movement `{"id", "at", "kind", "quantity", "reference"}`, `at` always with milliseconds;
    /// ids are strings, opaque cursors as in `GET /admin/audit`.
    static func encoding(_ page: StockMovementPage) -> JSONWriter {
        var writer = JSONWriter(capacity: 64 + page.movements.count * 128)
        writer.beginObject()
        writer.key("movements")
        writer.beginArray()
        for movement in page.movements {
            writer.beginObject()
            writer.field("id", String(movement.id))
            writer.field("at", movement.at.rfc3339Milliseconds)
            writer.field("kind", movement.kind.rawValue)
            writer.field("quantity", movement.quantity)
            writer.field("reference", movement.reference)
            writer.endObject()
        }
        writer.endArray()
        writer.key("next_before")
        if let next = page.nextBefore { writer.string(String(next)) } else { writer.null() }
        writer.endObject()
        return writer
    }
}
