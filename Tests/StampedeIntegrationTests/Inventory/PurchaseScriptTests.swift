import StampedeInventory
import StampedeRedis
import Testing

/// The purchase Lua script's rules, run against the real Redis through `StockLedger`.
@Suite(TestServices.needsRedis)
struct PurchaseScriptTests {
    private static func ledger() throws -> StockLedger {
        let address = try TestServices.redisAddress()
        return StockLedger(redis: RedisClient(host: address.host, port: address.port, poolSize: 2))
    }

    private static func define(_ ledger: StockLedger, stock: Int64, limit: Int64 = 1, startsIn: Int64 = -60, endsIn: Int64 = 3600) async throws -> String {
        let sale = TestServices.uniqueName("lua")
        let now = Timestamp.now()
        _ = try await ledger.define(SaleDefinition(saleID: sale, sku: "sku", priceCents: 500, stock: stock, perUserLimit: limit,
                                                   startsAt: now.adding(seconds: startsIn), endsAt: now.adding(seconds: endsIn),
                                                   reservationTTLSeconds: 60))
        return sale
    }

    private static func codes(_ decisions: [PurchaseDecision]) -> [String] {
        decisions.map {
            switch $0 {
            case .reserved: return "reserved"
            case .duplicate: return "duplicate"
            case .rejected(let outcome): return "\(outcome)"
            }
        }
    }

    /// Stock runs out in arrival order inside one batch, and never below zero.
    @Test func stockRunsOutInOrder() async throws {
        let ledger = try Self.ledger()
        let sale = try await Self.define(ledger, stock: 2)
        let batch = (0..<4).map { PurchaseRequest(saleID: sale, userID: "u\($0)", quantity: 1, idempotencyKey: nil) }
        let decisions = try await ledger.decisions(batch, now: .now())
        #expect(Self.codes(decisions) == ["reserved", "reserved", "soldOut", "soldOut"])
        #expect(try await ledger.sales([sale])[0]?.available == 0)
    }

    /// A user cannot pass the per-user limit, counted across batches; a larger quantity that would
    /// not fit is refused while a smaller one still fits.
    @Test func perUserLimitAcrossBatches() async throws {
        let ledger = try Self.ledger()
        let sale = try await Self.define(ledger, stock: 10, limit: 3)
        let first = try await ledger.decisions([PurchaseRequest(saleID: sale, userID: "eve", quantity: 2, idempotencyKey: nil)], now: .now())
        #expect(Self.codes(first) == ["reserved"])
        let second = try await ledger.decisions([
            PurchaseRequest(saleID: sale, userID: "eve", quantity: 2, idempotencyKey: nil),
            PurchaseRequest(saleID: sale, userID: "eve", quantity: 1, idempotencyKey: nil),
            PurchaseRequest(saleID: sale, userID: "eve", quantity: 1, idempotencyKey: nil),
        ], now: .now())
        #expect(Self.codes(second) == ["limitExceeded", "reserved", "limitExceeded"])
        #expect(try await ledger.sales([sale])[0]?.available == 7)
    }

    /// The same Idempotency-Key twice in one batch reserves once; the second is a duplicate of the
    /// first order, still pending in the outbox. Another user's same key is independent.
    @Test func idempotencyInsideOneBatch() async throws {
        let ledger = try Self.ledger()
        let sale = try await Self.define(ledger, stock: 5, limit: 2)
        let first = PurchaseRequest(saleID: sale, userID: "frank", quantity: 1, idempotencyKey: "key-1")
        let decisions = try await ledger.decisions([
            first,
            PurchaseRequest(saleID: sale, userID: "frank", quantity: 1, idempotencyKey: "key-1"),
            PurchaseRequest(saleID: sale, userID: "grace", quantity: 1, idempotencyKey: "key-1"),
        ], now: .now())
        #expect(Self.codes(decisions) == ["reserved", "duplicate", "reserved"])
        guard case .duplicate(let orderID, let pending) = decisions[1] else { return }
        #expect(orderID == first.orderID)
        #expect(pending?.orderID == first.orderID)
        #expect(try await ledger.sales([sale])[0]?.available == 3)
        #expect(try await ledger.pending(saleID: sale).count == 2)
    }

