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
}
