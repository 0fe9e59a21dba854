import StampedeInventory
import StampedePool

/// Figures read from live objects at scrape time and written as Prometheus text.
public struct ScrapeFigures: Sendable {
    /// One sample of a family: its label values, in the order of the family's label names.
    public struct Sample: Sendable {
        public var labelValues: [String]
        public var value: Double
        /// The histogram bucket bound (`le`), written after the family's labels.
        var bucketBound: String? = nil
        /// Appended to the family name (`_bucket`, `_sum`, `_count` for histograms).
        var suffix: String = ""

        public init(_ labelValues: [String], value: Double) {
            self.labelValues = labelValues
            self.value = value
        }
    }

    /// A metric family read now, with its samples.
    public struct Family: Sendable {
        public var family: MetricFamily
        public var samples: [Sample]
    }

    public var families: [Family] = []

    public init() {}

    /// Adds a family with the given samples.
    public mutating func add(_ family: MetricFamily, _ samples: [Sample]) {
        assert(samples.allSatisfy { $0.labelValues.count == family.labels.count }, "\(family.name) takes labels \(family.labels)")
        families.append(Family(family: family, samples: samples))
    }

    /// Adds a family of one label with one sample per item, labelled with the item's name.
    public mutating func add<Item>(_ family: MetricFamily, _ items: [(name: String, item: Item)], _ value: (Item) -> Int) {
        add(family, items.map { Sample([$0.name], value: Double(value($0.item))) })
    }

    /// Adds a family with one unlabelled sample.
    public mutating func add(_ family: MetricFamily, value: Double) {
        add(family, [Sample([], value: value)])
    }

    /// Adds a histogram family of one label with one series per item, labelled with the item's name.
    public mutating func addHistogram(_ family: MetricFamily, _ items: [(name: String, histogram: LatencyHistogram)]) {
        var samples: [Sample] = []
        for (itemName, histogram) in items {
            for (le, count) in histogram.cumulative {
                var bucket = Sample([itemName], value: Double(count))
                bucket.bucketBound = le.isInfinite ? "+Inf" : String(le)
                bucket.suffix = "_bucket"
                samples.append(bucket)
            }
            var sum = Sample([itemName], value: histogram.sum)
            sum.suffix = "_sum"
            var count = Sample([itemName], value: Double(histogram.count))
            count.suffix = "_count"
            samples += [sum, count]
        }
        add(family, samples)
    }

    func write(into text: inout String) {
        for entry in families {
            let family = entry.family
            if let help = family.help { text += "# HELP \(family.name) \(help)\n" }
            text += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in entry.samples {
                text += family.name + sample.suffix
                var labels = zip(family.labels, sample.labelValues).map { "\($0.0)=\"\($0.1)\"" }
                if let bound = sample.bucketBound { labels.append("le=\"\(bound)\"") }
                if !labels.isEmpty { text += "{" + labels.joined(separator: ",") + "}" }
                let value = sample.value
                text += " " + (value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)) + "\n"
            }
        }
    }
}
