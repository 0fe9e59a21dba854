import Glibc
import StampedeSystem
import StampedeHTTP
import StampedeJSON

/// Why a configuration was refused; each names the key or file at fault. A refused configuration
/// never starts a half-configured server.
public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, errno: Int32)
    case invalidJSON(path: String, offset: Int, reason: String)
    case notAnObject(path: String)
    case unknownKey(String)
    case wrongType(key: String, expected: String)
    case outOfRange(key: String, value: String, range: String)
    case invalidValue(key: String, value: String, reason: String)
    /// Keys that are valid alone but not together, e.g. `tls.listen` without a certificate.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let code): return "cannot read configuration file \(path): \(String(cString: strerror(code)))"
        case .invalidJSON(let path, let offset, let reason): return "\(path): invalid JSON at byte \(offset): \(reason)"
        case .notAnObject(let path): return "\(path): the configuration must be a JSON object"
        case .unknownKey(let key): return "unknown configuration key '\(key)'"
        case .wrongType(let key, let expected): return "configuration key '\(key)' must be \(expected)"
        case .outOfRange(let key, let value, let range): return "configuration key '\(key)' = \(value) is outside \(range)"
        case .invalidValue(let key, let value, let reason): return "configuration key '\(key)' = '\(value)' \(reason)"
        case .inconsistent(let reason): return "configuration: \(reason)"
        }
    }
}

/// Reads the configuration: defaults, then the JSON file, then `STAMPEDE_*` environment variables.
public enum ConfigurationLoader {
    /// Loads and validates. `environment` looks a variable up (the process environment by default).
    public static func load(path: String?, environment: @Sendable (String) -> String? = processEnvironment) throws(ConfigurationError) -> StampedeConfiguration {
        var configuration = StampedeConfiguration()
        if let path {
            let bytes = try readFile(path)
            let document: JSONValue
            do {
                document = try JSONParser.parse(bytes)
            } catch {
                throw .invalidJSON(path: path, offset: error.offset, reason: error.reason)
            }
            guard case .object(let members) = document else { throw .notAnObject(path: path) }
            var flat: [(String, JSONValue)] = []
            flatten(members, prefix: "", into: &flat)
            for (name, value) in flat {
                guard let key = ConfigurationKey.all.first(where: { $0.name == name }) else { throw .unknownKey(name) }
                try apply(key, json: value, to: &configuration)
            }
        }
        for key in ConfigurationKey.all {
            if let text = environment(key.environmentName) {
                try apply(key, text: text, to: &configuration, source: key.environmentName)
            }
        }
        if !configuration.tlsListen.isEmpty,
           configuration.tlsCertificateFile.isEmpty || configuration.tlsPrivateKeyFile.isEmpty {
            throw .inconsistent("tls.listen needs tls.certificate_file and tls.private_key_file")
        }
        let shards = configuration.shardCount + Set(configuration.pinnedSales).count
        if let index = configuration.shardOverrides.keys.sorted().last, index >= shards {
            throw .invalidValue(key: "shards.overrides", value: String(index),
                                reason: "names no shard: there are \(shards) (shards.count + shards.pinned), numbered from 0")
        }
        return configuration
    }

    /// The process environment.
    public static let processEnvironment: @Sendable (String) -> String? = { name in
        getenv(name).map { String(cString: $0) }
    }

    /// Nested objects become dotted names; members whose name starts with `_` are comments. An
    /// object that is the value of a key (`shards.overrides`) stays whole.
    static func flatten(_ members: [String: JSONValue], prefix: String, into flat: inout [(String, JSONValue)]) {
        for (name, value) in members.sorted(by: { $0.key < $1.key }) where !name.hasPrefix("_") {
            let full = prefix.isEmpty ? name : prefix + "." + name
            if case .object(let inner) = value, !ConfigurationKey.all.contains(where: { $0.name == full }) {
                flatten(inner, prefix: full, into: &flat)
            } else {
                flat.append((full, value))
            }
        }
    }

    static func apply(_ key: ConfigurationKey, json: JSONValue, to configuration: inout StampedeConfiguration) throws(ConfigurationError) {
        switch key.kind {
        case .string:
            guard let text = json.stringValue else { throw .wrongType(key: key.name, expected: "a string") }
            try apply(key, text: text, to: &configuration, source: key.name)
        case .int:
            guard let number = json.integerValue else { throw .wrongType(key: key.name, expected: "an integer") }
            try apply(key, text: String(number), to: &configuration, source: key.name)
        case .double:
            guard let number = json.doubleValue else { throw .wrongType(key: key.name, expected: "a number") }
            try apply(key, text: String(number), to: &configuration, source: key.name)
        case .bool:
            guard let flag = json.boolValue else { throw .wrongType(key: key.name, expected: "true or false") }
            try apply(key, text: String(flag), to: &configuration, source: key.name)
        case .list(_, let items, _):
            // An array of strings in the file, a comma-separated list in the environment: both are
            // checked item by item in the text form below.
            let expected = "an array of \(items)"
            guard case .array(let items) = json else { throw .wrongType(key: key.name, expected: expected) }
            var values: [String] = []
            for item in items {
                guard let value = item.stringValue else { throw .wrongType(key: key.name, expected: expected) }
                values.append(value)
            }
            try apply(key, text: values.joined(separator: ","), to: &configuration, source: key.name)
        case .shardOverrides:
            guard case .object(let shards) = json else { throw .wrongType(key: key.name, expected: "an object of shard index → settings") }
            var items: [String] = []
            for (index, settings) in shards.sorted(by: { $0.key < $1.key }) {
                guard case .object(let fields) = settings else {
                    throw .wrongType(key: "\(key.name).\(index)", expected: "an object with batch_size and/or max_in_flight")
                }
                for field in fields.keys where !["batch_size", "max_in_flight"].contains(field) && !field.hasPrefix("_") {
                    throw .unknownKey("\(key.name).\(index).\(field)")
                }
                func number(_ field: String) throws(ConfigurationError) -> String {
                    guard let value = fields[field] else { return "" }
                    guard let integer = value.integerValue else { throw .wrongType(key: "\(key.name).\(index).\(field)", expected: "an integer") }
                    return String(integer)
                }
                items.append("\(index):\(try number("batch_size")):\(try number("max_in_flight"))")
            }
            try apply(key, text: items.joined(separator: ","), to: &configuration, source: key.name)
        }
    }

