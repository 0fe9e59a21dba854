@testable import StampedeInventory
import Synchronization

/// An in-memory `StockDecider`: the purchase script's rules (stock, per-user limit, idempotency,
/// the outbox) over dictionaries, for the pipeline's unit tests. It can hold decisions (to let a
/// batch form behind one in flight) and fail them.
final class InMemoryStock: StockDecider {
    struct State {
        var available: [String: Int64] = [:]
        var holdings: [String: Int64] = [:]       // "sale|user" → units
        var keys: [String: String] = [:]          // "sale|user|key" → order id
        var outbox: [String: Order] = [:]         // order id → reservation not yet acknowledged
        var batchSizes: [Int] = []
        var invalidated: [String] = []
        /// Outbox entries removed by decisions (folded acknowledgements) and by lone `acknowledge`
        /// calls, and how many lone calls there were.
        var acknowledgedWithDecisions: [String] = []
        var acknowledgedAlone: [String] = []
        var acknowledgeCalls = 0
        /// Acknowledged order ids that `isCommitted` said were not committed (must stay empty).
        var acknowledgedUncommitted: [String] = []
        var holding = false
        var failing = false
        /// Decisions in flight per sale, and whether a sale was ever decided by two at once.
        var deciding: [String: Int] = [:]
        var overlapped = false
    }
    let state = Mutex(State())
    let perUserLimit: Int64
    /// Whether an order is committed (the pipeline's `InMemoryOrders`): every acknowledgement is
    /// checked against it when set.
    let isCommitted: Mutex<(@Sendable (String) -> Bool)?> = Mutex(nil)

    init(stock: [String: Int64], perUserLimit: Int64 = 10) {
        self.perUserLimit = perUserLimit
        state.withLock { $0.available = stock }
    }

    static let epoch = RedisEpoch(runID: "memory", generation: 1)

    func hold() { state.withLock { $0.holding = true } }
    func release() { state.withLock { $0.holding = false } }

    func decideBatch(_ requests: [PurchaseRequest], acknowledging committed: [Order],
                     now: Timestamp) async throws(InventoryError) -> LedgerDecisions {
        let saleIDs = Set(requests.map(\.saleID))
        state.withLock { s in
            for saleID in saleIDs {
                s.deciding[saleID, default: 0] += 1
                if s.deciding[saleID]! > 1 { s.overlapped = true }
            }
        }
        defer { state.withLock { s in for saleID in saleIDs { s.deciding[saleID]! -= 1 } } }
        while state.withLock({ $0.holding }) { try? await Task.sleep(nanoseconds: 1_000_000) }
        return try state.withLock { (s: inout State) throws(InventoryError) -> LedgerDecisions in
            if s.failing { throw .unavailable("in-memory stock is down") }
            s.batchSizes.append(requests.count)
            var decisions: [PurchaseDecision] = []
            var sales: [String: PurchaseBatchSale] = [:]
            var nodes: [String: String] = [:]
            for request in requests {
                guard let left = s.available[request.saleID] else {
                    decisions.append(.rejected(.unknownSale))
                    continue
                }
                let holder = request.saleID + "|" + request.userID
                if let key = request.idempotencyKey, let first = s.keys[holder + "|" + key] {
                    decisions.append(.duplicate(orderID: first, pending: s.outbox[first]))
                } else if left < request.quantity {
                    decisions.append(.rejected(.soldOut))
                } else if s.holdings[holder, default: 0] + request.quantity > perUserLimit {
                    decisions.append(.rejected(.limitExceeded))
                } else {
                    s.available[request.saleID] = left - request.quantity
                    s.holdings[holder, default: 0] += request.quantity
                    let order = Order(orderID: request.orderID, saleID: request.saleID, sku: "sku", userID: request.userID,
                                      quantity: request.quantity, priceCents: 100, status: .reserved, createdAt: now,
                                      expiresAt: now.adding(seconds: 600), idempotencyKey: request.idempotencyKey)
                    if let key = request.idempotencyKey { s.keys[holder + "|" + key] = request.orderID }
                    s.outbox[request.orderID] = order
                    decisions.append(.reserved(order))
                }
                sales[request.saleID] = PurchaseBatchSale(sku: "sku", priceCents: 100, perUserLimit: perUserLimit,
                                                          available: s.available[request.saleID] ?? 0,
                                                          reservationTTLSeconds: 600, endsAt: now.adding(seconds: 3600),
                                                          generation: Self.epoch.generation)
                nodes[request.saleID] = Self.epoch.runID
            }
            // After the purchase scripts, as the `HDEL`s follow them in Redis's pipeline.
            for order in committed {
                if let check = isCommitted.withLock({ $0 }), !check(order.orderID) { s.acknowledgedUncommitted.append(order.orderID) }
                s.outbox[order.orderID] = nil
                s.acknowledgedWithDecisions.append(order.orderID)
            }
            return LedgerDecisions(decisions: decisions, sales: sales, nodes: nodes)
        }
    }

