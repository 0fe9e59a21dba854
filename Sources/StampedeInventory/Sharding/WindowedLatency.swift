import StampedePool

/// Latency over the last one to two windows: two fixed-bucket histograms, the older dropped each
/// time a window passes, so percentiles reflect now (a hot shard's p99 falls after it is relieved)
/// rather than the whole run.
public struct WindowedLatency: Sendable, Equatable {
    public let windowSeconds: Double
    private var current = LatencyHistogram()
    private var previous = LatencyHistogram()
    private var windowStart: Double

    public init(windowSeconds: Double = 10, now: Double) {
        self.windowSeconds = windowSeconds
        windowStart = now
    }

    /// Records one latency at time `now`.
    public mutating func record(seconds: Double, now: Double) {
        rotate(now: now)
        current.record(seconds: seconds)
    }

    /// Drops windows that ended.
    public mutating func rotate(now: Double) {
        guard now - windowStart >= windowSeconds else { return }
        previous = now - windowStart >= 2 * windowSeconds ? LatencyHistogram() : current
        current = LatencyHistogram()
        windowStart = now
    }

    /// The recent observations as one histogram.
    public func recent(now: Double) -> LatencyHistogram {
        var copy = self
        copy.rotate(now: now)
        var merged = copy.previous
        merged.merge(copy.current)
        return merged
    }
}
