/// One invocation of a `RedisScript`: the script plus its `KEYS` and `ARGV`.
///
/// Batches of calls go out as one pipeline of `EVALSHA`s (`RedisClient.evalScripts`).
public struct RedisScriptCall: Sendable {
    /// The script to run.
    public let script: RedisScript
    /// The keys the script touches (`KEYS` in Lua); listed so Redis Cluster could route the call.
    public let keys: [String]
    /// The remaining arguments (`ARGV` in Lua).
    public let arguments: [String]

    /// Describes a call of `script` with `keys` and `arguments`.
    public init(_ script: RedisScript, keys: [String], arguments: [String]) {
        self.script = script
        self.keys = keys
        self.arguments = arguments
    }

    /// The `EVALSHA sha1 numkeys key… arg…` command.
    var evalSHA: RedisCommandArguments {
        RedisCommandArguments(evalSHA: script.sha1, keys: keys, arguments: arguments)
    }
}
