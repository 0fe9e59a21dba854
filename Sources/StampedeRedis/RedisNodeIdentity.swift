/// Which incarnation of a data set a Redis node serves: its `run_id` and its `master_replid`.
///
/// `run_id` changes when the process restarts. `master_replid` changes when a node is promoted
/// (a replica keeps its own `run_id` but starts a new replication history), and a replica reports
/// its primary's. Together they name one history of writes: a node that was primary, became a
/// lagging replica without restarting and is promoted again shows a new `master_replid`, so
/// counters written under its old identity are never taken for current. Stampede's epochs carry
/// `token` (see `RedisEpoch`).
public struct RedisNodeIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The node's `run_id` (40 hex digits), `""` when the server does not report one.
    public let runID: String
    /// The node's `master_replid` (40 hex digits), `""` when the server does not report one.
    public let replicationID: String
    /// `run_id:master_replid`, the string epochs and scripts compare (made once: every script
    /// call of a batch names it).
    public let token: String

    public init(runID: String, replicationID: String) {
        self.runID = runID
        self.replicationID = replicationID
        token = "\(runID):\(replicationID)"
    }

    public var description: String { token }

    /// Reads `run_id` from an `INFO server` reply and `master_replid` from an `INFO replication` reply.
    public init(serverInfo: String, replicationInfo: String) {
        self.init(runID: RedisInfo.field("run_id", in: serverInfo),
                  replicationID: RedisInfo.field("master_replid", in: replicationInfo))
    }
}
