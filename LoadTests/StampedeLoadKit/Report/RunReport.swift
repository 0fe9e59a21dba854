import Foundation

/// The JSON report of one run. The schema is documented in `LoadTests/REPORT-SCHEMA.md`; fields
/// are only ever added under the same `schema` value, never renamed or removed.
public struct RunReport: Codable, Sendable, Equatable {
    public static let schemaID = "stampede-load/report/v1"

    public var schema = RunReport.schemaID
    public var scenario: String
    public var target: String
    /// RFC 3339 UTC time of t0 (the first intended send).
    public var startedAt: String
    public var durationSeconds: Double
    /// The command-line options of the run, as text.
    public var options: [String: String]
    public var traffic: TrafficSummary
    public var totals: Totals
    /// Latency summaries by route name, plus `all`.
    public var latency: [String: LatencySummary]
    /// Latency summaries of 2xx answers only, by route name (absent in reports of older builds).
    public var acceptedLatency: [String: LatencySummary]?
    /// Counts by route name, then outcome label (`201`, `409 sold_out`, `error timeout`).
    public var outcomes: [String: [String: Int]]
    /// Percentile curves by route name, plus `all`.
    public var distribution: [String: [PercentilePoint]]
    public var timeline: [TimelinePoint]
    /// Scenario figures (see the schema), e.g. `sold_units`, `time_to_sell_out_s`.
    public var figures: [String: Double]
    public var server: ServerFigures
    public var invariants: InvariantsSection
    /// The full latency histograms by route name, plus `all` (absent in reports of older builds):
    /// what `merge` adds up and `compare` reads percentiles from.
    public var histograms: [String: HistogramSnapshot]?
    /// Open loop: how late requests left against their intended send times (absent in closed loop).
    public var scheduleLag: LatencySummary?
    public var scheduleLagHistogram: HistogramSnapshot?
    /// The `--fail-if` thresholds and their verdicts (absent when none were given).
    public var thresholds: ThresholdsSection?

    public struct ThresholdsSection: Codable, Sendable, Equatable {
        public var passed: Bool
        public var checks: [ThresholdResult]
    }

    public struct TrafficSummary: Codable, Sendable, Equatable {
        /// `open` or `closed`.
        public var model: String
        /// Whether latencies count from the intended send time (open loop).
        public var latencyFromIntendedTime: Bool
        public var rate: Double?
        public var rampFrom: Double?
        public var rampSeconds: Double?
        public var connections: Int
        public var connected: Int
        public var threads: Int
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var requests: Int
        public var throughputRps: Double
        public var success: Int
        public var rejected: Int
        public var overloaded: Int
        public var serverError: Int
        public var transportError: Int
        /// Requests still queued or in flight when the run was cut off.
        public var abandoned: Int
        public var connectFailures: Int
    }

    public struct ServerFigures: Codable, Sendable, Equatable {
        /// `/metrics` samples taken during the run.
        public var samples: [ServerSample]
        public init(samples: [ServerSample] = []) { self.samples = samples }
    }

    public struct InvariantsSection: Codable, Sendable, Equatable {
        public var passed: Bool
        public var checks: [InvariantResult]
    }

    /// The report as pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> RunReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(RunReport.self, from: data)
    }
}

/// One scrape of the server's `/metrics`.
public struct ServerSample: Codable, Sendable, Equatable {
    /// Seconds since t0.
    public var t: Double
    /// `process_resident_memory_bytes`, when the server exports it.
    public var residentBytes: Double?
    /// `stampede_http_open_connections`.
    public var openConnections: Double?
    /// `stampede_shed_total`.
    public var shedTotal: Double?
}

extension RunReport {
    /// Builds the measurement part of a report from an engine result.
    static func measured(scenario: String, target: TargetURL, options: [String: String], settings: LoadEngine.Settings,
                         result: LoadEngine.Result) -> RunReport {
        var latency: [String: LatencySummary] = [:]
        var distribution: [String: [PercentilePoint]] = [:]
        var outcomes: [String: [String: Int]] = [:]
        var histograms: [String: HistogramSnapshot] = [:]
        for route in LoadRoute.allCases where result.measurements.routes[route.rawValue].count > 0 {
            latency[route.name] = result.measurements.routes[route.rawValue].summary
            distribution[route.name] = result.measurements.routes[route.rawValue].distribution
            histograms[route.name] = HistogramSnapshot(result.measurements.routes[route.rawValue])
        }
        var accepted: [String: LatencySummary] = [:]
        for route in LoadRoute.allCases where result.measurements.accepted[route.rawValue].count > 0 {
            accepted[route.name] = result.measurements.accepted[route.rawValue].summary
        }
        let overall = result.measurements.overall
        latency["all"] = overall.summary
        distribution["all"] = overall.distribution
        histograms["all"] = HistogramSnapshot(overall)
        var kinds = [Int](repeating: 0, count: OutcomeKind.allCases.count)
        for (route, counts) in result.measurements.outcomes {
            outcomes[route.name] = Dictionary(counts.map { ($0.key.label, $0.value) }, uniquingKeysWith: +)
            for (outcome, count) in counts { kinds[outcome.kind.rawValue] += count }
        }
        let requests = kinds.reduce(0, +)
        var traffic = TrafficSummary(model: settings.model.name, latencyFromIntendedTime: settings.model.measuresFromIntendedTime,
                                     connections: settings.connections, connected: result.connected, threads: settings.threads)
        if case .openLoop(let schedule) = settings.model {
            traffic.rate = schedule.rate
            if schedule.rampSeconds > 0 { traffic.rampFrom = schedule.rampFrom; traffic.rampSeconds = schedule.rampSeconds }
        }
        var report = RunReport(
            scenario: scenario, target: target.description, startedAt: Timestamps.rfc3339(result.startWall),
            durationSeconds: (result.elapsedSeconds * 1000).rounded() / 1000, options: options, traffic: traffic,
            totals: Totals(requests: requests, throughputRps: result.elapsedSeconds > 0 ? (Double(requests) / result.elapsedSeconds).rounded() : 0,
                           success: kinds[0], rejected: kinds[1], overloaded: kinds[2], serverError: kinds[3], transportError: kinds[4],
                           abandoned: result.abandoned, connectFailures: result.connectFailures),
            latency: latency, acceptedLatency: accepted, outcomes: outcomes, distribution: distribution, timeline: result.timeline,
            figures: [:], server: ServerFigures(), invariants: InvariantsSection(passed: true, checks: []))
        report.histograms = histograms
        if case .openLoop = settings.model {
            report.scheduleLag = result.measurements.scheduleLag.summary
            report.scheduleLagHistogram = HistogramSnapshot(result.measurements.scheduleLag)
        }
        return report
    }
}

/// RFC 3339 formatting of wall-clock seconds.
public enum Timestamps {
    public static func rfc3339(_ seconds: Double) -> String {
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
