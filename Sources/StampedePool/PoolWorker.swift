import Glibc
import StampedeSystem

/// The loop of one pool thread: takes jobs, keeps one connection, replaces it when it breaks.
///
/// Lives entirely on its thread, so its connection is confined there: created by the factory,
/// used by jobs and closed on this thread only. Jobs run with no lock held.
struct PoolWorker<Connection: PooledConnection> {
    private let core: PoolCore<Connection>
    private var connection: Connection?
    private var backoff = ReconnectBackoff()
    private var lastConnectError: (any Error)?
    private var hasConnected = false

    /// Creates the worker; call `run()` on its own thread.
    init(core: PoolCore<Connection>) {
        self.core = core
    }

    /// Serves jobs until the pool closes, then closes the connection.
    mutating func run() {
        while let next = nextJob() {
            switch next {
            case .ready(let job):
                execute(job)
            case .expired(let job):
                job.fail(PoolError.acquireTimeout(core.acquireTimeout))
            }
        }
        dropConnection()
    }

    /// Waits for the next job; `nil` once the pool is closed.
    ///
    /// A worker whose reconnect is not yet due leaves jobs to connected workers; when no worker is
    /// connected it takes them and fails them fast with the last connect error.
    private func nextJob() -> PoolQueue<PoolJob<Connection>>.Dequeued? {
        let retryAt = connection == nil ? backoff.nextAttempt : nil
        return core.state.wait(on: core.workAvailable) { state in
            if state.queue.isClosed { return .done(nil) }
            if let retryAt, retryAt > .now, state.connected > 0 { return .wait(until: retryAt) }
            guard let next = state.queue.dequeue(now: .now) else { return .wait(until: nil) }
            if case .ready = next { state.busy += 1 }
            return .done(next)
        }
    }

    private mutating func execute(_ job: PoolJob<Connection>) {
        var result: PoolJobResult?
        var failure: (any Error)?
        let started = MonotonicClock.now()
        do {
            let connection = try usableConnection()
            result = job.run(connection)
            if connection.isBroken { dropConnection() }
        } catch {
            failure = error
        }
        let seconds = MonotonicClock.seconds(since: started)
        let servesItself = connection != nil
        let thread = pthread_self()
        core.state.withLock { state in
            state.callLatency.record(seconds: seconds)
            state.busy -= 1
            state.totalJobs += 1
            if result?.succeeded != true { state.failedJobs += 1 }
            if servesItself { state.resumingWorkers.append(thread) }
        }
        // The caller may go on right here (a shard on its inline executor) and queue its next
        // call on this pool: with a working connection this worker takes that job itself when
        // the caller suspends, so the call costs no wake-up of another thread.
        if let result { result.resume() } else if let failure { job.fail(failure) }
        if servesItself {
            core.state.withLock { state in state.resumingWorkers.removeAll { pthread_equal($0, thread) != 0 } }
        }
    }

    /// The current connection if it is still open, else a new one (subject to backoff).
    private mutating func usableConnection() throws -> Connection {
        if let connection {
            if !connection.isBroken && !connection.hasPeerClosed() { return connection }
            dropConnection()
        }
        if let lastConnectError, !backoff.allowsAttempt(now: .now) { throw lastConnectError }
        do {
            let connection = try core.factory()
            let wasBackingOff = lastConnectError != nil
            let isReconnect = hasConnected
            core.state.withLock { state in
                state.connected += 1
                if isReconnect { state.reconnects += 1 }
                if wasBackingOff { state.backingOff -= 1 }
            }
            self.connection = connection
            hasConnected = true
            lastConnectError = nil
            backoff.recordSuccess()
            return connection
        } catch {
            if lastConnectError == nil { core.state.withLock { $0.backingOff += 1 } }
            lastConnectError = error
            backoff.recordFailure(now: .now)
            throw error
        }
    }

    private mutating func dropConnection() {
        guard let connection else { return }
        connection.close()
        self.connection = nil
        core.state.withLock { $0.connected -= 1 }
    }
}
