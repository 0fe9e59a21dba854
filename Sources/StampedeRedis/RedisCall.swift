/// One call in a pipeline: a plain command or a script invocation.
///
/// Scripts go out as `EVALSHA`; a node that answers `NOSCRIPT` gets the script loaded and the
/// call sent again (it did not run), so the other calls' replies stay as they are.
public enum RedisCall: Sendable {
    /// A command, name first (`["HGETALL", key]`).
    case command([String])
    /// A script call.
    case script(RedisScriptCall)

    var arguments: RedisCommandArguments {
        switch self {
        case .command(let arguments): RedisCommandArguments(arguments)
        case .script(let call): call.evalSHA
        }
    }

    var script: RedisScript? {
        if case .script(let call) = self { call.script } else { nil }
    }
}
