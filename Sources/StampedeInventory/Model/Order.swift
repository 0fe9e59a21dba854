/// The life of an order: `reserved` → `paid` | `cancelled` | `expired`. Only `reserved` moves.
public enum OrderStatus: String, Sendable, Equatable {
    case reserved, paid, cancelled, expired

    /// Whether the order's quantity counts against the sale's stock and the user's limit.
    public var holdsStock: Bool { self == .reserved || self == .paid }
}

/// A committed order, as stored in PostgreSQL's `orders` table and returned by the API.
///
/// A value whose fields sit in one copy-on-write box: an order is copied along the purchase path
/// (decision, commit group, answer, acknowledgement), and a copy retains the box once instead of
/// each of its strings.
public struct Order: Sendable, Equatable {
    public var orderID: String {
        get { box.fields.orderID }
        set { uniqueBox().fields.orderID = newValue }
    }
    /// The sale the order is of, as the API shows it: `saleID` without a bucket's suffix (an
    /// order of a bucketed sale is stored under its bucket's child id; `BucketLayout`).
    @inlinable
    public var publicSaleID: String { BucketLayout.saleID(of: saleID) }
    public var saleID: String {
        get { box.fields.saleID }
        set { uniqueBox().fields.saleID = newValue }
    }
    public var sku: String {
        get { box.fields.sku }
        set { uniqueBox().fields.sku = newValue }
    }
    public var userID: String {
        get { box.fields.userID }
        set { uniqueBox().fields.userID = newValue }
    }
    public var quantity: Int64 {
        get { box.fields.quantity }
        set { uniqueBox().fields.quantity = newValue }
    }
    public var priceCents: Int64 {
        get { box.fields.priceCents }
        set { uniqueBox().fields.priceCents = newValue }
    }
    public var status: OrderStatus {
        get { box.fields.status }
        set { uniqueBox().fields.status = newValue }
    }
    public var createdAt: Timestamp {
        get { box.fields.createdAt }
        set { uniqueBox().fields.createdAt = newValue }
    }
    public var expiresAt: Timestamp {
        get { box.fields.expiresAt }
        set { uniqueBox().fields.expiresAt = newValue }
    }
    public var idempotencyKey: String? {
        get { box.fields.idempotencyKey }
        set { uniqueBox().fields.idempotencyKey = newValue }
    }

    private var box: Box

    public init(orderID: String, saleID: String, sku: String, userID: String, quantity: Int64,
                priceCents: Int64, status: OrderStatus, createdAt: Timestamp, expiresAt: Timestamp,
                idempotencyKey: String? = nil) {
        box = Box(Fields(orderID: orderID, saleID: saleID, sku: sku, userID: userID, quantity: quantity,
                         priceCents: priceCents, status: status, createdAt: createdAt, expiresAt: expiresAt,
                         idempotencyKey: idempotencyKey))
    }

    public static func == (lhs: Order, rhs: Order) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    /// The box, copied first when another order shares it.
    private mutating func uniqueBox() -> Box {
        if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
        return box
    }

    private struct Fields: Equatable {
        var orderID: String
        var saleID: String
        var sku: String
        var userID: String
        var quantity: Int64
        var priceCents: Int64
        var status: OrderStatus
        var createdAt: Timestamp
        var expiresAt: Timestamp
        var idempotencyKey: String?
    }

    /// Mutated only through `uniqueBox()`, when no other order shares it: that is what makes the
    /// unchecked `Sendable` sound.
    private final class Box: @unchecked Sendable {
        var fields: Fields

        init(_ fields: Fields) { self.fields = fields }
    }
}
