import Foundation
import Testing
@testable import StampedeService

@Suite("ConfigurationLoader")
struct ConfigurationLoaderTests {
    static let noEnvironment: @Sendable (String) -> String? = { _ in nil }

    /// Writes `text` to a fresh temporary file, runs `body` with its path and removes the file.
    @discardableResult
    static func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("stampede-config-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    /// Loads `text` as the configuration file, expecting a refusal, and returns it.
    static func error(_ text: String, environment: [String: String] = [:]) throws -> ConfigurationError? {
        try withFile(text) { path -> ConfigurationError? in
            do {
                _ = try ConfigurationLoader.load(path: path, environment: { environment[$0] })
                return nil
            } catch {
                return error as? ConfigurationError
            }
        }
    }

    /// `limits.trusted_proxies` takes addresses and CIDR blocks from the file (a JSON array) or the
    /// environment (a comma-separated list, which wins); anything else is refused, naming it.
    @Test func trustedProxies() throws {
        let fromFile = try Self.withFile(#"{"limits": {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "fd00::/8"]}}"#) {
            try ConfigurationLoader.load(path: $0, environment: Self.noEnvironment)
        }
        #expect(fromFile.trustedProxies == ["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
        let fromEnvironment = try ConfigurationLoader.load(path: nil, environment: {
            $0 == "STAMPEDE_LIMITS_TRUSTED_PROXIES" ? "192.168.0.0/16, 127.0.0.1" : nil
        })
        #expect(fromEnvironment.trustedProxies == ["192.168.0.0/16", "127.0.0.1"])
        #expect(try Self.error(#"{"limits": {"trusted_proxies": ["10.0.0.0/33"]}}"#)
                == .invalidValue(key: "limits.trusted_proxies", value: "10.0.0.0/33", reason: "is not an IP address or CIDR block (e.g. 10.0.0.0/8)"))
        #expect(try Self.error(#"{"limits": {"trusted_proxies": "127.0.0.1"}}"#)
                == .wrongType(key: "limits.trusted_proxies", expected: "an array of addresses or CIDR blocks"))
    }

    /// Without a file or environment the defaults are used.
    @Test func defaultsWithoutFile() throws {
        let configuration = try ConfigurationLoader.load(path: nil, environment: Self.noEnvironment)
        #expect(configuration == StampedeConfiguration())
        #expect(configuration.listenAddress.host == "127.0.0.1")
        #expect(configuration.listenAddress.port == 8080)
    }

    /// Nested objects set dotted keys; `_`-prefixed members are comments at any level.
    @Test func nestedKeysAndComments() throws {
        let text = """
        {"_comment": "top", "listen": "0.0.0.0:9000", "threads": 2,
         "shards": {"_comment": 5, "count": 16, "batch_size": 1},
         "limits": {"read_timeout_seconds": 2.5, "idle_timeout_seconds": 30},
         "log": {"level": "debug"}}
        """
        let configuration = try Self.withFile(text) { try ConfigurationLoader.load(path: $0, environment: Self.noEnvironment) }
        var expected = StampedeConfiguration()
        expected.listen = "0.0.0.0:9000"
        expected.threads = 2
        expected.shardCount = 16
        expected.shardBatchSize = 1
        expected.readTimeoutSeconds = 2.5
        expected.idleTimeoutSeconds = 30
        expected.logLevel = "debug"
        #expect(configuration == expected)
    }

    /// Environment variables win over the file.
    @Test func environmentOverridesFile() throws {
        let environment: @Sendable (String) -> String? = { name in
            ["STAMPEDE_SHARDS_BATCH_SIZE": "7", "STAMPEDE_LISTEN": "127.0.0.1:1", "STAMPEDE_ADMIN_TOKEN": "secret",
             "STAMPEDE_SALES_CACHE_MAX_AGE_SECONDS": "0.5"][name]
        }
        let configuration = try Self.withFile(#"{"shards": {"batch_size": 64}, "listen": "127.0.0.1:2"}"#) {
            try ConfigurationLoader.load(path: $0, environment: environment)
        }
        #expect(configuration.shardBatchSize == 7)
        #expect(configuration.listen == "127.0.0.1:1")
        #expect(configuration.adminToken == "secret")
        #expect(configuration.cacheMaxAgeSeconds == 0.5)
    }

    /// Environment overrides apply without a file too, and bad values name the variable.
    @Test func environmentWithoutFile() throws {
        let configuration = try ConfigurationLoader.load(path: nil, environment: { $0 == "STAMPEDE_THREADS" ? "3" : nil })
        #expect(configuration.threads == 3)
        #expect(throws: ConfigurationError.wrongType(key: "STAMPEDE_THREADS", expected: "an integer")) {
            try ConfigurationLoader.load(path: nil, environment: { $0 == "STAMPEDE_THREADS" ? "three" : nil })
        }
        #expect(throws: ConfigurationError.outOfRange(key: "STAMPEDE_SHARDS_COUNT", value: "0", range: "1...4096")) {
            try ConfigurationLoader.load(path: nil, environment: { $0 == "STAMPEDE_SHARDS_COUNT" ? "0" : nil })
        }
    }

    /// An unknown key is refused by its dotted name, nested or not.
    @Test func unknownKey() throws {
        #expect(try Self.error(#"{"x": {"y": 1}}"#) == .unknownKey("x.y"))
        #expect(try Self.error(#"{"shards": {"count": 8, "size": 1}}"#) == .unknownKey("shards.size"))
        #expect(try Self.error(#"{"threds": 1}"#) == .unknownKey("threds"))
        // A section given as a scalar is not a key either.
        #expect(try Self.error(#"{"shards": 8}"#) == .unknownKey("shards"))
    }

    /// A value of the wrong JSON type is refused naming the key and the expected type.
    @Test func wrongType() throws {
        #expect(try Self.error(#"{"threads": "2"}"#) == .wrongType(key: "threads", expected: "an integer"))
        #expect(try Self.error(#"{"shards": {"batch_size": 1.5}}"#) == .wrongType(key: "shards.batch_size", expected: "an integer"))
        #expect(try Self.error(#"{"listen": 8080}"#) == .wrongType(key: "listen", expected: "a string"))
        #expect(try Self.error(#"{"limits": {"read_timeout_seconds": "10"}}"#) == .wrongType(key: "limits.read_timeout_seconds", expected: "a number"))
        #expect(try Self.error(#"{"log": {"level": null}}"#) == .wrongType(key: "log.level", expected: "a string"))
    }

    /// A value outside its range is refused naming the key, the value and the range.
    @Test func outOfRange() throws {
        #expect(try Self.error(#"{"shards": {"batch_size": 0}}"#) == .outOfRange(key: "shards.batch_size", value: "0", range: "1...5000"))
        #expect(try Self.error(#"{"shards": {"count": 4097}}"#) == .outOfRange(key: "shards.count", value: "4097", range: "1...4096"))
        #expect(try Self.error(#"{"threads": -1}"#) == .outOfRange(key: "threads", value: "-1", range: "0...256"))
        guard case .outOfRange(let key, _, _)? = try Self.error(#"{"sales": {"cache_max_age_seconds": 2}}"#) else {
            Issue.record("expected outOfRange")
            return
        }
        #expect(key == "sales.cache_max_age_seconds")
    }

    /// A `listen` that is not host:port is refused; so is a bad log level.
    @Test(arguments: ["8080", ":8080", "localhost", "localhost:", "localhost:http", "localhost:65536", "localhost:-1", ""])
    func badListen(listen: String) throws {
        guard case .invalidValue(let key, let value, _)? = try Self.error(#"{"listen": "\#(listen)"}"#) else {
            Issue.record("accepted listen \(listen)")
            return
        }
        #expect(key == "listen")
        #expect(value == listen)
    }

    /// Other string validations name their key.
    @Test func otherInvalidValues() throws {
        #expect(try Self.error(#"{"log": {"level": "loud"}}"#)?.isInvalidValue(key: "log.level") == true)
        #expect(try Self.error(#"{"redis": {"writer": "nohost"}}"#)?.isInvalidValue(key: "redis.writer") == true)
        #expect(try Self.error(#"{"postgres": {"reader": ""}}"#)?.isInvalidValue(key: "postgres.reader") == true)
        #expect(try Self.error("{}", environment: ["STAMPEDE_LISTEN": "x"])?.isInvalidValue(key: "STAMPEDE_LISTEN") == true)
    }

    /// Invalid JSON is refused with the byte offset; a non-object document is refused too.
    @Test func invalidJSON() throws {
        try Self.withFile(#"{"threads": }"#) { path in
            #expect(throws: ConfigurationError.invalidJSON(path: path, offset: 12, reason: "unexpected character")) {
                try ConfigurationLoader.load(path: path, environment: Self.noEnvironment)
            }
        }
        try Self.withFile("[1]") { path in
            #expect(throws: ConfigurationError.notAnObject(path: path)) {
                try ConfigurationLoader.load(path: path, environment: Self.noEnvironment)
            }
        }
        guard case .invalidJSON(_, let offset, _)? = try Self.error(#"{"a": 1,}"#) else {
            Issue.record("expected invalidJSON")
            return
        }
        #expect(offset == 8)
    }

    /// A missing file is an unreadable-file error carrying ENOENT.
    @Test func missingFile() {
        let path = "/nonexistent/stampede-\(UUID().uuidString).json"
        #expect(throws: ConfigurationError.unreadableFile(path: path, errno: ENOENT)) {
            try ConfigurationLoader.load(path: path, environment: Self.noEnvironment)
        }
    }

    /// Environment names are `STAMPEDE_` plus the dotted name in upper case with `_` for `.`.
    @Test func environmentNames() throws {
        let key = try #require(ConfigurationKey.all.first { $0.name == "shards.batch_size" })
        #expect(key.environmentName == "STAMPEDE_SHARDS_BATCH_SIZE")
        let listen = try #require(ConfigurationKey.all.first { $0.name == "listen" })
        #expect(listen.environmentName == "STAMPEDE_LISTEN")
        let names = ConfigurationKey.all.map(\.environmentName)
        #expect(Set(names).count == names.count)
        #expect(names.contains("STAMPEDE_ADMIN_TOKEN"))
    }

    /// Differences are split into keys applied live and keys needing a restart.
    @Test func differenceSplitsLiveAndRestart() {
        let old = StampedeConfiguration()
        var new = old
        #expect(ConfigurationLoader.difference(from: old, to: new) == ([], []))
        new.shardBatchSize = 1
        new.adminToken = "t"
        new.shardCount = 4
        new.listen = "0.0.0.0:80"
        new.readTimeoutSeconds = 1.5
        let difference = ConfigurationLoader.difference(from: old, to: new)
        #expect(Set(difference.live) == ["shards.batch_size", "admin_token", "shards.count"])
        #expect(Set(difference.restart) == ["listen", "limits.read_timeout_seconds"])
    }

    /// A reload keeps restart-only keys at the values the process runs with, so a second reload
    /// of the same file reports them again; live keys take their new values.
    @Test func reloadKeepsRestartOnlyKeysPending() {
        let running = StampedeConfiguration()
        var read = running
        read.shardBatchSize = 7
        read.listen = "0.0.0.0:80"
        read.redisPoolSize = 3
        let inForce = ConfigurationLoader.inForce(running: running, read: read)
        #expect(inForce.shardBatchSize == 7)
        #expect(inForce.listen == running.listen && inForce.redisPoolSize == running.redisPoolSize)
        let second = ConfigurationLoader.difference(from: inForce, to: read)
        #expect(second.live.isEmpty)
        #expect(Set(second.restart) == ["listen", "redis.pool_size"])
    }

    /// The shipped `Config/stampede.json` loads and matches the built-in defaults it documents.
    @Test func shippedConfigurationLoads() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/stampede.json").path
        let configuration = try ConfigurationLoader.load(path: path, environment: Self.noEnvironment)
        #expect(configuration == StampedeConfiguration())
    }

    /// Pins, per-shard overrides and shedding keys load from the file and from the environment;
    /// a bad sale id, an unknown override field or an override naming no shard is refused by name.
    @Test func shardTuningKeys() throws {
        let text = #"{"shards": {"count": 4, "pinned": ["hot", "warm"], "overrides": {"4": {"batch_size": 256, "max_in_flight": 4096}, "1": {"batch_size": 8}}}, "shedding": {"adaptive": false, "stock_factor": 1.5}}"#
        let configuration = try Self.withFile(text) { try ConfigurationLoader.load(path: $0, environment: Self.noEnvironment) }
        #expect(configuration.pinnedSales == ["hot", "warm"])
        #expect(configuration.shardOverrides == [4: ShardOverride(batchSize: 256, maxInFlight: 4096), 1: ShardOverride(batchSize: 8)])
        #expect(configuration.sheddingAdaptive == false && configuration.sheddingStockFactor == 1.5)
        let environment = ["STAMPEDE_SHARDS_PINNED": "a,b,c", "STAMPEDE_SHARDS_OVERRIDES": "0:16:,2::64", "STAMPEDE_SHEDDING_ADAPTIVE": "on"]
        let fromEnvironment = try ConfigurationLoader.load(path: nil, environment: { environment[$0] })
        #expect(fromEnvironment.pinnedSales == ["a", "b", "c"])
        #expect(fromEnvironment.shardOverrides == [0: ShardOverride(batchSize: 16), 2: ShardOverride(maxInFlight: 64)])
        #expect(fromEnvironment.sheddingAdaptive)
        #expect(try Self.error(#"{"shards": {"pinned": ["bad id"]}}"#)?.isInvalidValue(key: "shards.pinned") == true)
        #expect(try Self.error(#"{"shards": {"overrides": {"1": {"batch": 3}}}}"#) == .unknownKey("shards.overrides.1.batch"))
        #expect(try Self.error(#"{"shards": {"count": 2, "overrides": {"5": {"batch_size": 3}}}}"#)?.isInvalidValue(key: "shards.overrides") == true)
        #expect(try Self.error(#"{"shedding": {"adaptive": "maybe"}}"#) == .wrongType(key: "shedding.adaptive", expected: "true or false"))
    }

    /// The example profile `Config/promo-large.json` loads, pinning its hero sale.
    @Test func promoProfileLoads() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/promo-large.json").path
        let configuration = try ConfigurationLoader.load(path: path, environment: Self.noEnvironment)
        #expect(configuration.pinnedSales == ["promo-hero"])
        #expect(configuration.shardOverrides[8]?.batchSize == 512)
        #expect(configuration.logFormat == "json")
    }

    /// Every key of the file format round-trips through the file: a file listing each default reloads as the defaults.
    @Test func everyKeyIsSettable() throws {
        let defaults = StampedeConfiguration()
        var sections: [String: [String: String]] = [:]
        var top: [String: String] = [:]
        for key in ConfigurationKey.all {
            let value = key.jsonLiteral(defaults)
            let parts = key.name.split(separator: ".")
            if parts.count == 2 { sections[String(parts[0]), default: [:]][String(parts[1])] = value } else { top[key.name] = value }
        }
        var members = top.map { "\"\($0.key)\": \($0.value)" }
        for (section, values) in sections {
            members.append("\"\(section)\": {" + values.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}")
        }
        let text = "{" + members.joined(separator: ", ") + "}"
        let configuration = try Self.withFile(text) { try ConfigurationLoader.load(path: $0, environment: Self.noEnvironment) }
        #expect(configuration == defaults)
    }
}

extension ConfigurationError {
    fileprivate func isInvalidValue(key expected: String) -> Bool {
        if case .invalidValue(let key, _, _) = self { return key == expected }
        return false
    }
}
