import StampedeRedis

/// A reservation whose stock goes back to its sale (cancel or expiry).
public struct StockReturn: Sendable, Equatable {
    public var saleID: String
    public var orderID: String
    public var userID: String
    public var quantity: Int64
    /// The epoch PostgreSQL held for the sale when the order left `reserved`: the return applies
    /// only to counters at that epoch (see `InventoryScripts.release`).
    public var epoch: RedisEpoch?

    public init(saleID: String, orderID: String, userID: String, quantity: Int64, epoch: RedisEpoch?) {
        self.saleID = saleID
        self.orderID = orderID
        self.userID = userID
        self.quantity = quantity
        self.epoch = epoch
    }

    public init(order: Order, epoch: RedisEpoch?) {
        self.init(saleID: order.saleID, orderID: order.orderID, userID: order.userID, quantity: order.quantity, epoch: epoch)
    }
}

/// What `StockLedger.release` did with one return.
public enum ReleaseResult: Sendable, Equatable {
    /// The units went back now.
    case returned
    /// They had gone back before (each order's stock returns once).
    case alreadyReturned
    /// The sale's counters are not at the order's epoch (being rebuilt): retry after the rebuild.
    case stale
}

/// A batch's decisions, each known sale's state after it, and the Redis node that decided it.
public struct LedgerDecisions: Sendable {
    public var decisions: [PurchaseDecision]
    public var sales: [String: PurchaseBatchSale]
    /// For each sale, the run string (`StockLedger.run(of:_:)`: the node that ran its script and
    /// PostgreSQL's incarnation) its epoch names.
    public var nodes: [String: String]
    /// For each exclusive group of the batch, the epoch of the claims its purchases were decided
    /// under: their commit's group fence.
    public var groupEpochs: [String: RedisEpoch] = [:]

    /// The epoch each sale was decided at (absent for stale or unknown sales): its commit's fence.
    public var epochs: [String: RedisEpoch] {
        var epochs: [String: RedisEpoch] = [:]
        for (saleID, sale) in sales {
            if let node = nodes[saleID] { epochs[saleID] = RedisEpoch(runID: node, generation: sale.generation) }
        }
        return epochs
    }
}

/// A sale as the reconciler sees it in Redis, read atomically with its outbox.
public struct SaleInspection: Sendable {
    public var saleID: String
    /// The sale's epoch, nil when the sale is missing or invalidated.
    public var epoch: RedisEpoch?
    /// The counters' generation, kept when the sale is invalidated (0 when missing).
    public var generation: Int64
    /// The run string of the Redis node that answered (`StockLedger.run(of:_:)`): the sale is
    /// current only if `epoch.runID` equals it.
    public var serverRunID: String
    public var ordersTaken: Int64
    public var available: Int64
    public var pending: [(orderID: String, record: PendingRecord)]

    /// Whether the counters may be used: present and rebuilt for this Redis run.
    public var isCurrent: Bool { epoch?.runID == serverRunID }
}

/// Stampede's stock counters in Redis: every call that changes them is one of `InventoryScripts`.
///
/// Redis is the fast path that decides who gets a unit; PostgreSQL's committed orders are the
/// truth of what was sold. The outbox (`SaleKeys.pending`) joins the two: see
/// docs/consistency.md.
public struct StockLedger: Sendable {
    /// The primary (or the cluster's primaries): every script and every read that decides something.
    public let redis: any RedisRouter
    /// A replica (or the primary again) for reads that may lag: cache refreshes.
    public let reader: any RedisRouter

    /// PostgreSQL's incarnation as last read; part of every epoch (see `run(of:_:)`).
    public let incarnation: PostgresIncarnationWatch

    public init(redis: any RedisRouter, reader: (any RedisRouter)? = nil, incarnation: PostgresIncarnationWatch = PostgresIncarnationWatch()) {
        self.redis = redis
        self.reader = reader ?? redis
        self.incarnation = incarnation
    }

