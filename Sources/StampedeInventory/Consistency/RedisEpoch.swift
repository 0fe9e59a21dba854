/// Which incarnation of Redis's counters a sale's decisions were made against.
///
/// `runID` names the incarnation of the counters' store: the Redis node's identity and, after
/// `@`, PostgreSQL's (see `run(redis:postgres:)`); `generation` counts the rebuilds of the sale's counters from
/// PostgreSQL. Redis keeps both in the sale's hash (`run`, `gen`); PostgreSQL keeps the one it
/// accepts commits for in `sales.redis_epoch` (text `run/gen`). A reservation commits only if it
/// was decided under the epoch PostgreSQL holds, so a rebuild fences off every decision made
/// against the counters it replaced.
public struct RedisEpoch: Sendable, Hashable, CustomStringConvertible {
    public var runID: String
    public var generation: Int64

    public init(runID: String, generation: Int64) {
        self.runID = runID
        self.generation = generation
    }

    /// Parses `run/gen`; nil for anything else (a sale never rebuilt under this scheme).
    public init?(_ text: String) {
        guard let slash = text.lastIndex(of: "/"), let generation = Int64(text[text.index(after: slash)...]) else {
            return nil
        }
        self.init(runID: String(text[..<slash]), generation: generation)
    }

    /// `run/gen`, as stored in `sales.redis_epoch`.
    public var description: String { "\(runID)/\(generation)" }

    /// The run string an epoch names for counters kept by the Redis node `redis` (its identity
    /// token) while PostgreSQL is at `postgres`: `token@sysid.timeline`. The one place the two
    /// are composed: a restart or promotion of the node, or a restore or promotion of PostgreSQL,
    /// changes it, and every sale whose counters name another run is rebuilt before it sells.
    public static func run(redis token: String, postgres: PostgresIncarnation?) -> String {
        guard let postgres else { return token }
        return "\(token)@\(postgres)"
    }

    /// The PostgreSQL incarnation a run string names (what follows `@`), nil when none.
    public static func postgresPart(of run: String) -> Substring? {
        run.lastIndex(of: "@").map { run[run.index(after: $0)...] }
    }

    /// The epoch a rebuild on the Redis run `runID` moves to from `previous` (what PostgreSQL held).
    public static func next(after previous: RedisEpoch?, runID: String) -> RedisEpoch {
        RedisEpoch(runID: runID, generation: (previous?.generation ?? 0) + 1)
    }
}
