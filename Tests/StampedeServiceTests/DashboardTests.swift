import Foundation
import StampedeJSON
import StampedeService
import Testing

/// Config/grafana-dashboard.json tells instances apart.
struct DashboardTests {
    /// The dashboard has an `instance` variable and every query selects on it, so a fleet's
    /// figures can be read per instance (Prometheus labels each scraped instance).
    @Test func everyQuerySelectsAnInstance() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/grafana-dashboard.json").path
        let document = try JSONParser.parse(Array(try String(contentsOfFile: path, encoding: .utf8).utf8))
        guard case .array(let variables)? = document["templating"]?["list"], case .array(let panels)? = document["panels"] else {
            Issue.record("no templating list or panels")
            return
        }
        #expect(variables.contains { $0["name"]?.stringValue == "instance" })
        var queries = 0
        for panel in panels {
            guard case .array(let targets)? = panel["targets"] else { continue }
            for target in targets {
                guard let expression = target["expr"]?.stringValue else { continue }
                queries += 1
                let metrics = expression.matches(of: /stampede_[a-z0-9_]+\{[^}]*\}|stampede_[a-z0-9_]+/).map { String($0.output) }
                for metric in metrics {
                    #expect(metric.contains(#"instance=~"$instance""#), "\(metric) in \(expression)")
                }
            }
        }
        #expect(queries > 20)
    }
}
