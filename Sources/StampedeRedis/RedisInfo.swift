/// Reading the text of an `INFO` reply: `name:value` lines under `# Section` headings.
enum RedisInfo {
    /// The value of `name:` in an `INFO` reply, or `""`.
    static func field(_ name: String, in info: String) -> String {
        let prefix = name + ":"
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(prefix) {
            return String(line.dropFirst(prefix.count))
        }
        return ""
    }
}
