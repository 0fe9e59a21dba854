import Foundation

/// The self-contained HTML report: summary, invariant verdicts, and inline SVG charts
/// (throughput and latency over time, latency distribution, outcomes per route).
public enum HTMLReport {
    static let routeColors = ["all": "#0f172a", "view_sale": "#2563eb", "buy": "#dc2626", "pay": "#16a34a",
                              "cancel": "#d97706", "user_orders": "#7c3aed", "get_order": "#0891b2"]

    public static func render(_ report: RunReport) -> String {
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><title>stampede-load \(report.scenario) \(report.startedAt)</title>
        <style>body{font-family:sans-serif;margin:24px;color:#0f172a;max-width:960px}table{border-collapse:collapse;margin:8px 0 20px}
        td,th{border:1px solid #cbd5e1;padding:4px 10px;font-size:13px;text-align:right}th{background:#f1f5f9}td:first-child,th:first-child{text-align:left}
        .pass{color:#15803d;font-weight:bold}.fail{color:#b91c1c;font-weight:bold}svg{display:block;margin:12px 0;border:1px solid #e2e8f0}
        .note{color:#475569;font-size:13px}</style></head><body>
        """
        let verdict = report.invariants.passed ? "<span class=pass>INVARIANTS HOLD</span>" : "<span class=fail>INVARIANT VIOLATED</span>"
        html += "<h1>stampede-load · \(SVGChart.escape(report.scenario)) · \(verdict)</h1>"
        html += "<p class=note>\(SVGChart.escape(report.target)) · started \(report.startedAt) · \(report.durationSeconds) s · \(report.traffic.model) loop"
        if let rate = report.traffic.rate { html += " at \(Int(rate)) req/s" }
        html += " · \(report.traffic.connected)/\(report.traffic.connections) connections on \(report.traffic.threads) threads · latency measured from the "
        html += report.traffic.latencyFromIntendedTime ? "intended send time (coordinated-omission corrected)" : "actual send time (closed loop)"
        html += "</p>"

        let t = report.totals
        html += table(["requests", "throughput", "2xx", "4xx", "503 overloaded", "5xx", "transport errors", "abandoned"],
                      [[String(t.requests), "\(Int(t.throughputRps)) req/s", String(t.success), String(t.rejected), String(t.overloaded),
                        String(t.serverError), String(t.transportError), String(t.abandoned)]])

        html += "<h2>Invariants</h2>"
        html += table(["check", "verdict", "source", "detail"], report.invariants.checks.map {
            [$0.name, $0.passed ? "<span class=pass>pass</span>" : "<span class=fail>FAIL</span>", $0.source,
             SVGChart.escape($0.detail) + ($0.orders.isEmpty ? "" : "<br>orders: " + $0.orders.map(SVGChart.escape).joined(separator: ", "))]
        }, escapeCells: false)

        html += "<h2>Latency</h2>"
        let names = ["all"] + LoadRoute.allCases.map(\.name).filter { report.latency[$0] != nil }
        html += table(["route", "count", "p50", "p90", "p99", "p99.9", "max", "mean"], names.compactMap { name in
            report.latency[name].map { [name, String($0.count), Format.micros($0.p50Us), Format.micros($0.p90Us), Format.micros($0.p99Us),
                                        Format.micros($0.p999Us), Format.micros($0.maxUs), Format.micros($0.meanUs)] }
        })

        let timeline = report.timeline
        html += SVGChart.lines(title: "Throughput per second", xLabel: "seconds since t0", yLabel: "requests / s", series: [
            .init(name: "sent", color: "#94a3b8", points: timeline.map { (Double($0.t), Double($0.sent)) }, dashed: true),
            .init(name: "completed", color: "#0f172a", points: timeline.map { (Double($0.t), Double($0.completed)) }),
            .init(name: "2xx", color: "#16a34a", points: timeline.map { (Double($0.t), Double($0.success)) }),
            .init(name: "4xx", color: "#d97706", points: timeline.map { (Double($0.t), Double($0.rejected)) }),
            .init(name: "503 overloaded", color: "#dc2626", points: timeline.map { (Double($0.t), Double($0.overloaded)) }),
            .init(name: "errors", color: "#7c3aed", points: timeline.map { (Double($0.t), Double($0.transportError + $0.serverError)) }),
        ], x: .linear(format: Format.axisNumber), y: .linear(format: Format.axisNumber))

        let busy = timeline.filter { $0.completed > 0 }
        html += SVGChart.lines(title: "Latency per second (all routes)", xLabel: "seconds since t0", yLabel: "latency (log)", series: [
            .init(name: "p50", color: "#2563eb", points: busy.map { (Double($0.t), Double($0.p50Us)) }),
            .init(name: "p90", color: "#0891b2", points: busy.map { (Double($0.t), Double($0.p90Us)) }),
            .init(name: "p99", color: "#dc2626", points: busy.map { (Double($0.t), Double($0.p99Us)) }),
            .init(name: "max", color: "#94a3b8", points: busy.map { (Double($0.t), Double($0.maxUs)) }, dashed: true),
        ], x: .linear(format: Format.axisNumber), y: .log(format: { Format.micros($0) }))

        html += SVGChart.lines(title: "Latency distribution by route", xLabel: "percentile", yLabel: "latency (log)",
                               series: names.compactMap { name in
                                   report.distribution[name].map { points in
                                       .init(name: name, color: routeColors[name] ?? "#64748b",
                                             points: points.map { ($0.percentile, Double($0.us)) }, dashed: name == "all")
                                   }
                               }, x: .percentile, y: .log(format: { Format.micros($0) }))

        html += SVGChart.stackedBars(title: "Outcomes per route", rows: LoadRoute.allCases.compactMap { route in
            guard let counts = report.outcomes[route.name] else { return nil }
            return (route.name, counts.sorted { $0.key < $1.key }.map { ($0.key, Double($0.value), color(of: $0.key)) })
        })

        let memory = report.server.samples.compactMap { sample in sample.residentBytes.map { (sample.t, $0 / 1_048_576) } }
        if memory.count >= 2 {
            html += SVGChart.lines(title: "Server resident memory (from /metrics)", xLabel: "seconds since t0", yLabel: "MiB",
                                   series: [.init(name: "resident MiB", color: "#0f172a", points: memory)],
                                   x: .linear(format: Format.axisNumber), y: .linear(format: Format.axisNumber))
        }

        html += "<h2>Outcomes</h2>"
        html += table(["route", "outcome", "count"], report.outcomes.sorted { $0.key < $1.key }.flatMap { route, counts in
            counts.sorted { $0.key < $1.key }.map { [route, $0.key, String($0.value)] }
        })
        html += "<h2>Scenario figures</h2>"
        html += table(["figure", "value"], report.figures.sorted { $0.key < $1.key }.map { [$0.key, number($0.value)] })
        html += "<h2>Options</h2>"
        html += table(["option", "value"], report.options.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
        return html + "</body></html>\n"
    }

    static func color(of label: String) -> String {
        if label.hasPrefix("2") { return label == "201" ? "#16a34a" : "#4ade80" }
        if label.hasPrefix("503 overloaded") { return "#dc2626" }
        if label.hasPrefix("409 sold_out") { return "#d97706" }
        if label.hasPrefix("4") { return "#f59e0b" }
        if label.hasPrefix("5") { return "#991b1b" }
        return "#7c3aed"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value, decimals: 3)
    }

    private static func table(_ head: [String], _ rows: [[String]], escapeCells: Bool = true) -> String {
        var html = "<table><tr>" + head.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr>"
        for row in rows {
            html += "<tr>" + row.map { "<td>\(escapeCells ? SVGChart.escape($0) : $0)</td>" }.joined() + "</tr>"
        }
        return html + "</table>"
    }
}