    /// The run string of counters on `node` while PostgreSQL is at `postgres`: the node's identity
    /// and PostgreSQL's incarnation (`RedisEpoch.run(redis:postgres:)`). Every script and epoch of
    /// this ledger takes it from here. Each operation reads the incarnation once
    /// (`incarnation.current`) and passes it both to the calls it builds and to the epochs it
    /// reports, so the two can never name different incarnations.
    func run(of node: RedisNodeIdentity, _ postgres: PostgresIncarnation?) -> String {
        RedisEpoch.run(redis: node.token, postgres: postgres)
    }

    /// Decides a batch of purchases (any mix of sales) with one purchase-script call per sale, all
    /// pipelined in one round trip per node. The decisions come back in the order of `requests`,
    /// with each known sale's state after its part of the batch.
    public func decide(_ requests: [PurchaseRequest], now: Timestamp) async throws(InventoryError) -> (decisions: [PurchaseDecision], sales: [String: PurchaseBatchSale]) {
        let decided = try await decideBatch(requests, now: now)
        return (decided.decisions, decided.sales)
    }

    /// `decide`, with the identity of the node that decided each sale, so each sale's epoch (what
    /// its commit is fenced on) is known. Each script gets that node's identity, so a sale whose
    /// counters predate a restart or promotion of its node answers `stale` instead of selling.
    public nonisolated(nonsending) func decideBatch(_ requests: [PurchaseRequest], now: Timestamp) async throws(InventoryError) -> LedgerDecisions {
        try await decideBatch(requests, acknowledging: [], now: now)
    }

    /// `decideBatch(_:now:)`, acknowledging `committed` (orders committed in PostgreSQL, see
    /// `acknowledge`) in the same round trip: their `HDEL`s travel in the same pipelined `execute`
    /// after the purchase scripts, each routed by its key like a lone acknowledgement. An
    /// acknowledgement that fails is left to the reconciler (as a lone one's is); a failed round
    /// trip throws as the decision does, and the entries stay in the outbox.
    public nonisolated(nonsending) func decideBatch(_ requests: [PurchaseRequest], acknowledging committed: [Order],
                            now: Timestamp) async throws(InventoryError) -> LedgerDecisions {
        let postgres = incarnation.current
        if let first = requests.first, requests.allSatisfy({ $0.saleID == first.saleID && $0.exclusiveGroup == nil }) {
            // The common case under a rush: one hot sale, one script call, no regrouping.
            var calls = [purchaseCall(first.saleID, requests[...], refusals: "", now: now, postgres: postgres)]
            if !committed.isEmpty { Self.appendAcknowledgements(of: committed, to: &calls) }
            let reply = try await execute(calls)[0]
            let decided = try PurchaseDecision.decode(reply.value, for: requests, now: now)
            return LedgerDecisions(decisions: decided.decisions, sales: decided.sale.map { [first.saleID: $0] } ?? [:],
                                   nodes: [first.saleID: run(of: reply.node, postgres)])
        }
        // Purchases of exclusive groups claim their units in their groups first (one round trip);
        // a refused or stale claim makes the sale refuse the purchase unless it repeats a key.
        let claims = try await claim(requests, now: now, postgres: postgres)
        var groups: [String: [Int]] = [:]
        var saleOrder: [String] = []
        for (index, request) in requests.enumerated() {
            if groups[request.saleID] == nil { saleOrder.append(request.saleID) }
            groups[request.saleID, default: []].append(index)
        }
        var calls = saleOrder.map { saleID in
            let indexes = groups[saleID]!
            return purchaseCall(saleID, indexes.map { requests[$0] }[...], refusals: claims.refusals(for: indexes),
                                now: now, postgres: postgres)
        }
        if !committed.isEmpty { Self.appendAcknowledgements(of: committed, to: &calls) }
        let replies = try await execute(calls)
        var decisions = [PurchaseDecision?](repeating: nil, count: requests.count)
        var sales: [String: PurchaseBatchSale] = [:]
        var nodes: [String: String] = [:]
        for (saleID, reply) in zip(saleOrder, replies) {
            let indexes = groups[saleID]!
            let decided = try PurchaseDecision.decode(reply.value, for: indexes.map { requests[$0] }, now: now)
            for (index, decision) in zip(indexes, decided.decisions) { decisions[index] = decision }
            if let sale = decided.sale { sales[saleID] = sale }
            nodes[saleID] = run(of: reply.node, postgres)
        }
        var decided = decisions.map { $0! }
        if !claims.epochs.isEmpty { await settleClaims(requests, &decided, claims) }
        return LedgerDecisions(decisions: decided, sales: sales, nodes: nodes, groupEpochs: claims.epochs)
    }

