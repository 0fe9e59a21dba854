import Foundation
import Glibc
import Testing

/// PostgreSQL failovers under a rush, on a real Patroni cluster (one etcd, three PostgreSQL nodes,
/// synchronous_mode_strict, one synchronous standby: `PatroniCluster`, shared by the scenarios) with
/// a real Redis and a real `stampede serve` whose writer is the multi-host read-write URI. Each
/// scenario kills or moves a node mid-rush, measures how long there was no primary (or no
/// synchronous standby) and how long buyers were refused, and checks on the new primary that no
/// acknowledged order is missing, nothing is oversold and stock is conserved (`FaultScenario.verify`).
///
/// Run by scripts/test's failover phase (`STAMPEDE_FAILOVER_TESTS=1`).
@Suite(.serialized, PatroniCluster.trait)
struct PostgresFailoverTests {
    static let buyers = 1200
    static let stock = 800

    /// What a scenario measured, printed as one line.
    struct Figures {
        var name: String
        /// Seconds from the fault until the new primary was read-write (it assigned a transaction
        /// id; commits that write WAL may wait longer, for its synchronous standby) — or, for the
        /// standby's loss, until another node was the synchronous standby.
        var recovered: Double
        /// The longest stretch with no purchase settled (201, 200 or 409), in seconds.
        var unavailable: Double
        /// Buyers that met a 503, a timeout or a dropped connection and were then answered.
        var retriedAndAnswered: Int
        /// Of those, the ones whose retry found the order an earlier attempt had made (200).
        var foundByRetry: Int
        /// When purchases settled, in seconds after the fault.
        var settledAfterFault: [Double]
        /// How long the `503` answers took: their count, median and slowest, in seconds.
        var unavailableAnswers: Int
        var unavailableMedian: Double
        var unavailableSlowest: Double

        func print() {
            Swift.print(String(format: "[failover %@] recovered after %.1f s, purchases unavailable for %.1f s, %d buyers answered after retrying (%d found their order by its key); %d answers 503, median %.3f s, slowest %.2f s",
                               name, recovered, unavailable, retriedAndAnswered, foundByRetry,
                               unavailableAnswers, unavailableMedian, unavailableSlowest))
        }
    }

    /// Brings back any node a previous scenario left dead (Patroni rejoins it: pg_rewind or a new
    /// clone) and waits for a healthy cluster: a leader, a synchronous standby, three members.
    private func healthyCluster() throws -> PatroniCluster {
        let cluster = try PatroniCluster.shared.get()
        for node in 1...PatroniCluster.nodes where !cluster.patroniRuns(node: node) {
            let started = Date()
            try cluster.restart(node: node)
            print(String(format: "[failover] node%d rejoined the cluster in %.1f s", node, Date().timeIntervalSince(started)))
        }
        try cluster.script("wait-healthy", ["120"])
        return cluster
    }

    /// Runs `inject` (which returns the seconds until the cluster recovered) during a rush, then
    /// verifies the invariants on the primary; returns the figures and Stampede's log.
    private func scenario(_ name: String, cluster: PatroniCluster, expectRetries: Bool = true, sellsAfterRecovery: Bool = true,
                          inject: @escaping @Sendable () throws -> Double) async throws -> (figures: Figures, log: String) {
        let scenario = try FaultScenario("failover-" + name, stock: Self.stock,
                                         postgres: FaultPostgres(attachedTo: cluster.writerURI, reader: cluster.readerURI))
        defer { scenario.tearDown() }
        let instance = try scenario.startStampede()
        try scenario.createSale(on: instance)
        let rushStarted = Date()
        async let outcome = scenario.rush(buyers: Self.buyers)
        let (faultAt, recovered) = try await BlockingThreads.perform { () throws -> (Double, Double) in
            usleep(600_000)
            let at = Date().timeIntervalSince(rushStarted)
            return (at, try inject())
        }
        let buyers = await outcome
        try scenario.verify(buyers, expectRetries: expectRetries)
        let settled = buyers.flatMap { $0.answers.filter(\.settled).map(\.at) }.sorted()
        let longestGap = zip(settled, settled.dropFirst()).map { $1 - $0 }.max() ?? 0
        let troubled = buyers.filter { $0.resolved && $0.answers.contains { !$0.settled } }
        let refusals = buyers.flatMap(\.unavailableLatencies).sorted()
        let figures = Figures(name: name, recovered: recovered, unavailable: longestGap,
                              retriedAndAnswered: troubled.count, foundByRetry: buyers.filter(\.foundByRetry).count,
                              settledAfterFault: settled.map { $0 - faultAt }.filter { $0 > 0 },
                              unavailableAnswers: refusals.count, unavailableMedian: refusals.isEmpty ? 0 : refusals[refusals.count / 2],
                              unavailableSlowest: refusals.last ?? 0)
        figures.print()
        #expect(buyers.allSatisfy { $0.oddAnswers.isEmpty }, "answers outside the contract: \(buyers.flatMap(\.oddAnswers).prefix(5))")
        // Stampede sold again once PostgreSQL had recovered: a purchase settled after that.
        #expect(!sellsAfterRecovery || settled.contains { $0 > faultAt + recovered }, "nothing was sold after the cluster recovered (\(recovered) s after the fault)")
        return (figures, Self.log(of: scenario))
    }

