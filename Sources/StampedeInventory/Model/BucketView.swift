/// One bucket of a bucketed sale as `/admin/shards` shows it.
public struct BucketView: Sendable, Equatable {
    public var bucket: Int
    /// The Redis hash tag of its keys, `{<counter id>}`.
    public var tag: String
    /// The primary that owns the tag's slot (`host:port`; on one Redis node, that node).
    public var primary: String
    /// Units its counters hold now (nil: counters missing).
    public var available: Int64?
    /// Units PostgreSQL allocates to it: what it started with, plus moves in, less moves out.
    public var allocated: Int64

    public init(bucket: Int, tag: String, primary: String, available: Int64?, allocated: Int64) {
        self.bucket = bucket
        self.tag = tag
        self.primary = primary
        self.available = available
        self.allocated = allocated
    }
}
