/// Decides whether an order read may go to the read replica or must go to the primary.
///
/// A streaming replica is behind the primary by its replication lag, so a buyer who just bought,
/// paid or cancelled must not read the replica until the replica has replayed that write
/// (read-your-writes). The policy keeps, for a bounded time, the orders and users this process
/// wrote, with the monotonic time each write **completed**. A health check samples the primary's
/// WAL position (`pg_current_wal_lsn()`) at time `t`, then the replica's replay position; once the
/// replica has replayed past a sample, every write completed before `t` is on the replica
/// (`freshAsOf = t`). Reads of keys written after `freshAsOf` go to the primary; others go to the
/// replica, and a replica that fails a call or a check sends every read to the primary until a
/// check succeeds again.
///
/// Pure value: times are passed in, so tests drive it without a clock or servers.
public struct ReplicaReadPolicy: Sendable, Equatable {
    /// Where a read goes.
    public enum Target: Sendable, Equatable {
        case replica
        case primary(PrimaryReason)
    }

    /// Why a read goes to the primary.
    public enum PrimaryReason: String, Sendable, Equatable, CaseIterable {
        /// The key was written after the newest point the replica is known to have replayed.
        case notCaughtUp = "not_caught_up"
        /// The replica failed its last check or call.
        case replicaDown = "replica_down"
        /// The replica did not have the row (another instance's write, or lag): read again on the primary.
        case replicaMiss = "replica_miss"
    }

    /// The outcome of one replica health check.
    public enum Check: Sendable, Equatable {
        /// The reader answered: its replay position (nil when it is not a replica, i.e. the reader
        /// is the primary itself) and its lag in seconds.
        case answered(replayLSN: UInt64?, lagSeconds: Double)
        /// The reader did not answer.
        case failed
    }

    /// A primary WAL position sampled at a monotonic time.
    struct Sample: Sendable, Equatable {
        var at: UInt64
        var lsn: UInt64
    }

    /// Writes completed at or before this time (monotonic ns) are readable on the replica.
    public private(set) var freshAsOf: UInt64 = 0
    /// Whether the replica answered its last check and call.
    public private(set) var replicaUp = true
    /// Bytes of WAL the replica is behind the newest primary sample (0 when caught up or unknown).
    public private(set) var lagBytes: UInt64 = 0
    /// The replica's own estimate of its replay delay.
    public private(set) var lagSeconds: Double = 0
    /// The last check found the reader to be the primary itself (not in recovery): it sees every
    /// commit, so writes are not remembered. Should it turn out to be a replica later, everything
    /// is read on the primary until it has replayed past a check made after that.
    public private(set) var readerIsPrimary = false
    /// Orders and users written after `freshAsOf`, with the time each write completed.
    private var recentOrders: [String: UInt64] = [:]
    private var recentUsers: [String: UInt64] = [:]
    /// Set when too many writes were pending: every read goes to the primary until `freshAsOf`
    /// passes this time.
    private var everythingPrimaryUntil: UInt64 = 0
    /// Primary positions not yet known to be replayed, oldest first.
    private var samples: [Sample] = []
    /// How many written keys are remembered before falling back to "everything on the primary".
    public let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    /// Where a read of `orderID` goes.
    public func target(order orderID: String) -> Target {
        target(recentOrders[orderID])
    }

    /// Where a read of `userID`'s order list goes.
    public func target(user userID: String) -> Target {
        target(recentUsers[userID])
    }

    private func target(_ writtenAt: UInt64?) -> Target {
        if !replicaUp { return .primary(.replicaDown) }
        if everythingPrimaryUntil > freshAsOf { return .primary(.notCaughtUp) }
        if let writtenAt, writtenAt > freshAsOf { return .primary(.notCaughtUp) }
        return .replica
    }

    /// Remembers orders (and their users) whose write completed at `completedAt`.
    public mutating func recordWrite(orders: [String], users: [String], completedAt: UInt64) {
        guard !readerIsPrimary else { return }
        if recentOrders.count + orders.count > capacity || recentUsers.count + users.count > capacity {
            recentOrders.removeAll(keepingCapacity: true)
            recentUsers.removeAll(keepingCapacity: true)
            everythingPrimaryUntil = completedAt
            return
        }
        for order in orders { recentOrders[order] = completedAt }
        for user in users { recentUsers[user] = completedAt }
    }

    /// Records the primary's WAL position, read at `at` (before the replica is asked).
    public mutating func recordPrimary(lsn: UInt64, at: UInt64) {
        samples.append(Sample(at: at, lsn: lsn))
        if samples.count > 64 { samples.removeFirst(samples.count - 64) }
    }

    /// Applies a health check of the replica. `now` must be read after the check's answer and, when
    /// the policy is shared, under the lock that serializes it with `recordWrite`.
    public mutating func apply(_ check: Check, now: UInt64) {
        switch check {
        case .failed:
            replicaUp = false
        case .answered(let replay, let seconds):
            replicaUp = true
            lagSeconds = max(0, seconds)
            guard let replay else {
                // The reader is the primary itself: everything written is readable there.
                readerIsPrimary = true
                samples.removeAll()
                lagBytes = 0
                advance(to: now)
                return
            }
            if readerIsPrimary {
                // It was the primary, so the writes since were not remembered: read everything
                // on the primary until the replica has replayed past a sample taken after now.
                readerIsPrimary = false
                everythingPrimaryUntil = max(everythingPrimaryUntil, now)
            }
            var newest: UInt64?
            while let first = samples.first, first.lsn <= replay {
                newest = first.at
                samples.removeFirst()
            }
            lagBytes = samples.last.map { $0.lsn > replay ? $0.lsn - replay : 0 } ?? 0
            if let newest { advance(to: newest) }
        }
    }

    /// A read on the replica failed: the replica counts as down until the next good check.
    public mutating func replicaCallFailed() {
        replicaUp = false
    }

    private mutating func advance(to time: UInt64) {
        guard time > freshAsOf else { return }
        freshAsOf = time
        recentOrders = recentOrders.filter { $0.value > time }
        recentUsers = recentUsers.filter { $0.value > time }
    }

    /// Written keys still remembered (for tests and metrics).
    public var pendingWrites: Int { recentOrders.count + recentUsers.count }

    /// Parses a PostgreSQL LSN (`16/B374D848`) into a byte position.
    public static func parseLSN(_ text: String) -> UInt64? {
        guard let slash = text.firstIndex(of: "/"),
              let high = UInt64(text[..<slash], radix: 16),
              let low = UInt64(text[text.index(after: slash)...], radix: 16), high <= UInt32.max, low <= UInt32.max
        else { return nil }
        return high << 32 | low
    }
}
