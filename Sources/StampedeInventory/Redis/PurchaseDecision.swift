import StampedeRedis

/// What the purchase script decided for one purchase of a batch.
public enum PurchaseDecision: Sendable, Equatable {
    /// Stock was taken in Redis; `order` is to be committed (status `reserved`).
    case reserved(Order)
    /// The idempotency key was used before for `orderID`; `pending` is that order still waiting in
    /// the outbox (to be committed before answering), or nil when it was acknowledged already.
    case duplicate(orderID: String, pending: Order?)
    /// Nothing was taken; the outcome answers the buyer.
    case rejected(PurchaseOutcome)
}

/// A reservation in a sale's outbox, parsed from its record `user|qty|created|expires|idem`.
public struct PendingRecord: Sendable, Equatable {
    public var userID: String
    public var quantity: Int64
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var idempotencyKey: String?

    /// Parses an outbox record; nil when it is not one.
    public init?(_ record: String) {
        let parts = record.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 5, let quantity = Int64(parts[1]), let created = Int64(parts[2]),
              let expires = Int64(parts[3]), !parts[0].isEmpty else { return nil }
        userID = String(parts[0])
        self.quantity = quantity
        createdAt = Timestamp(milliseconds: created)
        expiresAt = Timestamp(milliseconds: expires)
        idempotencyKey = parts[4].isEmpty ? nil : String(parts[4])
    }

    /// The order this reservation becomes once committed.
    public func order(orderID: String, saleID: String, sku: String, priceCents: Int64) -> Order {
        Order(orderID: orderID, saleID: saleID, sku: sku, userID: userID, quantity: quantity,
              priceCents: priceCents, status: .reserved, createdAt: createdAt, expiresAt: expiresAt,
              idempotencyKey: idempotencyKey)
    }
}

/// The sale as the purchase script saw it at the end of a batch.
public struct PurchaseBatchSale: Sendable, Equatable {
    public var sku: String
    public var priceCents: Int64
    public var perUserLimit: Int64
    /// Units left after the batch: 0 means the sale is sold out (until stock returns).
    public var available: Int64
    public var reservationTTLSeconds: Int64
    public var endsAt: Timestamp
    /// The generation of the sale's counters the batch was decided at (see `RedisEpoch`).
    public var generation: Int64
}

extension PurchaseDecision {
    /// Decodes the purchase script's reply for `requests` (all of one sale, in order, all made at
    /// `now`): the decisions, and the sale's state after the batch (nil when the sale is unknown).
    static func decode(_ reply: RESPValue, for requests: [PurchaseRequest], now: Timestamp) throws(InventoryError) -> (decisions: [PurchaseDecision], sale: PurchaseBatchSale?) {
        guard let items = try reply.orThrow().array, items.count == requests.count + 1,
              let header = items[0].array, header.count == 7 else {
            throw .unavailable("redis: unexpected purchase script reply")
        }
        let sku = header[0].string ?? ""
        let price = header[1].int ?? 0
        let limit = header[2].int ?? 0
        let sale = sku.isEmpty ? nil : PurchaseBatchSale(sku: sku, priceCents: price, perUserLimit: limit,
                                                         available: header[3].int ?? 0,
                                                         reservationTTLSeconds: header[4].int ?? 0,
                                                         endsAt: Timestamp(milliseconds: header[5].int ?? 0),
                                                         generation: header[6].int ?? 0)
        // A TTL outside what a sale may define (a damaged hash) would overflow the expiry and trap
        // the whole server (found by fuzzing the reply): refuse the reply instead.
        let ttl = sale?.reservationTTLSeconds ?? 0
        guard (0...7 * 86_400).contains(ttl) else { throw .unavailable("redis: reservation ttl \(ttl) out of range") }
        let expires = Timestamp(milliseconds: now.milliseconds + ttl * 1000)
        var decisions: [PurchaseDecision] = []
        decisions.reserveCapacity(requests.count)
        // By index: the requests' fields are read in place (`zip` copied each request).
        for index in requests.indices {
            let item = items[index + 1]
            if let fields = item.array {
                guard fields.count == 3, fields[0].int == InventoryScripts.PurchaseCode.duplicate.rawValue,
                      let orderID = fields[1].string else {
                    throw .unavailable("redis: unexpected purchase result")
                }
                let pending = fields[2].string.flatMap(PendingRecord.init)?
                    .order(orderID: orderID, saleID: requests[index].saleID, sku: sku, priceCents: price)
                decisions.append(.duplicate(orderID: orderID, pending: pending))
                continue
            }
            guard let rawCode = item.int, let code = InventoryScripts.PurchaseCode(rawValue: rawCode) else {
                throw .unavailable("redis: unexpected purchase result")
            }
            switch code {
            case .reserved:
                decisions.append(.reserved(Order(orderID: requests[index].orderID, saleID: requests[index].saleID, sku: sku,
                                                 userID: requests[index].userID, quantity: requests[index].quantity,
                                                 priceCents: price, status: .reserved, createdAt: now,
                                                 expiresAt: expires, idempotencyKey: requests[index].idempotencyKey)))
            case .duplicate: throw .unavailable("redis: duplicate without its first order")
            case .soldOut: decisions.append(.rejected(.soldOut))
            case .limitExceeded: decisions.append(.rejected(.limitExceeded))
            case .groupLimitExceeded: decisions.append(.rejected(.groupLimitExceeded))
            case .notStarted: decisions.append(.rejected(.notStarted))
            case .ended: decisions.append(.rejected(.ended))
            case .unknownSale: decisions.append(.rejected(.unknownSale))
            case .stale: decisions.append(.rejected(.stale))
            case .invalidQuantity: decisions.append(.rejected(.invalidQuantity(limit: limit)))
            }
        }
        return (decisions, sale)
    }
}
