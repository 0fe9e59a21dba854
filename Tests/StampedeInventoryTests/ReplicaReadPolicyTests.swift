import StampedeInventory
import Testing

/// The read-your-writes decisions of the read/write split, driven with explicit times.
struct ReplicaReadPolicyTests {
    /// Before anything is written, every read may go to the replica.
    @Test func unwrittenKeysReadTheReplica() {
        let policy = ReplicaReadPolicy()
        #expect(policy.target(order: "o1") == .replica)
        #expect(policy.target(user: "u1") == .replica)
    }

    /// A write completed after the newest replayed sample is read on the primary until a check
    /// shows the replica replayed past a primary position sampled after the write.
    @Test func writesReadThePrimaryUntilReplayed() {
        var policy = ReplicaReadPolicy()
        policy.recordPrimary(lsn: 100, at: 10)
        policy.recordWrite(orders: ["o1"], users: ["u1"], completedAt: 20)
        #expect(policy.target(order: "o1") == .primary(.notCaughtUp))
        #expect(policy.target(user: "u1") == .primary(.notCaughtUp))
        #expect(policy.target(order: "o2") == .replica)
        // The replica replays the sample taken before the write: not enough.
        policy.apply(.answered(replayLSN: 100, lagSeconds: 0), now: 25)
        #expect(policy.freshAsOf == 10)
        #expect(policy.target(order: "o1") == .primary(.notCaughtUp))
        // A sample after the write, not yet replayed: still the primary, and the lag is measured.
        policy.recordPrimary(lsn: 180, at: 30)
        policy.apply(.answered(replayLSN: 150, lagSeconds: 0.5), now: 35)
        #expect(policy.lagBytes == 30)
        #expect(policy.lagSeconds == 0.5)
        #expect(policy.target(order: "o1") == .primary(.notCaughtUp))
        // Replayed past it: the replica has the write, and the memory of it is dropped.
        policy.apply(.answered(replayLSN: 180, lagSeconds: 0), now: 40)
        #expect(policy.freshAsOf == 30)
        #expect(policy.lagBytes == 0)
        #expect(policy.target(order: "o1") == .replica)
        #expect(policy.target(user: "u1") == .replica)
        #expect(policy.pendingWrites == 0)
    }

    /// A failed check or call sends every read to the primary; a good check brings the replica back.
    @Test func aDownReplicaSendsReadsToThePrimary() {
        var policy = ReplicaReadPolicy()
        policy.apply(.failed, now: 5)
        #expect(policy.target(order: "o1") == .primary(.replicaDown))
        policy.apply(.answered(replayLSN: nil, lagSeconds: 0), now: 6)
        #expect(policy.target(order: "o1") == .replica)
        policy.replicaCallFailed()
        #expect(policy.target(user: "u") == .primary(.replicaDown))
    }

    /// A reader that is not in recovery is the primary itself: writes completed before the check are
    /// readable there at once.
    @Test func aReaderThatIsThePrimaryIsAlwaysFresh() {
        var policy = ReplicaReadPolicy()
        policy.recordWrite(orders: ["o1"], users: [], completedAt: 10)
        #expect(policy.target(order: "o1") == .primary(.notCaughtUp))
        policy.apply(.answered(replayLSN: nil, lagSeconds: 0), now: 11)
        #expect(policy.target(order: "o1") == .replica)
    }

    /// While the reader is the primary itself, writes are not remembered (nothing to wait for). If
    /// the reader later turns out to be a replica, the writes made meanwhile are unknown, so every
    /// read goes to the primary until the replica has replayed past a sample taken after that check.
    @Test func aReaderThatWasThePrimaryAndTurnsReplicaReadsThePrimaryUntilReplayed() {
        var policy = ReplicaReadPolicy()
        #expect(policy.readerIsPrimary == false)
        policy.apply(.answered(replayLSN: nil, lagSeconds: 0), now: 10)
        #expect(policy.readerIsPrimary)
        policy.recordWrite(orders: ["o1"], users: ["u1"], completedAt: 20)
        #expect(policy.pendingWrites == 0)
        #expect(policy.target(order: "o1") == .replica)
        // The reader is a replica now (a failover, or the primary came back as a follower).
        policy.recordPrimary(lsn: 100, at: 25)
        policy.apply(.answered(replayLSN: 100, lagSeconds: 0), now: 30)
        #expect(policy.readerIsPrimary == false)
        #expect(policy.target(order: "o1") == .primary(.notCaughtUp))
        #expect(policy.target(order: "never-written") == .primary(.notCaughtUp))
        // From now on writes are remembered again.
        policy.recordWrite(orders: ["o2"], users: [], completedAt: 35)
        #expect(policy.pendingWrites == 1)
        // Replayed past a sample taken after the check: the replica serves reads again.
        policy.recordPrimary(lsn: 200, at: 40)
        policy.apply(.answered(replayLSN: 200, lagSeconds: 0), now: 45)
        #expect(policy.target(order: "o1") == .replica)
        #expect(policy.target(order: "o2") == .replica)
        #expect(policy.pendingWrites == 0)
    }

    /// Past its capacity the policy forgets the keys and reads everything on the primary until the
    /// replica has replayed past the overflow, so it never serves a stale row and never grows unbounded.
    @Test func overflowSendsEverythingToThePrimaryUntilReplayed() {
        var policy = ReplicaReadPolicy(capacity: 3)
        policy.recordWrite(orders: ["a", "b"], users: [], completedAt: 10)
        policy.recordWrite(orders: ["c", "d"], users: [], completedAt: 11)
        #expect(policy.pendingWrites == 0)
        #expect(policy.target(order: "zzz") == .primary(.notCaughtUp))
        policy.recordPrimary(lsn: 50, at: 12)
        policy.apply(.answered(replayLSN: 50, lagSeconds: 0), now: 13)
        #expect(policy.target(order: "zzz") == .replica)
    }

    /// LSNs parse from PostgreSQL's `high/low` hexadecimal form and order as byte positions.
    @Test func parsesLSNs() {
        #expect(ReplicaReadPolicy.parseLSN("0/3015FD0") == 0x3015FD0)
        #expect(ReplicaReadPolicy.parseLSN("16/B374D848") == (0x16 << 32 | 0xB374D848))
        #expect(ReplicaReadPolicy.parseLSN("nonsense") == nil)
        #expect(ReplicaReadPolicy.parseLSN("1/") == nil)
    }
}
