import Glibc
import StampedeSystem

/// The part of a `BlockingConnectionPool` its threads share: queue, counters, wake-ups, factory.
///
/// Kept apart from the public pool object so that the threads' references do not keep the pool
/// alive: dropping the last `BlockingConnectionPool` reference shuts the threads down.
final class PoolCore<Connection: PooledConnection>: Sendable {
    /// Opens a connection; called on a worker thread.
    let factory: @Sendable () throws -> Connection
    /// How long a job may wait; reported in `PoolError.acquireTimeout`.
    let acquireTimeout: Duration
    /// Shared state; every field changes under this lock.
    let state: ThreadLock<PoolState<Connection>>
    /// Signalled when a job is queued or the pool closes; idle workers wait on it.
    let workAvailable = ThreadCondition()
    /// Signalled when a job is queued while the deadline watcher sleeps with no deadline, or when
    /// the pool closes; the deadline watcher waits on it.
    let deadlineChanged = ThreadCondition()

    init(size: Int, maxWaiting: Int, acquireTimeout: Duration, factory: @escaping @Sendable () throws -> Connection) {
        self.factory = factory
        self.acquireTimeout = acquireTimeout
        state = ThreadLock(PoolState(queue: PoolQueue(maxWaiting: maxWaiting, acquireTimeout: acquireTimeout), size: size))
    }

    /// Queues `job` for a worker, or fails it at once if the pool is full or closed.
    func submit(_ job: PoolJob<Connection>) {
        let thread = pthread_self()
        let admission: Result<(wakeWatcher: Bool, backingOff: Bool, selfServed: Bool), PoolError> = state.withLock { state in
            do throws(PoolError) {
                try state.queue.enqueue(job, now: .now, idleWorkers: state.idle)
                let wakeWatcher = state.watcherSleepsIndefinitely
                state.watcherSleepsIndefinitely = false
                // One job per resumption: a second one queued meanwhile gets a worker of its own.
                let index = state.resumingWorkers.firstIndex { pthread_equal($0, thread) != 0 }
                if let index { state.resumingWorkers.remove(at: index) }
                let selfServed = index != nil
                return .success((wakeWatcher, state.backingOff > 0, selfServed))
            } catch {
                return .failure(error)
            }
        }
        switch admission {
        case .failure(let error):
            job.fail(error)
        case .success(let wake):
            // A worker in backoff declines jobs while others are connected; wake them all so
            // that a single signal cannot land on it and leave a connected idle worker asleep.
            if wake.backingOff { workAvailable.broadcast() } else if !wake.selfServed { workAvailable.signal() }
            if wake.wakeWatcher { deadlineChanged.signal() }
        }
    }

    /// Closes the queue, fails every waiting job with `PoolError.shutdown`, and wakes all threads.
    func close() {
        let drained = state.withLock { $0.queue.close() }
        for job in drained { job.fail(PoolError.shutdown) }
        workAvailable.broadcast()
        deadlineChanged.broadcast()
    }

    /// The deadline watcher's loop: fails queued jobs whose acquire timeout passed.
    ///
    /// Workers also check deadlines when they dequeue, but while every worker is stuck in a slow
    /// job nobody dequeues; this thread makes waiters fail on time anyway. It exits on `close()`.
    func expireWaitingJobs() {
        while let job = nextExpiredJob() {
            job.fail(PoolError.acquireTimeout(acquireTimeout))
        }
    }

    private func nextExpiredJob() -> PoolJob<Connection>? {
        state.wait(on: deadlineChanged) { state in
            if state.queue.isClosed { return .done(nil) }
            if let job = state.queue.popExpired(now: .now) { return .done(job) }
            let deadline = state.queue.nextDeadline
            state.watcherSleepsIndefinitely = deadline == nil
            return .wait(until: deadline)
        }
    }
}
