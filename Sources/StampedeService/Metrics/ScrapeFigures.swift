import StampedeInventory

/// Figures read from live objects at scrape time and written as Prometheus text.
public struct ScrapeFigures: Sendable {
    /// One gauge or counter sample.
    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: Double
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

    func write(into text: inout String) {
        for family in families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            for sample in family.samples {
                text += family.name
                if !sample.labels.isEmpty {
                    text += "{" + sample.labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
                }
                let value = sample.value
                text += " " + (value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)) + "\n"
            }
        }
    }
}
