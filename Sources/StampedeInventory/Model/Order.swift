/// The life of an order: `reserved` → `paid` | `cancelled` | `expired`. Only `reserved` moves.
public enum OrderStatus: String, Sendable, Equatable {
    case reserved, paid, cancelled, expired

    /// Whether the order's quantity counts against the sale's stock and the user's limit.
    public var holdsStock: Bool { self == .reserved || self == .paid }
}

/// A committed order, as stored in PostgreSQL's `orders` table and returned by the API.
public struct Order: Sendable, Equatable {
    public var orderID: String
    public var saleID: String
    public var sku: String
    public var userID: String
    public var quantity: Int64
    public var priceCents: Int64
    public var status: OrderStatus
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    /// The `Idempotency-Key` the order was bought with, if any.
    public var idempotencyKey: String?

    public init(orderID: String, saleID: String, sku: String, userID: String, quantity: Int64,
                priceCents: Int64, status: OrderStatus, createdAt: Timestamp, expiresAt: Timestamp,
                idempotencyKey: String? = nil) {
        self.orderID = orderID
        self.saleID = saleID
        self.sku = sku
        self.userID = userID
        self.quantity = quantity
        self.priceCents = priceCents
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idempotencyKey = idempotencyKey
    }
}
