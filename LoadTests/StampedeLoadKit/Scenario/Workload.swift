/// What a workload wants after an answer.
public enum FollowUp {
    case none
    /// Send `request` again (same `Idempotency-Key`) at monotonic time `due`.
    case retry(LoadRequest, due: UInt64)
}

/// The requests of one scenario on one loop thread, and what it makes of the answers.
///
/// Confined to its loop's thread (never shared), so it keeps plain mutable state. Scenarios give
/// each loop its own workload with its own share of users, and merge their ledgers at the end.
public protocol Workload: AnyObject {
    /// A fresh request (open loop: at each arrival; closed loop: whenever a connection is free),
    /// or `nil` when there is nothing to send now.
    func nextRequest(now: UInt64) -> LoadRequest?
    /// Whether no fresh request will ever come again (closed-loop runs end then).
    var isExhausted: Bool { get }
    /// The answer to `request`, or `nil` with `failure` when no answer came.
    func complete(_ request: LoadRequest, response: ClientResponse?, failure: String?, now: UInt64) -> FollowUp
    /// What the workload saw, for the invariant checks.
    var ledger: RunLedger { get }
}

/// What a run learnt from the answers it got: the facts the invariant checks compare with the
/// server's state afterwards.
public struct RunLedger: Codable, Sendable, Equatable {
    /// Every order the server acknowledged with `201`, by id.
    public var acknowledged: [String: AcknowledgedOrder] = [:]
    /// Orders paid (`200` from pay) and cancelled (`200` from cancel).
    public var paid: Set<String> = []
    public var cancelled: Set<String> = []
    /// Retries answered `200` (an existing order) when every earlier try was `503 overloaded`:
    /// a shed request that had an effect. Order ids.
    public var overloadEffects: [String] = []
    /// Purchases that ended after only `503 overloaded` answers (the workload gave up): their
    /// idempotency keys must not exist in PostgreSQL.
    public var shedOnlyKeys: Set<String> = []
    /// Purchases whose outcome stayed unknown (no answer on the last try).
    public var unknownKeys: Set<String> = []
    /// Purchases retried after `503 overloaded`, and purchases given up after retries.
    public var overloadRetries = 0
    public var gaveUp = 0

    public init() {}

    public mutating func merge(_ other: RunLedger) {
        acknowledged.merge(other.acknowledged) { first, _ in first }
        paid.formUnion(other.paid)
        cancelled.formUnion(other.cancelled)
        overloadEffects += other.overloadEffects
        shedOnlyKeys.formUnion(other.shedOnlyKeys)
        unknownKeys.formUnion(other.unknownKeys)
        overloadRetries += other.overloadRetries
        gaveUp += other.gaveUp
    }
}

/// An order the server answered `201` for, as the answer described it.
public struct AcknowledgedOrder: Codable, Sendable, Equatable {
    public var orderID: String
    public var saleID: String
    public var userID: String
    public var quantity: Int
    public var idempotencyKey: String?

    public init(orderID: String, saleID: String, userID: String, quantity: Int, idempotencyKey: String? = nil) {
        self.orderID = orderID
        self.saleID = saleID
        self.userID = userID
        self.quantity = quantity
        self.idempotencyKey = idempotencyKey
    }
}

/// The purchase answers every scenario interprets the same way: `201` acknowledged, `200` a
/// replay, `503` retried after `Retry-After` with the same key, transport failures retried too
/// (the key makes that safe).
struct PurchaseAnswers {
    let maxAttempts: Int
    var ledger = RunLedger()

    init(maxAttempts: Int) { self.maxAttempts = maxAttempts }

    /// Returns the follow-up and whether the purchase is final.
    mutating func handle(_ request: LoadRequest, saleID: String, userID: String, quantity: Int,
                         response: ClientResponse?, now: UInt64) -> (FollowUp, orderID: String?) {
        let key = request.idempotencyKey
        guard let response else {
            return retry(request, after: 1, now: now, overloaded: false, unknown: true, key: key)
        }
        switch response.status {
        case 201:
            let orderID = JSONFields.string("order_id", in: response.body) ?? ""
            let answered = JSONFields.integer("quantity", in: response.body) ?? -1
            ledger.acknowledged[orderID] = AcknowledgedOrder(orderID: orderID, saleID: saleID, userID: userID, quantity: answered, idempotencyKey: key)
            return (.none, orderID)
        case 200:
            let orderID = JSONFields.string("order_id", in: response.body) ?? ""
            if request.attempt > 1, request.onlyOverloadedBefore, !request.hadUnknownOutcome {
                ledger.overloadEffects.append(orderID)
            }
            if request.hadUnknownOutcome, ledger.acknowledged[orderID] == nil {
                // The lost try did take the order: it is acknowledged now.
                let answered = JSONFields.integer("quantity", in: response.body) ?? -1
                ledger.acknowledged[orderID] = AcknowledgedOrder(orderID: orderID, saleID: saleID, userID: userID, quantity: answered, idempotencyKey: key)
            }
            return (.none, orderID)
        case 503:
            let overloaded = response.errorCode == "overloaded"
            return retry(request, after: response.retryAfterSeconds ?? 1, now: now, overloaded: overloaded, unknown: false, key: key)
        default:
            if request.hadUnknownOutcome, let key { ledger.unknownKeys.remove(key) }
            return (.none, nil)
        }
    }

    private mutating func retry(_ request: LoadRequest, after seconds: Int, now: UInt64, overloaded: Bool, unknown: Bool, key: String?) -> (FollowUp, orderID: String?) {
        var next = request
        next.attempt += 1
        next.hadUnknownOutcome = request.hadUnknownOutcome || unknown
        next.onlyOverloadedBefore = request.onlyOverloadedBefore && overloaded
        if overloaded { ledger.overloadRetries += 1 }
        guard next.attempt <= maxAttempts else {
            ledger.gaveUp += 1
            if let key {
                if next.onlyOverloadedBefore { ledger.shedOnlyKeys.insert(key) }
                if next.hadUnknownOutcome { ledger.unknownKeys.insert(key) }
            }
            return (.none, nil)
        }
        // Honour Retry-After; spread retries over a tenth of it so they do not land as one wave.
        let base = UInt64(max(seconds, 0)) * 1_000_000_000
        let jitter = base / 10 * UInt64(request.tag & 1023) / 1024
        return (.retry(next, due: now + base + jitter), nil)
    }
}
