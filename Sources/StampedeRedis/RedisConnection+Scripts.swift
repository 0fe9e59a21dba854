extension RedisConnection {
    /// Runs `script` with `EVALSHA`; on `NOSCRIPT` loads it with `SCRIPT LOAD` and retries once.
    ///
    /// An error reply from the script is thrown as `RedisError.server`.
    public func evalScript(_ script: RedisScript, keys: [String], arguments: [String]) throws(RedisError) -> RESPValue {
        let reply = try evalScripts([RedisScriptCall(script, keys: keys, arguments: arguments)])[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Runs a batch of script calls as one pipeline of `EVALSHA`s, replies in call order.
    ///
    /// Calls answered `NOSCRIPT` did not run; their scripts are loaded and those calls retried in a
    /// second round trip, so they execute after the rest of the batch. Error replies stay in place
    /// as `.error` values; if a script fails to load, its calls get the `SCRIPT LOAD` error.
    public func evalScripts(_ calls: [RedisScriptCall]) throws(RedisError) -> [RESPValue] {
        try execute(calls.map(RedisCall.script))
    }

    /// Runs commands and script calls as one pipeline, replies in call order, with `evalScripts`'
    /// handling of `NOSCRIPT`.
    public func execute(_ calls: [RedisCall]) throws(RedisError) -> [RESPValue] {
        var replies = try pipeline(calls.map(\.arguments))
        let missing = replies.indices.filter { calls[$0].script != nil && replies[$0].errorMessage?.hasPrefix("NOSCRIPT") == true }
        guard !missing.isEmpty else { return replies }

        var scripts: [RedisScript] = []
        for index in missing where !scripts.contains(calls[index].script!) {
            scripts.append(calls[index].script!)
        }
        let loads = scripts.map { RedisCommandArguments(["SCRIPT", "LOAD", $0.source]) }
        let retries = try pipeline(loads + missing.map { calls[$0].arguments })
        let loadReplies = Dictionary(uniqueKeysWithValues: zip(scripts, retries.prefix(scripts.count)))
        for (index, retry) in zip(missing, retries.dropFirst(scripts.count)) {
            if let load = loadReplies[calls[index].script!], load.errorMessage != nil {
                replies[index] = load
            } else {
                replies[index] = retry
            }
        }
        return replies
    }
}
