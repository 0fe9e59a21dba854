import StampedeRedis

/// A reservation whose stock goes back to its sale (cancel or expiry).
public struct StockReturn: Sendable, Equatable {
    public var saleID: String
    public var orderID: String
    public var userID: String
    public var quantity: Int64

    public init(saleID: String, orderID: String, userID: String, quantity: Int64) {
        self.saleID = saleID
        self.orderID = orderID
        self.userID = userID
        self.quantity = quantity
    }

    public init(order: Order) {
        self.init(saleID: order.saleID, orderID: order.orderID, userID: order.userID, quantity: order.quantity)
    }
}

/// Stampede's stock counters in Redis: every call that changes them is one of `InventoryScripts`.
///
/// Redis is the fast path that decides who gets a unit; PostgreSQL's committed orders are the
/// truth of what was sold. The outbox (`SaleKeys.pending`) joins the two: see the README's
/// consistency design.
public struct StockLedger: Sendable {
    /// The primary: every script and every read that decides something.
    public let redis: RedisClient
    /// A replica (or the primary again) for reads that may lag: cache refreshes.
    public let reader: RedisClient

    public init(redis: RedisClient, reader: RedisClient? = nil) {
        self.redis = redis
        self.reader = reader ?? redis
    }

    /// Decides a batch of purchases (any mix of sales) with one purchase-script call per sale, all
    /// pipelined in one round trip. The decisions come back in the order of `requests`, with each
    /// known sale's state after its part of the batch.
    public func decide(_ requests: [PurchaseRequest], now: Timestamp) async throws(InventoryError) -> (decisions: [PurchaseDecision], sales: [String: PurchaseBatchSale]) {
        if let first = requests.first, requests.allSatisfy({ $0.saleID == first.saleID }) {
            // The common case under a rush: one hot sale, one script call, no regrouping.
            let reply = try await evaluate([purchaseCall(first.saleID, requests[...], now: now)])[0]
            let decided = try PurchaseDecision.decode(reply, for: requests, now: now)
            return (decided.decisions, decided.sale.map { [first.saleID: $0] } ?? [:])
        }
        var groups: [String: [Int]] = [:]
        var saleOrder: [String] = []
        for (index, request) in requests.enumerated() {
            if groups[request.saleID] == nil { saleOrder.append(request.saleID) }
            groups[request.saleID, default: []].append(index)
        }
        let calls = saleOrder.map { saleID in
            purchaseCall(saleID, groups[saleID]!.map { requests[$0] }[...], now: now)
        }
        let replies = try await evaluate(calls)
        var decisions = [PurchaseDecision?](repeating: nil, count: requests.count)
        var sales: [String: PurchaseBatchSale] = [:]
        for (saleID, reply) in zip(saleOrder, replies) {
            let indexes = groups[saleID]!
            let decided = try PurchaseDecision.decode(reply, for: indexes.map { requests[$0] }, now: now)
            for (index, decision) in zip(indexes, decided.decisions) { decisions[index] = decision }
            if let sale = decided.sale { sales[saleID] = sale }
        }
        return (decisions.map { $0! }, sales)
    }

    /// One purchase-script call deciding `requests`, all for `saleID`.
    private func purchaseCall(_ saleID: String, _ requests: ArraySlice<PurchaseRequest>, now: Timestamp) -> RedisScriptCall {
        let keys = SaleKeys(saleID: saleID)
        var args: [String] = []
        args.reserveCapacity(1 + requests.count * 4)
        args.append(String(now.milliseconds))
        for request in requests {
            args.append(request.orderID)
            args.append(request.userID)
            args.append(String(request.quantity))
            args.append(request.idempotencyKey ?? "")
        }
        return RedisScriptCall(InventoryScripts.purchase,
                               keys: [keys.sale, keys.users, keys.idempotency, keys.pending], arguments: args)
    }

    /// Forgets outbox entries whose orders are committed in PostgreSQL.
    public func acknowledge(_ orders: [Order]) async throws(InventoryError) {
        guard !orders.isEmpty else { return }
        var bySale: [String: [String]] = [:]
        for order in orders { bySale[order.saleID, default: []].append(order.orderID) }
        let commands = bySale.map { saleID, ids in ["HDEL", SaleKeys(saleID: saleID).pending] + ids }
        do {
            for reply in try await redis.pipeline(commands) { _ = try reply.orThrow() }
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("redis: \(error)")
        }
    }

    /// Returns the stock of each order, at most once per order. Returns the orders returned now.
    @discardableResult
    public func release(_ returns: [StockReturn]) async throws(InventoryError) -> [Bool] {
        guard !returns.isEmpty else { return [] }
        let calls = returns.map { item in
            let keys = SaleKeys(saleID: item.saleID)
            return RedisScriptCall(InventoryScripts.release, keys: [keys.sale, keys.users, keys.released],
                                   arguments: [item.orderID, item.userID, String(item.quantity)])
        }
        var returned: [Bool] = []
        for reply in try await evaluate(calls) { returned.append(try reply.orThrow().int == 1) }
        return returned
    }