    static func apply(_ key: ConfigurationKey, text: String, to configuration: inout StampedeConfiguration, source: String) throws(ConfigurationError) {
        switch key.kind {
        case .string(let path, let validate):
            if let reason = validate(text) {
                throw .invalidValue(key: source, value: key.secret ? "(secret, not shown)" : text, reason: reason)
            }
            configuration[keyPath: path] = text
        case .int(let path, let range):
            guard let value = Int(text) else { throw .wrongType(key: source, expected: "an integer") }
            guard range.contains(value) else { throw .outOfRange(key: source, value: text, range: "\(range.lowerBound)...\(range.upperBound)") }
            configuration[keyPath: path] = value
        case .double(let path, let range):
            guard let value = Double(text) else { throw .wrongType(key: source, expected: "a number") }
            guard range.contains(value) else { throw .outOfRange(key: source, value: text, range: "\(range.lowerBound)...\(range.upperBound)") }
            configuration[keyPath: path] = value
        case .bool(let path):
            switch text.lowercased() {
            case "true", "1", "on", "yes": configuration[keyPath: path] = true
            case "false", "0", "off", "no": configuration[keyPath: path] = false
            default: throw .wrongType(key: source, expected: "true or false")
            }
        case .list(let path, _, let validate):
            let values = text.split(separator: ",", omittingEmptySubsequences: true).map { String($0.trimmingPrefix(" ")) }
            for value in values {
                if let reason = validate(value) { throw .invalidValue(key: source, value: value, reason: reason) }
            }
            configuration[keyPath: path] = values
        case .shardOverrides(let path):
            var overrides: [Int: ShardOverride] = [:]
            for item in text.split(separator: ",") {
                let fields = item.split(separator: ":", omittingEmptySubsequences: false)
                guard fields.count == 3, let index = Int(fields[0]), (0..<8192).contains(index) else {
                    throw .invalidValue(key: source, value: String(item), reason: "must be index:batch_size:max_in_flight")
                }
                func value(_ text: Substring, _ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
                    if text.isEmpty { return nil }
                    guard let number = Int(text) else { throw .wrongType(key: "\(source).\(index).\(name)", expected: "an integer") }
                    guard range.contains(number) else {
                        throw .outOfRange(key: "\(source).\(index).\(name)", value: String(text), range: "\(range.lowerBound)...\(range.upperBound)")
                    }
                    return number
                }
                overrides[index] = ShardOverride(batchSize: try value(fields[1], "batch_size", 1...5000),
                                                 maxInFlight: try value(fields[2], "max_in_flight", 1...1_000_000))
            }
            configuration[keyPath: path] = overrides
        }
    }

    static func isIdentifier(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return (1...64).contains(bytes.count) && bytes.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 46 || b == 95 || b == 58 || b == 45
        }
    }

    static func readFile(_ path: String) throws(ConfigurationError) -> [UInt8] {
        let limit = 1_048_576
        do {
            return try System.readFile(path, limit: limit)
        } catch where error.errno == EFBIG {
            throw .invalidJSON(path: path, offset: limit, reason: "file larger than 1 MiB")
        } catch {
            throw .unreadableFile(path: path, errno: error.errno)
        }
    }

    /// The configuration in force after a reload of `read` over `running`: the live keys take
    /// their new values, the restart-only keys keep the values the process runs with (it still
    /// listens, pools and logs as before), so the next reload reports them again.
    public static func inForce(running: StampedeConfiguration, read: StampedeConfiguration) -> StampedeConfiguration {
        var result = running
        for key in ConfigurationKey.all where key.live { key.copy(from: read, into: &result) }
        return result
    }

    /// The keys whose values differ between two configurations, split into those applied live and
    /// those that need a restart.
    public static func difference(from old: StampedeConfiguration, to new: StampedeConfiguration) -> (live: [String], restart: [String]) {
        var live: [String] = []
        var restart: [String] = []
        for key in ConfigurationKey.all where key.describe(old) != key.describe(new) {
            if key.live { live.append(key.name) } else { restart.append(key.name) }
        }
        return (live, restart)
    }
}
