/// What one reconciler pass will do about a set of sales, decided from what PostgreSQL and Redis
/// hold — a value, with no I/O: `Inventory.reconcile` gathers the facts, makes the plan, and
/// carries it out (or, for `stampede reconcile --dry-run`, only prints it).
///
/// Per sale, in order: counters that cannot be trusted are rebuilt from PostgreSQL (nothing else
/// is done for that sale); otherwise outbox entries older than the grace are committed when
/// PostgreSQL lacks them (stranded reservations) or cleared when it has them, and counters that do
/// not add up are reported as a drift.
public struct ReconcilePlan: Sendable, Equatable, CustomStringConvertible {
    /// One repair.
    public enum Step: Sendable, Equatable, CustomStringConvertible {
        /// Rebuild the sale's counters from PostgreSQL, invalidating `invalidate` (the counters'
        /// current epoch) first when they are still live on this Redis run.
        case rebuild(saleID: String, reason: String, invalidate: RedisEpoch?)
        /// Commit reservations taken in Redis and never committed, fenced on `epoch`. Their `sku`
        /// and `priceCents` are the sale's, filled in when committed.
        case commitStranded(saleID: String, epoch: RedisEpoch, orders: [Order])
        /// Clear outbox entries whose orders PostgreSQL already holds.
        case clearCommitted(saleID: String, orders: [Order])

        public var saleID: String {
            switch self {
            case .rebuild(let saleID, _, _), .commitStranded(let saleID, _, _), .clearCommitted(let saleID, _): saleID
            }
        }

        public var description: String {
            switch self {
            case .rebuild(let saleID, let reason, _):
                "sale \(saleID): \(reason) → rebuild from PostgreSQL"
            case .commitStranded(let saleID, _, let orders):
                "sale \(saleID): \(orders.count) reservations stranded in the outbox → commit"
            case .clearCommitted(let saleID, let orders):
                "sale \(saleID): \(orders.count) committed orders left in the outbox → clear"
            }
        }
    }

    public var steps: [Step] = []
    /// Sales whose current counters do not add up (`available + held + uncommitted ≠ stock +
    /// restocked`): reported, not repaired (in-flight batches make them move under load).
    public var drifts: [String] = []

    public init(steps: [Step] = [], drifts: [String] = []) {
        self.steps = steps
        self.drifts = drifts
    }

    /// The plan for the sales Redis showed (`seen`), against PostgreSQL's figures (`truth`).
    /// `accepted`: the epoch PostgreSQL accepts, read again *after* Redis for every sale whose
    /// epochs differed in the first reads (a rebuild between the two reads is no fault).
    /// `committed`: which of the outbox entries' order ids PostgreSQL holds. Entries created at or
    /// before `cutoff` (epoch milliseconds) are old enough to repair.
    public static func make(truth: [String: SaleRepository.Figures], seen: [SaleInspection],
                            accepted: [String: RedisEpoch], committed: Set<String>, cutoff: Int64) -> ReconcilePlan {
        var plan = ReconcilePlan()
        for redis in seen {
            guard let pg = truth[redis.saleID] else { continue }
            if let reason = rebuildReason(redis: redis, pg: pg, accepted: accepted[redis.saleID]) {
                plan.steps.append(.rebuild(saleID: redis.saleID, reason: reason, invalidate: redis.isCurrent ? redis.epoch : nil))
                continue
            }
            guard let epoch = redis.epoch else { continue }
            var uncommitted: Int64 = 0
            var stranded: [Order] = []
            var cleared: [Order] = []
            for entry in redis.pending {
                let order = entry.record.order(orderID: entry.orderID, saleID: redis.saleID, sku: "", priceCents: 0)
                if committed.contains(entry.orderID) {
                    if entry.record.createdAt.milliseconds <= cutoff { cleared.append(order) }
                } else {
                    uncommitted += entry.record.quantity
                    if entry.record.createdAt.milliseconds <= cutoff { stranded.append(order) }
                }
            }
            if !ReconcileReport.isConserved(available: redis.available, held: pg.held, uncommitted: uncommitted,
                                            stock: pg.stock, restocked: pg.restocked) {
                plan.drifts.append("sale \(redis.saleID): available \(redis.available) + held \(pg.held) + uncommitted "
                                   + "\(uncommitted) ≠ stock \(pg.stock) + restocked \(pg.restocked)")
            }
            if !stranded.isEmpty { plan.steps.append(.commitStranded(saleID: redis.saleID, epoch: epoch, orders: stranded)) }
            if !cleared.isEmpty { plan.steps.append(.clearCommitted(saleID: redis.saleID, orders: cleared)) }
        }
        return plan
    }

    /// Why a sale's Redis counters cannot be trusted, or nil when they can.
    static func rebuildReason(redis: SaleInspection, pg: SaleRepository.Figures, accepted: RedisEpoch?) -> String? {
        guard let epoch = redis.epoch else { return "missing or invalidated in Redis" }
        if !redis.isCurrent { return "counters from another Redis run (restart or failover: they may be behind)" }
        if pg.epoch != epoch, accepted != epoch {
            return "Redis epoch \(epoch) is not the one PostgreSQL accepts (\(accepted.map(String.init(describing:)) ?? "none"))"
        }
        if pg.ordersTaken > redis.ordersTaken {
            return "Redis is behind: PostgreSQL holds \(pg.ordersTaken) orders, Redis took \(redis.ordersTaken)"
        }
        return nil
    }

    /// Which sales' epochs must be read again before planning: those where PostgreSQL's first read
    /// and Redis disagree on a sale whose counters are otherwise live.
    public static func epochsToConfirm(truth: [String: SaleRepository.Figures], seen: [SaleInspection]) -> [String] {
        seen.compactMap { redis in
            guard let pg = truth[redis.saleID], let epoch = redis.epoch, redis.isCurrent, pg.epoch != epoch else { return nil }
            return redis.saleID
        }
    }

    /// One line per step, then one per drift.
    public var description: String {
        (steps.map(\.description) + drifts.map { "drift: " + $0 }).joined(separator: "\n")
    }
}
