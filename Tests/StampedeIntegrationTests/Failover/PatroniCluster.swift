import Foundation
import Glibc
import Testing

/// The failover tests' PostgreSQL: one etcd and three Patroni-managed PostgreSQL nodes on free
/// loopback ports, started once per test process through scripts/lib/patroni.sh (the same code
/// scripts/serve --cluster runs) and shared by every scenario. Stopped when the test process exits
/// (and by scripts/test's failover phase, by its pid files, should the process die first).
///
/// They run only when `STAMPEDE_FAILOVER_TESTS=1` (scripts/test's failover phase).
final class PatroniCluster: @unchecked Sendable {
    static var enabled: Bool { getenv("STAMPEDE_FAILOVER_TESTS").map { String(cString: $0) } == "1" }

    static let trait = ConditionTrait.enabled(if: enabled, "STAMPEDE_FAILOVER_TESTS is not 1 (scripts/test runs them)")

    /// The one cluster of this test process.
    static let shared: Result<PatroniCluster, any Error> = Result { try PatroniCluster() }

    let directory: String
    let firstPort: Int
    let etcdPort: Int
    let restPort: Int
    static let nodes = 3

    /// One member as Patroni's REST API reports it.
    struct Member: Sendable, Equatable {
        var name: String
        var role: String
        var state: String
        var port: Int
        var timeline: Int
        /// 1, 2 or 3.
        var node: Int { Int(name.dropFirst("node".count)) ?? 0 }
    }

    private init() throws {
        directory = try FaultEnvironment.directory() + "/patroni"
        firstPort = Self.freeRun(of: 3)
        etcdPort = Self.freeRun(of: 2, avoiding: Set(firstPort..<(firstPort + 3)))
        restPort = Self.freeRun(of: 3, avoiding: Set(firstPort..<(firstPort + 3)).union(etcdPort..<(etcdPort + 2)))
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        Self.stopDirectory = strdup(directory)
        Self.stopPorts = (firstPort, etcdPort, restPort)
        atexit { PatroniCluster.stopAtExit() }
        try script("start")
    }

    /// The writer's URI: every node, `target_session_attrs=read-write` (reaches the primary).
    var writerURI: String { "postgresql://stampede@\(hosts)/stampede?target_session_attrs=read-write" }
    /// The reader's URI: every node, `target_session_attrs=prefer-standby`.
    var readerURI: String { "postgresql://stampede@\(hosts)/stampede?target_session_attrs=prefer-standby" }
    private var hosts: String { (0..<Self.nodes).map { "127.0.0.1:\(firstPort + $0)" }.joined(separator: ",") }

    /// Runs a `patroni_fixture` command of scripts/lib/patroni.sh against this cluster.
    func script(_ command: String, _ extra: [String] = []) throws {
        try Self.run(command, directory, (firstPort, etcdPort, restPort), extra)
    }

    private static func run(_ command: String, _ directory: String, _ ports: (Int, Int, Int), _ extra: [String]) throws {
        let root = getenv("STAMPEDE_ROOT").map { String(cString: $0) } ?? FileManager.default.currentDirectoryPath
        try FaultEnvironment.run("/bin/bash", [
            "-c", "source \"$0/scripts/lib/services.sh\" && source \"$0/scripts/lib/patroni.sh\" && patroni_fixture \"$@\"",
            root, command, directory, String(ports.0), String(ports.1), String(ports.2),
        ] + extra)
    }

    /// The members, from the first node whose REST API answers (empty if none does).
    func members() -> [Member] {
        for node in 0..<Self.nodes {
            guard let answer = try? rest(node: node + 1, ["--max-time", "2"], "/cluster"),
                  let object = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
                  let list = object["members"] as? [[String: Any]] else { continue }
            return list.map { member in
                Member(name: member["name"] as? String ?? "", role: member["role"] as? String ?? "",
                       state: member["state"] as? String ?? "", port: member["port"] as? Int ?? 0,
                       timeline: member["timeline"] as? Int ?? 0)
            }
        }
        return []
    }

    /// The running leader, if any.
    func leader() -> Member? { members().first { $0.role == "leader" && $0.state == "running" } }

    /// The synchronous standby, if any.
    func syncStandby() -> Member? { members().first { $0.role == "sync_standby" } }

    /// Whether node `node`'s PostgreSQL is a read-write primary: it assigns a transaction id (a
    /// commit that writes no WAL, so it does not wait for a synchronous standby).
    func acceptsWrites(node: Int) -> Bool {
        let uri = "postgresql://stampede@127.0.0.1:\(firstPort + node - 1)/stampede?connect_timeout=1"
        let result = try? FaultEnvironment.run("/usr/bin/psql", ["-d", uri, "-AtqX", "-v", "ON_ERROR_STOP=1", "-c",
                                                                 "SET statement_timeout = 1000; SELECT txid_current()"], check: false)
        return result?.status == 0
    }

    /// Whether node `node`'s Patroni process lives (whatever state its PostgreSQL is in).
    func patroniRuns(node: Int) -> Bool {
        guard let text = try? String(contentsOfFile: directory + "/node\(node)/patroni.pid", encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0,
              let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
        return command.contains("patroni")
    }

    /// kill -9 of node `node`'s Patroni and its postmaster: the machine is gone. Relaunches nothing.
    func kill9(node: Int) {
        let base = directory + "/node\(node)"
        for file in [base + "/patroni.pid", base + "/data/postmaster.pid"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  let line = text.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces)) else { continue }
            kill(pid, SIGKILL)
        }
    }

    /// Starts node `node`'s Patroni again (it rejoins: pg_rewind, or a new clone) and waits until
    /// the cluster has a leader, a synchronous standby and every member running.
    func restart(node: Int) throws {
        try script("start-node", [String(node)])
        try script("wait-healthy", ["120"])
    }

    /// A planned switchover through the leader's REST API, to the synchronous standby; Patroni's
    /// answer (curl fails unless it is a 2xx).
    func switchover(from leader: Member, to candidate: Member) throws -> String {
        try rest(node: leader.node, ["--max-time", "60", "-X", "POST", "-H", "Content-Type: application/json", "-d",
                                     "{\"leader\":\"\(leader.name)\",\"candidate\":\"\(candidate.name)\"}"], "/switchover")
    }

    /// One call to node `node`'s REST API with curl (which fails on a non-2xx answer).
    private func rest(node: Int, _ options: [String], _ path: String) throws -> String {
        try FaultEnvironment.run("/usr/bin/curl", ["-fsS"] + options + ["http://127.0.0.1:\(restPort + node - 1)\(path)"]).output
    }

    // MARK: Ports and the exit-time stop

    /// The first of `count` consecutive free loopback ports (outside `avoiding`).
    /// `count` consecutive free ports, below the kernel's ephemeral range (`ip_local_port_range`,
    /// 32768–60999 by default): a port in that range can be taken as the local port of any
    /// outgoing connection between this check and the server's bind (etcd failed to start on
    /// exactly that once); below it only a server binding it explicitly can.
    private static func freeRun(of count: Int, avoiding: Set<Int> = []) -> Int {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let first = Int.random(in: 20_000..<(32_000 - count), using: &generator)
            let run = first..<(first + count)
            if avoiding.isDisjoint(with: run), run.allSatisfy(FaultEnvironment.isFree) { return first }
        }
        return FaultEnvironment.freePort()
    }

    nonisolated(unsafe) private static var stopDirectory: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var stopPorts = (0, 0, 0)

    private static func stopAtExit() {
        guard let pointer = stopDirectory else { return }
        try? run("stop", String(cString: pointer), stopPorts, [])
    }
}
