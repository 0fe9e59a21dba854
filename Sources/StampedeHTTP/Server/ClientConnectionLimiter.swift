import Synchronization

/// Open connections per client address, shared by all loops, enforcing
/// `maxConnectionsPerClient`: one address cannot take the whole connection budget.
///
/// A lock around a small dictionary, touched once when a connection opens and once when it
/// closes (never per request). An address is forgotten when its last connection closes, so the
/// table holds at most one entry per open connection.
final class ClientConnectionLimiter: Sendable {
    /// The most connections one address may hold open.
    let limit: Int
    private let open = Mutex<[ClientAddress: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Claims a slot for a connection from `address`; `false` when that address is at the limit.
    func tryAcquire(_ address: ClientAddress) -> Bool {
        open.withLock { open in
            let current = open[address, default: 0]
            guard current < limit else { return false }
            open[address] = current + 1
            return true
        }
    }

    /// Returns the slot of a closed connection from `address`.
    func release(_ address: ClientAddress) {
        open.withLock { open in
            guard let current = open[address] else { return }
            open[address] = current > 1 ? current - 1 : nil
        }
    }

    /// Connections open from `address` right now.
    func openConnections(from address: ClientAddress) -> Int {
        open.withLock { $0[address, default: 0] }
    }
}
