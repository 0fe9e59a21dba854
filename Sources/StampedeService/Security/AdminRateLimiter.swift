import StampedeHTTP
import Synchronization

/// A token bucket: `burst` requests at once, then `rate` per second. A pure value, so the
/// arithmetic tests without clocks or threads.
struct TokenBucket: Sendable, Equatable {
    private(set) var tokens: Double
    private(set) var updatedAt: Double

    /// A full bucket at time `now` (seconds).
    init(burst: Int, now: Double) {
        tokens = Double(burst)
        updatedAt = now
    }

    /// Refills for the time since the last call, then takes one token if there is one. When
    /// refused, `retryAfter` is the whole seconds until a token is back.
    mutating func take(rate: Double, burst: Int, now: Double) -> (allowed: Bool, retryAfter: Int) {
        let elapsed = max(0, now - updatedAt)
        tokens = min(Double(burst), tokens + elapsed * rate)
        updatedAt = max(updatedAt, now)
        if tokens >= 1 {
            tokens -= 1
            return (true, 0)
        }
        let wait = rate > 0 ? (1 - tokens) / rate : 1
        return (false, max(1, Int(wait.rounded(.up))))
    }

    /// Whether the bucket would be full at `now` (it can be forgotten without changing anything).
    func isFull(rate: Double, burst: Int, now: Double) -> Bool {
        tokens + max(0, now - updatedAt) * rate >= Double(burst)
    }
}

/// The failed `/admin` authentications of one client address: a token bucket of failures
/// (`burst` at once, then `rate` per second) and, once it is empty, a lock-out that doubles with
/// each further failure while it lasts (backing off), up to `AdminRateLimiter.maxLockoutSeconds`.
/// A pure value, for tests without clocks.
struct FailedAuthentications: Sendable, Equatable {
    private(set) var bucket: TokenBucket
    /// Failures refused in a row (each doubles the lock-out).
    private(set) var strikes = 0
    /// Until when every failure from this address is answered `429`.
    private(set) var lockedUntil: Double = 0

    init(burst: Int, now: Double) {
        bucket = TokenBucket(burst: burst, now: now)
    }

    /// Records one failed authentication at `now`: `nil` when it is still within the budget
    /// (answer `401`), else the `Retry-After` seconds of a `429`.
    mutating func fail(rate: Double, burst: Int, now: Double, maxLockout: Double) -> Int? {
        if now < lockedUntil {
            strikes += 1
            lockedUntil = max(lockedUntil, now + min(maxLockout, Self.base(rate) * Double(1 << min(strikes, 30))))
            return max(1, Int((lockedUntil - now).rounded(.up)))
        }
        let decision = bucket.take(rate: rate, burst: burst, now: now)
        if decision.allowed {
            strikes = 0
            return nil
        }
        strikes = 1
        lockedUntil = now + min(maxLockout, max(Double(decision.retryAfter), Self.base(rate)))
        return max(1, Int((lockedUntil - now).rounded(.up)))
    }

    /// Nothing to remember at `now`: not locked out and the budget is whole again.
    func isSpent(rate: Double, burst: Int, now: Double) -> Bool {
        now >= lockedUntil && bucket.isFull(rate: rate, burst: burst, now: now)
    }

    /// The time one token takes to come back.
    private static func base(_ rate: Double) -> Double { rate > 0 ? 1 / rate : 1 }
}

/// Slows down guessing of the `/admin` bearer token: counts **failed** authentications per client
/// address (`limits.admin_requests_per_second`, `limits.admin_burst`); past the budget a wrong
/// token gets `429 rate_limited` with `Retry-After`, and the lock-out doubles with each failure
/// while it lasts. A request with the right token is never refused (the caller checks the token
/// first and only reports failures here).
///
/// The table is bounded: past `maxTracked` addresses, entries with nothing left to remember are
/// forgotten; if none is, the table is cleared (a flood of addresses then gets the burst again
/// rather than growing memory).
final class AdminRateLimiter: Sendable {
    struct Settings: Sendable, Equatable {
        /// Failed authentications per second per address once the burst is spent; 0 = no limit.
        var rate: Double
        var burst: Int
    }

    static let maxTracked = 4096
    /// The longest lock-out backing off reaches.
    static let maxLockoutSeconds = 900.0
    private struct State {
        var settings: Settings
        var failures: [ClientAddress: FailedAuthentications] = [:]
    }
    private let state: Mutex<State>

    init(_ settings: Settings) {
        state = Mutex(State(settings: settings))
    }

    var settings: Settings { state.withLock { $0.settings } }

    /// Applies new settings (a reload); addresses keep their record.
    func apply(_ settings: Settings) {
        state.withLock { $0.settings = settings }
    }

    /// Records a failed authentication from `client` at `now`: `nil` to answer `401`, else the
    /// `Retry-After` seconds of a `429 rate_limited`.
    func failed(_ client: ClientAddress, now: Double) -> Int? {
        state.withLock { state in
            let settings = state.settings
            guard settings.rate > 0 else { return nil }
            if state.failures[client] == nil, state.failures.count >= Self.maxTracked {
                state.failures = state.failures.filter { !$0.value.isSpent(rate: settings.rate, burst: settings.burst, now: now) }
                if state.failures.count >= Self.maxTracked { state.failures.removeAll() }
            }
            var record = state.failures[client] ?? FailedAuthentications(burst: settings.burst, now: now)
            let decision = record.fail(rate: settings.rate, burst: settings.burst, now: now, maxLockout: Self.maxLockoutSeconds)
            state.failures[client] = record
            return decision
        }
    }
}