    func invalidate(saleID: String, epoch: RedisEpoch) async throws(InventoryError) -> Bool {
        state.withLock { $0.invalidated.append(saleID) }
        return true
    }

    func acknowledge(_ orders: [Order]) async throws(InventoryError) {
        state.withLock { s in
            s.acknowledgeCalls += 1
            for order in orders {
                if let check = isCommitted.withLock({ $0 }), !check(order.orderID) { s.acknowledgedUncommitted.append(order.orderID) }
                s.outbox[order.orderID] = nil
                s.acknowledgedAlone.append(order.orderID)
            }
        }
    }
}

/// An in-memory `OrderCommitter`: rows by order id (inserted at most once), a fence per sale, and
/// failures on demand.
final class InMemoryOrders: OrderCommitter {
    struct State {
        var rows: [String: Order] = [:]
        var groupSizes: [Int] = []
        var fenced: Set<String> = []
        var failing = false
        /// Commits held (started, not finished) while set, and how many commits started.
        var holding = false
        var started = 0
    }
    let state = Mutex(State())
    let writerHealth = DependencyHealth()

    func hold() { state.withLock { $0.holding = true } }
    func release() { state.withLock { $0.holding = false } }

    func commitBatch(reserved: [Order], replayed: [Order], lookup: [String],
                     epochs: [String: RedisEpoch], groups: [String: GroupFence]) async throws(InventoryError) -> GroupCommit {
        state.withLock { $0.started += 1 }
        while state.withLock({ $0.holding }) { try? await Task.sleep(nanoseconds: 1_000_000) }
        return try state.withLock { (s: inout State) throws(InventoryError) -> GroupCommit in
            if s.failing { throw .unavailable("in-memory orders are down") }
            let fenced = Set((reserved + replayed).map(\.saleID).filter { s.fenced.contains($0) || epochs[$0] == nil })
            s.groupSizes.append(reserved.count + replayed.count)
            var committed = 0
            for order in reserved where !fenced.contains(order.saleID) && s.rows[order.orderID] == nil {
                s.rows[order.orderID] = order
                committed += 1
            }
            for order in replayed where !fenced.contains(order.saleID) && s.rows[order.orderID] == nil {
                s.rows[order.orderID] = order
            }
            var readBack: [String: Order] = [:]
            for id in lookup + replayed.map(\.orderID) { readBack[id] = s.rows[id] }
            return GroupCommit(readBack: readBack, fenced: fenced, reservedCommitted: committed)
        }
    }
}

/// Every answer a test's purchases got, by buyer: each must get exactly one.
final class PurchaseAnswers: Sendable {
    private let byUser = Mutex<[String: [PurchaseOutcome]]>([:])

    func record(_ user: String, _ outcome: PurchaseOutcome) { byUser.withLock { $0[user, default: []].append(outcome) } }
    var all: [String: [PurchaseOutcome]] { byUser.withLock { $0 } }
    var count: Int { byUser.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Waits (at most five seconds) until `expected` answers arrived.
    func wait(for expected: Int) async {
        for _ in 0..<5000 where count < expected { try? await Task.sleep(nanoseconds: 1_000_000) }
    }
}
