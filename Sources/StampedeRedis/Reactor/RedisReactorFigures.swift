import StampedePool

/// One `RedisReactorConnection`'s occupancy and lifetime counters, as `RedisReactorClient` sums
/// them into a `PoolStatistics` for `/metrics`.
public struct RedisReactorFigures: Sendable, Equatable {
    /// Whether the connection is open and its node's identity read.
    public var connected = false
    /// Calls accepted and not yet completed (queued or in flight).
    public var pending = 0
    /// Calls waiting for the connection to open.
    public var queued = 0
    /// Calls accepted since the start (including those failed fast while backing off).
    public var totalCalls = 0
    /// Calls that failed (I/O, deadline, connect, shutdown, or a call's `build` throwing).
    public var failedCalls = 0
    /// Deadlines that fired (each dropped the connection).
    public var timeouts = 0
    /// Calls refused with `.pool(.overloaded)` because `maxPending` were pending.
    public var rejectedOverloaded = 0
    /// Connections opened after the first one (to replace a dropped one).
    public var reconnects = 0
    /// Reads of the node's identity on an open connection, for a newer cluster topology.
    public var identityRereads = 0
    /// How long calls took, from acceptance to completion.
    public var callLatency = LatencyHistogram()

    public init() {}

    /// The figures in the shape of a one-connection pool's, to be added up with
    /// `PoolStatistics.add` like the other reactor clients'.
    public var poolStatistics: PoolStatistics {
        let busy = pending > queued ? 1 : 0
        return PoolStatistics(size: 1, busy: busy, idle: 1 - busy, waiting: queued, connected: connected ? 1 : 0,
                              totalJobs: totalCalls, failedJobs: failedCalls, timeouts: timeouts,
                              rejectedOverloaded: rejectedOverloaded, reconnects: reconnects, callLatency: callLatency)
    }
}
