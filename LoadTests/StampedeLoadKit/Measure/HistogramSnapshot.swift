/// A latency histogram as it is written in a JSON report: the HdrHistogram's non-empty buckets,
/// each as `[value_us, count]` (the bucket's highest equivalent value), with the histogram's
/// parameters. Recording each bucket's value into a histogram of the same parameters rebuilds it
/// exactly, so histograms of different runs (or generators) merge without losing precision.
public struct HistogramSnapshot: Codable, Sendable, Equatable {
    public var significantDigits: Int
    public var lowestUs: UInt64
    public var highestUs: UInt64
    /// `[value_us, count]` of every non-empty bucket, in increasing value.
    public var buckets: [[UInt64]]
    /// The exact smallest and largest values recorded (a bucket only knows its range).
    public var minUs: UInt64
    public var maxUs: UInt64

    public init(_ histogram: MicrosecondHistogram) {
        significantDigits = histogram.significantDigits
        lowestUs = 1
        highestUs = MicrosecondHistogram.highestMicroseconds
        buckets = histogram.histogram.recordedValues().map { [$0.value, UInt64($0.count)] }
        minUs = histogram.count == 0 ? 0 : histogram.histogram.min
        maxUs = histogram.count == 0 ? 0 : histogram.histogram.maxRecorded
    }

    public enum RestoreError: Error, Equatable, CustomStringConvertible {
        case unsupported(significantDigits: Int, lowestUs: UInt64, highestUs: UInt64)
        case malformedBucket(Int)

        public var description: String {
            switch self {
            case .unsupported(let digits, let lowest, let highest):
                "a histogram of \(digits) significant digits over \(lowest)…\(highest) µs (this build writes 2 or 3 over 1…\(MicrosecondHistogram.highestMicroseconds))"
            case .malformedBucket(let index): "bucket \(index) is not [value_us, count]"
            }
        }
    }

    /// The histogram again.
    public func histogram() throws(RestoreError) -> MicrosecondHistogram {
        guard lowestUs == 1, highestUs == MicrosecondHistogram.highestMicroseconds,
              let digits = SignificantDigitsChoice(significantDigits) else {
            throw .unsupported(significantDigits: significantDigits, lowestUs: lowestUs, highestUs: highestUs)
        }
        var histogram = MicrosecondHistogram(significantDigits: digits.value)
        for (index, bucket) in buckets.enumerated() {
            guard bucket.count == 2, bucket[0] >= 1, bucket[0] <= highestUs else { throw .malformedBucket(index) }
            // The first and last buckets are recorded at the exact minimum and maximum (values
            // of the same buckets), so min and max survive the round trip too.
            var value = bucket[0]
            if index == buckets.count - 1, histogram.histogram.valuesAreEquivalent(value, maxUs) { value = maxUs }
            else if index == 0, histogram.histogram.valuesAreEquivalent(value, minUs) { value = minUs }
            histogram.record(microseconds: value, count: bucket[1])
        }
        return histogram
    }
}