    /// Defines a sale; true when it was created, false when replaced; throws `saleHasOrders`.
    public func define(_ definition: SaleDefinition) async throws(InventoryError) -> Bool {
        let keys = SaleKeys(saleID: definition.saleID)
        let call = RedisScriptCall(
            InventoryScripts.define,
            keys: [keys.sale, keys.users, keys.idempotency, keys.pending, keys.released],
            arguments: [definition.sku, String(definition.priceCents), String(definition.stock),
                   String(definition.perUserLimit), String(definition.startsAt.milliseconds),
                   String(definition.endsAt.milliseconds), String(definition.reservationTTLSeconds),
                   definition.purchaseTokenRequired ? "1" : "0"])
        let result = try await evaluate([call])[0].orThrow().int
        if result == -1 { throw .saleHasOrders(definition.saleID) }
        return result == 1
    }

    /// Adds `quantity` units; false when Redis does not know the sale.
    public func restock(saleID: String, quantity: Int64) async throws(InventoryError) -> Bool {
        let call = RedisScriptCall(InventoryScripts.restock, keys: [SaleKeys(saleID: saleID).sale],
                                   arguments: [String(quantity)])
        return (try await evaluate([call])[0].orThrow().int ?? -1) >= 0
    }

    /// Rebuilds a sale Redis lost, from PostgreSQL's committed orders; no-op when it exists.
    public func restore(_ sale: Sale, orders: Int64, holdings: [(userID: String, units: Int64)]) async throws(InventoryError) -> Bool {
        let keys = SaleKeys(saleID: sale.saleID)
        let d = sale.definition
        var args = [d.sku, String(d.priceCents), String(d.stock), String(d.perUserLimit),
                    String(d.startsAt.milliseconds), String(d.endsAt.milliseconds),
                    String(d.reservationTTLSeconds), String(sale.restocked), String(sale.available), String(orders),
                    d.purchaseTokenRequired ? "1" : "0"]
        for holding in holdings { args.append(holding.userID); args.append(String(holding.units)) }
        let call = RedisScriptCall(InventoryScripts.restore, keys: [keys.sale, keys.users], arguments: args)
        return try await evaluate([call])[0].orThrow().int == 1
    }

    /// Reads sales (definition and counters), nil for each one Redis does not know; one round trip.
    /// `fromReader` reads from the reader (for the cache), else from the primary.
    public func sales(_ saleIDs: [String], fromReader: Bool = false) async throws(InventoryError) -> [Sale?] {
        guard !saleIDs.isEmpty else { return [] }
        let replies: [RESPValue]
        do {
            replies = try await (fromReader ? reader : redis).pipeline(saleIDs.map { ["HGETALL", SaleKeys(saleID: $0).sale] })
        } catch {
            throw .unavailable("redis: \(error)")
        }
        return try zip(saleIDs, replies).map { saleID, reply throws(InventoryError) in
            Self.decodeSale(saleID: saleID, try reply.orThrow())
        }
    }

    /// The outbox of a sale: reservations taken in Redis not yet acknowledged as committed.
    public func pending(saleID: String) async throws(InventoryError) -> [(orderID: String, record: PendingRecord)] {
        let reply: RESPValue
        do {
            reply = try await redis.command(["HGETALL", SaleKeys(saleID: saleID).pending])
        } catch {
            throw .unavailable("redis: \(error)")
        }
        let items = try reply.orThrow().array ?? []
        var out: [(String, PendingRecord)] = []
        var index = 0
        while index + 1 < items.count {
            if let id = items[index].string, let text = items[index + 1].string, let record = PendingRecord(text) {
                out.append((id, record))
            }
            index += 2
        }
        return out
    }

    static func decodeSale(saleID: String, _ reply: RESPValue) -> Sale? {
        guard let items = reply.array, !items.isEmpty else { return nil }
        var fields: [String: RESPValue] = [:]
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].string { fields[name] = items[index + 1] }
            index += 2
        }
        guard let sku = fields["sku"]?.string, let price = fields["price"]?.int,
              let total = fields["total"]?.int, let limit = fields["limit"]?.int,
              let starts = fields["starts"]?.int, let ends = fields["ends"]?.int,
              let ttl = fields["ttl"]?.int, let available = fields["avail"]?.int else { return nil }
        let definition = SaleDefinition(saleID: saleID, sku: sku, priceCents: price, stock: total,
                                        perUserLimit: limit, startsAt: Timestamp(milliseconds: starts),
                                        endsAt: Timestamp(milliseconds: ends), reservationTTLSeconds: ttl,
                                        purchaseTokenRequired: fields["token"]?.int == 1)
        return Sale(definition: definition, restocked: fields["restocked"]?.int ?? 0, available: available)
    }

    private func evaluate(_ calls: [RedisScriptCall]) async throws(InventoryError) -> [RESPValue] {
        do {
            return try await redis.evalScripts(calls)
        } catch {
            throw .unavailable("redis: \(error)")
        }
    }
}
