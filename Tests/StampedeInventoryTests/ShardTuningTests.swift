@testable import StampedeInventory
import StampedePool
import Testing

/// Shard layouts, the adaptive limit, stock-aware admission, latency windows and hot flags, as
/// pure values.
struct ShardTuningTests {
    static let defaults = ShardSettings(batchSize: 128, maxInFlight: 1024)

    /// Pinned sales get their own shard after the hashed ones; other sales hash as before.
    @Test func layoutOwnership() {
        let plain = ShardLayout(hashedCount: 8, defaults: Self.defaults)
        let pinned = ShardLayout(hashedCount: 8, pinned: ["hot", "other", "hot"], defaults: Self.defaults,
                                 overrides: [8: ShardSettings(batchSize: 256, maxInFlight: 4096)])
        #expect(pinned.shardCount == 10)
        #expect(pinned.owner(of: "hot") == 8)
        #expect(pinned.owner(of: "other") == 9)
        #expect(pinned.owner(of: "s1") == ShardRouter(shardCount: 8).shard(for: "s1"))
        #expect(pinned.pinnedSale(of: 8) == "hot" && pinned.pinnedSale(of: 3) == nil)
        #expect(pinned.settings(of: 8).batchSize == 256 && pinned.settings(of: 9) == Self.defaults)
        #expect(!plain.sameOwnership(as: pinned))
        var retuned = plain
        retuned.defaults = ShardSettings(batchSize: 1, maxInFlight: 10)
        #expect(plain.sameOwnership(as: retuned))
        #expect(!plain.sameOwnership(as: ShardLayout(hashedCount: 4, defaults: Self.defaults)))
    }

    /// A window (one target long) whose mean latency is over the target shrinks the limit by the
    /// backoff, once; windows of fast answers grow it by answers ÷ limit while it is in use; it stays
    /// between the floor and the ceiling.
    @Test func adaptiveLimitFollowsLatency() {
        var settings = SheddingSettings()
        settings.targetLatencySeconds = 0.05
        settings.minLimit = 10
        var limit = AdaptiveLimit(initial: 100)
        // A window of slow answers (many samples) is one congestion signal.
        for i in 0..<50 { limit.observe(latency: 0.2, inFlight: 100, now: 1.0 + Double(i) * 0.001, ceiling: 100, settings: settings) }
        #expect(limit.limit == 100, "no decision before the window closes")
        #expect(limit.observe(latency: 0.2, inFlight: 100, now: 1.06, ceiling: 100, settings: settings) == 90)
        // A few slow answers in a window whose mean is under the target do not shrink it.
        for i in 0..<99 { limit.observe(latency: 0.001, inFlight: 80, now: 1.07 + Double(i) * 0.0001, ceiling: 100, settings: settings) }
        limit.observe(latency: 0.3, inFlight: 80, now: 1.2, ceiling: 100, settings: settings)
        #expect(limit.limit > 90)
        // Sustained slowness drives it to the floor, never below.
        for step in 0..<200 { limit.observe(latency: 0.3, inFlight: 50, now: 2 + Double(step) * 0.06, ceiling: 100, settings: settings) }
        #expect(limit.limit == 10)
        // Fast windows while the limit is in use grow it by answers ÷ limit: 10 → 10.1 (a window of
        // one answer) → 10.1 + 29 / 10.1 ≈ 12.97.
        for i in 0..<29 { limit.observe(latency: 0.001, inFlight: 10, now: 100 + Double(i) * 0.001, ceiling: 100, settings: settings) }
        #expect(limit.observe(latency: 0.001, inFlight: 10, now: 100.06, ceiling: 100, settings: settings) == 12)
        // An idle shard (little in flight) does not inflate its limit.
        for i in 0..<1000 { limit.observe(latency: 0.001, inFlight: 0, now: 200 + Double(i) * 0.01, ceiling: 100, settings: settings) }
        #expect(limit.limit == 12)
        for i in 0..<10_000 { limit.observe(latency: 0.001, inFlight: 1000, now: 300 + Double(i) * 0.01, ceiling: 100, settings: settings) }
        #expect(limit.limit == 100)
        limit.clamp(ceiling: 40, settings: settings)
        #expect(limit.limit == 40)
    }

