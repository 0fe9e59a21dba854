/// One buyer's attempt, validated and waiting in its shard's queue.
public struct PurchaseRequest: Sendable, Equatable {
    public var saleID: String
    public var userID: String
    public var quantity: Int64
    /// The client's `Idempotency-Key`, if it sent one; retries with it return the first order.
    public var idempotencyKey: String?
    /// The sale's exclusive group, if it has one: the purchase claims its units in the group
    /// before the sale decides it (`StockLedger.decideBatch`).
    public var exclusiveGroup: String?
    /// Chosen before the Redis decision so the reservation and the order row share it.
    public var orderID: String
    /// The purchase goes to one bucket of a bucketed sale (`saleID` is that bucket's counter id, the
    /// sale's own for bucket 0): an empty bucket is no sold-out sale (`Inventory.refill`).
    public var inBucket: Bool

    public init(saleID: String, userID: String, quantity: Int64, idempotencyKey: String?,
                exclusiveGroup: String? = nil, orderID: String = OrderIDGenerator.next(), inBucket: Bool = false) {
        self.saleID = saleID
        self.inBucket = inBucket
        self.exclusiveGroup = exclusiveGroup
        self.userID = userID
        self.quantity = quantity
        self.idempotencyKey = idempotencyKey
        self.orderID = orderID
    }
}

/// How a purchase ended; each case maps to one API answer.
public enum PurchaseOutcome: Sendable, Equatable {
    /// Stock taken and the order row committed (`201`).
    case created(Order)
    /// A retry with an `Idempotency-Key` already used by this user on this sale (`200`).
    case existing(Order)
    case soldOut
    case limitExceeded
    /// The buyer's units across the sale's exclusive group would pass the group's limit (`409`).
    case groupLimitExceeded
    case notStarted
    case ended
    /// `quantity` is above the sale's per-user limit (`400 invalid_quantity`).
    case invalidQuantity(limit: Int64)
    case unknownSale
    /// The sale's Redis counters predate a Redis restart (or were invalidated) and must be rebuilt
    /// from PostgreSQL before it sells again; nothing was taken.
    case stale
    /// Redis or PostgreSQL failed; nothing was sold that is not also committed (`503 unavailable`).
    case unavailable(String)
}

/// A queued purchase and the callback that answers its buyer, called exactly once.
///
/// A reference: the shard's queue, its batch and its commit group hand it on with one retain,
/// where a value would retain its request's strings and its callback at each hand-off.
public final class PendingPurchase: Sendable {
    public let request: PurchaseRequest
    private let answer: @Sendable (PurchaseOutcome) -> Void
    /// What the shard directory counts for the purchase until it is answered (nil: not admitted
    /// through a directory, as in unit tests of a shard alone).
    let admission: AdmissionTracking?

    public convenience init(request: PurchaseRequest, complete: @escaping @Sendable (PurchaseOutcome) -> Void) {
        self.init(request: request, answer: complete, admission: nil)
    }

    init(request: PurchaseRequest, answer: @escaping @Sendable (PurchaseOutcome) -> Void, admission: AdmissionTracking?) {
        self.request = request
        self.answer = answer
        self.admission = admission
    }

    /// Answers the buyer with `outcome`; called exactly once.
    public func complete(_ outcome: PurchaseOutcome) {
        admission?.settle(saleID: request.saleID)
        answer(outcome)
    }

    /// The same purchase and buyer, counted by `admission` instead.
    func tracked(by admission: AdmissionTracking) -> PendingPurchase {
        PendingPurchase(request: request, answer: answer, admission: admission)
    }
}
