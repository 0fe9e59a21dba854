/// Carries a batch of purchases through Redis and PostgreSQL and answers every buyer once.
///
/// 1. One pipelined round of the purchase script decides the whole batch (stock, per-user limit,
///    idempotency) and writes each reservation into its sale's outbox.
/// 2. One PostgreSQL transaction inserts every new order row (and re-commits outbox entries that
///    idempotent retries point at); its commit is what makes a `201` true.
/// 3. Buyers are answered; then the outbox entries are acknowledged (deleted). A crash between 1
///    and 3 leaves the entries in the outbox, where the reconciler commits them later.
public struct PurchaseBatchProcessor: Sendable {
    public let ledger: StockLedger
    public let orders: OrderRepository
    /// Called once per batch with what happened, for metrics.
    public let observe: @Sendable (BatchReport) -> Void

    /// What one batch did.
    public struct BatchReport: Sendable {
        public var size: Int
        public var redisSeconds: Double
        public var postgresSeconds: Double
        public var committed: Int
    }

    public init(ledger: StockLedger, orders: OrderRepository, observe: @escaping @Sendable (BatchReport) -> Void = { _ in }) {
        self.ledger = ledger
        self.orders = orders
        self.observe = observe
    }

    /// Decides, commits and answers `batch`.
    public func process(_ batch: [PendingPurchase]) async {
        var report = BatchReport(size: batch.count, redisSeconds: 0, postgresSeconds: 0, committed: 0)
        defer { observe(report) }
        let started = MonotonicClock.now()
        let decisions: [PurchaseDecision]
        do {
            decisions = try await ledger.decide(batch.map(\.request), now: .now())
        } catch {
            report.redisSeconds = MonotonicClock.seconds(since: started)
            for purchase in batch { purchase.complete(.unavailable(Self.reason(error))) }
            return
        }
        let decided = MonotonicClock.now()
        report.redisSeconds = MonotonicClock.seconds(decided, since: started)
        var reserved: [Order] = []
        var replayed: [Order] = []
        var lookup: [String] = []
        for (purchase, decision) in zip(batch, decisions) {
            switch decision {
            case .reserved(let order): reserved.append(order)
            case .duplicate(let orderID, let pending):
                if let pending { replayed.append(pending) } else { lookup.append(orderID) }
            case .rejected(let outcome): purchase.complete(outcome)
            }
        }
        guard !reserved.isEmpty || !replayed.isEmpty || !lookup.isEmpty else { return }
        let commit: OrderRepository.BatchCommit
        do {
            commit = try await orders.commitBatch(reserved: reserved, replayed: replayed, lookup: lookup)
            report.postgresSeconds = MonotonicClock.seconds(since: decided)
        } catch {
            report.postgresSeconds = MonotonicClock.seconds(since: decided)
            // Nothing confirmed: the reservations stay in the outbox for the reconciler, and a retry
            // with the same Idempotency-Key returns the order once it is committed.
            for (purchase, decision) in zip(batch, decisions) {
                if case .rejected = decision { continue }
                purchase.complete(.unavailable(Self.reason(error)))
            }
            return
        }
        report.committed = reserved.count
        for (purchase, decision) in zip(batch, decisions) {
            switch decision {
            case .reserved(let order):
                purchase.complete(.created(commit.orders[order.orderID] ?? order))
            case .duplicate(let orderID, _):
                if let order = commit.orders[orderID] {
                    purchase.complete(.existing(order))
                } else {
                    purchase.complete(.unavailable("the original order is not committed yet; retry"))
                }
            case .rejected:
                continue
            }
        }
        try? await ledger.acknowledge(reserved + replayed)
    }

    static func reason(_ error: any Error) -> String {
        if case InventoryError.unavailable(let why) = error { return why }
        return "\(error)"
    }
}