    /// One purchase-script call deciding `requests`, all for `saleID`, built for the node that runs
    /// it; `refusals` (`position:code,…`) are the purchases to refuse unless they repeat a key.
    private func purchaseCall(_ saleID: String, _ requests: ArraySlice<PurchaseRequest>, refusals: String, now: Timestamp,
                              postgres: PostgresIncarnation?) -> RedisRoutedCall {
        let keys = SaleKeys(saleID: saleID)
        return RedisRoutedCall(key: keys.sale) { node in
            var args: [String] = []
            args.reserveCapacity(4 + requests.count * 4)
            args.append(String(now.milliseconds))
            args.append(run(of: node, postgres))
            args.append(requests.first?.exclusiveGroup ?? "")
            args.append(refusals)
            for index in requests.indices {
                args.append(requests[index].orderID)
                args.append(requests[index].userID)
                args.append(String(requests[index].quantity))
                args.append(requests[index].idempotencyKey ?? "")
            }
            return .script(RedisScriptCall(InventoryScripts.purchase,
                                           keys: [keys.sale, keys.users, keys.idempotency, keys.pending], arguments: args))
        }
    }

    /// Forgets outbox entries whose orders are committed in PostgreSQL.
    public nonisolated(nonsending) func acknowledge(_ orders: [Order]) async throws(InventoryError) {
        guard !orders.isEmpty else { return }
        var calls: [RedisRoutedCall] = []
        Self.appendAcknowledgements(of: orders, to: &calls)
        for reply in try await execute(calls) { _ = try reply.value.orThrow() }
    }

    /// One `HDEL` of each sale's outbox for `orders` (a run of one sale — a rush — builds no
    /// dictionary).
    private static func appendAcknowledgements(of orders: [Order], to calls: inout [RedisRoutedCall]) {
        func hdel(_ saleID: String, _ ids: [String]) -> RedisRoutedCall {
            let key = SaleKeys(saleID: saleID).pending
            var arguments = ["HDEL", key]
            arguments.append(contentsOf: ids)
            return RedisRoutedCall(key: key, .command(arguments))
        }
        let first = orders[0].saleID
        if orders.allSatisfy({ $0.saleID == first }) {
            calls.append(hdel(first, orders.map(\.orderID)))
            return
        }
        var bySale: [String: [String]] = [:]
        var saleOrder: [String] = []
        for order in orders {
            if bySale[order.saleID] == nil { saleOrder.append(order.saleID) }
            bySale[order.saleID, default: []].append(order.orderID)
        }
        for saleID in saleOrder { calls.append(hdel(saleID, bySale[saleID]!)) }
    }

    /// Returns the stock of each order, at most once per order and only to counters at the
    /// order's epoch. One result per return.
    public func release(_ returns: [StockReturn]) async throws(InventoryError) -> [ReleaseResult] {
        guard !returns.isEmpty else { return [] }
        let calls = returns.map { item in
            let keys = SaleKeys(saleID: item.saleID)
            return RedisRoutedCall(key: keys.sale, .script(RedisScriptCall(
                InventoryScripts.release, keys: [keys.sale, keys.users, keys.released],
                arguments: [item.orderID, item.userID, String(item.quantity),
                            item.epoch?.runID ?? "", String(item.epoch?.generation ?? -1)])))
        }
        var results: [ReleaseResult] = []
        for reply in try await execute(calls) {
            switch try reply.value.orThrow().int {
            case 1: results.append(.returned)
            case 0: results.append(.alreadyReturned)
            default: results.append(.stale)
            }
        }
        return results
    }

