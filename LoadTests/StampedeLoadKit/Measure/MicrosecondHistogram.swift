import Histogram

/// An HdrHistogram of latencies in microseconds (1 µs … 1 h, three significant digits) with the
/// percentiles a report shows.
public struct MicrosecondHistogram: Sendable {
    public private(set) var histogram: Histogram<UInt64>
    /// The precision it was made with (2 or 3 significant digits).
    public let significantDigits: Int
    /// The largest latency tracked: one hour.
    public static let highestMicroseconds: UInt64 = 3_600_000_000

    public init(significantDigits: SignificantDigits = .three) {
        histogram = Histogram(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestMicroseconds, numberOfSignificantValueDigits: significantDigits)
        self.significantDigits = Int(significantDigits.rawValue)
    }

    /// Records `count` latencies of `microseconds` each (clamped to the trackable range).
    public mutating func record(microseconds: UInt64, count: UInt64) {
        guard count > 0 else { return }
        _ = histogram.record(Swift.max(1, Swift.min(microseconds, Self.highestMicroseconds)), count: count)
    }

    /// Records one latency given in nanoseconds (clamped to the trackable range).
    @inline(__always)
    public mutating func record(nanoseconds: UInt64) {
        let micros = Swift.max(1, Swift.min(nanoseconds / 1_000, 3_600_000_000))
        _ = histogram.record(micros)
    }

    public mutating func add(_ other: MicrosecondHistogram) { histogram.add(other.histogram) }

    public var count: UInt64 { histogram.totalCount }

    /// The value at `percentile` (0…100) in µs; 0 when empty.
    public func microseconds(at percentile: Double) -> UInt64 {
        count == 0 ? 0 : histogram.valueAtPercentile(percentile)
    }

    /// Summary figures for reports.
    public var summary: LatencySummary {
        LatencySummary(count: Int(count),
                       p50Us: microseconds(at: 50), p90Us: microseconds(at: 90), p99Us: microseconds(at: 99),
                       p999Us: microseconds(at: 99.9), maxUs: count == 0 ? 0 : histogram.max,
                       meanUs: count == 0 ? 0 : histogram.mean)
    }

    /// The percentile curve (percentile, µs) at the points an HdrHistogram plot uses:
    /// 0, 10 … 90, 99, 99.9, 99.99, 99.999, 100.
    public var distribution: [PercentilePoint] {
        guard count > 0 else { return [] }
        var points: [Double] = [0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999]
        points.append(100)
        return points.map { PercentilePoint(percentile: $0, us: $0 == 100 ? histogram.max : histogram.valueAtPercentile($0)) }
    }
}

/// Count and percentiles of a set of latencies, in microseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: Int
    public var p50Us: UInt64
    public var p90Us: UInt64
    public var p99Us: UInt64
    public var p999Us: UInt64
    public var maxUs: UInt64
    public var meanUs: Double
}

/// One point of a latency distribution curve.
public struct PercentilePoint: Codable, Sendable, Equatable {
    public var percentile: Double
    public var us: UInt64
}

/// The significant digits a report's histogram may carry.
struct SignificantDigitsChoice {
    let value: SignificantDigits

    init?(_ digits: Int) {
        switch digits {
        case 2: value = .two
        case 3: value = .three
        default: return nil
        }
    }
}
