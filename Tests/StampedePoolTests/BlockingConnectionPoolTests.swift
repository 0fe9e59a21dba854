import Glibc
import StampedePool
import Synchronization
import Testing

/// The pool's threads end to end, with an in-memory connection type (no server needed).
@Suite struct BlockingConnectionPoolTests {
    /// A connection that only knows its serial number; jobs can mark it broken.
    final class NumberedConnection: PooledConnection {
        let number: Int
        var isBroken = false
        init(number: Int) { self.number = number }
        func close() {}
    }

    /// A factory error the tests can recognise.
    struct ConnectRefused: Error, Equatable {}

    /// Records job numbers in the order jobs run.
    final class JobLog: Sendable {
        private let entries = Mutex<[Int]>([])
        func append(_ job: Int) { entries.withLock { $0.append(job) } }
        var jobs: [Int] { entries.withLock { $0 } }
    }

    /// Counts factory calls and hands out numbered connections.
    final class Factory: Sendable {
        let calls = Atomic(0)
        func make() -> NumberedConnection {
            NumberedConnection(number: calls.add(1, ordering: .relaxed).newValue)
        }
    }

    private func makePool(size: Int = 1, maxWaiting: Int = 100, acquireTimeout: Duration = .seconds(5)) -> BlockingConnectionPool<NumberedConnection> {
        let factory = Factory()
        return BlockingConnectionPool(name: "test", size: size, maxWaiting: maxWaiting, acquireTimeout: acquireTimeout) {
            factory.make()
        }
    }

    /// Holds a worker thread inside a job until the test releases it.
    final class Gate: Sendable {
        private let isOpen = Atomic(false)
        func release() { isOpen.store(true, ordering: .releasing) }
        func pass() {
            while !isOpen.load(ordering: .acquiring) { usleep(1_000) }
        }
    }

    /// Occupies the pool's only worker until `gate` opens and returns the task doing so.
    private func occupy(_ pool: BlockingConnectionPool<NumberedConnection>, until gate: Gate) async -> Task<String, any Error> {
        let task = Task { try await pool.withConnection { _ in gate.pass(); return "done" } }
        await waitUntil { pool.statistics.busy == 1 }
        return task
    }

    /// Jobs queued behind a busy worker run in submission order.
    @Test func runsQueuedJobsInFIFOOrder() async throws {
        // A generous acquire timeout: queuing the ten jobs took over 5 s on a stalled shared box,
        // and the first ones timed out before the gate opened. Order, not time, is checked here.
        let pool = makePool(acquireTimeout: .seconds(60))
        let log = JobLog()
        let gate = Gate()
        let blocker = await occupy(pool, until: gate)
        var tasks: [Task<Void, any Error>] = []
        for job in 1...10 {
            tasks.append(Task { try await pool.withConnection { _ in log.append(job) } })
            await waitUntil { pool.statistics.waiting == job }
        }
        gate.release()
        _ = try await blocker.value
        for task in tasks { try await task.value }
        #expect(log.jobs == Array(1...10))
    }

