import Foundation
import Glibc

/// A Redis server of a fault test's own: a child process on a free port with its data in its own
/// folder (append-only file, fsync every second, like production), which the test kills and
/// restarts — with its data, without it, or from an older snapshot.
final class FaultRedis: @unchecked Sendable {
    let port: Int
    let directory: String
    private var process: ChildProcess?

    init(directory: String) throws {
        port = FaultEnvironment.freePort()
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start(appendOnly: true)
    }

    deinit { kill9() }

    var address: String { "127.0.0.1:\(port)" }

    func start(appendOnly: Bool) throws {
        let process = try ChildProcess("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
                             "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "everysec",
                             "--daemonize", "no", "--logfile", directory + "/redis.log", "--pidfile", directory + "/redis.pid"],
                                       outputPath: directory + "/redis.out")
        self.process = process
        let ready = FaultEnvironment.wait(seconds: 10) {
            (try? FaultEnvironment.run("/usr/bin/redis-cli", ["-p", String(port), "ping"], check: false).output)?.contains("PONG") == true
        }
        if !ready { throw ChildFailure(description: "redis on \(port) did not start; see \(directory)/redis.log") }
    }

    /// `kill -9`: the process dies without writing anything more.
    func kill9() {
        guard let process else { return }
        process.send(SIGKILL)
        process.wait()
        unlink(directory + "/redis.pid")
        self.process = nil
    }

    /// Writes a snapshot now (BGSAVE) and copies it aside, to restart from later ("behind").
    /// Completion is read from `rdb_saves`, a count: `LASTSAVE` has one-second resolution and does
    /// not move when the snapshot lands in the same second as the server's start.
    func snapshot() throws -> String {
        let before = try persistence("rdb_saves")
        _ = try cli(["BGSAVE"])
        let done = FaultEnvironment.wait(seconds: 10) {
            (try? self.persistence("rdb_saves")).map { $0 != before } == true
                && (try? self.persistence("rdb_bgsave_in_progress")) == "0"
        }
        guard done, try persistence("rdb_last_bgsave_status") == "ok" else {
            throw ChildFailure(description: "BGSAVE did not finish; see \(directory)/redis.log")
        }
        let copy = directory + "-snapshot.rdb"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: directory + "/dump.rdb", toPath: copy)
        return copy
    }

    /// Deletes every data file (the restarted server comes back empty), or puts `snapshot` back.
    func replaceData(with snapshot: String?) throws {
        for item in try FileManager.default.contentsOfDirectory(atPath: directory) where !["redis.log", "redis.pid", "redis.out"].contains(item) {
            try FileManager.default.removeItem(atPath: directory + "/" + item)
        }
        if let snapshot { try FileManager.default.copyItem(atPath: snapshot, toPath: directory + "/dump.rdb") }
    }

    /// One field of `INFO persistence`.
    func persistence(_ field: String) throws -> String? {
        try cli(["INFO", "persistence"]).split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix(field + ":") }
            .map { String($0.dropFirst(field.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    func cli(_ arguments: [String]) throws -> String {
        try FaultEnvironment.run("/usr/bin/redis-cli", ["-p", String(port)] + arguments).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A PostgreSQL cluster of a fault test's own, run by the unprivileged user: initialised once per
/// test process into a template folder, copied for each test, started on a free port; the test
/// stops it with an immediate shutdown (no checkpoint, like a crash) and starts it again.
final class FaultPostgres: @unchecked Sendable {
    let port: Int
    let directory: String
    private(set) var running = false
    /// Where Stampede writes and the invariants are read: this server, or (attached) whichever
    /// node of a Patroni cluster is primary.
    let uri: String
    /// Where Stampede's reader pool connects (the writer's URI unless attached with another).
    let readerURI: String

    private static let template: Result<String, any Error> = Result {
        let dir = try FaultEnvironment.directory() + "/pg-template"
        if !FileManager.default.fileExists(atPath: dir + "/PG_VERSION") {
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try FaultEnvironment.run("/usr/bin/chown", [FaultEnvironment.postgresUser, dir])
            try FaultEnvironment.run("/usr/bin/chmod", ["700", dir])
            try asUser(FaultEnvironment.postgresBin + "/initdb", ["-D", dir, "-U", "stampede", "--auth=trust",
                                                                 "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        }
        return dir
    }

    init(directory: String) throws {
        port = FaultEnvironment.freePort()
        self.directory = directory
        uri = "postgresql://stampede@127.0.0.1:\(port)/stampede"
        readerURI = uri
        let template = try Self.template.get()
        try? FileManager.default.removeItem(atPath: directory)
        try FaultEnvironment.run("/bin/cp", ["-a", template, directory])
        try start()
        try FaultEnvironment.run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "stampede", "-d", "postgres",
                                                   "-qc", "CREATE DATABASE stampede"])
    }

    /// A database this object neither starts nor stops (the failover tests' Patroni cluster):
    /// `writer` is its read-write multi-host URI, `reader` the one Stampede reads through.
    init(attachedTo writer: String, reader: String) {
        port = 0
        directory = ""
        uri = writer
        readerURI = reader
    }

    deinit { stopImmediately() }

    func start() throws {
        try Self.asUser(FaultEnvironment.postgresBin + "/pg_ctl", [
            "-D", directory, "-l", directory + "/postgres.log", "-w", "-t", "60",
            "-o", "-h 127.0.0.1 -p \(port) -k '' -c max_connections=100 -c shared_buffers=32MB -c fsync=on -c log_min_messages=warning",
            "start",
        ])
        running = true
    }

    /// `pg_ctl stop -m immediate`: every backend is killed, no shutdown checkpoint (crash recovery
    /// runs at the next start).
    func stopImmediately() {
        guard running else { return }
        _ = try? Self.asUser(FaultEnvironment.postgresBin + "/pg_ctl", ["-D", directory, "-m", "immediate", "-w", "stop"])
        running = false
    }

    func query(_ sql: String) throws -> [[String]] {
        let output = try FaultEnvironment.run("/usr/bin/psql", ["-d", uri, "-AtF", "\t", "-c", sql]).output
        return output.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    @discardableResult
    static func asUser(_ path: String, _ arguments: [String]) throws -> String {
        try FaultEnvironment.run("/usr/sbin/runuser", ["-u", FaultEnvironment.postgresUser, "--", path] + arguments).output
    }
}

/// Stampede as a child process (the built `stampede serve` binary) on a free port, configured by
/// environment for quick repairs: reconciler every 0.5 s, outbox grace 2 s.
final class FaultStampede: @unchecked Sendable {
    let port: Int
    private let process: ChildProcess
    let logPath: String

    init(redis: String, postgres: String, postgresReader: String? = nil, logPath: String, extra: [String: String] = [:]) throws {
        port = FaultEnvironment.freePort()
        self.logPath = logPath
        var environment = ChildProcess.currentEnvironment().filter { !$0.key.hasPrefix("STAMPEDE_") }
        environment.merge([
            "STAMPEDE_LISTEN": "127.0.0.1:\(port)", "STAMPEDE_THREADS": "2", "STAMPEDE_SHARDS_COUNT": "2",
            "STAMPEDE_ADMIN_TOKEN": FaultScenario.adminToken,
            "STAMPEDE_REDIS_WRITER": redis, "STAMPEDE_REDIS_READER": redis,
            "STAMPEDE_POSTGRES_WRITER": postgres, "STAMPEDE_POSTGRES_READER": postgresReader ?? postgres,
            "STAMPEDE_REDIS_COMMAND_TIMEOUT_MS": "1000", "STAMPEDE_REDIS_CONNECT_TIMEOUT_MS": "500",
            "STAMPEDE_POOLS_ACQUIRE_TIMEOUT_MS": "1500", "STAMPEDE_POSTGRES_CONNECT_TIMEOUT_SECONDS": "1",
            "STAMPEDE_POSTGRES_STATEMENT_TIMEOUT_MS": "3000", "STAMPEDE_POSTGRES_TCP_TIMEOUT_MS": "3000",
            "STAMPEDE_RECONCILER_INTERVAL_SECONDS": "0.5", "STAMPEDE_RECONCILER_OUTBOX_GRACE_SECONDS": "2",
            "STAMPEDE_SHUTDOWN_DRAIN_TIMEOUT_SECONDS": "10", "STAMPEDE_LOG_LEVEL": "notice",
        ]) { $1 }
        environment.merge(extra) { $1 }
        let process = try ChildProcess(try FaultEnvironment.binary(), ["serve", "--config", FaultEnvironment.configPath],
                                       environment: environment, outputPath: logPath)
        self.process = process
        // scripts/test kills leftovers by these pid files if a test run dies.
        try? String(process.pid).write(toFile: logPath + ".pid", atomically: true, encoding: .utf8)
        let port = self.port
        let up = FaultEnvironment.wait(seconds: 30) {
            (try? HTTPTestClient(port: port, timeoutSeconds: 2).request("GET", "/health/live"))?.status == 200
        }
        if !up {
            kill9()
            throw ChildFailure(description: "stampede did not start on \(port); see \(logPath)")
        }
    }

    deinit { kill9() }

    var isRunning: Bool { process.isRunning }

    /// The process id (for scripts that signal it).
    var pid: pid_t { process.pid }

    func kill9() {
        process.send(SIGKILL)
        process.wait()
        unlink(logPath + ".pid")
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status (nil: killed by a signal or
    /// still running after `seconds`, then killed).
    func terminate(waitingUpTo seconds: Double) -> Int32? {
        process.send(SIGTERM)
        guard FaultEnvironment.wait(seconds: seconds, { !process.isRunning }) else {
            kill9()
            return nil
        }
        let status = process.wait()
        unlink(logPath + ".pid")
        return status >= 0 ? status : nil
    }
}
