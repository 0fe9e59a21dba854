import Foundation
import Glibc
import Testing

/// What the Fleet tests need from `scripts/test`: the stores it started (`STAMPEDE_TEST_REDIS`, or
/// `STAMPEDE_TEST_REDIS_CLUSTER` for a Redis Cluster; `STAMPEDE_TEST_PG`), the built binary and a
/// folder (as for the fault tests), and `haproxy` and `socat` installed.
///
/// They run only when `STAMPEDE_FLEET_TESTS=1` (scripts/test runs them apart, after the fault
/// tests). Enabled, a HAProxy that cannot start fails them: it never skips them.
enum FleetEnvironment {
    static var enabled: Bool { value("STAMPEDE_FLEET_TESTS") == "1" }

    static let trait = ConditionTrait.enabled(if: enabled, "STAMPEDE_FLEET_TESTS is not 1 (scripts/test runs them)")

    /// The repository, for Config/haproxy.cfg and scripts/lib/fleet.sh.
    static var root: String { value("STAMPEDE_ROOT") ?? FileManager.default.currentDirectoryPath }

    /// Where a test's HAProxy and instance logs go.
    static func directory(_ name: String) throws -> String {
        let directory = try FaultEnvironment.directory() + "/fleet-" + name
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The shared stores' settings for an instance: the Redis address and PostgreSQL URI, and
    /// `STAMPEDE_REDIS_CLUSTER` when scripts/test runs a Redis Cluster.
    static func stores() throws -> (redis: String, postgres: String, extra: [String: String]) {
        let postgres = try TestServices.postgresConninfo()
        if let cluster = value("STAMPEDE_TEST_REDIS_CLUSTER"), !cluster.isEmpty {
            let seed = String(cluster.split(separator: ",")[0])
            return (seed, postgres, ["STAMPEDE_REDIS_CLUSTER": cluster])
        }
        let redis = try TestServices.redisAddress()
        return ("\(redis.host):\(redis.port)", postgres, [:])
    }

    private static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

/// HAProxy in front of instances, from the run-time copy of Config/haproxy.cfg that
/// `write_haproxy_config` (scripts/lib/fleet.sh) writes — the config and code scripts/serve
/// --cluster uses — on a free port, with its runtime API socket in the test's folder.
final class FleetBalancer: @unchecked Sendable {
    let port: Int
    let directory: String
    let socketPath: String
    /// The bucketed sales' map HAProxy reads (a copy of Config/haproxy/bucketed-sales.map).
    let mapPath: String
    private let process: ChildProcess

    /// Starts HAProxy for instances on `ports` (servers s1, s2, … in this order) and waits until it
    /// sees every one of them up; throws (failing the test) when it cannot.
    init(instancePorts ports: [Int], directory: String) throws {
        self.port = FaultEnvironment.freePort()
        self.directory = directory
        self.socketPath = directory + "/haproxy.sock"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        mapPath = directory + "/bucketed-sales.map"
        try? FileManager.default.removeItem(atPath: mapPath)
        try FileManager.default.copyItem(atPath: FleetEnvironment.root + "/Config/haproxy/bucketed-sales.map", toPath: mapPath)
        let config = directory + "/haproxy.cfg"
        try Self.fleetScript("write_haproxy_config \"$@\"", [config] + ports.map { "127.0.0.1:\($0)" })
        var environment = ChildProcess.currentEnvironment()
        environment["STAMPEDE_LISTEN"] = "127.0.0.1:\(port)"
        environment["STAMPEDE_HAPROXY_SOCKET"] = socketPath
        environment["STAMPEDE_HAPROXY_ERRORS"] = FleetEnvironment.root + "/Config/haproxy"
        environment["STAMPEDE_HAPROXY_MAP"] = mapPath
        let check = try FaultEnvironment.run("/usr/sbin/haproxy", ["-c", "-q", "-f", config], environment: environment, check: false)
        guard check.status == 0 else { throw ChildFailure(description: "haproxy -c refused \(config): \(check.output)") }
        process = try ChildProcess("/usr/sbin/haproxy", ["-db", "-f", config], environment: environment,
                                   outputPath: directory + "/haproxy.log")
        // scripts/test kills leftovers by this pid file if a test run dies.
        try? String(process.pid).write(toFile: directory + "/haproxy.pid", atomically: true, encoding: .utf8)
        let count = ports.count
        let up = FaultEnvironment.wait(seconds: 15, every: 0.1) { (try? self.serversUp().count) == count }
        if !up {
            stop()
            let log = (try? String(contentsOfFile: directory + "/haproxy.log", encoding: .utf8)) ?? ""
            throw ChildFailure(description: "haproxy did not see \(count) instances up on \(port): \(log)")
        }
    }

    deinit { stop() }

    func stop() {
        process.send(SIGTERM)
        process.wait()
        unlink(directory + "/haproxy.pid")
    }

    /// One runtime API command (through socat); HAProxy's answer.
    func command(_ text: String) throws -> String {
        try FaultEnvironment.run("/bin/bash", ["-c", "echo \"$1\" | /usr/bin/socat -t 2 stdio UNIX-CONNECT:\"$2\"", "bash", text, socketPath]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The servers of the `stampede` backend HAProxy counts as `UP` now (s1, s2, …).
    func serversUp() throws -> [String] {
        try command("show stat").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 17, fields[0] == "stampede", fields[1].hasPrefix("s"), fields[17] == "UP" else { return nil }
            return String(fields[1])
        }
    }

    /// `scripts/fleet-instance stop`'s way: drain server `name` in HAProxy, wait until it holds no
    /// session there, SIGTERM `pid` and wait for its exit.
    func drainAndStop(server name: String, pid: pid_t) throws {
        try Self.fleetScript("drain_and_stop_instance \"$@\"", [socketPath, name, String(pid), "10"])
    }

    /// Runs `command` in bash with scripts/lib/services.sh and fleet.sh sourced, `arguments` as $@.
    private static func fleetScript(_ command: String, _ arguments: [String]) throws {
        let root = FleetEnvironment.root
        try FaultEnvironment.run("/bin/bash", ["-c", "source \"\(root)/scripts/lib/services.sh\" && source \"\(root)/scripts/lib/fleet.sh\" && \(command)",
                                               "fleet"] + arguments)
    }
}

/// Instances on the shared stores behind a `FleetBalancer`: the storefront as a client meets it.
final class Fleet: @unchecked Sendable {
    static let adminToken = FaultScenario.adminToken
    let directory: String
    let instances: [FaultStampede]
    let balancer: FleetBalancer

    /// `count` instances trusting HAProxy's PROXY header from 127.0.0.1, then HAProxy.
    init(_ name: String, instances count: Int = 2, extra: [String: String] = [:]) throws {
        directory = try FleetEnvironment.directory(name)
        let stores = try FleetEnvironment.stores()
        var environment = stores.extra
        environment["STAMPEDE_LIMITS_TRUSTED_PROXIES"] = "127.0.0.1"
        environment.merge(extra) { $1 }
        var started: [FaultStampede] = []
        for index in 1...count {
            started.append(try FaultStampede(redis: stores.redis, postgres: stores.postgres,
                                             logPath: "\(directory)/instance-\(index).log", extra: environment))
        }
        instances = started
        balancer = try FleetBalancer(instancePorts: started.map(\.port), directory: directory)
    }

    func tearDown() {
        balancer.stop()
        for instance in instances { instance.kill9() }
    }

    /// A client of the balancer (from the loopback address `source`, if given).
    func client(source: String? = nil, timeoutSeconds: Int = 15) throws -> HTTPTestClient {
        try HTTPTestClient(port: balancer.port, timeoutSeconds: timeoutSeconds, source: source)
    }

    /// Defines a live sale through the balancer; `201`.
    @discardableResult
    func createSale(_ sale: String, stock: Int, perUserLimit: Int = 1, ttlSeconds: Int = 900, buckets: Int = 1) throws -> HTTPTestClient.Response {
        let now = Date()
        let format = ISO8601DateFormatter()
        let body = """
        {"sku":"sku-fleet","price_cents":700,"stock":\(stock),"per_user_limit":\(perUserLimit),"reservation_ttl_seconds":\(ttlSeconds),\
        "starts_at":"\(format.string(from: now.addingTimeInterval(-60)))","ends_at":"\(format.string(from: now.addingTimeInterval(3600)))",\
        "buckets":\(buckets)}
        """
        return try client().request("PUT", "/admin/sales/\(sale)", body: body, headers: [("Authorization", "Bearer \(Self.adminToken)")])
    }

    /// `stampede_purchases_total{outcome="created"}` of each instance, in order.
    func createdPerInstance() throws -> [Int] {
        try instances.map { try Self.createdPurchases(port: $0.port) }
    }

    /// `stampede_purchases_total{outcome="created"}` of the instance on `port`.
    static func createdPurchases(port: Int) throws -> Int {
        let metrics = try HTTPTestClient(port: port, timeoutSeconds: 5).request("GET", "/metrics").text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("stampede_purchases_total{outcome=\"created\"}") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
    }
}
