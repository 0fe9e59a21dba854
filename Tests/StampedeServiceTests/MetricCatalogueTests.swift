import Foundation
import StampedeInventory
import StampedePool
import StampedeService
import StampedeTestSupport
import Testing

/// `MetricFamily.catalogue`: the one declaration of every `/metrics` family, what the recording
/// code and the exposition write, and what the operations files name.
struct MetricCatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Names are unique Prometheus names, counters (and only counters) end in `_total`, label names
    /// are valid, unique and never `le`, and only the registry's instruments go without help.
    @Test func catalogueIsWellFormed() {
        let names = MetricFamily.catalogue.map(\.name)
        #expect(Set(names).count == names.count)
        for family in MetricFamily.catalogue {
            #expect(family.name.wholeMatch(of: /[a-z_][a-z0-9_]*/) != nil, "\(family.name)")
            #expect(family.name.hasSuffix("_total") == (family.kind == .counter), "\(family.name) is a \(family.kind)")
            #expect(Set(family.labels).count == family.labels.count && !family.labels.contains("le"), "\(family.name)")
            for label in family.labels { #expect(label.wholeMatch(of: /[a-z_][a-z0-9_]*/) != nil, "\(family.name) \(label)") }
            #expect(family.help.map { !$0.isEmpty && !$0.contains("\n") } ?? true, "\(family.name)")
        }
    }

    /// Every instrument family appears once something is recorded, with the catalogue's type and
    /// labels and no `# HELP` (as before the catalogue), and no other family does.
    @Test func instrumentsWriteTheirCatalogueFamilies() {
        let metrics = ServiceMetrics()
        metrics.recordRequest(route: .metrics, status: 200, nanoseconds: 1_000)
        metrics.recordPurchase(.created)
        metrics.recordLimited("admin_rate")
        metrics.recordShed(reason: Admission.shedStock.reason)
        metrics.recordBatch(.decided(size: 3, seconds: 0.001))
        metrics.recordBatch(.committed(orders: 3, seconds: 0.002, failed: true))
        let exposition = PrometheusExposition(String(decoding: metrics.render(ScrapeFigures()), as: UTF8.self))
        let instruments = MetricFamily.catalogue.filter { $0.help == nil }
        #expect(instruments.count == 9)
        Self.expect(exposition, showsExactly: instruments)
        #expect(exposition.families[MetricFamily.shed.name]?.samples.count == 2, "both shed reasons are made up front")
    }

    /// Scrape-time figures write each family's catalogue help, type and label names (`le` last on
    /// buckets), after the instruments made up front.
    @Test func scrapeFiguresWriteTheCatalogue() {
        var figures = ScrapeFigures()
        var histogram = LatencyHistogram()
        histogram.record(seconds: 0.003)
        let scraped = MetricFamily.catalogue.filter { $0.help != nil }
        for family in scraped {
            if family.kind == .histogram {
                figures.addHistogram(family, [("a", histogram), ("b", histogram)])
            } else {
                figures.add(family, [ScrapeFigures.Sample(family.labels.map { "v-\($0)" }, value: 1.5)])
            }
        }
        let text = String(decoding: ServiceMetrics().render(figures), as: UTF8.self)
        // The instruments made up front show too, with nothing recorded.
        let upFront = MetricFamily.catalogue.filter { $0.help == nil && $0.presence == .always }
        Self.expect(PrometheusExposition(text), showsExactly: scraped + upFront)
        #expect(text.contains(#"stampede_pool_call_duration_seconds_bucket{pool="b",le="+Inf"} 1"#))
        #expect(text.contains(#"stampede_postgres_reads_total{target="v-target",reason="v-reason"} 1.5"#))
        #expect(text.contains("# HELP stampede_ready 1 when /health/ready would answer 200"))
    }

    /// Every family the alert rules, their promtool tests, the Grafana dashboard, the load tools'
    /// and scripts' scrape readers and docs/observability.md name is in the catalogue; the label
    /// lists the doc gives match it.
    @Test func operationsFilesNameCatalogueFamilies() throws {
        let byName = Dictionary(uniqueKeysWithValues: MetricFamily.catalogue.map { ($0.name, $0) })
        func family(_ name: String) -> MetricFamily? {
            byName[name] ?? byName[name.replacing(/_(bucket|sum|count)$/, with: "")].flatMap { $0.kind == .histogram ? $0 : nil }
        }
        // The files that read a scrape from outside (black-box: they do not link StampedeService).
        let readers = ["Config/alerts.yml", "Config/alerts.test.yml", "Config/grafana-dashboard.json",
                       "LoadTests/StampedeLoadKit/Measure/MetricsScrape.swift", "scripts/shedding-table", "scripts/wrk/accepted-p99.py",
                       "scripts/pinning-rehearsal", "scripts/checks/ops-files"]
        for file in readers {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            let names = Set(text.matches(of: /stampede_[a-z0-9_]+/).map { String($0.output) })
            #expect(!names.isEmpty, "\(file)")
            for name in names { #expect(family(name) != nil, "\(file) names \(name)") }
        }
        // The doc writes `stampede_pool_{size,busy}` for several families and `name{a,b}` for labels.
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/observability.md"), encoding: .utf8)
        var checked = 0
        for match in doc.matches(of: /(stampede_[a-z0-9_]*)(?:\{([a-z0-9_,]+)\}([a-z0-9_]*))?/) {
            let (head, braces, tail) = (String(match.output.1), match.output.2.map(String.init), String(match.output.3 ?? ""))
            if let braces, head.hasSuffix("_") {
                for part in braces.split(separator: ",") { #expect(family(head + part + tail) != nil, "docs name \(head + part + tail)"); checked += 1 }
            } else if head.hasSuffix("_") {
                #expect(MetricFamily.catalogue.contains { $0.name.hasPrefix(head) }, "docs name \(head)…")
            } else {
                #expect(family(head) != nil, "docs name \(head)")
                if let braces { #expect(family(head)?.labels == braces.split(separator: ",").map(String.init), "docs labels of \(head)") }
                checked += 1
            }
        }
        #expect(checked > 30)
    }

    /// Checks an exposition shows exactly `families`, each with its type, help and label names.
    static func expect(_ exposition: PrometheusExposition, showsExactly families: [MetricFamily],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        let mismatches = exposition.mismatches(families.map { ($0.name, $0.kind.rawValue, $0.help, $0.labels) })
        #expect(mismatches.isEmpty, "\(mismatches)", sourceLocation: sourceLocation)
    }
}
