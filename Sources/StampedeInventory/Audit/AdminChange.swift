/// Who made an admin change, from where and in which request: the part of every audit entry the
/// HTTP layer knows and the inventory does not.
///
/// The handler builds it from the authenticated principal, the client address and the request id,
/// and passes it to every operation that changes something (`Inventory.define(_:change:)`,
/// `Inventory.restock(_:quantity:change:)`, the credential operations, a configuration reload), so
/// the operation can write its `admin_audit` row in the same transaction as the change.
public struct AdminChange: Sendable, Equatable {
    /// The credential's name (`bootstrap` for the configured `admin_token`).
    public var actor: String
    /// The client address the request came from (behind a trusted proxy, the one it named).
    public var address: String?
    /// The request's `X-Request-Id` (as received, or the one Stampede made up).
    public var requestID: String?

    public init(actor: String, address: String?, requestID: String?) {
        self.actor = actor
        self.address = address
        self.requestID = requestID
    }

    /// What a stock movement made by this change names as its reference: the request id, else
    /// (a reload by signal has none) the actor.
    public var reference: String { requestID ?? actor }
}
