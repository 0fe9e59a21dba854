import Glibc
import StampedePool
import StampedeSystem
import Synchronization

/// How a purchase was taken in at the door.
public enum Admission: Sendable, Equatable {
    /// Queued on its shard; `complete` will be called exactly once.
    case queued
    /// Shed: the shard's (adaptive) in-flight limit is reached. Nothing was done.
    case shedInFlight
    /// Shed: the sale already has more purchases waiting than units left × the stock factor.
    case shedStock

    /// The `reason` label of the shed counter in `/metrics` (`MetricFamily.shed`).
    public var reason: String {
        switch self {
        case .queued: return "none"
        case .shedInFlight: return "shard_in_flight"
        case .shedStock: return "stock"
        }
    }
}

/// The live set of shards: routes each purchase to the shard that owns its sale under the current
/// `ShardLayout`, applies stock-aware admission, and swaps layouts on a reload without dropping or
/// duplicating a purchase.
///
/// A layout change that moves sales (shard count, pins) is a barrier: purchases arriving meanwhile
/// are **held** (admitted, bounded), the old shards finish everything they admitted, then the new
/// shards take over and receive the held purchases first. So no sale is ever processed by two
/// shards at once, and every admitted purchase is processed exactly once. A change of tunables
/// only (batch size, limits, shedding) applies in place, at once.
public final class ShardDirectory: Sendable {
    private let state: Mutex<State>
    /// Purchases admitted and not yet answered, per sale (for stock-aware admission).
    private let waiting = Mutex<[String: Int]>([:])
    private let processor: PurchaseBatchProcessor
    /// The threads shard `i` runs on: `reactors[i % reactors.count]` (none: shards run inline on
    /// the threads that hand them work).
    private let reactors: [Reactor]
    /// Passed to every shard it makes (`Shard.init`).
    private let decidesDuringCommit: Bool

    private struct State {
        var layout: ShardLayout
        var shedding: SheddingSettings
        var shards: [LiveShard]
        /// Set while old shards drain after a layout change; purchases wait in `held`.
        var switching: Bool = false
        var held: [PendingPurchase] = []
        var heldLimit: Int = 0
        var generation = 0
    }

    /// A shard and its monitor (latency window, adaptive limit, stock sheds).
    struct LiveShard: Sendable {
        let shard: Shard
        let monitor: ShardMonitor
    }

    public init(layout: ShardLayout, shedding: SheddingSettings, processor: PurchaseBatchProcessor, reactors: [Reactor] = [],
                decidesDuringCommit: Bool = false) {
        self.processor = processor
        self.reactors = reactors
        self.decidesDuringCommit = decidesDuringCommit
        let shards = Self.makeShards(layout, shedding, processor, reactors, decidesDuringCommit)
        state = Mutex(State(layout: layout, shedding: shedding, shards: shards))
    }

    private static func makeShards(_ layout: ShardLayout, _ shedding: SheddingSettings,
                                   _ processor: PurchaseBatchProcessor, _ reactors: [Reactor],
                                   _ decidesDuringCommit: Bool) -> [LiveShard] {
        (0..<layout.shardCount).map { index in
            let settings = layout.settings(of: index)
            let shard = Shard(index: index, maxInFlight: settings.maxInFlight, batchSize: settings.batchSize,
                              commitGroupSize: settings.commitGroupSize, processor: processor,
                              reactor: reactors.isEmpty ? nil : reactors[index % reactors.count],
                              decidesDuringCommit: decidesDuringCommit)
            return LiveShard(shard: shard, monitor: ShardMonitor(shard: shard, settings: settings, shedding: shedding,
                                                                 pinnedSale: layout.pinnedSale(of: index)))
        }
    }

    /// The current layout.
    public var layout: ShardLayout { state.withLock { $0.layout } }

    /// Whether a purchase of `saleID` would be shed now: its shard is at its in-flight limit (`shard`
    /// is that shard), or the held purchases of a layout switch are at theirs (`shard` nil). A look
    /// without queueing, so the caller can answer `503 overloaded` before decoding the request.
    func atLimit(_ saleID: String) -> (full: Bool, shard: Shard?) {
        state.withLock { state in
            if state.switching { return (state.held.count >= state.heldLimit, nil) }
            let shard = state.shards[state.layout.owner(of: saleID)].shard
            return (shard.isFull, shard)
        }
    }

