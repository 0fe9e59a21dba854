import Foundation
import Testing
@testable import StampedeLoadKit

/// `--fail-if` thresholds: parsing, units, and verdicts on a report.
@Suite struct ThresholdTests {
    @Test func parsesFiguresComparisonsAndUnits() throws {
        let p99 = try Threshold("p99<50ms")
        #expect(p99.figure == .latency(route: "all", statistic: "p99") && p99.comparison == .below && p99.limit == 50_000)
        let buy = try Threshold(" buy.p999 <= 2s ")
        #expect(buy.figure == .latency(route: "buy", statistic: "p999") && buy.comparison == .atMost && buy.limit == 2_000_000)
        #expect(try Threshold("max<800us").limit == 800)
        let errors = try Threshold("error_rate<0.01")
        #expect(errors.figure == .errorRate && errors.limit == 0.01)
        #expect(try Threshold("throughput>=900").comparison == .atLeast)
        #expect(try Threshold("lag_p99<5ms").figure == .scheduleLag(statistic: "p99"))
        #expect(try Threshold.parseList("p99<50ms,error_rate<0.01, success_rate>0.9").count == 3)
    }

    @Test func refusesWhatItCannotJudge() {
        #expect(throws: Threshold.ParseError.noComparison("p99=50ms")) { try Threshold("p99=50ms") }
        #expect(throws: Threshold.ParseError.unknownFigure("p98<50ms")) { try Threshold("p98<50ms") }
        #expect(throws: Threshold.ParseError.unknownFigure("checkout.p99<50ms")) { try Threshold("checkout.p99<50ms") }
        #expect(throws: Threshold.ParseError.badLimit("p99<50")) { try Threshold("p99<50") }
        #expect(throws: Threshold.ParseError.badLimit("error_rate<lots")) { try Threshold("error_rate<lots") }
    }

    /// The sample report: 1000 requests, p99 990 µs, 10 2xx, no errors, no schedule lag.
    @Test func verdictsOnAReport() throws {
        var report = ReportTests.report(p99: 990)
        let verdicts = Threshold.evaluate(try Threshold.parseList("p99<1ms,error_rate<0.01,throughput>=500"), on: report)
        #expect(verdicts.passed, "\(verdicts.checks)")
        let missed = try Threshold("p99<500us").evaluate(report)
        #expect(!missed.passed && missed.observed == 990 && missed.detail == "990 µs not < 500 µs")
        #expect(!(try Threshold("success_rate>0.5").evaluate(report)).passed)
        // A figure the run lacks fails rather than passing by accident.
        let lag = try Threshold("lag_p99<5ms").evaluate(report)
        #expect(!lag.passed && lag.observed == nil)
        report.totals.serverError = 15
        report.totals.transportError = 5
        let rate = try Threshold("error_rate<0.01").evaluate(report)
        #expect(!rate.passed && rate.observed == 0.02)
    }

    /// The verdicts are written in the JSON report.
    @Test func verdictsAreInTheReport() throws {
        var report = ReportTests.report(p99: 990)
        report.thresholds = Threshold.evaluate([try Threshold("p99<500us")], on: report)
        let text = String(decoding: try report.encoded(), as: UTF8.self)
        #expect(text.contains("\"thresholds\""))
        #expect(text.contains("\"threshold\" : \"p99<500us\""))
        #expect(try RunReport.decode(try report.encoded()) == report)
        #expect(report.summaryText.contains("THRESHOLDS FAILED"))
    }
}

/// The full histograms in the report, and merging two reports by them.
@Suite struct HistogramMergeTests {
    static func histogram(_ micros: ClosedRange<UInt64>) -> MicrosecondHistogram {
        var histogram = MicrosecondHistogram()
        for value in micros { histogram.record(nanoseconds: value * 1_000) }
        return histogram
    }

    @Test func snapshotRebuildsTheSameHistogram() throws {
        let original = Self.histogram(1...5000)
        let snapshot = HistogramSnapshot(original)
        #expect(snapshot.buckets.count > 100 && snapshot.buckets.count < 5000)
        let restored = try snapshot.histogram()
        #expect(restored.count == original.count)
        for percentile in [50.0, 90, 99, 99.9, 100] {
            #expect(restored.microseconds(at: percentile) == original.microseconds(at: percentile))
        }
        // And through JSON.
        let decoded = try JSONDecoder().decode(HistogramSnapshot.self, from: try JSONEncoder().encode(snapshot))
        #expect(try decoded.histogram().summary == original.summary)
    }