    /// Polls until `condition` holds; the seconds it took (nil: not within `seconds`).
    private static func time(within seconds: Double, _ condition: () -> Bool) -> Double? {
        let started = Date()
        return FaultEnvironment.wait(seconds: seconds, every: 0.1, condition) ? Date().timeIntervalSince(started) : nil
    }

    private static func log(of scenario: FaultScenario) -> String {
        scenario.liveInstances.compactMap { try? String(contentsOfFile: $0.logPath, encoding: .utf8) }.joined()
    }

    /// kill -9 of the primary's Patroni and postmaster mid-rush, relaunching nothing: the
    /// synchronous standby is promoted (a new timeline), Stampede's writer reaches it, every sale
    /// is rebuilt for the new incarnation, and no acknowledged order is missing on it.
    @Test func primaryKilled() async throws {
        let cluster = try healthyCluster()
        let old = try #require(cluster.leader(), "no leader")
        let standby = try #require(cluster.syncStandby(), "no synchronous standby")
        let (figures, log) = try await scenario("primary-killed", cluster: cluster) {
            cluster.kill9(node: old.node)
            guard let seconds = Self.time(within: 60, {
                (1...PatroniCluster.nodes).contains { $0 != old.node && cluster.acceptsWrites(node: $0) }
            }) else { throw ChildFailure(description: "no new primary within 60 s of killing node\(old.node)") }
            return seconds
        }
        let leader = try #require(cluster.leader(), "no leader after the failover")
        #expect(leader.name != old.name, "the killed node still leads")
        #expect(leader.name == standby.name, "the synchronous standby \(standby.name) should have been promoted, not \(leader.name)")
        #expect(leader.timeline > old.timeline, "a promotion starts a new timeline: \(old.timeline) → \(leader.timeline)")
        // With no primary, purchases are refused at once (the writer pool's back-off), not after
        // a connect or statement timeout.
        #expect(figures.unavailableAnswers > 0, "no purchase was refused while there was no primary")
        #expect(figures.unavailableMedian < 0.5, "503 unavailable should be fast: median \(figures.unavailableMedian) s")
        #expect(log.contains("PostgreSQL's incarnation changed"), "Stampede did not see the new timeline")
    }

    /// A planned switchover (Patroni's REST API) to the synchronous standby mid-rush.
    @Test func plannedSwitchover() async throws {
        let cluster = try healthyCluster()
        let old = try #require(cluster.leader(), "no leader")
        let candidate = try #require(cluster.syncStandby(), "no synchronous standby")
        let (_, log) = try await scenario("switchover", cluster: cluster) {
            let started = Date()
            let answer = try cluster.switchover(from: old, to: candidate)
            print("[failover] switchover \(old.name) → \(candidate.name): \(answer)")
            guard Self.time(within: 60, { cluster.acceptsWrites(node: candidate.node) }) != nil else {
                throw ChildFailure(description: "\(candidate.name) does not accept writes after the switchover")
            }
            return Date().timeIntervalSince(started)
        }
        #expect(cluster.leader()?.name == candidate.name, "\(candidate.name) should lead after the switchover")
        #expect(log.contains("PostgreSQL's incarnation changed"), "Stampede did not see the new timeline")
    }

    /// kill -9 of the synchronous standby's Patroni and postmaster mid-rush: commits wait
    /// (synchronous_mode_strict) until Patroni names the remaining replica, then go on; the
    /// primary and its timeline stay.
    @Test func synchronousStandbyKilled() async throws {
        let cluster = try healthyCluster()
        let leader = try #require(cluster.leader(), "no leader")
        let standby = try #require(cluster.syncStandby(), "no synchronous standby")
        // Commits only wait (no answer is lost), so buyers need not retry; the stall shows instead.
        let (figures, _) = try await scenario("standby-killed", cluster: cluster, expectRetries: false, sellsAfterRecovery: false) {
            cluster.kill9(node: standby.node)
            guard let seconds = Self.time(within: 60, {
                guard let now = cluster.syncStandby() else { return false }
                return now.name != standby.name && now.state != "stopped"
            }) else { throw ChildFailure(description: "no other synchronous standby within 60 s of killing \(standby.name)") }
            return seconds
        }
        #expect(figures.unavailable >= 0.5, "purchases never stalled: the kill did not hit the rush (\(figures.unavailable) s)")
        // Commits went on without the killed standby (the rush may sell out before Patroni's
        // view of the new synchronous standby settles).
        #expect(figures.settledAfterFault.contains { $0 > figures.unavailable }, "nothing was sold after the standby's loss")
        #expect(cluster.leader()?.name == leader.name, "the primary should not change when its standby dies")
        #expect(cluster.leader()?.timeline == leader.timeline, "no new timeline without a promotion")
        let sync = try #require(cluster.syncStandby(), "no synchronous standby after the kill")
        #expect(sync.name != standby.name && sync.name != leader.name, "another node should be the synchronous standby: \(sync.name)")
    }
}
