import Foundation
import Glibc
import StampedeRedis

/// A private Redis Cluster of 3 primaries and 3 replicas for the failover tests: real
/// `redis-server` processes on free loopback ports (bus ports +10000), data under the fault
/// folder, which these tests kill, pause, resume and fail over at will.
final class RedisClusterProcesses: @unchecked Sendable {
    struct Node {
        var address: RedisNodeAddress
        var directory: String
        var process: ChildProcess?
    }

    private(set) var nodes: [Node] = []
    let directory: String

    /// Starts the six nodes and creates the cluster; returns once every slot is served.
    init(name: String, nodeTimeoutMilliseconds: Int = 3000) throws {
        directory = try FaultEnvironment.directory() + "/" + name + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ports: [Int] = []
        while ports.count < 6 {
            let port = Int.random(in: 20_000...50_000)
            if !ports.contains(port), FaultEnvironment.isFree(port), FaultEnvironment.isFree(port + 10_000) { ports.append(port) }
        }
        for port in ports {
            let dir = "\(directory)/\(port)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            nodes.append(Node(address: RedisNodeAddress(host: "127.0.0.1", port: port), directory: dir, process: nil))
        }
        for index in nodes.indices { try start(index, nodeTimeoutMilliseconds: nodeTimeoutMilliseconds) }
        for node in nodes {
            guard FaultEnvironment.wait(seconds: 10, { (try? self.cli(node.address, ["PING"])) == "PONG" }) else {
                throw ChildFailure(description: "redis node \(node.address) did not start")
            }
        }
        try FaultEnvironment.run("/usr/bin/redis-cli", ["--cluster", "create"] + nodes.map { "\($0.address)" }
                                 + ["--cluster-replicas", "1", "--cluster-yes"])
        guard FaultEnvironment.wait(seconds: 30, every: 0.2, { self.checkPasses() }) else {
            throw ChildFailure(description: "the cluster in \(directory) did not become healthy")
        }
    }

    deinit { stopAll() }

    private var timeout = 3000

    private func start(_ index: Int, nodeTimeoutMilliseconds: Int) throws {
        timeout = nodeTimeoutMilliseconds
        let node = nodes[index]
        nodes[index].process = try ChildProcess("/usr/bin/redis-server", [
            "--port", String(node.address.port), "--bind", "127.0.0.1", "--dir", node.directory,
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", String(nodeTimeoutMilliseconds), "--appendonly", "yes",
            "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--pidfile", node.directory + "/redis.pid",
        ], outputPath: node.directory + "/redis.log")
    }

    /// Every node's address, `host:port,…` (what Stampede's `redis.cluster` takes).
    var seeds: [String] { nodes.map { "\($0.address)" } }

    /// Runs `redis-cli` against one node (blocking); its trimmed output.
    @discardableResult
    func cli(_ address: RedisNodeAddress, _ arguments: [String]) throws -> String {
        try FaultEnvironment.run("/usr/bin/redis-cli", ["-h", address.host, "-p", String(address.port)] + arguments)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The map as a live node sees it now.
    func map() async -> RedisClusterMap? {
        for node in nodes where node.process?.isRunning == true {
            let client = RedisClient(host: node.address.host, port: node.address.port, poolSize: 1,
                                     acquireTimeout: .seconds(2), connectTimeout: .milliseconds(500), commandTimeout: .seconds(1))
            defer { client.shutdown() }
            if let reply = try? await client.command(["CLUSTER", "SHARDS"]), let map = try? RedisClusterMap(shardsReply: reply),
               map.coveredSlots > 0 {
                return map
            }
        }
        return nil
    }

    /// Whether `redis-cli --cluster check` finds every slot covered, nothing open and no errors.
    func checkPasses() -> Bool {
        guard let live = nodes.first(where: { $0.process?.isRunning == true }),
              let result = try? FaultEnvironment.run("/usr/bin/redis-cli", ["--cluster", "check", "\(live.address)"], check: false)
        else { return false }
        return result.status == 0 && result.output.contains("[OK] All 16384 slots covered")
            && !result.output.contains("[ERR]") && !result.output.contains("[WARNING]")
    }

    /// Waits until every shard has an online primary and an online replica (replicas report
    /// `online` only once their first sync is done).
    func waitUntilHealthy(seconds: Double = 30) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let map = await map(), map.coveredSlots == RedisClusterSlot.count, map.primaries.count == 3,
               map.shards.allSatisfy({ $0.primary != nil && !$0.replicas.isEmpty }) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Waits until the primary serving `slot` is another node than `old`; returns the new one.
    func waitForNewPrimary(slot: Int, replacing old: RedisNodeAddress, seconds: Double) async -> RedisNodeAddress? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let primary = await map()?.primary(forSlot: slot), primary != old { return primary }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func index(of address: RedisNodeAddress) -> Int { nodes.firstIndex { $0.address == address }! }

    /// `kill -9` of one node.
    func kill(_ address: RedisNodeAddress) {
        let index = index(of: address)
        nodes[index].process?.send(SIGKILL)
        nodes[index].process?.wait()
    }

    /// Freezes (SIGSTOP) or resumes (SIGCONT) one node.
    func pause(_ address: RedisNodeAddress) { nodes[index(of: address)].process?.send(SIGSTOP) }
    func resume(_ address: RedisNodeAddress) { nodes[index(of: address)].process?.send(SIGCONT) }

    /// Restarts a killed node with its data and `nodes.conf`: it rejoins as a replica.
    func restart(_ address: RedisNodeAddress) throws { try start(index(of: address), nodeTimeoutMilliseconds: timeout) }

    func stopAll() {
        for node in nodes {
            node.process?.send(SIGCONT)
            node.process?.send(SIGKILL)
            node.process?.wait()
        }
    }
}