    @Test func refusesAHistogramItCannotRebuild() {
        var snapshot = HistogramSnapshot(Self.histogram(1...10))
        snapshot.significantDigits = 5
        #expect(throws: HistogramSnapshot.RestoreError.self) { try snapshot.histogram() }
        snapshot = HistogramSnapshot(Self.histogram(1...10))
        snapshot.buckets.append([7])
        #expect(throws: HistogramSnapshot.RestoreError.malformedBucket(snapshot.buckets.count - 1)) { try snapshot.histogram() }
    }

    /// Two generators' reports merge into the report one generator would have made: percentiles
    /// from the summed histograms (not averaged), counts added, invariants and-ed.
    @Test func mergeSumsHistogramsAndCounts() throws {
        var a = ReportTests.report(p99: 0)
        var b = ReportTests.report(p99: 0, passed: false)
        let fast = Self.histogram(1...1000), slow = Self.histogram(9001...10000)
        a.latency = ["all": fast.summary, "buy": fast.summary]
        b.latency = ["all": slow.summary, "buy": slow.summary]
        a.histograms = ["all": HistogramSnapshot(fast), "buy": HistogramSnapshot(fast)]
        b.histograms = ["all": HistogramSnapshot(slow), "buy": HistogramSnapshot(slow)]
        a.scheduleLagHistogram = HistogramSnapshot(Self.histogram(1...10))
        b.scheduleLagHistogram = HistogramSnapshot(Self.histogram(11...20))
        let merged = try ReportMerge.merge([("a.json", a), ("b.json", b)])
        var both = fast
        both.add(slow)
        #expect(merged.latency["all"] == both.summary)
        #expect((merged.latency["all"]?.p50Us ?? 0) > 900 && (merged.latency["all"]?.p50Us ?? 0) < 9100)
        #expect((merged.latency["all"]?.p99Us ?? 0) > 9800)
        #expect(merged.totals.requests == 2000 && merged.totals.throughputRps == 1000)
        #expect(merged.outcomes["buy"]?["201"] == 20)
        #expect(merged.scheduleLag?.count == 20)
        #expect(!merged.invariants.passed && merged.invariants.checks.count == 2)
        #expect(merged.options["merged_from"] == "a.json,b.json")
        #expect(merged.figures.isEmpty)
    }

    @Test func mergeRefusesReportsWithoutHistograms() {
        let a = ReportTests.report(p99: 1), b = ReportTests.report(p99: 1)
        #expect(throws: ReportMerge.MergeError.noHistograms("a")) { try ReportMerge.merge([("a", a), ("b", b)]) }
        var promo = ReportTests.report(p99: 1)
        promo.scenario = "promo"
        #expect(throws: ReportMerge.MergeError.differentScenarios(["promo", "rush"])) { try ReportMerge.merge([("a", a), ("p", promo)]) }
    }
}

/// `--url`: http and https, names and addresses.
@Suite struct TargetURLTests {
    @Test func addressesAndNames() throws {
        let plain = try TargetURL("http://127.0.0.1:8080/")
        #expect(plain.endpoint.host == "127.0.0.1" && plain.endpoint.port == 8080 && plain.tls == nil && plain.hostHeader == "127.0.0.1:8080")
        let named = try TargetURL("https://shop.example:8443", resolve: { $0 == "shop.example" ? "10.1.2.3" : nil })
        #expect(named.endpoint.host == "10.1.2.3" && named.endpoint.port == 8443)
        #expect(named.host == "shop.example" && named.hostHeader == "shop.example:8443" && named.tls != nil)
        #expect(named.description == "https://shop.example:8443")
        #expect(try TargetURL("https://127.0.0.1").endpoint.port == 443)
        #expect(try TargetURL("http://localhost").endpoint == IPv4Endpoint(host: "127.0.0.1", port: 80))
        // The real resolver: localhost is in /etc/hosts.
        #expect(TargetURL.resolveIPv4("localhost") == "127.0.0.1")
    }

    @Test func refusals() {
        #expect(throws: TargetURL.ParseError.notHTTP("ftp://x")) { try TargetURL("ftp://x") }
        #expect(throws: TargetURL.ParseError.badAddress("http://h:0")) { try TargetURL("http://h:0") }
        #expect(throws: TargetURL.ParseError.badAddress("http://h:80/path")) { try TargetURL("http://h:80/path") }
        #expect(throws: TargetURL.ParseError.unresolvable("nowhere.invalid")) { try TargetURL("http://nowhere.invalid", resolve: { _ in nil }) }
    }
}
