/// Settings of load shedding: the adaptive in-flight limit and stock-aware admission.
public struct SheddingSettings: Sendable, Equatable {
    /// Whether the in-flight limit adapts to latency (else it stays at the shard's `maxInFlight`).
    public var adaptive = true
    /// The mean purchase latency (admission to answer) the limit steers to, per window of this length.
    public var targetLatencySeconds = 0.05
    /// A window is congested only when its mean latency is also over this multiple of the shard's
    /// pipeline time (a batch's decide start to its group's commit): a batching shard needs its
    /// pipeline full, whatever the target, and only queueing beyond that is overload.
    public var pipelineTolerance = 2.0
    /// The limit never goes below this (nor below the shard's batch size).
    public var minLimit = 16
    /// Multiplicative decrease after a congested window.
    public var backoff = 0.9
    /// Shed a sale's purchase when the sale's waiting purchases reach its remaining units times
    /// this factor (0 = off).
    public var stockFactor = 2.0
    /// ... but always let at least this many purchases of a sale wait.
    public var stockFloor = 32

    public init() {}
}

/// An AIMD concurrency limit in the manner of Netflix's concurrency-limits, made for a batching
/// shard. It is fed by answered purchases and decided once per window (one target latency long, at
/// least 10 ms). A window is **congested** when its mean latency is over the target **and** over
/// `pipelineTolerance` × the shard's mean pipeline time in the window (from a batch's decide start
/// to the commit of its group: the latency of a purchase that did not queue). A congested window
/// multiplies the limit by `backoff`; otherwise, if the limit was in use (in flight ≥ half of it),
/// the limit grows by the window's answers ÷ limit — about one purchase per limit's worth of
/// answers, TCP's additive increase.
///
/// Why the pipeline term: at full throughput a purchase's latency is its wait in the queue plus
/// the pipeline time, and a pipeline with one batch deciding while another commits is only full
/// with about two batches in flight. A fixed target below that latency would shrink the limit until
/// the batches are small and goodput collapses. With the pipeline term the limit settles where the
/// queue holds about as much as the pipeline (the bandwidth-delay product, as BBR sizes its window):
/// goodput at its peak, and only the queueing beyond is shed. Deciding on the window's mean, not on
/// single answers, keeps the ordinary tail of a healthy shard from ratcheting the limit down. The
/// limit never goes below a full batch. Pure: times are passed in.
public struct AdaptiveLimit: Sendable, Equatable {
    /// The current limit (fractional, so additive increase can be smaller than one).
    public private(set) var value: Double
    private var windowStart: Double?
    private var samples = 0
    private var latencySum = 0.0
    private var pipelineSum = 0.0
    private var used = false

    public init(initial: Int) {
        value = Double(max(1, initial))
    }

    /// The limit as a count of purchases.
    public var limit: Int { Int(value) }

    /// Feeds one answered purchase: its latency, the shard's latest pipeline time, how many
    /// purchases were in flight, the time now (seconds, any monotonic origin); returns the limit
    /// (changed only when a window closes), kept between `floor` (at least `settings.minLimit`) and
    /// `ceiling`.
    @discardableResult
    public mutating func observe(latency: Double, pipeline: Double = 0, inFlight: Int, now: Double, ceiling: Int,
                                 floor: Int = 1, settings: SheddingSettings) -> Int {
        let start = windowStart ?? now
        windowStart = start
        samples += 1
        latencySum += latency
        pipelineSum += pipeline
        if inFlight * 2 >= limit { used = true }
        let window = max(0.01, settings.targetLatencySeconds)
        if now - start >= window {
            let mean = latencySum / Double(samples)
            let allowed = max(settings.targetLatencySeconds, settings.pipelineTolerance * pipelineSum / Double(samples))
            if mean > allowed {
                value *= settings.backoff
            } else if used {
                value += Double(samples) / value
            }
            windowStart = now
            samples = 0
            latencySum = 0
            pipelineSum = 0
            used = false
        }
        clamp(ceiling: ceiling, floor: floor, settings: settings)
        return limit
    }

    /// Keeps the limit between `max(floor, settings.minLimit)` (or the ceiling, if lower) and `ceiling`.
    public mutating func clamp(ceiling: Int, floor: Int = 1, settings: SheddingSettings) {
        let ceiling = max(1, ceiling)
        let floor = min(max(1, settings.minLimit, floor), ceiling)
        value = min(max(value, Double(floor)), Double(ceiling))
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
