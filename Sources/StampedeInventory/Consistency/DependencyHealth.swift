import StampedePostgres
import StampedeRedis
import Synchronization

/// Whether a dependency was last seen down, shared between the purchase path (which refuses work
/// fast while it is) and the maintenance loop (which probes it and clears the mark).
public final class DependencyHealth: Sendable {
    private let down = Atomic<Bool>(false)

    public init() {}

    /// True after a connection failure until a probe succeeds.
    public var isDown: Bool { down.load(ordering: .relaxed) }

    public func markDown() { down.store(true, ordering: .relaxed) }
    public func markUp() { down.store(false, ordering: .relaxed) }

    /// Whether `error` means the server is unreachable (as opposed to a refused statement or a
    /// busy pool): connect failures and broken connections.
    public static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error {
        case PostgresError.connect, PostgresError.io: return true
        case RedisError.connect, RedisError.io: return true
        default: return false
        }
    }
}
