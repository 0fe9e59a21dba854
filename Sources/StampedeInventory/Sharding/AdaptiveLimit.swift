/// Settings of load shedding: the adaptive in-flight limit and stock-aware admission.
public struct SheddingSettings: Sendable, Equatable {
    /// Whether the in-flight limit adapts to latency (else it stays at the shard's `maxInFlight`).
    public var adaptive = true
    /// The purchase latency (admission to answer) the limit steers to.
    public var targetLatencySeconds = 0.05
    /// The limit never goes below this.
    public var minLimit = 16
    /// Multiplicative decrease on a slow answer (at most once per `targetLatencySeconds`).
    public var backoff = 0.9
    /// Shed a sale's purchase when the sale's waiting purchases reach its remaining units times
    /// this factor (0 = off).
    public var stockFactor = 2.0
    /// ... but always let at least this many purchases of a sale wait.
    public var stockFloor = 32

    public init() {}
}

/// An AIMD concurrency limit in the manner of Netflix's concurrency-limits: grow by about one
/// purchase per limit's worth of fast answers while the limit is in use, shrink by `backoff` when
/// an answer took longer than the target — at most once per target interval, so one slow batch of
/// many purchases counts as one congestion signal.
///
/// Under overload the queue (and so the latency) of admitted purchases stays near the target, and
/// the surplus is shed at the door in microseconds. Pure: times and latencies are passed in.
public struct AdaptiveLimit: Sendable, Equatable {
    /// The current limit (fractional, so additive increase can be smaller than one).
    public private(set) var value: Double
    private var lastDecrease: Double = -.infinity

    public init(initial: Int) {
        value = Double(max(1, initial))
    }

    /// The limit as a count of purchases.
    public var limit: Int { Int(value) }

    /// Feeds one answered purchase: its latency, how many purchases were in flight, the time now
    /// (seconds, any monotonic origin); returns the new limit.
    @discardableResult
    public mutating func observe(latency: Double, inFlight: Int, now: Double, ceiling: Int,
                                 settings: SheddingSettings) -> Int {
        let floor = Double(max(1, min(settings.minLimit, ceiling)))
        if latency > settings.targetLatencySeconds {
            if now - lastDecrease >= settings.targetLatencySeconds {
                value = max(floor, value * settings.backoff)
                lastDecrease = now
            }
        } else if inFlight * 2 >= limit {
            value += 1 / value
        }
        value = min(max(value, floor), Double(max(1, ceiling)))
        return limit
    }

    /// Clamps after the ceiling changed (a reload).
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
