/// One `--fail-if` threshold: a figure of the report, a comparison and a limit, e.g. `p99<50ms`,
/// `buy.p999<=200ms`, `error_rate<0.01`, `throughput>=900`, `lag_p99<5ms`. A pure value: parsing
/// and evaluation test without runs.
///
/// Figures: `p50`, `p90`, `p99`, `p999`, `max`, `mean` (latency of all requests, or of one route
/// with a `route.` prefix: `view_sale`, `buy`, `pay`, `cancel`, `user_orders`, `get_order`) with a
/// unit `us`, `ms` or `s`; `error_rate` ((5xx other than overloaded + transport errors) ÷
/// requests), `overload_rate` (`503 overloaded` ÷ requests), `success_rate` (2xx ÷ requests),
/// `throughput` (requests per second); `lag_p50`, `lag_p99`, `lag_max` (how late the generator sent
/// against its schedule, open loop only) with a unit.
public struct Threshold: Sendable, Equatable, CustomStringConvertible {
    public enum Comparison: String, Sendable, Equatable, CaseIterable {
        case below = "<", atMost = "<=", above = ">", atLeast = ">="

        func holds(_ observed: Double, _ limit: Double) -> Bool {
            switch self {
            case .below: observed < limit
            case .atMost: observed <= limit
            case .above: observed > limit
            case .atLeast: observed >= limit
            }
        }
    }

    public enum Figure: Sendable, Equatable {
        /// A latency percentile (or `max`, `mean`) of `route` (`all` = every route), in µs.
        case latency(route: String, statistic: String)
        case errorRate, overloadRate, successRate, throughput
        /// The schedule lag's `p50`, `p99` or `max`, in µs.
        case scheduleLag(statistic: String)

        var isDuration: Bool {
            switch self {
            case .latency, .scheduleLag: true
            default: false
            }
        }
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case noComparison(String)
        case unknownFigure(String)
        case badLimit(String)

        public var description: String {
            switch self {
            case .noComparison(let text): "--fail-if '\(text)': expected FIGURE<LIMIT (or <=, >, >=), e.g. p99<50ms"
            case .unknownFigure(let text): "--fail-if '\(text)': unknown figure; one of [ROUTE.]p50|p90|p99|p999|max|mean, error_rate, overload_rate, success_rate, throughput, lag_p50|lag_p99|lag_max"
            case .badLimit(let text): "--fail-if '\(text)': the limit must be a number, with a unit us, ms or s for latencies"
            }
        }
    }

    public let text: String
    public let figure: Figure
    public let comparison: Comparison
    /// In µs for durations; a plain number otherwise.
    public let limit: Double

    static let statistics = ["p50", "p90", "p99", "p999", "max", "mean"]
    static let routes = ["all", "view_sale", "buy", "pay", "cancel", "user_orders", "get_order"]

    public init(_ text: String) throws(ParseError) {
        let trimmed = text.filter { !$0.isWhitespace }
        guard let at = trimmed.firstIndex(where: { $0 == "<" || $0 == ">" }) else { throw .noComparison(text) }
        let name = String(trimmed[..<at])
        var rest = trimmed[at...]
        let comparison: Comparison
        if rest.hasPrefix("<=") { comparison = .atMost; rest = rest.dropFirst(2) }
        else if rest.hasPrefix(">=") { comparison = .atLeast; rest = rest.dropFirst(2) }
        else if rest.hasPrefix("<") { comparison = .below; rest = rest.dropFirst() }
        else { comparison = .above; rest = rest.dropFirst() }
        let figure: Figure
        switch name {
        case "error_rate": figure = .errorRate
        case "overload_rate": figure = .overloadRate
        case "success_rate": figure = .successRate
        case "throughput": figure = .throughput
        case "lag_p50", "lag_p99", "lag_max": figure = .scheduleLag(statistic: String(name.dropFirst(4)))
        default:
            let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let (route, statistic) = parts.count == 2 ? (parts[0], parts[1]) : ("all", parts[0])
            guard parts.count <= 2, Self.routes.contains(route), Self.statistics.contains(statistic) else { throw .unknownFigure(text) }
            figure = .latency(route: route, statistic: statistic)
        }
        var number = String(rest)
        var scale = 1.0
        if figure.isDuration {
            if number.hasSuffix("us") { number.removeLast(2) }
            else if number.hasSuffix("ms") { number.removeLast(2); scale = 1_000 }
            else if number.hasSuffix("s") { number.removeLast(); scale = 1_000_000 }
            else { throw .badLimit(text) }
        }
        guard let value = Double(number), value.isFinite, value >= 0 else { throw .badLimit(text) }
        self.text = trimmed
        self.figure = figure
        self.comparison = comparison
        limit = value * scale
    }

