import Logging
import StampedeInventory
import StampedeSystem
import Synchronization

/// Folds repeated log messages of level `warning` and above into one line per interval with a
/// count (`repeated=N`: occurrences left out since the message's previous line; a line with
/// `summary=true` stands only for those, the others are also an occurrence), shared by every
/// logger of the process. Lines below `warning` pass untouched, so at `debug` the access line of
/// every request (its `request_id`, route and status) is still there for one complaint; at the
/// default level each aggregated line carries the `request_id` of one sampled occurrence.
public final class LogAggregator: Sendable {
    typealias Window = RepeatedMessageWindow<Logger.Metadata>
    private let window: Mutex<Window>
    /// When `flushDue` next looks for summaries (nanoseconds, monotonic).
    private let nextCheck = Atomic<UInt64>(0)
    let intervalNanoseconds: UInt64
    /// Where summaries are written: the handler of each label, set as loggers are made.
    private let writers = Mutex<[String: any LogHandler]>([:])

    /// The process's aggregator (one interval of 1 s), used by `stampede`'s logging bootstrap.
    public static let shared = LogAggregator()

    /// `interval`: at most one line per message per this many seconds.
    public init(interval: Double = 1) {
        window = Mutex(Window(interval: interval))
        intervalNanoseconds = UInt64(interval * 1e9)
    }

    /// Wraps `handler` (made for logger `label`) so its warnings go through this aggregator.
    public func wrap(_ handler: any LogHandler, label: String) -> any LogHandler {
        writers.withLock { $0[label] = handler }
        return AggregatingLogHandler(inner: handler, label: label, aggregator: self)
    }

    func decide(level: Logger.Level, label: String, message: String, metadata: @autoclosure () -> Logger.Metadata) -> Window.Decision {
        let now = Double(MonotonicClock.now()) / 1e9
        let key = Window.Key(level: Self.rank(level), label: label, message: message)
        return window.withLock { $0.occurrence(key, now: now, sample: metadata()) }
    }

    /// Writes the summaries that are due (messages left out and quiet since). Cheap when called
    /// often (every log call does): it looks at most four times per interval. `stampede serve` also
    /// calls it from a timer, so the count of a flood that stopped is written too.
    public func flushDue() {
        let now = MonotonicClock.now()
        let next = nextCheck.load(ordering: .relaxed)
        guard now >= next, nextCheck.compareExchange(expected: next, desired: now &+ intervalNanoseconds / 4, ordering: .relaxed).exchanged else { return }
        let due = window.withLock { $0.expire(now: Double(now) / 1e9) }
        guard !due.isEmpty else { return }
        let handlers = writers.withLock { $0 }
        for summary in due {
            guard let handler = handlers[summary.key.label] else { continue }
            // A summary stands for the occurrences left out (its request_id is one of them), not
            // for one more occurrence: `summary=true` says so.
            var metadata = summary.sample
            metadata["repeated"] = "\(summary.repeated)"
            metadata["summary"] = "true"
            handler.log(level: Self.level(summary.key.level), message: "\(summary.key.message)", metadata: metadata,
                        source: "StampedeService", file: #fileID, function: #function, line: #line)
        }
    }

    static func rank(_ level: Logger.Level) -> Int {
        Logger.Level.allCases.firstIndex(of: level) ?? 0
    }

    static func level(_ rank: Int) -> Logger.Level {
        Logger.Level.allCases[rank]
    }
}

/// A log handler in front of another: `warning` and above go through the `LogAggregator`.
struct AggregatingLogHandler: LogHandler {
    var inner: any LogHandler
    let label: String
    let aggregator: LogAggregator

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        aggregator.flushDue()
        guard level >= .warning else {
            return inner.log(level: level, message: message, metadata: metadata, source: source, file: file, function: function, line: line)
        }
        switch aggregator.decide(level: level, label: label, message: message.description, metadata: metadata ?? [:]) {
        case .suppress:
            return
        case .write(let repeated):
            var metadata = metadata
            if repeated > 0 { metadata = (metadata ?? [:]).merging(["repeated": "\(repeated)"]) { _, new in new } }
            inner.log(level: level, message: message, metadata: metadata, source: source, file: file, function: function, line: line)
        }
    }
}
