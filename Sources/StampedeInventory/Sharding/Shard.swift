import Synchronization

/// One shard of the purchase path: it admits purchases up to a bound, queues them, and drains the
/// queue into batches — one Redis decision and one PostgreSQL commit per batch.
///
/// Admission and queueing are lock-protected and non-async, so an event-loop thread hands a
/// purchase over without creating a task per request; the actor owns the drain loop, so a shard
/// runs exactly one batch at a time and purchases that arrive meanwhile form the next batch
/// (coalescing without a linger delay).
public actor Shard {
    public nonisolated let index: Int
    private nonisolated let queue = Mutex(ShardQueue())
    private nonisolated let inFlight = Atomic<Int>(0)
    private nonisolated let maxInFlight: Atomic<Int>
    private nonisolated let batchSize: Atomic<Int>
    private nonisolated let counters = Mutex(Counters())
    private let processor: PurchaseBatchProcessor

    private struct Counters {
        var served = 0, shed = 0, batches = 0, largestBatch = 0, lastBatch = 0
        var recentSales: [String] = []
    }

    public init(index: Int, maxInFlight: Int, batchSize: Int, processor: PurchaseBatchProcessor) {
        self.index = index
        self.maxInFlight = Atomic(max(1, maxInFlight))
        self.batchSize = Atomic(max(1, batchSize))
        self.processor = processor
    }

    /// Queues a purchase. Returns false — and does nothing else — when the shard already holds its
    /// maximum of purchases in flight: the caller answers `503 overloaded`.
    public nonisolated func submit(_ purchase: PendingPurchase) -> Bool {
        let admitted = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if admitted > maxInFlight.load(ordering: .relaxed) {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            counters.withLock { $0.shed += 1 }
            return false
        }
        let mustDrain = queue.withLock { $0.push(purchase) }
        if mustDrain { Task { await self.drain() } }
        return true
    }

    /// Changes the live tunables (applied to the next batch and the next admission).
    public nonisolated func tune(maxInFlight: Int, batchSize: Int) {
        self.maxInFlight.store(max(1, maxInFlight), ordering: .relaxed)
        self.batchSize.store(max(1, batchSize), ordering: .relaxed)
    }

    /// The shard's figures now.
    public nonisolated var statistics: ShardStatistics {
        let depth = queue.withLock { $0.count }
        let c = counters.withLock { $0 }
        return ShardStatistics(index: index, inFlight: inFlight.load(ordering: .relaxed), queueDepth: depth,
                               maxInFlight: maxInFlight.load(ordering: .relaxed),
                               batchSize: batchSize.load(ordering: .relaxed), served: c.served, shed: c.shed,
                               batches: c.batches, largestBatch: c.largestBatch, lastBatch: c.lastBatch,
                               sales: c.recentSales)
    }

    private func drain() async {
        while true {
            let size = batchSize.load(ordering: .relaxed)
            let batch = queue.withLock { $0.takeBatch(maxSize: size) }
            if batch.isEmpty { return }
            record(batch)
            await processor.process(batch)
            inFlight.wrappingSubtract(batch.count, ordering: .relaxed)
        }
    }

    private func record(_ batch: [PendingPurchase]) {
        counters.withLock { c in
            c.served += batch.count
            c.batches += 1
            c.lastBatch = batch.count
            c.largestBatch = max(c.largestBatch, batch.count)
            for purchase in batch where c.recentSales.first != purchase.request.saleID {
                c.recentSales.removeAll { $0 == purchase.request.saleID }
                c.recentSales.insert(purchase.request.saleID, at: 0)
                if c.recentSales.count > 16 { c.recentSales.removeLast() }
            }
        }
    }
}
