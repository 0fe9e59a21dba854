import Glibc
import StampedeSystem

/// Everything a `BlockingConnectionPool`'s threads share, guarded by one `ThreadLock`.
struct PoolState<Connection> {
    /// Jobs waiting for a worker.
    var queue: PoolQueue<PoolJob<Connection>>
    /// Number of workers.
    let size: Int
    /// Workers running a job.
    var busy = 0
    /// Workers holding an open connection.
    var connected = 0
    /// Workers whose last connect attempt failed, so they wait out a backoff between attempts.
    var backingOff = 0
    /// Jobs handed to a worker.
    var totalJobs = 0
    /// Jobs that threw or found no connection.
    var failedJobs = 0
    /// Connections opened to replace another.
    var reconnects = 0
    /// How long jobs held a worker (connecting if needed, then the call).
    var callLatency = LatencyHistogram()
    /// Whether the deadline watcher sleeps with no deadline (the queue was empty when it looked).
    /// Only then does a newly queued job need to wake it: every pool job waits the same
    /// `acquireTimeout`, so a job queued while the watcher sleeps until an older job's deadline
    /// has a later deadline, which the watcher sees when it wakes.
    var watcherSleepsIndefinitely = false
    /// Connected workers resuming a caller on their own thread: the first job such a caller
    /// queues needs no wake-up, its worker takes it next.
    var resumingWorkers: [pthread_t] = []

    /// Workers free to take a job at once.
    var idle: Int { size - busy }

    /// The public snapshot of this state.
    var statistics: PoolStatistics {
        PoolStatistics(
            size: size, busy: busy, idle: idle, waiting: queue.count, connected: connected,
            totalJobs: totalJobs, failedJobs: failedJobs, timeouts: queue.expiredCount,
            rejectedOverloaded: queue.rejectedCount, reconnects: reconnects,
            callLatency: callLatency
        )
    }
}
