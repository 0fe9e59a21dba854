import Glibc
import StampedeSystem
import Logging
import StampedeInventory
import StampedeJSON

/// A swift-log handler writing one JSON object per line to standard error (`log.format = json`):
/// `{"ts":"…","level":"info","logger":"stampede","msg":"…","request_id":"…",…}` with every
/// metadata value as a string member, for log shippers that index fields.
///
/// Each line is built in full and written with one `write(2)`, so lines from different threads
/// never interleave.
public struct JSONLinesLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        let bytes = Self.line(timestamp: Timestamp.now(), level: level, label: label, message: "\(message)",
                              metadata: metadata.merging(explicit ?? [:]) { _, new in new })
        bytes.withUnsafeBytes { System.writeAll(STDERR_FILENO, $0) }
    }

    /// One log line (with its newline); pure, for tests.
    public static func line(timestamp: Timestamp, level: Logger.Level, label: String, message: String,
                            metadata: Logger.Metadata) -> [UInt8] {
        var writer = JSONWriter(capacity: 160 + message.utf8.count)
        writer.beginObject()
        writer.field("ts", timestamp.rfc3339Milliseconds)
        writer.field("level", level.rawValue)
        writer.field("logger", label)
        writer.field("msg", message)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where !["ts", "level", "logger", "msg"].contains(key) {
            writer.field(key, "\(value)")
        }
        writer.endObject()
        var bytes = writer.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

extension Timestamp {
    /// RFC 3339 with milliseconds, even when they are zero: `2026-11-21T12:00:00.123Z` (log lines,
    /// the audit log's and the ledger's `at`).
    var rfc3339Milliseconds: String {
        let whole = Timestamp(milliseconds: milliseconds - ((milliseconds % 1000) + 1000) % 1000).rfc3339
        let fraction = ((milliseconds % 1000) + 1000) % 1000
        var digits = String(fraction)
        while digits.utf8.count < 3 { digits = "0" + digits }
        return String(whole.dropLast()) + "." + digits + "Z"
    }
}
