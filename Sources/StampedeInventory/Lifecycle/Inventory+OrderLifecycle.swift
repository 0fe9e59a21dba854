/// The order state machine: `reserved` → `paid` | `cancelled` | `expired`.
///
/// Each transition is one conditional `UPDATE … WHERE status = 'reserved' AND expires_at > now()`
/// in PostgreSQL, so a payment racing a cancel or the expiry has exactly one winner, and a late
/// payment cannot revive an order whose stock went back. Stock returns go through
/// `StockLedger.release`, which returns each order's units at most once.
extension Inventory {
    /// Pays a reserved order; paying twice answers the paid order again.
    public func pay(_ orderID: String) async throws(InventoryError) -> Order {
        try await move(orderID, to: .paid)
    }

    /// Cancels a reserved order and returns its stock; cancelling twice answers the cancelled order.
    public func cancel(_ orderID: String) async throws(InventoryError) -> Order {
        try await move(orderID, to: .cancelled)
    }

    private func move(_ orderID: String, to target: OrderStatus) async throws(InventoryError) -> Order {
        for _ in 0..<2 {
            if let moved = try await orders.transition(orderID, to: target) {
                if target == .cancelled { await returnStock([moved]) }
                return moved.order
            }
            guard let current = try await orders.order(orderID, primaryOnly: true) else { throw .unknownOrder(orderID) }
            switch current.status {
            case target:
                return current
            case .reserved where current.expiresAt <= .now():
                let expired = try await orders.expireDue(limit: 1, orderID: orderID)
                await returnStock(expired)
                throw .orderNotReserved(orderID: orderID, status: .expired)
            case .reserved:
                continue  // its expiry passed between the update and the read's clock: try again
            default:
                throw .orderNotReserved(orderID: orderID, status: current.status)
            }
        }
        throw .unavailable("order \(orderID) could not be read consistently; retry")
    }

    /// Returns the stock of cancelled or expired orders to Redis (each at most once, and only to
    /// counters at the epoch PostgreSQL held when the order settled) and records it in PostgreSQL.
    /// Returns how many went back now. A failure, or counters being rebuilt, leaves
    /// `stock_returned` false, and the reconciler tries again later.
    @discardableResult
    func returnStock(_ settled: [SettledOrder]) async -> Int {
        guard !settled.isEmpty else { return 0 }
        do {
            let results = try await ledger.release(settled.map { StockReturn(order: $0.order, epoch: $0.epoch) })
            let claimsLeft = try await releaseClaims(of: settled)
            let done = zip(settled, results).filter { $0.1 != .stale && !claimsLeft.contains($0.0.order.orderID) }
                .map(\.0.order.orderID)
            try await orders.markStockReturned(done)
            for item in settled {
                soldOut.clear(item.order.publicSaleID)
                cache.forget(item.order.saleID)
            }
            if done.count < settled.count {
                logger.info("stock return waits for a rebuild of the sale's counters",
                            metadata: ["orders": "\(settled.count - done.count)"])
            }
            return results.filter { $0 == .returned }.count
        } catch {
            logger.warning("stock return deferred to the reconciler", metadata: ["error": "\(error)", "orders": "\(settled.count)"])
            return 0
        }
    }

    /// Releases the exclusive-group claims of settled orders, at the epoch each group's claims were
    /// at when the order settled. Returns the orders whose claim could not be released because the
    /// group was rebuilt since (retried later at the current epoch, like a stale stock return).
    func releaseClaims(of settled: [SettledOrder]) async throws(InventoryError) -> Set<String> {
        var byFence: [GroupFence: [String]] = [:]
        for item in settled {
            // A group never built in Redis holds no claims.
            guard let group = item.group, let epoch = item.groupEpoch else { continue }
            byFence[GroupFence(groupID: group, epoch: epoch), default: []].append(item.order.orderID)
        }
        var left: Set<String> = []
        for (fence, orderIDs) in byFence {
            if try await ledger.releaseClaims(group: fence.groupID, epoch: fence.epoch, orderIDs: orderIDs) == nil {
                left.formUnion(orderIDs)
            }
        }
        return left
    }
}
