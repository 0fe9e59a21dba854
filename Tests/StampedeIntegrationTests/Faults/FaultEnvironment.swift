import Foundation
import Glibc
import Testing

/// What the fault-injection tests need from `scripts/test`: the built `stampede` binary, a folder
/// for their own servers' data, the PostgreSQL binaries and the unprivileged user that runs them.
///
/// They run only when `STAMPEDE_FAULT_TESTS=1` (scripts/test runs them apart, after the rest of
/// the suite, so killing their own servers never disturbs other tests).
enum FaultEnvironment {
    static var enabled: Bool { value("STAMPEDE_FAULT_TESTS") == "1" }

    static let trait = ConditionTrait.enabled(if: enabled, "STAMPEDE_FAULT_TESTS is not 1 (scripts/test runs them)")

    struct Missing: Error, CustomStringConvertible {
        let variable: String
        var description: String { "\(variable) must be set for the fault-injection tests" }
    }

    static func binary() throws -> String { try required("STAMPEDE_BIN") }
    static func directory() throws -> String { try required("STAMPEDE_FAULT_DIR") }
    static var postgresBin: String { value("PG_BIN") ?? "/usr/lib/postgresql/15/bin" }
    static var postgresUser: String { value("PG_OS_USER") ?? "stampede-pg" }
    static var configPath: String {
        value("STAMPEDE_ROOT").map { $0 + "/Config/stampede.json" } ?? "Config/stampede.json"
    }

    private static func required(_ name: String) throws -> String {
        guard let found = value(name), !found.isEmpty else { throw Missing(variable: name) }
        return found
    }

    private static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// A loopback port nobody listens on now (bound to port 0, read, released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        _ = bindLoopback(fd, port: 0, &address)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a loopback port can be bound now (a cluster node needs its port and port + 10000).
    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        return bindLoopback(fd, port: port, &address)
    }

    /// Binds `fd` to 127.0.0.1:`port` (0: any free port), filling in `address`.
    private static func bindLoopback(_ fd: Int32, port: Int, _ address: inout sockaddr_in) -> Bool {
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Runs a command to completion (blocking this thread); returns its exit status and output.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                    check: Bool = true) throws -> (status: Int32, output: String) {
        let outputPath = "/tmp/stampede-fault-\(UInt64.random(in: 0...UInt64.max)).out"
        defer { unlink(outputPath) }
        let status = try ChildProcess(path, arguments, environment: environment, outputPath: outputPath).wait()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        if check, status != 0 {
            throw ChildFailure(description: "\(path) \(arguments.joined(separator: " ")) exited \(status): \(output)")
        }
        return (status, output)
    }

    /// Blocks until `condition` holds or `seconds` pass; returns whether it held.
    static func wait(seconds: Double, every interval: Double = 0.05, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(UInt32(interval * 1_000_000))
        }
        return condition()
    }
}

struct ChildFailure: Error, CustomStringConvertible {
    var description: String
}
