/// PostgreSQL going back in time: a restore to an earlier point or a promotion leaves PostgreSQL
/// *behind* Redis, and its own rows (old epochs included) cannot show it. Its incarnation (system
/// identifier and timeline) is part of every sale's epoch, so once this process has read a new one
/// every sale's counters are stale and each is rebuilt from PostgreSQL before it sells again —
/// after the orders Redis holds and PostgreSQL lacks are recorded for support.
extension Inventory {
    /// Reads PostgreSQL's incarnation (at start, before serving, and then periodically); returns
    /// whether it changed from one this process had read before.
    @discardableResult
    public func refreshIncarnation() async throws(InventoryError) -> Bool {
        let now = try await sales.incarnation()
        let (changed, previous) = incarnation.update(now)
        guard changed, let previous else { return false }
        logger.warning("PostgreSQL's incarnation changed (a restore or a promotion): every sale is rebuilt from PostgreSQL before it sells again",
                       metadata: ["previous": "\(previous)", "now": "\(now)"])
        return true
    }

    /// Before a sale is rebuilt: when Redis's counters were built under another PostgreSQL
    /// incarnation, logs and records (`lost_orders`) the orders Redis's idempotency records and
    /// outbox hold that PostgreSQL lacks. Best effort: a failure is logged and the rebuild goes on.
    func recordOrdersLostByPostgres(_ saleID: String) async {
        do {
            guard let now = incarnation.current, let seen = try await ledger.inspect([saleID]).first,
                  let epoch = seen.epoch,
                  let before = RedisEpoch.postgresPart(of: epoch.runID), before != now.description[...] else { return }
            let idempotency = try await ledger.idempotencyRecords(saleID: saleID)
            let candidates = Array(Set(idempotency.map(\.orderID) + seen.pending.map(\.orderID)))
            let committed = try await orders.committed(candidates)
            let lost = LostOrder.find(saleID: saleID, redisEpoch: epoch, now: now, idempotency: idempotency,
                                      outbox: seen.pending, committed: committed)
            guard !lost.isEmpty else { return }
            try await sales.recordLostOrders(lost)
            for order in lost {
                // After a restore its buyer may hold a 201. After the promotion of a synchronous
                // standby every 201 is on the new primary, so these are commits cut short by the
                // failover, answered 503: the buyer's retry buys anew.
                logger.error("an order Redis had taken is not in PostgreSQL after a restore or a promotion: after a restore, contact the buyer; after a synchronous failover its buyer was answered 503, not 201", metadata: [
                    "order_id": "\(order.orderID)", "sale_id": "\(saleID)", "user_id": "\(order.userID ?? "")",
                    "redis_epoch": "\(order.redisEpoch)", "postgres": "\(order.postgresIncarnation)",
                ])
            }
        } catch {
            logger.error("could not check a sale for orders PostgreSQL lost before its rebuild",
                         metadata: ["sale_id": "\(saleID)", "error": "\(error)"])
        }
    }
}
