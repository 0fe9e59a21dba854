import Glibc

/// A child process started with `posix_spawn` and reaped with `waitpid` by this object alone.
///
/// Foundation's `Process` was not used: on Linux it missed the exit of `runuser` (which forks
/// `pg_ctl`, which forks the postmaster), leaving `waitUntilExit` blocked on a zombie.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `path` with `arguments`; stdout and stderr append to `outputPath`, stdin is empty.
    init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, outputPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        let env = (environment ?? Self.currentEnvironment()).map { strdup("\($0.key)=\($0.value)") }
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { argvPointer in
            (env + [nil]).withUnsafeBufferPointer { envPointer in
                posix_spawn(&pid, path, &actions, nil,
                            UnsafeMutablePointer(mutating: argvPointer.baseAddress!),
                            UnsafeMutablePointer(mutating: envPointer.baseAddress!))
            }
        }
        guard result == 0 else { throw ChildFailure(description: "posix_spawn \(path): error \(result)") }
        self.pid = pid
    }

    /// Whether the child still runs (reaps it if it ended).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { exitStatus = Self.decode(status); return false }
        return reaped == 0
    }

    /// Waits for the end; the exit status, or minus the signal that killed it.
    @discardableResult
    func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = Self.decode(status)
        return exitStatus!
    }

    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : -signal
    }

    static func currentEnvironment() -> [String: String] {
        var out: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                out[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return out
    }
}
