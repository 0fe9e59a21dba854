import Foundation
import Glibc
import Synchronization
import Testing

/// An instance behind HAProxy dies (kill -9) or is stopped (drain, then SIGTERM) in the middle of a
/// rush of buyers who retry with their Idempotency-Key through the balancer; the invariants are
/// read from PostgreSQL and Redis (`FaultScenario.verify`). These use the fault tests' own Redis
/// and PostgreSQL processes, so a rush's stock checks see nothing but its own sale.
@Suite(.serialized, FleetEnvironment.trait)
struct FleetFailureTests {
    static let buyers = 800
    static let stock = 500

    /// Two instances and HAProxy in front of them, buyers pointed at HAProxy only.
    private func fleet(_ name: String) throws -> (FaultScenario, [FaultStampede], FleetBalancer) {
        let scenario = try FaultScenario(name, stock: Self.stock)
        let trusted = ["STAMPEDE_LIMITS_TRUSTED_PROXIES": "127.0.0.1"]
        let instances = [try scenario.startStampede(environment: trusted), try scenario.startStampede(environment: trusted)]
        try scenario.createSale(on: instances[0])
        let balancer = try FleetBalancer(instancePorts: instances.map(\.port), directory: scenario.directory + "/haproxy")
        scenario.ports.list.withLock { $0 = [balancer.port] }
        return (scenario, instances, balancer)
    }

    /// The instance that sells the sale (sale affinity): the one whose `/metrics` counts created
    /// purchases; waits for the first.
    private func owner(of instances: [FaultStampede]) -> Int? {
        var found: Int?
        _ = FaultEnvironment.wait(seconds: 10) {
            let created = instances.map { (try? Fleet.createdPurchases(port: $0.port)) ?? 0 }
            found = created.firstIndex { $0 > 0 }
            return found != nil
        }
        return found
    }

    /// kill -9 of the instance selling the sale, mid-rush (stopped 0.2 s before, so purchases are
    /// in flight when it dies): HAProxy's only own answers are the
    /// contract's `503 unavailable` JSON with Retry-After; buyers retrying with their keys all get
    /// an answer; every confirmed order is in PostgreSQL, one per key and per user; never oversold;
    /// stock conserved once the reconciler has run.
    @Test func instanceKilledMidRush() async throws {
        let (scenario, instances, balancer) = try fleet("fleet-kill")
        defer { balancer.stop(); scenario.tearDown() }
        async let outcome = scenario.rush(buyers: Self.buyers)
        let killedAt = Mutex<Date?>(nil)
        try await BlockingThreads.perform {
            usleep(600_000)
            guard let owner = owner(of: instances) else { throw ChildFailure(description: "no instance sold anything") }
            // Frozen first, so that purchases are certainly in flight when it dies: answered in a
            // millisecond or two, with buyers pacing 40 ms apart, a bare kill often fell between
            // requests, HAProxy sent the next ones to the survivor and no buyer met the fault.
            kill(instances[owner].pid, SIGSTOP)
            usleep(200_000)
            instances[owner].kill9()
            killedAt.withLock { $0 = Date() }
        }
        let buyers = await outcome
        try scenario.verify(buyers)
        let odd = buyers.flatMap(\.oddAnswers)
        #expect(odd.isEmpty, "answers outside the contract: \(odd.prefix(5))")
        let unavailable = buyers.reduce(0) { $0 + $1.unavailableAnswers }
        print("[fleet kill] 503 unavailable answers seen by buyers: \(unavailable); HAProxy's view after: \(try balancer.serversUp())")
    }

    /// Drain, then SIGTERM, of the instance selling the sale, mid-rush (scripts/fleet-instance
    /// stop's way): no buyer sees a `503` or a failed connection, and every invariant holds.
    @Test func instanceDrainedAndStoppedMidRush() async throws {
        let (scenario, instances, balancer) = try fleet("fleet-drain")
        defer { balancer.stop(); scenario.tearDown() }
        async let outcome = scenario.rush(buyers: Self.buyers)
        let stopSeconds = Mutex<Double>(0)
        try await BlockingThreads.perform {
            usleep(600_000)
            guard let owner = owner(of: instances) else { throw ChildFailure(description: "no instance sold anything") }
            let started = Date()
            try balancer.drainAndStop(server: "s\(owner + 1)", pid: instances[owner].pid)
            stopSeconds.withLock { $0 = Date().timeIntervalSince(started) }
            #expect(!instances[owner].isRunning)
        }
        let buyers = await outcome
        try scenario.verify(buyers, expectRetries: false)
        let unavailable = buyers.reduce(0) { $0 + $1.unavailableAnswers }
        #expect(unavailable == 0, "503s during a drained stop: \(unavailable)")
        #expect(buyers.flatMap(\.oddAnswers).isEmpty)
        let retried = buyers.filter { $0.attempts > 1 }.count
        #expect(retried == 0, "buyers who had to retry during a drained stop: \(retried)")
        print("[fleet drain] drain + SIGTERM + exit took \(stopSeconds.withLock { $0 }) s")
    }
}
