/// Who hands a purchase to `Inventory.purchase`: its own check of the sale, and where the one
/// answer goes. One value for both, so a purchase carries one caller rather than two closures.
public protocol PurchaseCaller: Sendable {
    /// Refuses `attempt` for `sale` (a purchase token that does not fit, say), or nil. May be
    /// asked twice: for the cached sale, then for the sale read again.
    func refusal(of attempt: PurchaseAttempt, for sale: Sale) -> (any Error)?
    /// Takes the purchase's answer; called exactly once.
    func answer(_ answer: PurchaseAnswer)
}
