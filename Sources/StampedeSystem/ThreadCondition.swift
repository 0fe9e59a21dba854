import Glibc

/// A pthread condition variable whose timed waits use the monotonic clock.
///
/// Deadlines are `ContinuousClock` instants; waiting converts the remaining duration to an
/// absolute `CLOCK_MONOTONIC` time, so wall-clock jumps neither shorten nor stretch a wait.
public final class ThreadCondition: @unchecked Sendable {
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// Creates a condition variable bound to `CLOCK_MONOTONIC`.
    public init() {
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        defer { pthread_condattr_destroy(&attributes) }
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_cond_init(condition, &attributes) == 0, "pthread_cond_init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Wakes one waiting thread.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiting thread.
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Atomically releases `mutex` and sleeps until signalled or `deadline`; holds `mutex` again on return.
    ///
    /// May return early (spurious wake-up); callers re-check their condition in a loop.
    public func wait(releasing mutex: UnsafeMutablePointer<pthread_mutex_t>, until deadline: ContinuousClock.Instant?) {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return
        }
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { return }
        let (seconds, attoseconds) = remaining.components
        let wake = MonotonicClock.now() &+ UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
        var time = timespec(tv_sec: Int(wake / 1_000_000_000), tv_nsec: Int(wake % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
    }
}
