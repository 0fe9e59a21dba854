/// `stampede-load compare a.json b.json`: the differences between two runs, as text.
public enum ReportComparison {
    public struct Row: Equatable, Sendable {
        public var name: String
        public var a: Double
        public var b: Double
        /// Relative change in percent (b vs a); `nil` when a is 0.
        public var changePercent: Double? { a == 0 ? nil : (b - a) / a * 100 }
    }

    /// The compared figures: totals, then per-route latency percentiles, outcome counts and scenario figures.
    public static func rows(_ a: RunReport, _ b: RunReport) -> [Row] {
        var rows: [Row] = [
            Row(name: "duration_s", a: a.durationSeconds, b: b.durationSeconds),
            Row(name: "requests", a: Double(a.totals.requests), b: Double(b.totals.requests)),
            Row(name: "throughput_rps", a: a.totals.throughputRps, b: b.totals.throughputRps),
            Row(name: "2xx", a: Double(a.totals.success), b: Double(b.totals.success)),
            Row(name: "4xx", a: Double(a.totals.rejected), b: Double(b.totals.rejected)),
            Row(name: "503_overloaded", a: Double(a.totals.overloaded), b: Double(b.totals.overloaded)),
            Row(name: "transport_errors", a: Double(a.totals.transportError), b: Double(b.totals.transportError)),
        ]
        for route in Set(a.latency.keys).union(b.latency.keys).sorted() {
            let x = a.latency[route], y = b.latency[route]
            for (name, path) in [("p50", \LatencySummary.p50Us), ("p90", \.p90Us), ("p99", \.p99Us), ("p99.9", \.p999Us), ("max", \.maxUs)] {
                rows.append(Row(name: "latency.\(route).\(name)_us", a: Double(x?[keyPath: path] ?? 0), b: Double(y?[keyPath: path] ?? 0)))
            }
        }
        // The deep tail, read from the full histograms when both reports carry them.
        if let x = try? a.histograms?["all"]?.histogram(), let y = try? b.histograms?["all"]?.histogram() {
            rows.append(Row(name: "latency.all.p99.99_us", a: Double(x.microseconds(at: 99.99)), b: Double(y.microseconds(at: 99.99))))
        }
        if a.scheduleLag != nil || b.scheduleLag != nil {
            for (name, path) in [("p50", \LatencySummary.p50Us), ("p99", \.p99Us), ("max", \.maxUs)] {
                rows.append(Row(name: "schedule_lag.\(name)_us", a: Double(a.scheduleLag?[keyPath: path] ?? 0), b: Double(b.scheduleLag?[keyPath: path] ?? 0)))
            }
        }
        for route in Set(a.outcomes.keys).union(b.outcomes.keys).sorted() {
            let x = a.outcomes[route] ?? [:], y = b.outcomes[route] ?? [:]
            for label in Set(x.keys).union(y.keys).sorted() {
                rows.append(Row(name: "outcomes.\(route).\(label)", a: Double(x[label] ?? 0), b: Double(y[label] ?? 0)))
            }
        }
        for name in Set(a.figures.keys).union(b.figures.keys).sorted() {
            rows.append(Row(name: "figures.\(name)", a: a.figures[name] ?? 0, b: b.figures[name] ?? 0))
        }
        return rows
    }

    /// The comparison as an aligned table, with the invariant verdicts first.
    public static func text(_ a: RunReport, _ b: RunReport, nameA: String, nameB: String) -> String {
        var out = "a: \(nameA)  (\(a.scenario), \(a.startedAt), \(a.traffic.model) loop)\n"
        out += "b: \(nameB)  (\(b.scenario), \(b.startedAt), \(b.traffic.model) loop)\n"
        out += "invariants: a \(a.invariants.passed ? "hold" : "VIOLATED"), b \(b.invariants.passed ? "hold" : "VIOLATED")\n"
        if a.scenario != b.scenario { out += "note: different scenarios\n" }
        let width = max(24, rows(a, b).map(\.name.count).max() ?? 0)
        out += pad("figure", width) + "  " + lpad("a", 14) + "  " + lpad("b", 14) + "  " + lpad("change", 9) + "\n"
        for row in rows(a, b) {
            let change = row.changePercent.map { ($0 >= 0 ? "+" : "") + String($0, decimals: 1) + "%" } ?? (row.b == 0 ? "" : "new")
            out += pad(row.name, width) + "  " + lpad(HTMLReport.number(row.a), 14) + "  " + lpad(HTMLReport.number(row.b), 14) + "  " + lpad(change, 9) + "\n"
        }
        return out
    }

    private static func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
    private static func lpad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
}

extension RunReport {
    /// The end-of-run summary printed on standard output.
    public var summaryText: String {
        var out = "\(scenario) against \(target): \(totals.requests) requests in \(durationSeconds) s "
        out += "(\(Int(totals.throughputRps)) req/s, \(traffic.model) loop, \(traffic.connected) connections)\n"
        let names = ["all"] + LoadRoute.allCases.map(\.name).filter { latency[$0] != nil }
        for name in names {
            guard let l = latency[name] else { continue }
            out += "  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) n=\(l.count)  p50 \(Format.micros(l.p50Us))  p90 \(Format.micros(l.p90Us))  "
            out += "p99 \(Format.micros(l.p99Us))  p99.9 \(Format.micros(l.p999Us))  max \(Format.micros(l.maxUs))\n"
        }
        for (name, l) in (acceptedLatency ?? [:]).sorted(by: { $0.key < $1.key }) where (outcomes[name]?.count ?? 0) > 1 {
            out += "  \((name + " 2xx").padding(toLength: 12, withPad: " ", startingAt: 0)) n=\(l.count)  p50 \(Format.micros(l.p50Us))  "
            out += "p90 \(Format.micros(l.p90Us))  p99 \(Format.micros(l.p99Us))  p99.9 \(Format.micros(l.p999Us))  max \(Format.micros(l.maxUs))\n"
        }
        for (route, counts) in outcomes.sorted(by: { $0.key < $1.key }) {
            out += "  \(route): " + counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "  ") + "\n"
        }
        if let lag = scheduleLag {
            out += "  schedule lag (sent after the intended time): p50 \(Format.micros(lag.p50Us))  p99 \(Format.micros(lag.p99Us))  max \(Format.micros(lag.maxUs))\n"
        }
        out += "  figures: " + figures.sorted { $0.key < $1.key }.map { "\($0.key)=\(HTMLReport.number($0.value))" }.joined(separator: "  ") + "\n"
        for check in invariants.checks {
            out += "  [\(check.passed ? "ok" : "VIOLATED")] \(check.name) (\(check.source)): \(check.detail)\n"
            if !check.orders.isEmpty { out += "      orders: \(check.orders.joined(separator: " "))\n" }
        }
        out += invariants.passed ? "invariants hold\n" : "INVARIANTS VIOLATED\n"
        if let thresholds {
            for check in thresholds.checks { out += "  [\(check.passed ? "ok" : "FAILED")] --fail-if \(check.threshold): \(check.detail)\n" }
            out += thresholds.passed ? "thresholds pass\n" : "THRESHOLDS FAILED\n"
        }
        return out
    }
}
