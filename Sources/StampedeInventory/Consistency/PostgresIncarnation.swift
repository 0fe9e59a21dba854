import Synchronization

/// Which history of writes the PostgreSQL primary serves: its system identifier and its timeline.
///
/// A restore to an earlier point keeps the system identifier and brings back the old `sales` rows,
/// old epochs included, so PostgreSQL's rows alone cannot tell that it went back in time — but the
/// restored cluster goes on on a new timeline, and so does a promoted standby. Redis may then hold
/// reservations PostgreSQL no longer has. Every sale's epoch names the incarnation its counters
/// were built under (`RedisEpoch.run(redis:postgres:)`), so a new one makes every sale rebuild from
/// PostgreSQL before it sells again.
public struct PostgresIncarnation: Sendable, Hashable, CustomStringConvertible {
    /// `pg_control_system().system_identifier`, decimal.
    public var systemIdentifier: String
    /// The timeline WAL is written on now.
    public var timeline: Int64

    public init(systemIdentifier: String, timeline: Int64) {
        self.systemIdentifier = systemIdentifier
        self.timeline = timeline
    }

    /// `sysid.timeline`, the form epochs carry after `@`.
    public var description: String { "\(systemIdentifier).\(timeline)" }

    /// The statement that reads it on the primary: the timeline from the name of the WAL file
    /// being written (its first 8 hex digits), which changes the moment a promotion or a restore
    /// ends — `pg_control_checkpoint()` shows it only after the next checkpoint.
    public static let query = """
    SELECT system_identifier::text, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
    FROM pg_control_system()
    """
}

/// The PostgreSQL incarnation this process last read, shared by everything that composes epochs
/// (`StockLedger`). Nil until first read: epochs then name the Redis node alone.
public final class PostgresIncarnationWatch: Sendable {
    private let state = Mutex<PostgresIncarnation?>(nil)

    public init(_ initial: PostgresIncarnation? = nil) {
        state.withLock { $0 = initial }
    }

    public var current: PostgresIncarnation? { state.withLock { $0 } }

    /// Records what PostgreSQL reports now: whether it differs from what was known, and what that was.
    @discardableResult
    public func update(_ incarnation: PostgresIncarnation) -> (changed: Bool, previous: PostgresIncarnation?) {
        state.withLock { current in
            let previous = current
            current = incarnation
            return (previous != incarnation, previous)
        }
    }
}