    /// Defines a sale at generation 0 of the node that owns it; returns whether it was created
    /// (false: replaced) and that epoch, for PostgreSQL. Throws `saleHasOrders`.
    ///
    /// `available`: the units the counters start with (default: the stock; a bucketed sale's
    /// home holds its own share). `bucketIDs`: the child ids of its buckets 1…K−1, kept beside
    /// the definition so every instance finds them. A bucket is defined by this call too, under
    /// its child id with its share as stock.
    public func define(_ definition: SaleDefinition, available: Int64? = nil, bucketIDs: [String] = []) async throws(InventoryError) -> (created: Bool, epoch: RedisEpoch) {
        let keys = SaleKeys(saleID: definition.saleID)
        let postgres = incarnation.current
        let call = RedisRoutedCall(key: keys.sale) { node in
            .script(RedisScriptCall(
                InventoryScripts.define,
                keys: [keys.sale, keys.users, keys.idempotency, keys.pending, keys.released, keys.moves],
                arguments: [definition.sku, String(definition.priceCents), String(definition.stock),
                            String(definition.perUserLimit), String(definition.startsAt.milliseconds),
                            String(definition.endsAt.milliseconds), String(definition.reservationTTLSeconds),
                            definition.purchaseTokenRequired ? "1" : "0", run(of: node, postgres), "0",
                            definition.exclusiveGroup ?? "", String(available ?? definition.stock),
                            bucketIDs.joined(separator: ",")]))
        }
        let reply = try await execute([call])[0]
        let result = try reply.value.orThrow().int
        if result == -1 { throw .saleHasOrders(definition.saleID) }
        return (result == 1, RedisEpoch(runID: run(of: reply.node, postgres), generation: 0))
    }

    /// Adds `quantity` units to counters at `epoch`; false when they are not at it (or missing).
    public func restock(saleID: String, quantity: Int64, epoch: RedisEpoch) async throws(InventoryError) -> Bool {
        let key = SaleKeys(saleID: saleID).sale
        let call = RedisRoutedCall(key: key, .script(RedisScriptCall(
            InventoryScripts.restock, keys: [key], arguments: [String(quantity), epoch.runID, String(epoch.generation)])))
        return (try await execute([call])[0].value.orThrow().int ?? -1) >= 0
    }

    /// Writes a sale's counters rebuilt from PostgreSQL at `snapshot.epoch`. Returns true when
    /// written, false when the sale already is at that epoch or a newer generation; throws
    /// `unavailable` when the node that owns the sale is no longer the one the epoch names (it
    /// restarted, failed over or the slot moved).
    public func restore(_ snapshot: SaleSnapshot) async throws(InventoryError) -> Bool {
        let keys = SaleKeys(saleID: snapshot.sale.saleID)
        let d = snapshot.sale.definition
        var args = [snapshot.epoch.runID, String(snapshot.epoch.generation), d.sku, String(d.priceCents), String(d.stock),
                    String(d.perUserLimit), String(d.startsAt.milliseconds), String(d.endsAt.milliseconds),
                    String(d.reservationTTLSeconds), String(snapshot.sale.restocked), String(snapshot.sale.available),
                    String(snapshot.ordersTaken), d.purchaseTokenRequired ? "1" : "0", d.exclusiveGroup ?? "",
                    snapshot.sale.bucketIDs.joined(separator: ","), String(snapshot.holdings.count)]
        args.reserveCapacity(args.count + snapshot.holdings.count * 2 + snapshot.idempotencyKeys.count * 2
                             + snapshot.released.count + 1)
        for holding in snapshot.holdings { args.append(holding.userID); args.append(String(holding.units)) }
        args.append(String(snapshot.idempotencyKeys.count))
        for key in snapshot.idempotencyKeys { args.append(key.field); args.append(key.orderID) }
        args.append(contentsOf: snapshot.released)
        let call = RedisScriptCall(InventoryScripts.restore,
                                   keys: [keys.sale, keys.users, keys.idempotency, keys.pending, keys.released, keys.moves],
                                   arguments: args)
        return try await restore(call, key: keys.sale, run: snapshot.epoch.runID, of: snapshot.sale.saleID)
    }