    /// Takes in a purchase. `available` is the sale's remaining units as last cached (nil: unknown,
    /// no stock-aware check).
    ///
    /// `complete` answers the buyer, exactly once, if the purchase is queued (nothing is called
    /// when it is not: the caller answers the returned admission).
    public func admit(_ request: PurchaseRequest, available: Int64?,
                      complete: @escaping @Sendable (PurchaseOutcome) -> Void) -> Admission {
        let saleID = request.saleID
        let shedding = state.withLock { $0.shedding }
        if let available {
            let admitted = waiting.withLock { counts -> Bool in
                let now = counts[saleID, default: 0]
                guard StockAdmission.admits(waiting: now, available: available, settings: shedding) else { return false }
                counts[saleID] = now + 1
                return true
            }
            if !admitted {
                state.withLock { $0.shards[$0.layout.owner(of: saleID)].monitor.countStockShed() }
                return .shedStock
            }
        } else {
            waiting.withLock { $0[saleID, default: 0] += 1 }
        }
        let admission = state.withLock { state -> Admission in
            if state.switching {
                guard state.held.count < state.heldLimit else { return .shedInFlight }
                state.held.append(PendingPurchase(request: request, answer: complete,
                                                  admission: AdmissionTracking(directory: self, monitor: nil)))
                return .queued
            }
            let live = state.shards[state.layout.owner(of: saleID)]
            let purchase = PendingPurchase(request: request, answer: complete,
                                           admission: AdmissionTracking(directory: self, monitor: live.monitor))
            return live.shard.submit(purchase) ? .queued : .shedInFlight
        }
        if admission != .queued { release(saleID) }
        return admission
    }

    /// One purchase of `saleID` fewer waiting (it was answered, or not admitted after all).
    func release(_ saleID: String) {
        waiting.withLock { counts in
            if let now = counts[saleID] {
                if now <= 1 { counts[saleID] = nil } else { counts[saleID] = now - 1 }
            }
        }
    }

    /// Applies a new layout and shedding settings. Tunables apply in place; a change of ownership
    /// drains the old shards first (see the type's documentation). Returns once the new layout
    /// serves purchases.
    public func apply(_ layout: ShardLayout, shedding: SheddingSettings) async {
        enum Step { case busy, done, drain([LiveShard]) }
        var step = Step.busy
        while case .busy = step {
            step = state.withLock { state -> Step in
                // One layout change at a time: a second reload waits for the first to finish.
                if state.switching { return .busy }
                state.shedding = shedding
                if state.layout.sameOwnership(as: layout) {
                    state.layout = layout
                    for (index, live) in state.shards.enumerated() {
                        live.monitor.retune(layout.settings(of: index), shedding: shedding)
                    }
                    return .done
                }
                state.switching = true
                state.heldLimit = (0..<layout.shardCount).reduce(0) { $0 + layout.settings(of: $1).maxInFlight }
                return .drain(state.shards)
            }
            if case .busy = step { try? await Task.sleep(nanoseconds: 1_000_000) }
        }
        guard case .drain(let old) = step else { return }
        // Every purchase admitted to an old shard is answered before any shard of the new layout
        // runs: a moving sale is never in two shards at once.
        while old.contains(where: { $0.shard.statistics.inFlight > 0 }) {
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        let fresh = Self.makeShards(layout, shedding, processor, reactors, decidesDuringCommit)
        state.withLock { state in
            // A purchase was admitted with a nil monitor while held: re-wrap it for its new shard.
            for purchase in state.held {
                let live = fresh[layout.owner(of: purchase.request.saleID)]
                _ = live.shard.submit(purchase.tracked(by: AdmissionTracking(directory: self, monitor: live.monitor)), force: true)
            }
            state.held = []
            state.layout = layout
            state.shards = fresh
            state.switching = false
            state.generation += 1
        }
    }

    /// Every shard's figures, with its recent latency and whether it is hot.
    public func statistics() -> [ShardReport] {
        let (layout, shards) = state.withLock { ($0.layout, $0.shards) }
        let now = MonotonicClock.nowSeconds()
        var reports = shards.enumerated().map { index, live in
            live.monitor.report(now: now, pinnedSale: layout.pinnedSale(of: index))
        }
        ShardReport.flagHot(&reports)
        return reports
    }

    /// The shard that owns `saleID` now.
    public func shard(for saleID: String) -> Shard {
        state.withLock { $0.shards[$0.layout.owner(of: saleID)].shard }
    }

    /// Whether a layout change is draining old shards now.
    public var isSwitching: Bool { state.withLock { $0.switching } }

    /// Purchases of a sale admitted and not yet answered (for tests and the shard table).
    public func waiting(for saleID: String) -> Int { waiting.withLock { $0[saleID] ?? 0 } }
}

/// What the directory counts for an admitted purchase until it is answered: its sale's waiting
/// purchases (stock-aware admission) and its shard's latency (the monitor).
struct AdmissionTracking: Sendable {
    let directory: ShardDirectory
    let monitor: ShardMonitor?
    /// When it was admitted, in monotonic seconds.
    let started = MonotonicClock.nowSeconds()

    func settle(saleID: String) {
        directory.release(saleID)
        monitor?.completed(latency: MonotonicClock.nowSeconds() - started)
    }
}
