/// Fixed-bucket latency counts, cheap enough to update under a lock on every call.
///
/// The buckets are Prometheus-style upper bounds in seconds (the last is `+Inf`); counts are per
/// bucket (not cumulative) so an update touches one slot. The storage is allocated once.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; an observation above the last goes to `+Inf`.
    public static let bounds: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]

    /// Observations per bucket; index `bounds.count` is `+Inf`.
    public private(set) var counts = [Int](repeating: 0, count: LatencyHistogram.bounds.count + 1)
    /// Sum of all observations, in seconds.
    public private(set) var sum: Double = 0
    /// Number of observations.
    public private(set) var count = 0

    public init() {}

    /// Records one observation.
    public mutating func record(seconds: Double) {
        var index = 0
        while index < Self.bounds.count, seconds > Self.bounds[index] { index += 1 }
        counts[index] += 1
        sum += seconds
        count += 1
    }

    /// Adds another histogram's observations to this one.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        sum += other.sum
        count += other.count
    }

    /// Cumulative counts per bound (`le`), ending with `+Inf` (= `count`).
    public var cumulative: [(le: Double, count: Int)] {
        var running = 0
        var out: [(le: Double, count: Int)] = []
        out.reserveCapacity(counts.count)
        for (index, value) in counts.enumerated() {
            running += value
            out.append((index < Self.bounds.count ? Self.bounds[index] : .infinity, running))
        }
        return out
    }

    /// The smallest bucket bound under which at least `quantile` of the observations fall
    /// (an upper estimate); 0 with no observations.
    public func quantile(_ quantile: Double) -> Double {
        guard count > 0 else { return 0 }
        let wanted = Int((Double(count) * quantile).rounded(.up))
        for (le, seen) in cumulative where seen >= wanted { return le }
        return .infinity
    }
}
