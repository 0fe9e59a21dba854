/// A bounded FIFO of jobs waiting for a pool connection, with one acquire deadline per job.
///
/// Pure and syscall-free: callers pass the current time, so admission, expiry and shutdown rules
/// are tested without threads or clocks. Every job gets the same timeout and is enqueued with a
/// non-decreasing `now`, so deadlines never decrease from head to tail: expiry only ever removes
/// jobs at the head, and the head's deadline is the next one due.
public struct PoolQueue<Job> {
    /// The time base of deadlines.
    public typealias Instant = ContinuousClock.Instant

    /// What `dequeue(now:)` hands out.
    public enum Dequeued {
        /// A job still within its deadline: run it.
        case ready(Job)
        /// A job whose deadline passed while it waited: fail it with `PoolError.acquireTimeout`.
        case expired(Job)
    }

    private struct Entry {
        let job: Job
        let deadline: Instant
    }

    /// Jobs that may wait beyond those an idle worker takes at once.
    public let maxWaiting: Int
    /// How long a job may wait before it fails.
    public let acquireTimeout: Duration
    /// Whether `close()` was called; a closed queue is empty and admits nothing.
    public private(set) var isClosed = false
    /// Jobs refused by `enqueue` because the queue was full.
    public private(set) var rejectedCount = 0
    /// Jobs handed out as expired.
    public private(set) var expiredCount = 0

    private var entries: [Entry?] = []
    private var head = 0

    /// Creates an empty, open queue.
    public init(maxWaiting: Int, acquireTimeout: Duration) {
        precondition(maxWaiting >= 0, "maxWaiting must not be negative")
        self.maxWaiting = maxWaiting
        self.acquireTimeout = acquireTimeout
    }

    /// Number of jobs waiting.
    public var count: Int { entries.count - head }

    /// The deadline of the oldest waiting job: the next moment a job can expire.
    public var nextDeadline: Instant? { count > 0 ? entries[head]?.deadline : nil }

    /// Admits `job` at the tail, or refuses it.
    ///
    /// `idleWorkers` jobs are about to be taken by free workers and do not count as waiting, so a
    /// pool with `maxWaiting == 0` still runs jobs while a worker is free.
    public mutating func enqueue(_ job: Job, now: Instant, idleWorkers: Int) throws(PoolError) {
        guard !isClosed else { throw .shutdown }
        guard count - max(idleWorkers, 0) < maxWaiting else {
            rejectedCount += 1
            throw .overloaded(maxWaiting: maxWaiting)
        }
        entries.append(Entry(job: job, deadline: now + acquireTimeout))
    }

    /// Removes the oldest job, telling whether it is still within its deadline.
    public mutating func dequeue(now: Instant) -> Dequeued? {
        guard let entry = popHead() else { return nil }
        guard entry.deadline > now else {
            expiredCount += 1
            return .expired(entry.job)
        }
        return .ready(entry.job)
    }

    /// Removes the oldest job only if its deadline has passed.
    public mutating func popExpired(now: Instant) -> Job? {
        guard let deadline = nextDeadline, deadline <= now, let entry = popHead() else { return nil }
        expiredCount += 1
        return entry.job
    }

    /// Closes the queue and returns every waiting job, oldest first, for the caller to fail.
    public mutating func close() -> [Job] {
        isClosed = true
        let drained = entries[head...].compactMap { $0?.job }
        entries = []
        head = 0
        return drained
    }

    private mutating func popHead() -> Entry? {
        guard count > 0 else { return nil }
        let entry = entries[head]
        entries[head] = nil
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return entry
    }
}
