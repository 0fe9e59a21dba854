import StampedeSystem
import Synchronization

/// One shard of the purchase path: it admits purchases up to a bound and runs them through a
/// two-stage pipeline — Redis decisions in batches, PostgreSQL group commits — one of each at a
/// time, concurrently.
///
/// Admission and queueing are lock-protected and non-async, so an event-loop thread hands a
/// purchase over without creating a task per request. Purchases that arrive while a decision is
/// in flight form the next batch (up to `batchSize`); reservations decided while a commit is in
/// flight form the next group (up to `commitGroupSize`). Neither stage waits for more traffic: at
/// low load a purchase goes through alone, with no linger delay (on the shard's own reactor a
/// batch starts at the end of the iteration that read its first purchase, with the others read
/// in that iteration).
public actor Shard {
    public nonisolated let index: Int
    private nonisolated let queue = Mutex(ShardQueue())
    private nonisolated let commits = Mutex(BatchQueue<PurchaseBatchProcessor.PendingCommit>())
    private nonisolated let inFlight = Atomic<Int>(0)
    private nonisolated let maxInFlight: Atomic<Int>
    private nonisolated let batchSize: Atomic<Int>
    private nonisolated let commitGroupSize: Atomic<Int>
    private nonisolated let counters = Mutex(Counters())
    /// Purchases admitted and not yet answered.
    public nonisolated var inFlightCount: Int { inFlight.load(ordering: .relaxed) }

    /// The latest group's pipeline time in microseconds: from its oldest batch's decide start to
    /// its commit — the latency of a purchase that did not queue.
    private nonisolated let pipelineMicroseconds = Atomic<Int>(0)
    private let processor: PurchaseBatchProcessor
    /// Runs the shard's code: on the thread of the reactor that owns its Redis and PostgreSQL
    /// connections (`ReactorExecutor`), or, without reactors, on the threads its input arrives on
    /// (`ShardExecutor`).
    private nonisolated let executor: any SerialExecutor & TaskExecutor
    /// The reactor the shard runs on, if any.
    private nonisolated let reactor: Reactor?
    /// The decide stage waiting for the commit stage to take the reservations already decided.
    private var decideGate: CheckedContinuation<Void, Never>?
    /// A group commit is in flight.
    private var committing = false
    /// Whether the decide stage decides the next batch while a group commits
    /// (`shards.decide_during_commit`); by default it waits for the commit to finish.
    private nonisolated let decidesDuringCommit: Bool
    /// Orders committed while purchases were queued: the next decision acknowledges them in its own
    /// round trip (`PurchaseBatchProcessor.decide(_:acknowledging:)`) instead of a Redis call of
    /// their own — those of sales it does not decide right after it. Only the commit stage adds to
    /// it, only when a purchase is queued — so a decision is coming, and the entries wait in the
    /// outbox one batch at most.
    private var acknowledgements: [Order] = []

    private struct Counters {
        var served = 0, shed = 0, batches = 0, largestBatch = 0, lastBatch = 0
        var groups = 0, committed = 0, largestGroup = 0, lastGroup = 0
        var recentSales: [String] = []
    }

    /// The shard runs on its own executor, not on the cooperative pool.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// `reactor`: the reactor whose thread runs the shard (nil: the shard runs on the threads that
    /// hand it work).
    ///
    /// `decidesDuringCommit`: the decide stage decides the next batch while a group commits (one
    /// batch ahead at most) instead of waiting for the commit to finish.
    public init(index: Int, maxInFlight: Int, batchSize: Int, commitGroupSize: Int, processor: PurchaseBatchProcessor,
                reactor: Reactor? = nil, decidesDuringCommit: Bool = false) {
        self.decidesDuringCommit = decidesDuringCommit
        self.index = index
        self.executor = reactor.map { ReactorExecutor(reactor: $0) } ?? ShardExecutor()
        self.reactor = reactor
        self.maxInFlight = Atomic(max(1, maxInFlight))
        self.batchSize = Atomic(max(1, batchSize))
        self.commitGroupSize = Atomic(max(1, commitGroupSize))
        self.processor = processor
    }

    /// Queues a purchase. Returns false — and does nothing else — when the shard already holds its
    /// maximum of purchases in flight: the caller answers `503 overloaded`.
    /// `force` admits past the limit: for purchases already admitted elsewhere (held while the
    /// shard layout changed), which must not be dropped.
    public nonisolated func submit(_ purchase: PendingPurchase, force: Bool = false) -> Bool {
        let admitted = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if !force, admitted > maxInFlight.load(ordering: .relaxed) {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            counters.withLock { $0.shed += 1 }
            return false
        }
        let mustDrain = queue.withLock { $0.push(purchase) }
        guard mustDrain else { return true }
        if let reactor, reactor.isCurrent {
            // Submitted on the shard's own thread (its loop read the request): the batch starts
            // once this iteration has read every request that was ready, so purchases that
            // arrived together are decided together rather than the first one alone.
            reactor.atIterationEnd { [self] in Task(executorPreference: executor) { await self.decideWaiting() } }
        } else {
            Task(executorPreference: executor) { await self.decideWaiting() }
        }
        return true
    }

    /// Whether the shard holds its maximum of purchases in flight now.
    public nonisolated var isFull: Bool { inFlight.load(ordering: .relaxed) >= maxInFlight.load(ordering: .relaxed) }

    /// Counts a purchase shed at the door because the shard was full.
    public nonisolated func countShed() { counters.withLock { $0.shed += 1 } }

    /// Changes the live tunables (applied to the next batch, group and admission).
    public nonisolated func tune(maxInFlight: Int, batchSize: Int, commitGroupSize: Int) {
        self.maxInFlight.store(max(1, maxInFlight), ordering: .relaxed)
        self.batchSize.store(max(1, batchSize), ordering: .relaxed)
        self.commitGroupSize.store(max(1, commitGroupSize), ordering: .relaxed)
    }

    /// The latest group's pipeline time (seconds): a batch's decide start to its group's commit.
    public nonisolated var pipelineSeconds: Double {
        Double(pipelineMicroseconds.load(ordering: .relaxed)) / 1e6
    }

    /// The shard's figures now.
    public nonisolated var statistics: ShardStatistics {
        let depth = queue.withLock { $0.count }
        let commitDepth = commits.withLock { $0.count }
        let c = counters.withLock { $0 }
        return ShardStatistics(index: index, inFlight: inFlight.load(ordering: .relaxed), queueDepth: depth,
                               commitQueueDepth: commitDepth, maxInFlight: maxInFlight.load(ordering: .relaxed),
                               batchSize: batchSize.load(ordering: .relaxed),
                               commitGroupSize: commitGroupSize.load(ordering: .relaxed), served: c.served, shed: c.shed,
                               batches: c.batches, largestBatch: c.largestBatch, lastBatch: c.lastBatch,
                               commitGroups: c.groups, committedOrders: c.committed, largestGroup: c.largestGroup,
                               lastGroup: c.lastGroup, sales: c.recentSales)
    }

    /// Stage 1: decides waiting purchases batch after batch until none are left.
    ///
    /// By default it waits while a group commits: the purchases arriving meanwhile join one larger
    /// batch, decided when the commit is done — fewer Redis calls, commits and thread wake-ups per
    /// purchase (~10 % less Stampede CPU per purchase at `wrk -t1 -c64`, docs/performance.md), for
    /// at most one commit's time more latency. With `decidesDuringCommit` it decides the next
    /// batch while a group commits, but never runs more than one batch ahead: while decided
    /// reservations still wait for a commit to take them, deciding more would not answer anybody
    /// sooner. At low load nothing is waiting and a purchase is decided at once.
    private func decideWaiting() async {
        while true {
            if commits.withLock({ $0.count }) > 0 || (committing && !decidesDuringCommit) {
                await withCheckedContinuation { decideGate = $0 }
            }
            let size = batchSize.load(ordering: .relaxed)
            let batch = queue.withLock { $0.takeBatch(maxSize: size) }
            // Taken in the same step as the batch (no suspension between): whatever the commit
            // stage added while `batch` waited in the queue rides on this decision.
            let committed = acknowledgements
            acknowledgements = []
            if batch.isEmpty {
                // Not reached while the commit stage keeps its rule; kept so no entry can wait.
                await processor.acknowledge(committed)
                return
            }
            record(batch: batch)
            let started = MonotonicClock.nowSeconds()
            let acknowledging = PurchaseBatchProcessor.acknowledgements(committed, for: batch)
            var pending = await processor.decide(batch, acknowledging: acknowledging.folded)
            for index in pending.indices { pending[index].decideStarted = started }
            inFlight.wrappingSubtract(batch.count - pending.count, ordering: .relaxed)
            if !pending.isEmpty, commits.withLock({ $0.push(contentsOf: pending) }) {
                Task(executorPreference: executor) { await self.commitWaiting() }
            }
            // Other sales' entries: after the decision, while the commit stage already runs.
            await processor.acknowledge(acknowledging.alone)
        }
    }

    /// Stage 2: commits decided reservations group after group until none are left.
    private func commitWaiting() async {
        while true {
            let size = commitGroupSize.load(ordering: .relaxed)
            let (group, left) = commits.withLock { queue in (queue.takeBatch(maxSize: size), queue.count) }
            if group.isEmpty {
                openDecideGate()
                return
            }
            if left == 0 && decidesDuringCommit { openDecideGate() }
            committing = true
            let committed = await processor.commit(group)
            committing = false
            if !decidesDuringCommit && commits.withLock({ $0.count }) == 0 { openDecideGate() }
            if !committed.isEmpty {
                if queue.withLock({ $0.count }) > 0 {
                    acknowledgements.append(contentsOf: committed)
                } else {
                    await processor.acknowledge(committed)
                }
            }
            inFlight.wrappingSubtract(group.count, ordering: .relaxed)
            let oldest = group.reduce(Double.infinity) { min($0, $1.decideStarted) }
            pipelineMicroseconds.store(Int((MonotonicClock.nowSeconds() - oldest) * 1e6), ordering: .relaxed)
            counters.withLock { c in
                c.groups += 1
                c.committed += group.count
                c.lastGroup = group.count
                c.largestGroup = max(c.largestGroup, group.count)
            }
        }
    }

    /// Lets the decide stage go on once the commit stage took every decided reservation.
    private func openDecideGate() {
        guard let gate = decideGate else { return }
        decideGate = nil
        gate.resume()
    }

    private func record(batch: [PendingPurchase]) {
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