    /// With the only worker stuck in a slow job, a waiting job fails on time with `.acquireTimeout`.
    @Test func waitingJobTimesOutWhileWorkerIsBusy() async throws {
        let pool = makePool(acquireTimeout: .milliseconds(250))
        let gate = Gate()
        let blocker = await occupy(pool, until: gate)
        await #expect(throws: PoolError.acquireTimeout(.milliseconds(250))) {
            try await pool.withConnection { _ in }
        }
        #expect(pool.statistics.busy == 1)
        #expect(pool.statistics.timeouts == 1)
        gate.release()
        _ = try await blocker.value
    }

    /// The deadline watcher, asleep with no deadline after expiring a job, wakes for the next one:
    /// a job queued after the first expired fails on time too.
    @Test func laterWaitingJobTimesOutAfterAnEarlierOneExpired() async throws {
        let pool = makePool(acquireTimeout: .milliseconds(200))
        let gate = Gate()
        let blocker = await occupy(pool, until: gate)
        await #expect(throws: PoolError.acquireTimeout(.milliseconds(200))) {
            try await pool.withConnection { _ in }
        }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await #expect(throws: PoolError.acquireTimeout(.milliseconds(200))) {
            try await pool.withConnection { _ in }
        }
        // On time: not before its deadline, and well before the blocker ends.
        #expect(ContinuousClock.now - started >= .milliseconds(190))
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(pool.statistics.timeouts == 2)
        gate.release()
        _ = try await blocker.value
    }

    /// A caller resumes only after the worker released its job: the counters already include it.
    @Test func countsTheJobBeforeResumingTheCaller() async throws {
        let pool = makePool()
        for round in 1...20 {
            #expect(try await pool.withConnection { $0.number } == 1)
            let statistics = pool.statistics
            #expect(statistics.totalJobs == round)
            #expect(statistics.busy == 0)
        }
    }

    /// Past `maxWaiting` queued jobs a new job fails at once with `.overloaded`.
    @Test func rejectsWhenQueueIsFull() async throws {
        let pool = makePool(maxWaiting: 1)
        let gate = Gate()
        let blocker = await occupy(pool, until: gate)
        let waiter = Task { try await pool.withConnection { $0.number } }
        await waitUntil { pool.statistics.waiting == 1 }
        await #expect(throws: PoolError.overloaded(maxWaiting: 1)) {
            try await pool.withConnection { _ in }
        }
        #expect(pool.statistics.rejectedOverloaded == 1)
        gate.release()
        _ = try await blocker.value
        #expect(try await waiter.value == 1)
    }

    /// Shutdown fails waiting jobs with `.shutdown`, lets the running job finish, and refuses new ones.
    @Test func shutdownFailsWaitersAndFinishesRunningJob() async throws {
        let pool = makePool()
        let gate = Gate()
        let running = await occupy(pool, until: gate)
        let waiter = Task { try await pool.withConnection { _ in "ran" } }
        await waitUntil { pool.statistics.waiting == 1 }
        let shutdown = Task.detached { pool.shutdown() }
        await #expect(throws: PoolError.shutdown) { try await waiter.value }
        gate.release()
        await shutdown.value
        #expect(try await running.value == "done")
        await #expect(throws: PoolError.shutdown) { try await pool.withConnection { _ in } }
    }

    /// A connection that reports itself broken after a job is replaced for the next job.
    @Test func replacesBrokenConnection() async throws {
        let pool = makePool()
        let first = try await pool.withConnection { connection in
            connection.isBroken = true
            return connection.number
        }
        let second = try await pool.withConnection { $0.number }
        #expect(first == 1)
        #expect(second == 2)
        #expect(pool.statistics.reconnects == 1)
        #expect(pool.statistics.connected == 1)
    }

    /// While the factory fails, jobs fail fast with its error and connect attempts back off.
    @Test func failsFastWithConnectErrorDuringBackoff() async throws {
        let attempts = Atomic(0)
        let pool = BlockingConnectionPool<NumberedConnection>(name: "down", size: 1, maxWaiting: 10, acquireTimeout: .seconds(5)) {
            attempts.add(1, ordering: .relaxed)
            throw ConnectRefused()
        }
        for _ in 0..<20 {
            await #expect(throws: ConnectRefused()) { try await pool.withConnection { _ in } }
        }
        // Waits of 50, 100, 200 ms… between attempts: a burst of jobs triggers only a few.
        #expect(attempts.load(ordering: .relaxed) < 10)
        // The worker counts a job before it fails it, so the count is complete already.
        #expect(pool.statistics.failedJobs == 20)
    }

    /// Errors thrown by a job's body reach the caller unchanged and count as failed jobs.
    @Test func propagatesBodyErrors() async throws {
        let pool = makePool()
        await #expect(throws: ConnectRefused()) { try await pool.withConnection { _ in throw ConnectRefused() } }
        #expect(try await pool.withConnection { $0.number } == 1)
        #expect(pool.statistics.failedJobs == 1)
        #expect(pool.statistics.totalJobs == 2)
    }
}

/// Polls `condition` every millisecond, for at most five seconds.
func waitUntil(_ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(1))
    }
}
