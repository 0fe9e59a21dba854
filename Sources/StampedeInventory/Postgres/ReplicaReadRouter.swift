import Glibc
import StampedePostgres
import StampedeSystem
import Synchronization

/// The driver of a `ReplicaReadPolicy`: shares it between the writers (which record what they
/// wrote), the readers (which ask where to read) and the health check (which measures the replica),
/// and counts where reads went.
public final class ReplicaReadRouter: Sendable {
    private let policy: Mutex<ReplicaReadPolicy>
    private let replicaReads = Atomic<Int>(0)
    private let primaryReads = Mutex([Int](repeating: 0, count: ReplicaReadPolicy.PrimaryReason.allCases.count))
    private let checks = Atomic<Int>(0)
    private let failedChecks = Atomic<Int>(0)
    private let inRecovery = Atomic<Bool>(false)

    /// Figures for `/metrics`.
    public struct Statistics: Sendable, Equatable {
        public var replicaReads: Int
        /// Reads sent to the primary, by reason.
        public var primaryReads: [(reason: ReplicaReadPolicy.PrimaryReason, count: Int)]
        public var replicaUp: Bool
        public var replicaInRecovery: Bool
        public var lagBytes: UInt64
        public var lagSeconds: Double
        public var checks: Int
        public var failedChecks: Int
        public var pendingWrites: Int

        public static func == (lhs: Statistics, rhs: Statistics) -> Bool {
            lhs.replicaReads == rhs.replicaReads && lhs.primaryReads.map(\.count) == rhs.primaryReads.map(\.count)
                && lhs.replicaUp == rhs.replicaUp && lhs.lagBytes == rhs.lagBytes && lhs.checks == rhs.checks
        }
    }

    public init(capacity: Int = 100_000) {
        policy = Mutex(ReplicaReadPolicy(capacity: capacity))
    }

    /// Where a read of this order goes now.
    public func target(order orderID: String) -> ReplicaReadPolicy.Target {
        policy.withLock { $0.target(order: orderID) }
    }

    /// Where a read of this user's orders goes now.
    public func target(user userID: String) -> ReplicaReadPolicy.Target {
        policy.withLock { $0.target(user: userID) }
    }

    /// Whether committed writes need recording: false while the reader is the primary itself, so a
    /// writer need not even build the lists.
    public var recordsWrites: Bool { policy.withLock { !$0.readerIsPrimary } }

    /// Records committed writes (call right after the commit returned).
    public func recordWrite(orders: [String], users: [String]) {
        guard !orders.isEmpty || !users.isEmpty else { return }
        let now = MonotonicClock.now()
        policy.withLock { $0.recordWrite(orders: orders, users: users, completedAt: now) }
    }

    /// Counts a read served by the replica.
    public func countReplicaRead() { replicaReads.wrappingAdd(1, ordering: .relaxed) }

    /// Counts a read sent to the primary.
    public func countPrimaryRead(_ reason: ReplicaReadPolicy.PrimaryReason) {
        let index = ReplicaReadPolicy.PrimaryReason.allCases.firstIndex(of: reason)!
        primaryReads.withLock { $0[index] += 1 }
    }

    /// A replica call failed: reads go to the primary until the next good check.
    public func replicaFailed() { policy.withLock { $0.replicaCallFailed() } }

    /// One health check: the primary's WAL position, then the replica's replay position and lag.
    /// A failing primary leaves the policy as it is (no sample); a failing replica marks it down.
    public func check(primary: PostgresClient, replica: PostgresClient) async {
        checks.wrappingAdd(1, ordering: .relaxed)
        let sampledAt = MonotonicClock.now()
        if let result = try? await primary.query("SELECT pg_current_wal_lsn()::text"),
           let text = result.rows.first?[0] ?? nil, let lsn = ReplicaReadPolicy.parseLSN(text) {
            policy.withLock { $0.recordPrimary(lsn: lsn, at: sampledAt) }
        }
        let outcome: ReplicaReadPolicy.Check
        do {
            let result = try await replica.query("""
            SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
                   CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
            """)
            let row = result.rows.first ?? []
            let recovering = row.first.flatMap { $0 } == "t"
            inRecovery.store(recovering, ordering: .relaxed)
            let replay = recovering ? (row.count > 1 ? row[1].flatMap(ReplicaReadPolicy.parseLSN) ?? 0 : 0) : nil
            outcome = .answered(replayLSN: replay, lagSeconds: row.count > 2 ? row[2].flatMap { Double($0) } ?? 0 : 0)
        } catch {
            failedChecks.wrappingAdd(1, ordering: .relaxed)
            outcome = .failed
        }
        // The clock is read under the lock: a write that found the reader to be the primary (and
        // so was not recorded) completed before this time, which a reader turned replica needs.
        policy.withLock { $0.apply(outcome, now: MonotonicClock.now()) }
    }

    /// The figures now.
    public var statistics: Statistics {
        let snapshot = policy.withLock { $0 }
        let primary = primaryReads.withLock { $0 }
        return Statistics(
            replicaReads: replicaReads.load(ordering: .relaxed),
            primaryReads: ReplicaReadPolicy.PrimaryReason.allCases.enumerated().map { ($1, primary[$0]) },
            replicaUp: snapshot.replicaUp, replicaInRecovery: inRecovery.load(ordering: .relaxed),
            lagBytes: snapshot.lagBytes, lagSeconds: snapshot.lagSeconds,
            checks: checks.load(ordering: .relaxed), failedChecks: failedChecks.load(ordering: .relaxed),
            pendingWrites: snapshot.pendingWrites)
    }
}
