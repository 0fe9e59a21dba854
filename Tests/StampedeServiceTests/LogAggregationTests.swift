import Logging
import Synchronization
import Testing
@testable import StampedeService

/// Folding repeated warnings into one line per interval with a count, without clocks.
@Suite("Log aggregation")
struct LogAggregationTests {
    typealias Window = RepeatedMessageWindow<String>
    static let refused = Window.Key(level: 4, label: "stampede", message: "purchase answered 503 unavailable")
    static let other = Window.Key(level: 4, label: "stampede", message: "stock return deferred to the reconciler")

    /// A flood of one message is one line per interval; each line after the first carries how
    /// many occurrences were left out since the previous one.
    @Test func floodIsOneLinePerIntervalWithACount() {
        var window = Window(interval: 1)
        var written: [(at: Double, repeated: Int)] = []
        for step in 0..<3000 {
            let now = Double(step) / 1000  // 1000 occurrences a second for 3 s
            if case .write(let repeated) = window.occurrence(Self.refused, now: now, sample: "r\(step)") {
                written.append((now, repeated))
            }
        }
        #expect(written.map(\.at) == [0, 1, 2])
        #expect(written.map(\.repeated) == [0, 999, 999])
    }

    /// A message that stops is summed up once its interval has passed, with the first left-out
    /// occurrence as the sample; the summary opens a new interval; quiet messages are forgotten.
    @Test func summaryAfterTheFloodStops() {
        var window = Window(interval: 1)
        #expect(window.occurrence(Self.refused, now: 10, sample: "a") == .write(repeated: 0))
        #expect(window.occurrence(Self.refused, now: 10.2, sample: "b") == .suppress)
        #expect(window.occurrence(Self.refused, now: 10.3, sample: "c") == .suppress)
        #expect(window.occurrence(Self.other, now: 10.3, sample: "x") == .write(repeated: 0))
        #expect(window.expire(now: 10.9).isEmpty)
        let due = window.expire(now: 11.1)
        #expect(due.count == 1 && due.first?.repeated == 2 && due.first?.sample == "b" && due.first?.key == Self.refused)
        #expect(window.occurrence(Self.refused, now: 11.5, sample: "d") == .suppress)
        #expect(window.expire(now: 12.2).first?.repeated == 1)
        #expect(window.expire(now: 13.5).isEmpty)
        #expect(window.trackedCount == 0)
    }

    /// Past its capacity, a new message is written rather than lost.
    @Test func capacityNeverLosesAMessage() {
        var window = Window(interval: 1, capacity: 2)
        for index in 0..<5 {
            let key = Window.Key(level: 4, label: "l", message: "m\(index)")
            #expect(window.occurrence(key, now: 0, sample: "") == .write(repeated: 0))
        }
    }

    /// Through the log handler: warnings are folded, lines below warning pass (the debug access
    /// line of each request keeps its request id), and the summary reaches the handler.
    @Test func handlerFoldsWarningsOnly() {
        let recorder = RecordingLogHandler()
        let aggregator = LogAggregator(interval: 60)
        var logger = Logger(label: "t") { label in aggregator.wrap(recorder, label: label) }
        logger.logLevel = .debug
        for index in 0..<100 {
            logger.warning("answered 503 unavailable", metadata: ["request_id": "r\(index)"])
            logger.debug("request", metadata: ["request_id": "r\(index)"])
        }
        let lines = recorder.lines.withLock { $0 }
        #expect(lines.filter { $0.message == "answered 503 unavailable" }.count == 1)
        #expect(lines.filter { $0.message == "request" }.count == 100)
    }

    /// Once a flood stops, the summary line reaches the handler, marked as a summary, with the
    /// count and the request id of one left-out occurrence.
    @Test func summaryLineIsMarked() async throws {
        let recorder = RecordingLogHandler()
        let aggregator = LogAggregator(interval: 0.05)
        let logger = Logger(label: "t") { label in aggregator.wrap(recorder, label: label) }
        for index in 0..<3 { logger.warning("answered 503 unavailable", metadata: ["request_id": "r\(index)"]) }
        try await Task.sleep(nanoseconds: 150_000_000)
        aggregator.flushDue()
        let lines = recorder.lines.withLock { $0 }
        #expect(lines.count == 2, "\(lines.map(\.metadata))")
        #expect(lines.first?.metadata["summary"] == nil && lines.first?.metadata["request_id"] == "r0")
        #expect(lines.last?.metadata["summary"] == "true" && lines.last?.metadata["repeated"] == "2" && lines.last?.metadata["request_id"] == "r1")
    }
}

/// Records what a logger wrote.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    struct Line: Sendable { var level: Logger.Level; var message: String; var metadata: [String: String] }
    let lines = Mutex<[Line]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let fields = (metadata ?? [:]).mapValues { "\($0)" }
        lines.withLock { $0.append(Line(level: level, message: message.description, metadata: fields)) }
    }
}