    /// The pipeline term: a window whose mean latency is over the target but within the tolerance ×
    /// the shard's pipeline time is a full pipeline, not congestion — the limit holds (and grows
    /// while in use); past the tolerance it backs off. The floor is the shard's batch size.
    @Test func adaptiveLimitKeepsThePipelineFull() {
        var settings = SheddingSettings()
        settings.targetLatencySeconds = 0.05
        settings.pipelineTolerance = 2
        settings.minLimit = 16
        var limit = AdaptiveLimit(initial: 500)
        // Batches take 60 ms through decide and commit; answers take 100 ms: over the target, but
        // only as much queueing as the pipeline holds — the limit must not shrink.
        for i in 0...100 {
            limit.observe(latency: 0.1, pipeline: 0.06, inFlight: 500, now: Double(i) * 0.01, ceiling: 1000,
                          floor: 128, settings: settings)
        }
        #expect(limit.value > 500, "it holds, and grows a little while in use")
        // Answers at 200 ms against a 60 ms pipeline: the queue holds more than the pipeline → back off.
        let before = limit.limit
        for i in 0...100 {
            limit.observe(latency: 0.2, pipeline: 0.06, inFlight: 500, now: 10 + Double(i) * 0.01, ceiling: 1000,
                          floor: 128, settings: settings)
        }
        #expect(limit.limit < before)
        // However long that lasts, the limit keeps a full batch (128), above min_limit (16).
        for i in 0...10_000 {
            limit.observe(latency: 0.2, pipeline: 0.06, inFlight: 500, now: 20 + Double(i) * 0.01, ceiling: 1000,
                          floor: 128, settings: settings)
        }
        #expect(limit.limit == 128)
        // A fast pipeline with slow answers (a long queue) is congestion even if the target is loose.
        var small = AdaptiveLimit(initial: 400)
        for i in 0...100 {
            small.observe(latency: 0.06, pipeline: 0.005, inFlight: 400, now: Double(i) * 0.01, ceiling: 1000,
                          floor: 1, settings: settings)
        }
        #expect(small.limit < 400)
    }

    /// A sale may queue up to its remaining units × the factor (at least the floor); 0 turns it off.
    @Test func stockAwareAdmission() {
        var settings = SheddingSettings()
        settings.stockFactor = 2
        settings.stockFloor = 4
        #expect(StockAdmission.admits(waiting: 999, available: 500, settings: settings))
        #expect(!StockAdmission.admits(waiting: 1000, available: 500, settings: settings))
        #expect(StockAdmission.admits(waiting: 3, available: 0, settings: settings))
        #expect(!StockAdmission.admits(waiting: 4, available: 0, settings: settings))
        #expect(!StockAdmission.admits(waiting: 4, available: 1, settings: settings))
        settings.stockFactor = 0
        #expect(StockAdmission.admits(waiting: 1_000_000, available: 0, settings: settings))
    }

    /// The latency window forgets observations older than two windows.
    @Test func windowedLatencyForgets() {
        var window = WindowedLatency(windowSeconds: 10, now: 0)
        window.record(seconds: 1, now: 1)
        #expect(window.recent(now: 5).count == 1)
        #expect(window.recent(now: 15).count == 1)
        window.record(seconds: 0.001, now: 15)
        #expect(window.recent(now: 16).count == 2)
        #expect(window.recent(now: 40).count == 0)
    }

    /// A shard with a queue longer than a batch, a collapsed limit in use, or a p99 far above the
    /// others is flagged hot, with a reason; the others are not — nor one whose limit fell during a
    /// burst and is not in use now.
    @Test func hotShardsAreFlagged() {
        func report(_ index: Int, queue: Int = 0, limit: Int = 1024, inFlight: Int = 0, latency: Double, count: Int) -> ShardReport {
            var histogram = LatencyHistogram()
            for _ in 0..<count { histogram.record(seconds: latency) }
            let figures = ShardStatistics(index: index, inFlight: inFlight, queueDepth: queue, commitQueueDepth: 0, maxInFlight: limit,
                                          batchSize: 128, commitGroupSize: 512, served: count, shed: 0, batches: 1,
                                          largestBatch: 1, lastBatch: 1, commitGroups: 1, committedOrders: count,
                                          largestGroup: 1, lastGroup: 1, sales: [])
            return ShardReport(figures: figures, pinnedSale: nil, ceiling: 1024, stockShed: 0, latency: histogram)
        }
        var reports = [report(0, latency: 0.002, count: 10), report(1, latency: 0.002, count: 10),
                       report(2, latency: 0.2, count: 500), report(3, queue: 500, latency: 0.002, count: 10),
                       report(4, limit: 100, inFlight: 60, latency: 0.002, count: 10), report(5, latency: 0, count: 0),
                       report(6, limit: 100, inFlight: 5, latency: 0.002, count: 10)]
        ShardReport.flagHot(&reports)
        #expect(reports.map(\.hot) == [false, false, true, true, true, false, false])
        #expect(reports[2].hotReason?.contains("p99") == true)
        #expect(reports[3].hotReason?.contains("queue") == true)
        #expect(reports[4].hotReason?.contains("adaptive limit") == true)

        // A p99 past the largest bucket (+infinity) is reported, not converted to Int (a trap that
        // took the server down from GET /admin/shards).
        var stalled = [report(0, latency: 0.002, count: 10), report(1, latency: 0.002, count: 10),
                       report(2, latency: 1_000, count: 500)]
        ShardReport.flagHot(&stalled)
        #expect(stalled[2].p99 == .infinity)
        #expect(stalled.map(\.hot) == [false, false, true])
        #expect(stalled[2].hotReason?.contains("p99 over") == true)
    }
}
