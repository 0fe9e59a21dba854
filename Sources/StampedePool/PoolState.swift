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
