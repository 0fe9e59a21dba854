import Foundation
import Testing
@testable import StampedeLoadKit

@Suite struct ReportTests {
    static func report(p99: UInt64, passed: Bool = true) -> RunReport {
        var latency = MicrosecondHistogram()
        for micros in 1...1000 { latency.record(nanoseconds: UInt64(micros) * 1_000) }
        var summary = latency.summary
        summary.p99Us = p99
        return RunReport(
            scenario: "rush", target: "http://127.0.0.1:8080", startedAt: "2026-11-21T12:00:00Z", durationSeconds: 2,
            options: ["users": "10"],
            traffic: .init(model: "open", latencyFromIntendedTime: true, rate: 10, rampFrom: nil, rampSeconds: nil, connections: 4, connected: 4, threads: 1),
            totals: .init(requests: 1000, throughputRps: 500, success: 10, rejected: 990, overloaded: 0, serverError: 0, transportError: 0, abandoned: 0, connectFailures: 0),
            latency: ["all": summary, "buy": summary], outcomes: ["buy": ["201": 10, "409 sold_out": 990]],
            distribution: ["all": latency.distribution, "buy": latency.distribution],
            timeline: [SecondAccumulator().point(t: 0), SecondAccumulator().point(t: 1)], figures: ["sold_units": 10],
            server: .init(samples: [ServerSample(t: 0, residentBytes: 1e7), ServerSample(t: 2, residentBytes: 2e7)]),
            invariants: .init(passed: passed, checks: [InvariantResult(name: "not_oversold", passed: passed, source: "postgres", detail: "d", orders: passed ? [] : ["o<1>"])]))
    }

    /// The accepted latency counts 2xx answers only: fast sheds do not dilute what admitted
    /// requests waited.
    @Test func acceptedLatencyCountsOnlySuccesses() {
        let recorder = RunRecorder(start: 0)
        recorder.record(.buy, .answered(status: 201, error: nil), latency: 80_000_000, completedAt: 1)
        for _ in 0..<99 { recorder.record(.buy, .answered(status: 503, error: "overloaded"), latency: 50_000, completedAt: 1) }
        let measured = recorder.snapshot
        #expect(measured.routes[LoadRoute.buy.rawValue].count == 100)
        #expect(measured.accepted[LoadRoute.buy.rawValue].count == 1)
        #expect(measured.accepted[LoadRoute.buy.rawValue].summary.p50Us >= 79_000)
        #expect(measured.routes[LoadRoute.buy.rawValue].summary.p50Us < 1_000)
    }

    /// HdrHistogram percentiles of 1…1000 µs land within its precision.
    @Test func histogramPercentiles() {
        var latency = MicrosecondHistogram()
        for micros in 1...1000 { latency.record(nanoseconds: UInt64(micros) * 1_000) }
        let summary = latency.summary
        #expect(summary.count == 1000)
        #expect((499...501).contains(summary.p50Us))
        #expect((989...991).contains(summary.p99Us))
        #expect(summary.maxUs >= 1000 && summary.maxUs <= 1001)
        #expect(latency.distribution.last?.percentile == 100)
    }

    /// The JSON report round-trips, uses snake_case keys and names its schema.
    @Test func jsonRoundTrips() throws {
        let report = Self.report(p99: 990)
        let data = try report.encoded()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"schema\" : \"stampede-load/report/v1\""))
        #expect(text.contains("\"throughput_rps\""))
        #expect(text.contains("\"p999_us\""))
        #expect(try RunReport.decode(data) == report)
    }

    /// The HTML report is self-contained, has its four charts and escapes what it shows.
    @Test func htmlHasChartsAndVerdict() {
        let html = HTMLReport.render(Self.report(p99: 990, passed: false))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)  // + memory
        #expect(html.contains("INVARIANT VIOLATED"))
        #expect(html.contains("o&lt;1&gt;"))
        #expect(!html.contains("<script"))
    }

    /// compare lists changed figures with their relative change.
    @Test func compareShowsDifferences() throws {
        let rows = ReportComparison.rows(Self.report(p99: 1000), Self.report(p99: 1500))
        let p99 = try #require(rows.first { $0.name == "latency.buy.p99_us" })
        #expect(p99.a == 1000 && p99.b == 1500 && p99.changePercent == 50)
        let text = ReportComparison.text(Self.report(p99: 1000), Self.report(p99: 1500, passed: false), nameA: "a.json", nameB: "b.json")
        #expect(text.contains("+50.0%"))
        #expect(text.contains("b VIOLATED"))
    }

    /// Prometheus text samples are read by name, summing labelled series.
    @Test func scrapesMetrics() {
        let text = "# HELP x\nprocess_resident_memory_bytes 123456\nstampede_shed_total{shard=\"0\"} 2\nstampede_shed_total{shard=\"1\"} 3\n"
        #expect(MetricsScrape.value("process_resident_memory_bytes", in: text) == 123456)
        #expect(MetricsScrape.value("stampede_shed_total", in: text) == 5)
        #expect(MetricsScrape.value("stampede_shed", in: text) == nil)
    }

    /// Drift compares the first and last tenth of the timeline and the memory trend.
    @Test func driftFigures() {
        var timeline: [TimelinePoint] = []
        for t in 0..<20 {
            var point = SecondAccumulator().point(t: t)
            point.completed = 100
            point.p99Us = t < 10 ? 1000 : 3000
            timeline.append(point)
        }
        let figures = Drift.figures(timeline: timeline, samples: [ServerSample(t: 0, residentBytes: 100), ServerSample(t: 60, residentBytes: 160)])
        #expect(figures["p99_first_window_us"] == 1000)
        #expect(figures["p99_last_window_us"] == 3000)
        #expect(figures["memory_growth_bytes_per_min"] == 60)
    }
}
