/// `stampede-load merge`: one report from several runs of the same scenario taken at the same time
/// against the same target (several load generators, each with its own report). Latency comes
/// from the sum of the full histograms, so merged percentiles are exact (to the histograms'
/// precision), not averages of percentiles. A pure function of the reports.
///
/// Counts (totals, outcomes, timeline counts) add up; throughput adds up (the generators ran
/// together); the duration is the longest; the timeline's per-second percentiles are the highest of
/// the generators' (an upper bound: the per-second histograms are not kept); scenario figures do not
/// add up and are left out; invariants pass only if they passed in every report.
public enum ReportMerge {
    public enum MergeError: Error, Equatable, CustomStringConvertible {
        case nothingToMerge
        case differentScenarios([String])
        case noHistograms(String)
        case unreadableHistogram(String, String)

        public var description: String {
            switch self {
            case .nothingToMerge: "give at least two reports"
            case .differentScenarios(let names): "the reports are of different scenarios: \(names.joined(separator: ", "))"
            case .noHistograms(let name): "\(name) has no latency histograms (a report of an older stampede-load): it cannot be merged"
            case .unreadableHistogram(let name, let why): "\(name): \(why)"
            }
        }
    }

    public static func merge(_ reports: [(name: String, report: RunReport)]) throws(MergeError) -> RunReport {
        guard reports.count >= 2 else { throw .nothingToMerge }
        let scenarios = Set(reports.map(\.report.scenario))
        guard scenarios.count == 1 else { throw .differentScenarios(scenarios.sorted()) }
        var histograms: [String: MicrosecondHistogram] = [:]
        var lag: MicrosecondHistogram? = MicrosecondHistogram()
        for (name, report) in reports {
            guard let snapshots = report.histograms else { throw .noHistograms(name) }
            for (route, snapshot) in snapshots {
                do {
                    let histogram = try snapshot.histogram()
                    if histograms[route] == nil { histograms[route] = histogram } else { histograms[route]!.add(histogram) }
                } catch {
                    throw .unreadableHistogram(name, error.description)
                }
            }
            if let snapshot = report.scheduleLagHistogram, let restored = try? snapshot.histogram() { lag?.add(restored) } else { lag = nil }
        }
        let first = reports[0].report
        var merged = first
        merged.target = Array(Set(reports.map(\.report.target))).sorted().joined(separator: ",")
        merged.startedAt = reports.map(\.report.startedAt).min() ?? first.startedAt
        merged.durationSeconds = reports.map(\.report.durationSeconds).max() ?? first.durationSeconds
        merged.options = first.options.merging(["merged_from": reports.map(\.name).joined(separator: ",")]) { $1 }
        merged.traffic.connections = reports.reduce(0) { $0 + $1.report.traffic.connections }
        merged.traffic.connected = reports.reduce(0) { $0 + $1.report.traffic.connected }
        merged.traffic.threads = reports.reduce(0) { $0 + $1.report.traffic.threads }
        if reports.allSatisfy({ $0.report.traffic.rate != nil }) {
            merged.traffic.rate = reports.reduce(0) { $0 + ($1.report.traffic.rate ?? 0) }
        }
        merged.totals = reports.dropFirst().reduce(first.totals) { sum, next in
            let t = next.report.totals
            return RunReport.Totals(requests: sum.requests + t.requests, throughputRps: sum.throughputRps + t.throughputRps,
                                    success: sum.success + t.success, rejected: sum.rejected + t.rejected,
                                    overloaded: sum.overloaded + t.overloaded, serverError: sum.serverError + t.serverError,
                                    transportError: sum.transportError + t.transportError, abandoned: sum.abandoned + t.abandoned,
                                    connectFailures: sum.connectFailures + t.connectFailures)
        }
        merged.latency = histograms.mapValues(\.summary)
        merged.distribution = histograms.mapValues(\.distribution)
        merged.histograms = histograms.mapValues { HistogramSnapshot($0) }
        merged.acceptedLatency = nil
        merged.outcomes = [:]
        for (_, report) in reports {
            for (route, counts) in report.outcomes { merged.outcomes[route, default: [:]].merge(counts, uniquingKeysWith: +) }
        }
        var seconds: [Int: TimelinePoint] = [:]
        for (_, report) in reports {
            for point in report.timeline {
                guard var sum = seconds[point.t] else { seconds[point.t] = point; continue }
                sum.sent += point.sent
                sum.completed += point.completed
                sum.success += point.success
                sum.rejected += point.rejected
                sum.overloaded += point.overloaded
                sum.serverError += point.serverError
                sum.transportError += point.transportError
                sum.p50Us = max(sum.p50Us, point.p50Us)
                sum.p90Us = max(sum.p90Us, point.p90Us)
                sum.p99Us = max(sum.p99Us, point.p99Us)
                sum.maxUs = max(sum.maxUs, point.maxUs)
                seconds[point.t] = sum
            }
        }
        merged.timeline = seconds.values.sorted { $0.t < $1.t }
        merged.figures = [:]
        merged.server = RunReport.ServerFigures(samples: reports.flatMap(\.report.server.samples).sorted { $0.t < $1.t })
        merged.invariants = RunReport.InvariantsSection(
            passed: reports.allSatisfy(\.report.invariants.passed),
            checks: reports.flatMap { name, report in
                report.invariants.checks.map { check in
                    var check = check
                    check.detail = "\(name): \(check.detail)"
                    return check
                }
            })
        merged.scheduleLag = lag.map(\.summary)
        merged.scheduleLagHistogram = lag.map { HistogramSnapshot($0) }
        merged.thresholds = nil
        return merged
    }
}
