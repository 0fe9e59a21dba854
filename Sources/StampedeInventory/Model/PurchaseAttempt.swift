/// A purchase as the storefront asked for it, validated but not yet given an order id (a purchase
/// answered from memory never needs one).
public struct PurchaseAttempt: Sendable, Equatable {
    public var saleID: String
    public var userID: String
    public var quantity: Int64
    /// The client's `Idempotency-Key`, if it sent one.
    public var idempotencyKey: String?

    public init(saleID: String, userID: String, quantity: Int64, idempotencyKey: String?) {
        self.saleID = saleID
        self.userID = userID
        self.quantity = quantity
        self.idempotencyKey = idempotencyKey
    }
}
