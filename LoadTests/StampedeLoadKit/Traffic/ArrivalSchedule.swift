/// When each request of an open-loop run is meant to be sent: a constant rate, optionally reached
/// by a linear ramp from a starting rate.
///
/// Arrival `i` (from 0) is sent at the time the cumulative arrivals reach `i`:
/// during the ramp N(t) = r0·t + (r1 − r0)·t² / 2R, then N(R) + r1·(t − R). The send times are
/// fixed in advance and independent of the server's answers — the basis of measuring latency
/// from the intended send time (no coordinated omission).
public struct ArrivalSchedule: Sendable, Equatable {
    /// Steady rate, requests per second.
    public let rate: Double
    /// Rate at time 0 when ramping; equals `rate` without a ramp.
    public let rampFrom: Double
    /// Ramp length in seconds (0: no ramp).
    public let rampSeconds: Double
    /// Length of the run in seconds.
    public let durationSeconds: Double

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case rate(Double)
        case duration(Double)
        case ramp(String)

        public var description: String {
            switch self {
            case .rate(let rate): "the rate must be above 0 requests/s (got \(rate))"
            case .duration(let duration): "the duration must be above 0 s (got \(duration))"
            case .ramp(let why): "invalid ramp: \(why)"
            }
        }
    }

    public init(rate: Double, durationSeconds: Double, rampFrom: Double? = nil, rampSeconds: Double = 0) throws(Invalid) {
        guard rate > 0, rate.isFinite else { throw .rate(rate) }
        guard durationSeconds > 0, durationSeconds.isFinite else { throw .duration(durationSeconds) }
        guard rampSeconds >= 0, rampSeconds <= durationSeconds else { throw .ramp("ramp seconds must be within the duration") }
        let from = rampFrom ?? rate
        guard from >= 0, from.isFinite else { throw .ramp("the starting rate must be 0 or more") }
        guard from > 0 || rampSeconds > 0 else { throw .ramp("a starting rate of 0 needs a ramp") }
        self.rate = rate
        self.rampFrom = rampSeconds > 0 ? from : rate
        self.rampSeconds = rampSeconds
        self.durationSeconds = durationSeconds
    }

    /// Arrivals expected by `t` seconds (continuous).
    public func cumulativeArrivals(at t: Double) -> Double {
        if t <= 0 { return 0 }
        if rampSeconds == 0 { return rate * t }
        let slope = (rate - rampFrom) / rampSeconds
        if t <= rampSeconds { return rampFrom * t + slope * t * t / 2 }
        return rampFrom * rampSeconds + slope * rampSeconds * rampSeconds / 2 + rate * (t - rampSeconds)
    }

    /// Number of requests in the whole run.
    public var totalCount: Int {
        let total = cumulativeArrivals(at: durationSeconds)
        let rounded = total.rounded(.down)
        // Arrival i is at N⁻¹(i); arrivals 0…⌈N(d)⌉−1 lie before d.
        return total == rounded ? Int(rounded) : Int(rounded) + 1
    }

    /// Seconds from the start at which arrival `index` is sent, or `nil` if it falls after the run.
    public func offset(of index: Int) -> Double? {
        guard index >= 0 else { return nil }
        let i = Double(index)
        let t: Double
        let rampArrivals = cumulativeArrivals(at: rampSeconds)
        if rampSeconds > 0, i <= rampArrivals {
            let a = (rate - rampFrom) / rampSeconds / 2
            // Stable root of a·t² + r0·t − i = 0 for either sign of a.
            let root = (rampFrom * rampFrom + 4 * a * i).squareRoot()
            t = i == 0 ? 0 : 2 * i / (rampFrom + root)
        } else {
            t = rampSeconds + (i - rampArrivals) / rate
        }
        return t < durationSeconds ? t : nil
    }

    /// Monotonic nanoseconds of arrival `index`, given the run's start.
    public func intendedTime(of index: Int, start: UInt64) -> UInt64? {
        offset(of: index).map { start &+ UInt64(($0 * 1e9).rounded()) }
    }
}
