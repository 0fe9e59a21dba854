/// One metric family of `/metrics`, declared once: its name, type, help text and label names.
///
/// The recording code (`ServiceMetrics`' instruments) and the scrape-time figures (`ScrapeFigures`)
/// both take a `MetricFamily`, so no other code spells a family's name or its label names, and the
/// catalogue (`MetricFamily.catalogue`) is the complete list a scrape can show.
public struct MetricFamily: Sendable, Hashable {
    /// The Prometheus type written on the `# TYPE` line.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// When a scrape shows the family.
    public enum Presence: Sendable, Hashable {
        /// In every scrape.
        case always
        /// Once its first sample is recorded (an instrument made on first use, such as a refusal).
        case afterFirstUse
        /// Only while the service runs against a Redis Cluster.
        case redisCluster
    }

    /// The family name (histogram series add `_bucket`, `_sum` and `_count`).
    public let name: String
    public let kind: Kind
    /// The `# HELP` text; `nil` for the instruments of the swift-metrics registry, whose exposition
    /// has never carried a `# HELP` line (adding one would change what scrapers see).
    public let help: String?
    /// The label names, in the order every sample writes them (histogram buckets add `le` last).
    public let labels: [String]
    public let presence: Presence

    init(_ name: String, _ kind: Kind, _ help: String?, labels: [String] = [], presence: Presence = .always) {
        self.name = name
        self.kind = kind
        self.help = help
        self.labels = labels
        self.presence = presence
    }

    /// Label pairs for an instrument: the family's label names with `values`, in order.
    func dimensions(_ values: String...) -> [(String, String)] {
        precondition(values.count == labels.count, "\(name) takes labels \(labels)")
        return Array(zip(labels, values))
    }
}