    /// Orders acknowledged with a decision leave their outboxes in the same round trip — one hot
    /// sale, or a batch of two sales acknowledging a third — and the new reservations stay.
    @Test func aDecisionAcknowledgesCommittedOrders() async throws {
        let ledger = try Self.ledger()
        let hot = try await Self.define(ledger, stock: 10, limit: 5)
        let other = try await Self.define(ledger, stock: 10, limit: 5)
        let third = try await Self.define(ledger, stock: 10, limit: 5)
        let first = try await ledger.decisions([PurchaseRequest(saleID: hot, userID: "a", quantity: 1, idempotencyKey: nil),
                                                PurchaseRequest(saleID: third, userID: "a", quantity: 1, idempotencyKey: nil)],
                                               now: .now())
        let taken = first.compactMap { if case .reserved(let order) = $0 { order } else { nil } }
        #expect(taken.count == 2)
        let hotRequest = PurchaseRequest(saleID: hot, userID: "b", quantity: 1, idempotencyKey: nil)
        let decided = try await ledger.decideBatch([hotRequest], acknowledging: [taken[0]], now: .now())
        #expect(Self.codes(decided.decisions) == ["reserved"])
        #expect(try await ledger.pending(saleID: hot).map(\.orderID) == [hotRequest.orderID])
        let mixed = [PurchaseRequest(saleID: hot, userID: "c", quantity: 1, idempotencyKey: nil),
                     PurchaseRequest(saleID: other, userID: "c", quantity: 1, idempotencyKey: nil)]
        let both = try await ledger.decideBatch(mixed, acknowledging: [taken[1]], now: .now())
        #expect(Self.codes(both.decisions) == ["reserved", "reserved"])
        #expect(try await ledger.pending(saleID: third).isEmpty)
        #expect(Set(try await ledger.pending(saleID: hot).map(\.orderID)) == [hotRequest.orderID, mixed[0].orderID])
        #expect(try await ledger.pending(saleID: other).map(\.orderID) == [mixed[1].orderID])
    }

    /// The outbox is a hashtable from its first reservation on and stays one when every entry is
    /// acknowledged (its anchor field keeps it from being emptied and recreated as a listpack); the
    /// anchor is never read as a reservation.
    @Test func outboxStaysAHashtable() async throws {
        let ledger = try Self.ledger()
        let address = try TestServices.redisAddress()
        let redis = RedisClient(host: address.host, port: address.port, poolSize: 1)
        let sale = try await Self.define(ledger, stock: 10, limit: 5)
        let keys = SaleKeys(saleID: sale)
        let batch = (0..<3).map { PurchaseRequest(saleID: sale, userID: "u\($0)", quantity: 1, idempotencyKey: nil) }
        #expect(Self.codes(try await ledger.decisions(batch, now: .now())) == ["reserved", "reserved", "reserved"])
        #expect(try await redis.command(["OBJECT", "ENCODING", keys.pending]).string == "hashtable")
        #expect(try await ledger.pending(saleID: sale).map(\.orderID).sorted() == batch.map(\.orderID).sorted())
        _ = try await redis.command(["HDEL", keys.pending] + batch.map(\.orderID))
        #expect(try await ledger.pending(saleID: sale).isEmpty)
        #expect(try await redis.command(["OBJECT", "ENCODING", keys.pending]).string == "hashtable")
        let next = PurchaseRequest(saleID: sale, userID: "u9", quantity: 1, idempotencyKey: nil)
        #expect(Self.codes(try await ledger.decisions([next], now: .now())) == ["reserved"])
        #expect(try await ledger.pending(saleID: sale).map(\.orderID) == [next.orderID])
        #expect(try await redis.command(["HLEN", keys.pending]).int == 2)
    }

