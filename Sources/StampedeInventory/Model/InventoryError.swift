/// Why an inventory operation could not be carried out. Each case maps to one API error code.
public enum InventoryError: Error, Sendable, Equatable {
    /// No sale with this id exists (`404 unknown_sale`).
    case unknownSale(String)
    /// No order with this id exists (`404 unknown_order`).
    case unknownOrder(String)
    /// The order is paid, cancelled or expired and cannot make this transition (`409 order_not_reserved`).
    case orderNotReserved(orderID: String, status: OrderStatus)
    /// A sale cannot be replaced once it has orders (`409 sale_has_orders`).
    case saleHasOrders(String)
    /// No exclusive group with this id exists (`404 unknown_group`).
    case unknownGroup(String)
    /// A group cannot be deleted while a sale belongs to it (`409 group_in_use`).
    case groupInUse(String)
    /// A field is missing or out of range (`400 invalid_body`).
    case invalidField(field: String, reason: String)
    /// Redis or PostgreSQL cannot be reached or failed (`503 unavailable`).
    case unavailable(String)
}
