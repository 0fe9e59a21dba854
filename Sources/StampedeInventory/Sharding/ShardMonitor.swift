import StampedePool
import StampedeSystem
import Synchronization

/// Watches one shard: the latency of its purchases (admission to answer) over a recent window,
/// the adaptive in-flight limit that latency drives, and purchases shed for stock. Applies the
/// limit to the shard as it moves.
final class ShardMonitor: Sendable {
    let shard: Shard
    private let state: Mutex<State>

    private struct State {
        var settings: ShardSettings
        var shedding: SheddingSettings
        var limit: AdaptiveLimit
        var latency: WindowedLatency
        var stockShed = 0
        var completed = 0
    }

    init(shard: Shard, settings: ShardSettings, shedding: SheddingSettings, pinnedSale: String?) {
        self.shard = shard
        state = Mutex(State(settings: settings, shedding: shedding, limit: AdaptiveLimit(initial: settings.maxInFlight),
                            latency: WindowedLatency(windowSeconds: 10, now: MonotonicClock.nowSeconds())))
    }

    /// One purchase of this shard was answered after `latency` seconds.
    func completed(latency: Double) {
        let inFlight = shard.inFlightCount
        let pipeline = shard.pipelineSeconds
        let now = MonotonicClock.nowSeconds()
        let change: (limit: Int, batch: Int, group: Int)? = state.withLock { state in
            state.completed += 1
            state.latency.record(seconds: latency, now: now)
            guard state.shedding.adaptive else { return nil }
            let before = state.limit.limit
            let after = state.limit.observe(latency: latency, pipeline: pipeline, inFlight: inFlight, now: now,
                                            ceiling: state.settings.maxInFlight, floor: state.settings.batchSize,
                                            settings: state.shedding)
            return before == after ? nil : (after, state.settings.batchSize, state.settings.commitGroupSize)
        }
        if let change { shard.tune(maxInFlight: change.limit, batchSize: change.batch, commitGroupSize: change.group) }
    }

    /// A purchase of this shard's sale was shed for stock.
    func countStockShed() { state.withLock { $0.stockShed += 1 } }

    /// New settings from a reload.
    func retune(_ settings: ShardSettings, shedding: SheddingSettings) {
        let limit = state.withLock { state in
            state.settings = settings
            state.shedding = shedding
            if shedding.adaptive {
                state.limit.clamp(ceiling: settings.maxInFlight, floor: settings.batchSize, settings: shedding)
            } else {
                state.limit = AdaptiveLimit(initial: settings.maxInFlight)
            }
            return state.limit.limit
        }
        shard.tune(maxInFlight: limit, batchSize: settings.batchSize, commitGroupSize: settings.commitGroupSize)
    }

    func report(now: Double, pinnedSale: String?) -> ShardReport {
        let figures = shard.statistics
        let (recent, stockShed, settings) = state.withLock { ($0.latency.recent(now: now), $0.stockShed, $0.settings) }
        return ShardReport(figures: figures, pinnedSale: pinnedSale, ceiling: settings.maxInFlight,
                           stockShed: stockShed, latency: recent)
    }
}

/// One shard for `/admin/shards`, `/metrics` and `stampede shards`.
public struct ShardReport: Sendable, Equatable {
    /// Queue, in-flight, batch and shed figures of the shard.
    public var figures: ShardStatistics
    /// The sale this shard is dedicated to; nil for a hashed shard.
    public var pinnedSale: String?
    /// The configured ceiling of the in-flight limit (`figures.maxInFlight` is the adaptive limit now).
    public var ceiling: Int
    /// Purchases of this shard's sales shed for stock (`figures.shed` counts the in-flight sheds).
    public var stockShed: Int
    /// Purchase latency (admission to answer) over the last 10–20 s.
    public var latency: LatencyHistogram
    /// Whether this shard stands out: see `flagHot`.
    public var hot = false
    /// Why it is flagged, for a person.
    public var hotReason: String?

    public var p50: Double { latency.quantile(0.5) }
    public var p99: Double { latency.quantile(0.99) }

    /// Flags the shards that need attention: one whose queue holds more than a full batch, one whose
    /// adaptive limit fell below half its ceiling while it is in use (half of it in flight: a limit
    /// that fell during a burst grows back only when used, so an idle low limit is no sign of
    /// trouble), or one whose recent p99 is over twice the median p99 of the shards with traffic
    /// while it carries a real share of the load.
    public static func flagHot(_ reports: inout [ShardReport]) {
        let busy = reports.filter { $0.latency.count > 0 }
        let p99s = busy.map(\.p99).sorted()
        let median = p99s.isEmpty ? 0 : p99s[p99s.count / 2]
        let total = busy.reduce(0) { $0 + $1.latency.count }
        for index in reports.indices {
            let r = reports[index]
            var reason: String?
            if r.figures.queueDepth > r.figures.batchSize {
                reason = "queue holds \(r.figures.queueDepth), more than a batch (\(r.figures.batchSize))"
            } else if r.figures.maxInFlight * 2 < r.ceiling, r.figures.inFlight * 2 >= r.figures.maxInFlight {
                reason = "adaptive limit \(r.figures.maxInFlight) is under half its ceiling \(r.ceiling): latency over target"
            } else if busy.count > 1, r.latency.count * busy.count > total, r.p99 > 2 * median, r.p99 > 0.005 {
                // A p99 past the largest bucket is +infinity: no Int of it (that trapped here).
                let p99 = r.p99.isFinite ? "\(Int(r.p99 * 1000)) ms"
                    : "over \(Int((LatencyHistogram.bounds.last ?? 0) * 1000)) ms"
                reason = "p99 \(p99) is over twice the median shard's"
            }
            reports[index].hot = reason != nil
            reports[index].hotReason = reason
        }
    }
}
