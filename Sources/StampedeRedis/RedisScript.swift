/// A Lua script together with the SHA-1 that Redis knows it by.
///
/// The digest is computed once, locally, so calls go out as `EVALSHA` and the source is only sent
/// (with `SCRIPT LOAD`) after a Redis restart or `SCRIPT FLUSH` made it forget the script.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source, sent by `SCRIPT LOAD`.
    public let source: String
    /// The lowercase hex SHA-1 of `source`, as `SCRIPT LOAD` returns it.
    public let sha1: String

    /// Wraps `source` and computes its SHA-1.
    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(of: source.utf8)
    }
}
