import Glibc

/// What a thread waiting in `ThreadLock.wait(on:_:)` does after checking the state.
public enum WaitDecision<Result> {
    /// Stop waiting and return the value.
    case done(Result)
    /// Sleep until signalled, or until the instant if one is given, then check again.
    case wait(until: ContinuousClock.Instant?)
}

/// A pthread mutex guarding a value, with waits on `ThreadCondition`s tied to the same mutex.
///
/// `Synchronization.Mutex` cannot be paired with a condition variable, and threads that must
/// sleep until work arrives (pool workers) need one, so they use this small wrapper instead. The state is only
/// reachable under the mutex, which makes the `@unchecked Sendable` sound.
public final class ThreadLock<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var state: State

    /// Creates the lock around an initial state.
    public init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state.
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Blocks on `condition` until `decide`, run under the lock at each wake-up, returns `.done`.
    ///
    /// `decide` runs once before any sleep, so a signal sent before the call is never lost:
    /// senders change the state under this lock first, then signal.
    public func wait<R>(on condition: ThreadCondition, _ decide: (inout State) -> WaitDecision<R>) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            switch decide(&state) {
            case .done(let result):
                return result
            case .wait(let deadline):
                condition.wait(releasing: mutex, until: deadline)
            }
        }
    }
}
