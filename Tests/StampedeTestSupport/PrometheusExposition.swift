/// A Prometheus text exposition read back into families, so tests can compare a scrape with the
/// metric catalogue (names, `# TYPE`, `# HELP` and the label names of every sample).
public struct PrometheusExposition {
    /// One family as the text shows it.
    public struct Family {
        public var type: String?
        public var help: String?
        /// Each sample's name (the family name, or it plus `_bucket`/`_sum`/`_count`) and label names.
        public var samples: [(name: String, labelNames: [String])] = []
    }

    /// Families by name, from their `# TYPE` lines (samples attach to the last family declared).
    public var families: [String: Family] = [:]
    /// Lines that could not be read (a test expects none).
    public var unreadable: [String] = []

    public init(_ text: String) {
        var current: String?
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                let name = String(rest.prefix { $0 != " " })
                let value = String(rest.dropFirst(name.count + 1))
                if line.hasPrefix("# HELP ") { families[name, default: Family()].help = value } else { families[name, default: Family()].type = value }
                current = name
            } else if let current, let sample = Self.sample(line) {
                families[current, default: Family()].samples.append(sample)
            } else {
                unreadable.append(line)
            }
        }
    }

    /// `name{a="x",b="y"} value` or `name value` → the name and label names (values may hold `{`, `,` and escaped quotes).
    static func sample(_ line: String) -> (name: String, labelNames: [String])? {
        let characters = Array(line)
        var index = 0
        while index < characters.count, characters[index] != "{", characters[index] != " " { index += 1 }
        let name = String(characters[0..<index])
        var labelNames: [String] = []
        if index < characters.count, characters[index] == "{" {
            index += 1
            while index < characters.count, characters[index] != "}" {
                let start = index
                while index < characters.count, characters[index] != "=" { index += 1 }
                labelNames.append(String(characters[start..<index]))
                index += 1
                guard index < characters.count, characters[index] == "\"" else { return nil }
                index += 1
                while index < characters.count, characters[index] != "\"" { index += characters[index] == "\\" ? 2 : 1 }
                index += 1
                if index < characters.count, characters[index] == "," { index += 1 }
            }
            index += 1
        }
        guard !name.isEmpty, index < characters.count, characters[index] == " ",
              Double(String(characters[(index + 1)...])) != nil || String(characters[(index + 1)...]) == "+Inf" else { return nil }
        return (name, labelNames)
    }

    /// What a family should look like: name, type, help (`nil`: no `# HELP` line) and label names.
    public typealias Expected = (name: String, type: String, help: String?, labels: [String])

    /// How the exposition differs from showing exactly `expected` (empty when it matches): a family
    /// missing or extra, a type or help that differs, a sample with other label names (histogram
    /// buckets add `le` last), an unreadable line.
    public func mismatches(_ expected: [Expected]) -> [String] {
        var found = unreadable.map { "unreadable line: \($0)" }
        let names = Set(expected.map(\.name))
        found += families.keys.filter { !names.contains($0) }.sorted().map { "not in the catalogue: \($0)" }
        for family in expected {
            guard let shown = families[family.name] else { found.append("missing: \(family.name)"); continue }
            if shown.type != family.type { found.append("\(family.name): type \(shown.type ?? "none")") }
            if shown.help != family.help { found.append("\(family.name): help \(shown.help ?? "none")") }
            if shown.samples.isEmpty { found.append("\(family.name): no samples") }
            let suffixes = family.type == "histogram" ? ["_bucket", "_sum", "_count"] : [""]
            for sample in shown.samples {
                let suffix = String(sample.name.dropFirst(family.name.count))
                guard sample.name.hasPrefix(family.name), suffixes.contains(suffix) else {
                    found.append("\(family.name): sample \(sample.name)")
                    continue
                }
                if sample.labelNames != family.labels + (suffix == "_bucket" ? ["le"] : []) {
                    found.append("\(sample.name): labels \(sample.labelNames)")
                }
            }
        }
        return found
    }
}
