import StampedeInventory
import StampedePool

/// Figures read from live objects at scrape time and written as Prometheus text.
public struct ScrapeFigures: Sendable {
    /// One gauge or counter sample.
    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: Double
        /// Appended to the family name (`_bucket`, `_sum`, `_count` for histograms).
        public var suffix: String = ""

        public init(labels: [(String, String)], value: Double, suffix: String = "") {
            self.labels = labels
            self.value = value
            self.suffix = suffix
        }
    }

    /// A metric family: name, type (`gauge` or `counter`), help, samples.
    public struct Family: Sendable {
        public var name: String
        public var type: String
        public var help: String
        public var samples: [Sample]
    }

    public var families: [Family] = []

    public init() {}

    /// Adds a family.
    public mutating func add(_ name: String, _ type: String, _ help: String, _ samples: [Sample]) {
        families.append(Family(name: name, type: type, help: help, samples: samples))
    }

    /// Adds a family with one sample per item, labelled `label="<item name>"`.
    public mutating func add<Item>(_ name: String, _ type: String, _ help: String, label: String,
                                   _ items: [(name: String, item: Item)], _ value: (Item) -> Int) {
        add(name, type, help, items.map { Sample(labels: [(label, $0.name)], value: Double(value($0.item))) })
    }

    /// Adds a family with one unlabelled sample.
    public mutating func add(_ name: String, _ type: String, _ help: String, value: Double) {
        add(name, type, help, [Sample(labels: [], value: value)])
    }

    /// Adds a histogram family with one series per item, labelled `label="<item name>"`.
    public mutating func addHistogram(_ name: String, _ help: String, label: String,
                                      _ items: [(name: String, histogram: LatencyHistogram)]) {
        var samples: [Sample] = []
        for (itemName, histogram) in items {
            for (le, count) in histogram.cumulative {
                let bound = le.isInfinite ? "+Inf" : String(le)
                samples.append(Sample(labels: [(label, itemName), ("le", bound)], value: Double(count), suffix: "_bucket"))
            }
            samples.append(Sample(labels: [(label, itemName)], value: histogram.sum, suffix: "_sum"))
            samples.append(Sample(labels: [(label, itemName)], value: Double(histogram.count), suffix: "_count"))
        }
        add(name, "histogram", help, samples)
    }

    func write(into text: inout String) {
        for family in families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for sample in family.samples {
                text += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    text += "{" + sample.labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
                }
                let value = sample.value
                text += " " + (value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)) + "\n"
            }
        }
    }
}
