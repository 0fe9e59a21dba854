import Synchronization

/// The server-wide count of open connections, shared by all loops, enforcing `maxConnections`.
final class ConnectionBudget: Sendable {
    /// The most connections that may be open at once.
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Connections open right now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// Claims a slot for a new connection; `false` when the limit is reached.
    func tryAcquire() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Returns the slot of a closed connection.
    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}
