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

/// Rate limit of the `/admin` routes, one token bucket per client address.
///
/// Checked before the bearer token, so it also slows down guessing the token. The table is
/// bounded: past `maxTracked` addresses, buckets that have refilled are forgotten; if none has,
/// the table is cleared (a flood of addresses then gets the burst again rather than growing
/// memory).
final class AdminRateLimiter: Sendable {
    struct Settings: Sendable, Equatable {
        /// Requests per second per address; 0 = no limit.
        var rate: Double
        var burst: Int
    }

    static let maxTracked = 4096
    private struct State {
        var settings: Settings
        var buckets: [ClientAddress: TokenBucket] = [:]
    }
    private let state: Mutex<State>

    init(_ settings: Settings) {
        state = Mutex(State(settings: settings))
    }

    var settings: Settings { state.withLock { $0.settings } }

    /// Applies new settings (a reload); existing buckets keep their tokens.
    func apply(_ settings: Settings) {
        state.withLock { $0.settings = settings }
    }

    /// Whether `client` may make an admin request now; if not, the `Retry-After` seconds.
    func admit(_ client: ClientAddress, now: Double) -> (allowed: Bool, retryAfter: Int) {
        state.withLock { state in
            let settings = state.settings
            guard settings.rate > 0 else { return (true, 0) }
            if state.buckets[client] == nil, state.buckets.count >= Self.maxTracked {
                state.buckets = state.buckets.filter { !$0.value.isFull(rate: settings.rate, burst: settings.burst, now: now) }
                if state.buckets.count >= Self.maxTracked { state.buckets.removeAll() }
            }
            var bucket = state.buckets[client] ?? TokenBucket(burst: settings.burst, now: now)
            let decision = bucket.take(rate: settings.rate, burst: settings.burst, now: now)
            state.buckets[client] = bucket
            return decision
        }
    }
}
