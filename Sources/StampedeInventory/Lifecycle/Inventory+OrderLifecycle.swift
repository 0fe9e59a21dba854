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
                return moved
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

    /// Returns the stock of cancelled or expired orders to Redis and records it in PostgreSQL.
    /// A failure leaves `stock_returned` false, and the reconciler tries again later.
    func returnStock(_ settled: [Order]) async {
        guard !settled.isEmpty else { return }
        do {
            let returnedNow = try await ledger.release(settled.map(StockReturn.init(order:)))
            try await orders.markStockReturned(settled.map(\.orderID))
            let count = returnedNow.filter { $0 }.count
            repairs.withLock { $0.stockReturned += count }
            for order in settled {
                soldOut.clear(order.saleID)
                cache.forget(order.saleID)
            }
        } catch {
            logger.warning("stock return deferred to the reconciler", metadata: ["error": "\(error)", "orders": "\(settled.count)"])
        }
    }
}
