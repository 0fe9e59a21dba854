import StampedeJSON

/// The audit entry's view of a configuration reload: the applied keys' values before and after,
/// as JSON objects keyed by the keys' dotted names, with secrets redacted.
enum ConfigurationAudit {
    /// What a secret key's value is written as (its change still shows: the key is listed).
    static let redacted = "[redacted]"

    /// `{"<key>": "<value>", …}` before and after for the keys named in `keys` (unknown names are skipped).
    static func values(of keys: [String], before: StampedeConfiguration, after: StampedeConfiguration) -> (before: String, after: String) {
        let selected = ConfigurationKey.all.filter { keys.contains($0.name) }
        func object(_ configuration: StampedeConfiguration) -> String {
            var writer = JSONWriter()
            writer.beginObject()
            for key in selected { writer.field(key.name, key.secret ? redacted : key.describe(configuration)) }
            writer.endObject()
            return String(decoding: writer.bytes, as: UTF8.self)
        }
        return (object(before), object(after))
    }
}
