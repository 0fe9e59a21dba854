/// An order Redis had taken under an earlier PostgreSQL incarnation that PostgreSQL lacks after
/// going back in time (a restore to an earlier point, a promotion of a lagging standby): the buyer
/// may hold a confirmation for it. Kept in `lost_orders` for support.
public struct LostOrder: Sendable, Equatable {
    public var orderID: String
    public var saleID: String
    public var userID: String?
    public var idempotencyKey: String?
    /// The epoch Redis's counters held (naming the old incarnation).
    public var redisEpoch: String
    /// The incarnation PostgreSQL is at now.
    public var postgresIncarnation: String

    public init(orderID: String, saleID: String, userID: String?, idempotencyKey: String?, redisEpoch: String,
                postgresIncarnation: String) {
        self.orderID = orderID
        self.saleID = saleID
        self.userID = userID
        self.idempotencyKey = idempotencyKey
        self.redisEpoch = redisEpoch
        self.postgresIncarnation = postgresIncarnation
    }

    /// The orders of `idempotency` (`user|key` → order id) and `outbox` that are not `committed`,
    /// when Redis's epoch names another PostgreSQL incarnation than `now`; none otherwise (a Redis
    /// restart or an ordinary rebuild loses nothing PostgreSQL had).
    public static func find(saleID: String, redisEpoch: RedisEpoch?, now: PostgresIncarnation?,
                            idempotency: [(field: String, orderID: String)],
                            outbox: [(orderID: String, record: PendingRecord)], committed: Set<String>) -> [LostOrder] {
        guard let redisEpoch, let now, let before = RedisEpoch.postgresPart(of: redisEpoch.runID),
              before != now.description[...] else { return [] }
        var found: [String: LostOrder] = [:]
        for (field, orderID) in idempotency where !committed.contains(orderID) {
            let bar = field.firstIndex(of: "|")
            found[orderID] = LostOrder(orderID: orderID, saleID: saleID, userID: bar.map { String(field[..<$0]) },
                                       idempotencyKey: bar.map { String(field[field.index(after: $0)...]) },
                                       redisEpoch: redisEpoch.description, postgresIncarnation: now.description)
        }
        for (orderID, record) in outbox where !committed.contains(orderID) && found[orderID] == nil {
            found[orderID] = LostOrder(orderID: orderID, saleID: saleID, userID: record.userID, idempotencyKey: record.idempotencyKey,
                                       redisEpoch: redisEpoch.description, postgresIncarnation: now.description)
        }
        return found.values.sorted { $0.orderID < $1.orderID }
    }
}