    /// Runs a restore script `call` on the node owning `key`, only if that node is still the one
    /// the rebuild's epoch names (`run`); true when it wrote. Throws `unavailable` naming `what`
    /// when the node restarted, failed over or the slot moved since the snapshot.
    func restore(_ call: RedisScriptCall, key: String, run expected: String, of what: String) async throws(InventoryError) -> Bool {
        let postgres = incarnation.current
        let reply = try await execute([RedisRoutedCall(key: key) { node in
            guard run(of: node, postgres) == expected else {
                throw InventoryError.unavailable("the Redis node of \(what) changed during its rebuild")
            }
            return .script(call)
        }])[0]
        return try reply.value.orThrow().int == 1
    }

    /// Marks a sale's counters for a rebuild if they are still at `epoch`; true when done now.
    @discardableResult
    public nonisolated(nonsending) func invalidate(saleID: String, epoch: RedisEpoch) async throws(InventoryError) -> Bool {
        let key = SaleKeys(saleID: saleID).sale
        let call = RedisRoutedCall(key: key, .script(RedisScriptCall(
            InventoryScripts.invalidate, keys: [key], arguments: [epoch.runID, String(epoch.generation)])))
        return try await execute([call])[0].value.orThrow().int == 1
    }

    /// The run string (`run(of:_:)`) of the Redis node that owns `saleID` now: what a rebuild's epoch names.
    public func nodeToken(forSale saleID: String) async throws(InventoryError) -> String {
        try await nodeTokens(forSales: [saleID])[0]
    }

    /// `nodeToken(forSale:)` of each of `saleIDs`, in order; one round trip per node.
    public func nodeTokens(forSales saleIDs: [String]) async throws(InventoryError) -> [String] {
        try await nodeTokens(forKeys: saleIDs.map { SaleKeys(saleID: $0).sale })
    }

    /// The run string of the node owning each of `keys` now, in order; one round trip per node.
    func nodeTokens(forKeys keys: [String]) async throws(InventoryError) -> [String] {
        let postgres = incarnation.current
        return try await execute(keys.map { RedisRoutedCall(key: $0, .command(["EXISTS", $0])) }).map { run(of: $0.node, postgres) }
    }

    /// Each sale's epoch, counters and outbox, read atomically per sale; one round trip per node.
    public func inspect(_ saleIDs: [String]) async throws(InventoryError) -> [SaleInspection] {
        guard !saleIDs.isEmpty else { return [] }
        let postgres = incarnation.current
        let replies = try await execute(saleIDs.map {
            let keys = SaleKeys(saleID: $0)
            return RedisRoutedCall(key: keys.sale, .script(RedisScriptCall(InventoryScripts.inspect, keys: [keys.sale, keys.pending],
                                                                           arguments: [])))
        })
        return try zip(saleIDs, replies).map { saleID, reply throws(InventoryError) in
            guard let items = try reply.value.orThrow().array, items.count == 5 else {
                throw .unavailable("redis: unexpected inspect reply")
            }
            let epoch = items[0].string.map { RedisEpoch(runID: $0, generation: items[1].int ?? 0) }
            return SaleInspection(saleID: saleID, epoch: epoch, generation: items[1].int ?? 0, serverRunID: run(of: reply.node, postgres),
                                  ordersTaken: items[2].int ?? 0,
                                  available: items[3].int ?? 0, pending: Self.decodePending(items[4]))
        }
    }

