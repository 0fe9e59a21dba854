import StampedeSystem
import Synchronization

/// A fixed set of threads, each owning one blocking connection, serving async callers in FIFO order.
///
/// hiredis and libpq connections are not thread-safe and their simple APIs block, so they must not
/// run on Swift concurrency's cooperative threads. Each connection lives on a dedicated pthread;
/// `withConnection` queues the caller's closure, a free worker runs it with its connection, and the
/// caller resumes with the result. The queue is bounded (`maxWaiting`, beyond it callers get
/// `PoolError.overloaded` at once) and every waiting job has a deadline (`acquireTimeout`, then
/// `PoolError.acquireTimeout`), so overload turns into fast failures rather than growing latency.
///
/// Connections open lazily on first use. One that reports `isBroken` after a job, or whose peer
/// closed it while idle, is closed and reopened for the next job; failed connect attempts back off
/// exponentially up to one second, and meanwhile jobs fail fast with the connect error.
public final class BlockingConnectionPool<Connection: PooledConnection>: Sendable {
    /// Identifies the pool in diagnostics such as thread-creation failures.
    public let name: String
    private let core: PoolCore<Connection>
    private let threads: Mutex<[SystemThread]>

    /// Starts `size` worker threads and a deadline watcher; connections are opened on first use.
    ///
    /// - Parameters:
    ///   - size: Number of workers, and so the maximum number of open connections.
    ///   - maxWaiting: Jobs that may queue while every worker is busy.
    ///   - acquireTimeout: How long a queued job may wait for a worker.
    ///   - factory: Opens one connection; runs on a worker thread and may block.
    public init(
        name: String,
        size: Int,
        maxWaiting: Int,
        acquireTimeout: Duration,
        factory: @escaping @Sendable () throws -> Connection
    ) {
        precondition(size > 0, "a pool needs at least one connection")
        let core = PoolCore(size: size, maxWaiting: maxWaiting, acquireTimeout: acquireTimeout, factory: factory)
        var threads = (0..<size).map { index in
            Self.spawn(name: "\(name)-\(index)") {
                var worker = PoolWorker(core: core)
                worker.run()
            }
        }
        threads.append(Self.spawn(name: "\(name)-deadline") { core.expireWaitingJobs() })
        self.name = name
        self.core = core
        self.threads = Mutex(threads)
    }

    deinit {
        shutdown()
    }

    /// Starts a pool thread; failing to create one means the process is out of resources.
    private static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> SystemThread {
        do {
            return try SystemThread.spawn(name: name, body)
        } catch {
            preconditionFailure("starting thread \(name): \(error)")
        }
    }

    /// Runs `body` with a connection on a worker thread and returns its result.
    ///
    /// `body` may block; it runs with no pool lock held and must not keep the connection. Errors
    /// from `body` and from the connection factory are rethrown unchanged; the pool's own refusals
    /// are `PoolError`s. Cancelling the calling task does not withdraw a queued job.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            core.submit(PoolJob(
                run: { connection in
                    do {
                        let value = try body(connection)
                        return PoolJobResult(succeeded: true) { continuation.resume(returning: value) }
                    } catch {
                        return PoolJobResult(succeeded: false) { continuation.resume(throwing: error) }
                    }
                },
                fail: { continuation.resume(throwing: $0) }
            ))
        }
    }

    /// A consistent snapshot of occupancy and counters.
    public var statistics: PoolStatistics {
        core.state.withLock { $0.statistics }
    }

    /// Fails waiting jobs with `PoolError.shutdown`, lets running jobs finish, closes connections
    /// and joins the threads.
    ///
    /// Idempotent. Blocks until running jobs end, so call it outside the pool's own jobs (a call
    /// from a worker thread detaches that thread instead of joining it). Dropping the last
    /// reference to the pool calls it too.
    public func shutdown() {
        core.close()
        let threads = self.threads.withLock { threads in
            defer { threads = [] }
            return threads
        }
        for thread in threads {
            if thread.isCurrent { thread.detach() } else { thread.join() }
        }
    }
}
