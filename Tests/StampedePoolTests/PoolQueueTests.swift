import StampedePool
import Testing

/// The pool's pure admission rules: bounded waiting, FIFO order, deadlines, closing.
@Suite struct PoolQueueTests {
    private let start = ContinuousClock.now

    /// Jobs come out in the order they went in.
    @Test func dequeuesInFIFOOrder() throws {
        var queue = PoolQueue<Int>(maxWaiting: 10, acquireTimeout: .seconds(1))
        for job in 1...5 { try queue.enqueue(job, now: start, idleWorkers: 0) }
        var order: [Int] = []
        while case .ready(let job)? = queue.dequeue(now: start) { order.append(job) }
        #expect(order == [1, 2, 3, 4, 5])
        #expect(queue.count == 0)
    }

    /// Past `maxWaiting` queued jobs the next one is refused with `.overloaded` and counted.
    @Test func rejectsBeyondMaxWaiting() throws {
        var queue = PoolQueue<Int>(maxWaiting: 2, acquireTimeout: .seconds(1))
        try queue.enqueue(1, now: start, idleWorkers: 0)
        try queue.enqueue(2, now: start, idleWorkers: 0)
        #expect(throws: PoolError.overloaded(maxWaiting: 2)) { try queue.enqueue(3, now: start, idleWorkers: 0) }
        #expect(queue.count == 2)
        #expect(queue.rejectedCount == 1)
    }

    /// Jobs that idle workers take at once do not count as waiting, even with `maxWaiting` 0.
    @Test func idleWorkersAdmitBeyondMaxWaiting() throws {
        var queue = PoolQueue<Int>(maxWaiting: 0, acquireTimeout: .seconds(1))
        try queue.enqueue(1, now: start, idleWorkers: 2)
        try queue.enqueue(2, now: start, idleWorkers: 2)
        #expect(throws: PoolError.overloaded(maxWaiting: 0)) { try queue.enqueue(3, now: start, idleWorkers: 2) }
    }

    /// A job dequeued after its acquire timeout comes out as expired, a fresh one as ready.
    @Test func dequeueReportsExpiredJobs() throws {
        var queue = PoolQueue<Int>(maxWaiting: 10, acquireTimeout: .milliseconds(100))
        try queue.enqueue(1, now: start, idleWorkers: 0)
        try queue.enqueue(2, now: start + .milliseconds(80), idleWorkers: 0)
        let now = start + .milliseconds(150)
        guard case .expired(1)? = queue.dequeue(now: now) else { Issue.record("job 1 should expire"); return }
        guard case .ready(2)? = queue.dequeue(now: now) else { Issue.record("job 2 should be ready"); return }
        #expect(queue.expiredCount == 1)
    }

    /// The deadline watcher's pop removes only jobs whose deadline passed, oldest first.
    @Test func popExpiredStopsAtFirstLiveJob() throws {
        var queue = PoolQueue<Int>(maxWaiting: 10, acquireTimeout: .milliseconds(100))
        try queue.enqueue(1, now: start, idleWorkers: 0)
        try queue.enqueue(2, now: start + .milliseconds(10), idleWorkers: 0)
        try queue.enqueue(3, now: start + .milliseconds(500), idleWorkers: 0)
        #expect(queue.nextDeadline == start + .milliseconds(100))
        let now = start + .milliseconds(200)
        #expect(queue.popExpired(now: now) == 1)
        #expect(queue.popExpired(now: now) == 2)
        #expect(queue.popExpired(now: now) == nil)
        #expect(queue.nextDeadline == start + .milliseconds(600))
    }

    /// Closing hands back every waiting job in order and refuses new ones with `.shutdown`.
    @Test func closeDrainsWaitersAndRefusesNewJobs() throws {
        var queue = PoolQueue<Int>(maxWaiting: 10, acquireTimeout: .seconds(1))
        for job in 1...3 { try queue.enqueue(job, now: start, idleWorkers: 0) }
        #expect(queue.close() == [1, 2, 3])
        #expect(queue.isClosed)
        #expect(queue.dequeue(now: start) == nil)
        #expect(throws: PoolError.shutdown) { try queue.enqueue(4, now: start, idleWorkers: 0) }
    }

    /// Many enqueue/dequeue rounds (which compact the storage) keep FIFO order.
    @Test func staysFIFOAcrossCompaction() throws {
        var queue = PoolQueue<Int>(maxWaiting: 1_000, acquireTimeout: .seconds(1))
        var next = 0
        var order: [Int] = []
        for round in 0..<50 {
            for _ in 0..<7 { try queue.enqueue(next, now: start, idleWorkers: 0); next += 1 }
            for _ in 0..<(round % 2 == 0 ? 3 : 9) {
                if case .ready(let job)? = queue.dequeue(now: start) { order.append(job) }
            }
        }
        while case .ready(let job)? = queue.dequeue(now: start) { order.append(job) }
        #expect(order == Array(0..<next))
    }
}
