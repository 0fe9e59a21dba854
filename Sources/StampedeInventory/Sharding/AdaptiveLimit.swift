/// Settings of load shedding: the adaptive in-flight limit and stock-aware admission.
public struct SheddingSettings: Sendable, Equatable {
    /// Whether the in-flight limit adapts to latency (else it stays at the shard's `maxInFlight`).
    public var adaptive = true
    /// The mean purchase latency (admission to answer) the limit steers to, per window of this length.
    public var targetLatencySeconds = 0.05
    /// The limit never goes below this.
    public var minLimit = 16
    /// Multiplicative decrease after a window whose mean latency was over the target.
    public var backoff = 0.9
    /// Shed a sale's purchase when the sale's waiting purchases reach its remaining units times
    /// this factor (0 = off).
    public var stockFactor = 2.0
    /// ... but always let at least this many purchases of a sale wait.
    public var stockFloor = 32

    public init() {}
}

/// An AIMD concurrency limit in the manner of Netflix's concurrency-limits, fed by answered
/// purchases and decided once per window (one target latency long, at least 10 ms): when the
/// window's **mean** latency exceeded the target the limit is multiplied by `backoff`; otherwise,
/// if the limit was in use (in flight ≥ half of it), it grows by the window's answers ÷ limit —
/// about one purchase per limit's worth of answers, the additive increase of TCP.
///
/// Deciding on the window's mean, not on single answers, keeps the ordinary tail of a healthy shard
/// from ratcheting the limit down. Under overload the queue of admitted purchases (and so their
/// latency) stays near the target and the surplus is shed at the door. Pure: times are passed in.
public struct AdaptiveLimit: Sendable, Equatable {
    /// The current limit (fractional, so additive increase can be smaller than one).
    public private(set) var value: Double
    private var windowStart: Double?
    private var samples = 0
    private var latencySum = 0.0
    private var used = false

    public init(initial: Int) {
        value = Double(max(1, initial))
    }

    /// The limit as a count of purchases.
    public var limit: Int { Int(value) }

    /// Feeds one answered purchase: its latency, how many purchases were in flight, the time now
    /// (seconds, any monotonic origin); returns the limit (changed only when a window closes).
    @discardableResult
    public mutating func observe(latency: Double, inFlight: Int, now: Double, ceiling: Int,
                                 settings: SheddingSettings) -> Int {
        let start = windowStart ?? now
        windowStart = start
        samples += 1
        latencySum += latency
        if inFlight * 2 >= limit { used = true }
        let window = max(0.01, settings.targetLatencySeconds)
        if now - start >= window {
            let mean = latencySum / Double(samples)
            if mean > settings.targetLatencySeconds {
                value *= settings.backoff
            } else if used {
                value += Double(samples) / value
            }
            windowStart = now
            samples = 0
            latencySum = 0
            used = false
        }
        clamp(ceiling: ceiling, settings: settings)
        return limit
    }

    /// Keeps the limit between `settings.minLimit` (or the ceiling, if lower) and `ceiling`.
    public mutating func clamp(ceiling: Int, settings: SheddingSettings) {
        value = min(max(value, Double(max(1, min(settings.minLimit, ceiling)))), Double(max(1, ceiling)))
    }
}

/// Stock-aware admission: whether one more purchase of a sale may wait, given how many already
/// wait and how many units the sale has left. A rush for 500 units does not queue 50,000 requests:
/// past `available × factor` (at least `floor`) the surplus is shed with `503 overloaded` — never
/// answered `sold_out` early, since units may still come back (cancels, expiries, restocks).
public enum StockAdmission {
    public static func admits(waiting: Int, available: Int64, settings: SheddingSettings) -> Bool {
        guard settings.stockFactor > 0 else { return true }
        let allowed = max(Double(settings.stockFloor), (Double(max(0, available)) * settings.stockFactor).rounded(.up))
        return Double(waiting) < allowed
    }
}
