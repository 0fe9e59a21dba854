import Synchronization

/// Work that runs once per key in this process at a time: a caller that comes while it runs joins
/// that run and gets its result (rebuilds of a sale's counters or a group's claims, refills of a
/// bucket).
final class JoinedWork<Value: Sendable>: Sendable {
    private let running = Mutex<[String: Task<Value, any Error>]>([:])

    /// The result of the run of `key` in progress, or of `work` started now as that run.
    func run(_ key: String, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = running.withLock { running in
            if let task = running[key] { return task }
            let task = Task<Value, any Error> { try await work() }
            running[key] = task
            return task
        }
        // The first caller to see the run end clears it; a later run of the key is left alone.
        defer { running.withLock { running in if running[key] == task { running[key] = nil } } }
        return try await task.value
    }
}
