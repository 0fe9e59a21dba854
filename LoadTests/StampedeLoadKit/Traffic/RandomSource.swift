import Glibc
import StampedeSystem

/// The load kit's generator, one per loop thread, so runs can be repeated with the same choices.
public typealias RandomSource = SplitMix64

/// Picks an index from fixed weights (Zipf popularity, operation mix) in O(log n).
public struct WeightedChoice: Sendable, Equatable {
    /// Cumulative weights, normalised so the last is 1.
    public let cumulative: [Double]

    /// `nil` when no weight is positive or one is negative.
    public init?(weights: [Double]) {
        let total = weights.reduce(0, +)
        guard total > 0, weights.allSatisfy({ $0 >= 0 && $0.isFinite }) else { return nil }
        var running = 0.0
        cumulative = weights.map { running += $0; return running / total }
    }

    /// Zipf weights 1/kˢ for ranks 1…count: rank 1 is the hottest.
    public static func zipf(count: Int, exponent: Double) -> WeightedChoice? {
        guard count > 0 else { return nil }
        return WeightedChoice(weights: (1...count).map { 1 / pow(Double($0), exponent) })
    }

    /// The probability of index `i`.
    public func probability(_ index: Int) -> Double {
        cumulative[index] - (index == 0 ? 0 : cumulative[index - 1])
    }

    /// The index whose cumulative band holds `u` ∈ [0, 1).
    public func index(for u: Double) -> Int {
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low
    }

    public func pick(_ random: inout RandomSource) -> Int {
        index(for: random.unit())
    }
}

