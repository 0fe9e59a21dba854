import CoreMetrics
import Prometheus
import StampedeInventory
import Synchronization

/// Stampede's metrics: swift-metrics instruments backed by a Prometheus registry of this service's
/// own (not the process-global one, so several services in one test process stay apart), plus
/// figures read at scrape time from shards, pools and the HTTP server.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// Request-duration histograms by route and status, made on first use: `RequestHistograms`
    /// indexes them without hashing, since every answer records one.
    private let requestHistograms = Mutex(RequestHistograms())
    /// One counter per purchase outcome, made up front so counting takes no lock.
    private let outcomeCounters: [CoreMetrics.Counter]
    private let limitedCounters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let shedCounters: [String: CoreMetrics.Counter]
    /// The pipeline's histograms, recorded directly for the reason `RequestHistograms` gives.
    private let batchSizes: ValueHistogram
    private let commitGroupSizes: ValueHistogram
    private let failedCommits: CoreMetrics.Counter
    private let redisBatchDurations: ValueHistogram
    private let postgresBatchDurations: ValueHistogram

    /// How a purchase ended; `label` is the `outcome` label of `MetricFamily.purchases`.
    public enum PurchaseOutcomeName: Int, CaseIterable, Sendable {
        case created, existing, overloaded, unavailable, soldOut, limitExceeded, saleNotStarted, saleEnded
        case invalidQuantity, invalidToken, unknownSale, groupLimitExceeded

        public var label: String {
            switch self {
            case .created: "created"
            case .existing: "existing"
            case .overloaded: "overloaded"
            case .unavailable: "unavailable"
            case .soldOut: "sold_out"
            case .limitExceeded: "limit_exceeded"
            case .saleNotStarted: "sale_not_started"
            case .saleEnded: "sale_ended"
            case .invalidQuantity: "invalid_quantity"
            case .invalidToken: "invalid_token"
            case .unknownSale: "unknown_sale"
            case .groupLimitExceeded: "group_limit_exceeded"
            }
        }
    }

    /// The request-duration histograms made so far, in a flat table indexed by route and status.
    ///
    /// They are the registry's value histograms of seconds, recorded directly: a swift-metrics
    /// timer's `Duration` histogram compares 128-bit durations out of line for each of its 17
    /// buckets, and a swift-metrics recorder converts each value through generic code. The
    /// buckets, and so the exposition, are those the timers had.
    struct RequestHistograms {
        static let statuses = 100..<600
        var table = [ValueHistogram?](repeating: nil, count: Route.metricsNameCount * statuses.count)

        static func slot(_ route: Route, _ status: Int) -> Int? {
            statuses.contains(status) ? route.metricsNameIndex * statuses.count + (status - statuses.lowerBound) : nil
        }
    }

    public init() {
        registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        shedCounters = Dictionary(uniqueKeysWithValues: [Admission.shedInFlight.reason, Admission.shedStock.reason].map {
            ($0, CoreMetrics.Counter(label: MetricFamily.shed.name, dimensions: MetricFamily.shed.dimensions($0), factory: factory))
        })
        outcomeCounters = PurchaseOutcomeName.allCases.map {
            CoreMetrics.Counter(label: MetricFamily.purchases.name, dimensions: MetricFamily.purchases.dimensions($0.label), factory: factory)
        }
        batchSizes = Self.histogram(registry, .purchaseBatchSize, buckets: Self.sizeBuckets)
        commitGroupSizes = Self.histogram(registry, .commitGroupSize, buckets: Self.sizeBuckets)
        failedCommits = CoreMetrics.Counter(label: MetricFamily.commitGroupsFailed.name, dimensions: [], factory: factory)
        redisBatchDurations = Self.histogram(registry, .redisBatchDuration, buckets: Self.latencyBucketSeconds)
        postgresBatchDurations = Self.histogram(registry, .postgresBatchDuration, buckets: Self.latencyBucketSeconds)
    }

    /// The upper bounds of every latency histogram, in seconds.
    static let latencyBucketSeconds: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 5,
    ]

    /// The registry's value histogram of `family` with `labels` (no help text, as the swift-metrics
    /// factory made them).
    static func histogram(_ registry: PrometheusCollectorRegistry, _ family: MetricFamily, labels: [(String, String)] = [],
                          buckets: [Double]) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: MetricNameDescriptor(metricName: family.name, unitName: "", helpText: ""),
                                    labels: labels, buckets: buckets)
    }

    /// The upper bounds of the batch- and group-size histograms.
    static let sizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// Counts one answered request and its latency, by route and status.
    public func recordRequest(route: Route, status: Int, nanoseconds: UInt64) {
        let slot = RequestHistograms.slot(route, status)
        let histogram = requestHistograms.withLock { histograms in
            if let slot, let histogram = histograms.table[slot] { return histogram }
            let family = MetricFamily.httpRequestDuration
            let histogram = Self.histogram(registry, family, labels: family.dimensions(route.name, String(status)),
                                           buckets: Self.latencyBucketSeconds)
            if let slot { histograms.table[slot] = histogram }
            return histogram
        }
        histogram.record(Double(nanoseconds) / 1e9)
    }

    /// Counts a purchase by how it ended.
    public func recordPurchase(_ outcome: PurchaseOutcomeName) {
        outcomeCounters[outcome.rawValue].increment()
    }

    /// Counts a request refused by a limit against abuse (`admin_rate`, `purchase_token_expired`, …).
    public func recordLimited(_ reason: String) {
        let counter = limitedCounters.withLock { counters in
            if let counter = counters[reason] { return counter }
            let counter = CoreMetrics.Counter(label: MetricFamily.refused.name, dimensions: MetricFamily.refused.dimensions(reason), factory: factory)
            counters[reason] = counter
            return counter
        }
        counter.increment()
    }

    /// Counts a request shed with `503 overloaded`, by reason (`Admission.reason`: `shard_in_flight`, `stock`).
    public func recordShed(reason: String = Admission.shedInFlight.reason) { shedCounters[reason]?.increment() }

    /// Records one pipeline stage: a Redis decision (batch size, time) or a PostgreSQL group commit.
    public func recordBatch(_ report: PurchaseBatchProcessor.StageReport) {
        switch report {
        case .decided(let size, let seconds):
            batchSizes.record(Double(size))
            redisBatchDurations.record(seconds)
        case .committed(let orders, let seconds, let failed):
            commitGroupSizes.record(Double(orders))
            postgresBatchDurations.record(seconds)
            if failed { failedCommits.increment() }
        }
    }

    /// The exposition: the registry's instruments, then the figures read now.
    public func render(_ figures: ScrapeFigures) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16_384)
        registry.emit(into: &buffer)
        var text = ""
        figures.write(into: &text)
        buffer.append(contentsOf: text.utf8)
        return buffer
    }
}