    /// Reads sales (definition and counters), nil for each one Redis does not know; one round trip,
    /// and one more for the other buckets of bucketed sales (their `available` is the sum over
    /// the buckets; a bucket whose counters are missing counts 0 until it is rebuilt).
    /// `fromReader` reads from the reader (for the cache), else from the primary.
    public func sales(_ saleIDs: [String], fromReader: Bool = false) async throws(InventoryError) -> [Sale?] {
        guard !saleIDs.isEmpty else { return [] }
        let router = fromReader ? reader : redis
        let replies = try await execute(saleIDs.map {
            let key = SaleKeys(saleID: $0).sale
            return RedisRoutedCall(key: key, .command(["HGETALL", key]))
        }, on: router)
        var sales = try zip(saleIDs, replies).map { saleID, reply throws(InventoryError) in
            Self.decodeSale(saleID: saleID, try reply.value.orThrow())
        }
        let buckets = sales.indices.flatMap { index in (sales[index]?.bucketIDs ?? []).map { (index, $0) } }
        guard !buckets.isEmpty else { return sales }
        let counts = try await execute(buckets.map { _, childID in
            let key = SaleKeys(saleID: childID).sale
            return RedisRoutedCall(key: key, .command(["HGET", key, "avail"]))
        }, on: router)
        for ((index, _), reply) in zip(buckets, counts) {
            let units = try reply.value.orThrow().int ?? 0
            sales[index]?.available += max(0, units)
        }
        return sales
    }

    /// The outbox of a sale: reservations taken in Redis not yet acknowledged as committed.
    public func pending(saleID: String) async throws(InventoryError) -> [(orderID: String, record: PendingRecord)] {
        let key = SaleKeys(saleID: saleID).pending
        let reply = try await execute([RedisRoutedCall(key: key, .command(["HGETALL", key]))])[0]
        return Self.decodePending(try reply.value.orThrow())
    }

    /// A sale's idempotency records: `user|key` → the order id it took (as the purchase script
    /// wrote them, committed or not).
    public func idempotencyRecords(saleID: String) async throws(InventoryError) -> [(field: String, orderID: String)] {
        let key = SaleKeys(saleID: saleID).idempotency
        let reply = try await execute([RedisRoutedCall(key: key, .command(["HGETALL", key]))])[0].value.orThrow()
        return reply.pairs.compactMap { name, value in
            guard let field = name.string, let orderID = value.string else { return nil }
            return (field, orderID)
        }
    }

    static func decodePending(_ reply: RESPValue) -> [(orderID: String, record: PendingRecord)] {
        reply.pairs.compactMap { name, value in
            guard let id = name.string, id != InventoryScripts.outboxAnchorField, let text = value.string,
                  let record = PendingRecord(text) else { return nil }
            return (id, record)
        }
    }

    static func decodeSale(saleID: String, _ reply: RESPValue) -> Sale? {
        let fields = reply.fields
        guard let sku = fields["sku"]?.string, let price = fields["price"]?.int,
              let total = fields["total"]?.int, let limit = fields["limit"]?.int,
              let starts = fields["starts"]?.int, let ends = fields["ends"]?.int,
              let ttl = fields["ttl"]?.int, let available = fields["avail"]?.int else { return nil }
        var definition = SaleDefinition(saleID: saleID, sku: sku, priceCents: price, stock: total,
                                        perUserLimit: limit, startsAt: Timestamp(milliseconds: starts),
                                        endsAt: Timestamp(milliseconds: ends), reservationTTLSeconds: ttl,
                                        purchaseTokenRequired: fields["token"]?.int == 1,
                                        exclusiveGroup: fields["group"]?.string.flatMap { $0.isEmpty ? nil : $0 })
        let bucketIDs = fields["buckets"]?.string.map { $0.split(separator: ",").map(String.init) } ?? []
        definition.buckets = bucketIDs.count + 1
        return Sale(definition: definition, restocked: fields["restocked"]?.int ?? 0, available: available, bucketIDs: bucketIDs)
    }

    /// Runs routed calls on `router` (the primary by default); Redis failures become `unavailable`,
    /// an `InventoryError` thrown while building a call passes through.
    nonisolated(nonsending) func execute(_ calls: [RedisRoutedCall], on router: (any RedisRouter)? = nil) async throws(InventoryError) -> [RedisRoutedReply] {
        do {
            return try await (router ?? redis).execute(calls)
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("redis: \(error)")
        }
    }
}
