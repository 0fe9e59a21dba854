import Logging
import StampedeInventory
import StampedeJSON
import StampedePool
import StampedeService
import Testing

/// Request ids, JSON log lines and the fixed-bucket latency histogram, without servers.
struct ObservabilityTests {
    /// A valid incoming `X-Request-Id` is kept; a missing, empty, too long or unsafe one is replaced
    /// by a generated id, and generated ids are unique.
    @Test func requestIDs() {
        #expect(RequestID.resolve(incoming: "abc-123.x:y_z") == "abc-123.x:y_z")
        #expect(RequestID.resolve(incoming: String(repeating: "a", count: 128)).utf8.count == 128)
        for bad in [nil, "", "has space", "quote\"", String(repeating: "a", count: 129), "é"] as [String?] {
            let id = RequestID.resolve(incoming: bad)
            #expect(id != bad && RequestID.isValid(id), "\(bad ?? "nil") → \(id)")
        }
        let ids = (0..<1000).map { _ in RequestID.generate() }
        #expect(Set(ids).count == 1000)
    }

    /// A JSON log line is one object on one line, with the message, level, time and metadata as
    /// escaped string members.
    @Test func jsonLogLines() throws {
        let bytes = JSONLinesLogHandler.line(
            timestamp: Timestamp(milliseconds: 1_795_003_200_007), level: .warning, label: "stampede",
            message: "answered \"503\"\nunavailable", metadata: ["request_id": "r-1", "sale_id": "s1"])
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().contains(UInt8(ascii: "\n")) == false)
        let object = try JSONParser.parse(Array(bytes.dropLast()))
        #expect(object["level"]?.stringValue == "warning")
        #expect(object["msg"]?.stringValue == "answered \"503\"\nunavailable")
        #expect(object["request_id"]?.stringValue == "r-1")
        #expect(object["sale_id"]?.stringValue == "s1")
        #expect(object["ts"]?.stringValue == "2026-11-18T12:00:00.007Z")
    }

    /// Observations land in the first bucket whose bound is not below them; cumulative counts end
    /// with the total; quantiles are bucket upper bounds.
    @Test func latencyHistogram() {
        var histogram = LatencyHistogram()
        #expect(histogram.quantile(0.99) == 0)
        for _ in 0..<98 { histogram.record(seconds: 0.0003) }
        histogram.record(seconds: 0.02)
        histogram.record(seconds: 60)
        #expect(histogram.count == 100)
        #expect(histogram.cumulative.last?.count == 100)
        #expect(histogram.cumulative.first { $0.le == 0.0005 }?.count == 98)
        #expect(histogram.quantile(0.5) == 0.0005)
        #expect(histogram.quantile(0.99) == 0.025)
        #expect(histogram.quantile(1.0) == .infinity)
    }
}
