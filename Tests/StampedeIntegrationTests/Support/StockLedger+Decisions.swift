import StampedeInventory

extension StockLedger {
    /// `decide`'s per-purchase decisions alone, for tests that check the script's rules.
    func decisions(_ requests: [PurchaseRequest], now: Timestamp) async throws(InventoryError) -> [PurchaseDecision] {
        try await decide(requests, now: now).decisions
    }
}
