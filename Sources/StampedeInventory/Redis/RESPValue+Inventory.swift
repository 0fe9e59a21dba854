import StampedeRedis

extension RESPValue {
    /// The reply itself, or `InventoryError.unavailable` when it is a Redis error reply.
    func orThrow() throws(InventoryError) -> RESPValue {
        if case .error(let message) = self { throw .unavailable("redis: " + message) }
        return self
    }
}
