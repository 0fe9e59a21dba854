/// A snapshot of a `BlockingConnectionPool`'s occupancy and lifetime counters.
///
/// Taken under the pool's lock, so the gauges (`busy`, `idle`, `waiting`, `connected`) are
/// consistent with each other; the counters only grow.
public struct PoolStatistics: Sendable, Equatable {
    /// Number of worker threads, each owning at most one connection.
    public var size: Int
    /// Workers currently running a job (or connecting for one).
    public var busy: Int
    /// Workers free to take a job.
    public var idle: Int
    /// Jobs queued for a worker.
    public var waiting: Int
    /// Workers that currently hold an open connection.
    public var connected: Int
    /// Jobs handed to a worker since the pool started.
    public var totalJobs: Int
    /// Jobs whose body threw or that failed because no connection could be opened.
    public var failedJobs: Int
    /// Jobs failed with `PoolError.acquireTimeout`.
    public var timeouts: Int
    /// Jobs refused with `PoolError.overloaded`.
    public var rejectedOverloaded: Int
    /// Connections opened to replace a closed or broken one.
    public var reconnects: Int
    /// How long calls held a connection (the Redis or PostgreSQL call latency seen by the pool).
    public var callLatency = LatencyHistogram()

    /// Figures for a pool of `size` connections, the others zero (for clients that are not a
    /// `BlockingConnectionPool` but report as one, like `RedisReactorClient`).
    public init(size: Int, busy: Int = 0, idle: Int = 0, waiting: Int = 0, connected: Int = 0, totalJobs: Int = 0,
                failedJobs: Int = 0, timeouts: Int = 0, rejectedOverloaded: Int = 0, reconnects: Int = 0,
                callLatency: LatencyHistogram = LatencyHistogram()) {
        self.size = size
        self.busy = busy
        self.idle = idle
        self.waiting = waiting
        self.connected = connected
        self.totalJobs = totalJobs
        self.failedJobs = failedJobs
        self.timeouts = timeouts
        self.rejectedOverloaded = rejectedOverloaded
        self.reconnects = reconnects
        self.callLatency = callLatency
    }
}