    /// Thresholds separated by commas (`--fail-if 'p99<50ms,error_rate<0.01'`).
    public static func parseList(_ text: String) throws(ParseError) -> [Threshold] {
        var out: [Threshold] = []
        for item in text.split(separator: ",") where !item.allSatisfy(\.isWhitespace) { out.append(try Threshold(String(item))) }
        return out
    }

    public var description: String { text }

    /// The figure in `report`; nil when the report does not have it (a route with no requests,
    /// schedule lag of a closed-loop run, rates of a run without requests).
    public func observed(in report: RunReport) -> Double? {
        let requests = Double(report.totals.requests)
        switch figure {
        case .latency(let route, let statistic):
            return report.latency[route].map { Self.value(of: statistic, in: $0) }
        case .scheduleLag(let statistic):
            return report.scheduleLag.map { Self.value(of: statistic, in: $0) }
        case .errorRate:
            return requests > 0 ? Double(report.totals.serverError + report.totals.transportError) / requests : nil
        case .overloadRate:
            return requests > 0 ? Double(report.totals.overloaded) / requests : nil
        case .successRate:
            return requests > 0 ? Double(report.totals.success) / requests : nil
        case .throughput:
            return report.totals.throughputRps
        }
    }

    static func value(of statistic: String, in summary: LatencySummary) -> Double {
        switch statistic {
        case "p50": Double(summary.p50Us)
        case "p90": Double(summary.p90Us)
        case "p99": Double(summary.p99Us)
        case "p999": Double(summary.p999Us)
        case "max": Double(summary.maxUs)
        default: summary.meanUs
        }
    }

    /// The verdict on `report`. A figure the report lacks fails (a gate must not pass by accident).
    public func evaluate(_ report: RunReport) -> ThresholdResult {
        guard let observed = observed(in: report) else {
            return ThresholdResult(threshold: text, observed: nil, limit: limit, passed: false, detail: "the run has no such figure")
        }
        let passed = comparison.holds(observed, limit)
        let unit = figure.isDuration ? " µs" : ""
        let shown = figure.isDuration ? String(Int(observed.rounded())) : String(observed)
        return ThresholdResult(threshold: text, observed: observed, limit: limit, passed: passed,
                               detail: "\(shown)\(unit) \(passed ? "" : "not ")\(comparison.rawValue) \(figure.isDuration ? String(Int(limit)) : String(limit))\(unit)")
    }

    /// Every threshold's verdict on `report`.
    public static func evaluate(_ thresholds: [Threshold], on report: RunReport) -> RunReport.ThresholdsSection {
        let checks = thresholds.map { $0.evaluate(report) }
        return RunReport.ThresholdsSection(passed: checks.allSatisfy(\.passed), checks: checks)
    }
}

/// One threshold's verdict, as the report records it.
public struct ThresholdResult: Codable, Sendable, Equatable {
    /// The threshold as given, e.g. `p99<50ms`.
    public var threshold: String
    /// The figure observed (µs for latencies); absent when the run lacked it.
    public var observed: Double?
    /// The limit (µs for latencies).
    public var limit: Double
    public var passed: Bool
    public var detail: String
}