    /// Outside the window, over the limit, and unknown sales take nothing.
    @Test func windowAndValidityRules() async throws {
        let ledger = try Self.ledger()
        let future = try await Self.define(ledger, stock: 5, startsIn: 60, endsIn: 120)
        let past = try await Self.define(ledger, stock: 5, startsIn: -120, endsIn: -60)
        let live = try await Self.define(ledger, stock: 5, limit: 2)
        let decisions = try await ledger.decisions([
            PurchaseRequest(saleID: future, userID: "u", quantity: 1, idempotencyKey: nil),
            PurchaseRequest(saleID: past, userID: "u", quantity: 1, idempotencyKey: nil),
            PurchaseRequest(saleID: live, userID: "u", quantity: 3, idempotencyKey: nil),
            PurchaseRequest(saleID: TestServices.uniqueName("nosuch"), userID: "u", quantity: 1, idempotencyKey: nil),
        ], now: .now())
        #expect(Self.codes(decisions) == ["notStarted", "ended", "invalidQuantity(limit: 2)", "unknownSale"])
        #expect(try await ledger.sales([future, past, live]).map { $0?.available } == [5, 5, 5])
    }

    /// Returning an order's stock happens once however often it is asked for.
    @Test func releaseIsOncePerOrder() async throws {
        let ledger = try Self.ledger()
        let sale = try await Self.define(ledger, stock: 3, limit: 3)
        let request = PurchaseRequest(saleID: sale, userID: "heidi", quantity: 3, idempotencyKey: nil)
        _ = try await ledger.decisions([request], now: .now())
        let epoch = try await ledger.inspect([sale])[0].epoch
        let stale = StockReturn(saleID: sale, orderID: request.orderID, userID: "heidi", quantity: 3,
                                epoch: RedisEpoch(runID: "another-run", generation: 0))
        #expect(try await ledger.release([stale]) == [.stale], "a return fenced on other counters changes nothing")
        let item = StockReturn(saleID: sale, orderID: request.orderID, userID: "heidi", quantity: 3, epoch: epoch)
        #expect(try await ledger.release([item, item]) == [.returned, .alreadyReturned])
        #expect(try await ledger.release([item]) == [.alreadyReturned])
        #expect(try await ledger.sales([sale])[0]?.available == 3)
        // Heidi's units were returned too: she may buy the full limit again.
        let again = try await ledger.decisions([PurchaseRequest(saleID: sale, userID: "heidi", quantity: 3, idempotencyKey: nil)], now: .now())
        #expect(Self.codes(again) == ["reserved"])
    }

    /// A sale may be replaced until its first reservation, never after.
    @Test func replaceOnlyBeforeOrders() async throws {
        let ledger = try Self.ledger()
        let sale = try await Self.define(ledger, stock: 3)
        let now = Timestamp.now()
        let definition = SaleDefinition(saleID: sale, sku: "sku2", priceCents: 1, stock: 4, perUserLimit: 1,
                                        startsAt: now.adding(seconds: -1), endsAt: now.adding(seconds: 60), reservationTTLSeconds: 60)
        #expect(try await ledger.define(definition).created == false)
        _ = try await ledger.decisions([PurchaseRequest(saleID: sale, userID: "ivan", quantity: 1, idempotencyKey: nil)], now: .now())
        await #expect(throws: InventoryError.saleHasOrders(sale)) { try await ledger.define(definition) }
    }

    /// Batched and one-by-one decisions agree on a random sequence with repeated users and keys.
    @Test func batchedAndSingleDecisionsAgree() async throws {
        let ledger = try Self.ledger()
        var generator = SystemRandomNumberGenerator()
        let script = (0..<120).map { _ in
            (user: "p\(Int.random(in: 0..<40, using: &generator))", quantity: Int64.random(in: 1...2, using: &generator),
             key: Bool.random(using: &generator) ? "key\(Int.random(in: 0..<5, using: &generator))" : nil)
        }
        let batched = try await Self.define(ledger, stock: 60, limit: 3)
        let single = try await Self.define(ledger, stock: 60, limit: 3)
        let batchDecisions = try await ledger.decisions(script.map {
            PurchaseRequest(saleID: batched, userID: $0.user, quantity: $0.quantity, idempotencyKey: $0.key)
        }, now: .now())
        var singleDecisions: [PurchaseDecision] = []
        for step in script {
            singleDecisions += try await ledger.decisions([PurchaseRequest(saleID: single, userID: step.user, quantity: step.quantity,
                                                                        idempotencyKey: step.key)], now: .now())
        }
        #expect(Self.codes(batchDecisions) == Self.codes(singleDecisions))
        #expect(try await ledger.sales([batched])[0]?.available == ledger.sales([single])[0]?.available)
    }
}
