@testable import StampedeInventory
import Testing

/// The shard's two-stage purchase pipeline (`Shard` + `PurchaseBatchProcessor`) over in-memory
/// stores: the decisions it takes — admission, batching, answering, fencing, failures — without
/// Redis or PostgreSQL. The same pipeline runs on the real servers in the integration suites.
struct PurchasePipelineTests {
    struct Pipeline {
        let stock: InMemoryStock
        let orders: InMemoryOrders
        let shard: Shard
        let answers = PurchaseAnswers()

        init(stock: Int64, maxInFlight: Int = 10_000, batchSize: Int = 32, commitGroupSize: Int = 64, perUserLimit: Int64 = 10,
             otherSale: Int64 = 0, decidesDuringCommit: Bool = false) {
            self.stock = InMemoryStock(stock: ["sale": stock, "other": otherSale], perUserLimit: perUserLimit)
            orders = InMemoryOrders()
            shard = Shard(index: 0, maxInFlight: maxInFlight, batchSize: batchSize, commitGroupSize: commitGroupSize,
                          processor: PurchaseBatchProcessor(ledger: self.stock, orders: orders),
                          decidesDuringCommit: decidesDuringCommit)
            let orders = self.orders
            self.stock.isCommitted.withLock { $0 = { id in orders.state.withLock { $0.rows[id] != nil } } }
        }

        /// Submits a purchase of `user`; false when shed.
        @discardableResult
        func buy(_ user: String, quantity: Int64 = 1, key: String? = nil, sale: String = "sale") -> Bool {
            let request = PurchaseRequest(saleID: sale, userID: user, quantity: quantity, idempotencyKey: key)
            let answers = self.answers
            return shard.submit(PendingPurchase(request: request) { answers.record(user, $0) })
        }

        /// Waits (at most five seconds) until the outbox holds `count` entries.
        func waitForOutbox(_ count: Int) async {
            for _ in 0..<5000 where stock.state.withLock({ $0.outbox.count }) != count {
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
        }

        var created: [Order] {
            answers.all.values.flatMap { $0 }.compactMap { if case .created(let order) = $0 { order } else { nil } }
        }
    }

    @Test func aConcurrentRushSellsEveryUnitAndNoMore() async {
        let pipeline = Pipeline(stock: 100)
        await withTaskGroup(of: Void.self) { group in
            for buyer in 0..<400 { group.addTask { #expect(pipeline.buy("u\(buyer)")) } }
        }
        await pipeline.answers.wait(for: 400)
        let answers = pipeline.answers.all
        #expect(answers.count == 400)
        #expect(answers.values.allSatisfy { $0.count == 1 }, "every buyer is answered exactly once")
        let created = pipeline.created
        #expect(created.count == 100)
        #expect(answers.values.filter { $0 == [.soldOut] }.count == 300)
        let rows = pipeline.orders.state.withLock { $0.rows }
        #expect(Set(created.map(\.orderID)) == Set(rows.keys), "every 201 is a committed row, and nothing else is")
        #expect(pipeline.stock.state.withLock { $0.available["sale"] } == 0)
        await pipeline.waitForOutbox(0)
        #expect(pipeline.stock.state.withLock { $0.outbox.isEmpty }, "committed reservations leave the outbox")
        let acknowledged = pipeline.stock.state.withLock { $0.acknowledgedWithDecisions + $0.acknowledgedAlone }
        #expect(acknowledged.sorted() == rows.keys.sorted(), "each committed order is acknowledged once")
        #expect(pipeline.stock.state.withLock { $0.acknowledgedUncommitted.isEmpty })
        #expect(pipeline.shard.inFlightCount == 0)
    }

    @Test func purchasesArrivingDuringADecisionFormOneBatch() async {
        let pipeline = Pipeline(stock: 100)
        pipeline.stock.hold()
        pipeline.buy("first")
        for _ in 0..<200 where pipeline.shard.statistics.batches == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        for buyer in 0..<20 { pipeline.buy("u\(buyer)") }
        pipeline.stock.release()
        await pipeline.answers.wait(for: 21)
        #expect(pipeline.created.count == 21)
        #expect(pipeline.stock.state.withLock { $0.batchSizes } == [1, 20], "one decision for the first, one for the 20 behind it")
        #expect(pipeline.shard.statistics.largestBatch == 20)
    }

    @Test func aFullShardShedsAndTakesNothing() async {
        let pipeline = Pipeline(stock: 100, maxInFlight: 5)
        pipeline.stock.hold()
        let admitted = (0..<10).map { pipeline.buy("u\($0)") }
        #expect(admitted.filter { $0 }.count == 5)
        #expect(pipeline.shard.statistics.shed == 5)
        pipeline.stock.release()
        await pipeline.answers.wait(for: 5)
        #expect(pipeline.created.count == 5)
        #expect(pipeline.stock.state.withLock { $0.available["sale"] } == 95, "shed purchases took no stock")
    }

    @Test func aFailedCommitAnswersUnavailableAndLeavesTheOutbox() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.orders.state.withLock { $0.failing = true }
        for buyer in 0..<3 { pipeline.buy("u\(buyer)") }
        await pipeline.answers.wait(for: 3)
        for answers in pipeline.answers.all.values {
            guard case .unavailable? = answers.first, answers.count == 1 else { Issue.record("\(answers)"); continue }
        }
        #expect(pipeline.orders.state.withLock { $0.rows.isEmpty })
        #expect(pipeline.stock.state.withLock { $0.outbox.count } == 3, "the reconciler commits them later")
        // Later groups commit and acknowledge theirs; the failed group's entries stay.
        pipeline.orders.state.withLock { $0.failing = false }
        for buyer in 3..<6 { pipeline.buy("u\(buyer)") }
        await pipeline.answers.wait(for: 6)
        await pipeline.waitForOutbox(3)
        let outbox = pipeline.stock.state.withLock { Set($0.outbox.values.map(\.userID)) }
        #expect(outbox == ["u0", "u1", "u2"])
        #expect(pipeline.stock.state.withLock { $0.acknowledgedUncommitted.isEmpty })
    }

    /// A group committed with nothing queued behind it is acknowledged by the commit stage at once,
    /// in a call of its own: no entry waits for a decision that may never come.
    @Test func anIdleShardAcknowledgesOnItsOwn() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.buy("u")
        await pipeline.answers.wait(for: 1)
        await pipeline.waitForOutbox(0)
        let s = pipeline.stock.state.withLock { $0 }
        #expect(s.outbox.isEmpty, "nothing else was coming: the commit stage acknowledged at once")
        #expect(s.acknowledgeCalls == 1 && s.acknowledgedAlone.count == 1 && s.acknowledgedWithDecisions.isEmpty)
        #expect(s.acknowledgedUncommitted.isEmpty)
    }

    /// By default the decide stage waits for the group in flight: purchases arriving during a
    /// commit stay queued and are decided together once it is done, in one batch that also carries
    /// the committed group's acknowledgement.
    @Test func purchasesArrivingDuringACommitAreDecidedTogetherAfterIt() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.orders.hold()
        pipeline.buy("a")
        for _ in 0..<5000 where pipeline.orders.state.withLock({ $0.started }) == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        pipeline.buy("b")
        pipeline.buy("c")
        try? await Task.sleep(nanoseconds: 50_000_000)
        #expect(pipeline.shard.statistics.queueDepth == 2, "b and c wait for a's commit")
        #expect(pipeline.shard.statistics.batches == 1)
        pipeline.orders.release()
        await pipeline.answers.wait(for: 3)
        await pipeline.waitForOutbox(0)
        #expect(pipeline.created.count == 3)
        let statistics = pipeline.shard.statistics
        #expect(statistics.batches == 2 && statistics.largestBatch == 2, "b and c were decided in one batch")
        let s = pipeline.stock.state.withLock { $0 }
        let first = pipeline.created.first { $0.userID == "a" }?.orderID
        #expect(first != nil && s.acknowledgedWithDecisions.contains(first!), "a's entry left with b and c's decision")
        #expect(s.outbox.isEmpty && s.acknowledgedUncommitted.isEmpty)
    }

    /// With `decidesDuringCommit` a purchase arriving during a commit is decided at once (one
    /// batch ahead at most) and waits for the commit stage; a group that commits while a purchase
    /// waits for the next decision has its acknowledgement ride on that decision's round trip.
    @Test func aCommitDuringABusyStageAcknowledgesWithTheNextDecision() async {
        let pipeline = Pipeline(stock: 10, decidesDuringCommit: true)
        pipeline.orders.hold()
        pipeline.buy("a")
        for _ in 0..<5000 where pipeline.orders.state.withLock({ $0.started }) == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        // `b` is decided at once (the commit stage already took `a`) and waits for the commit stage;
        // `c` then waits in the queue (the decide stage does not run ahead of the commit stage).
        pipeline.buy("b")
        for _ in 0..<5000 where pipeline.shard.statistics.commitQueueDepth == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        pipeline.buy("c")
        #expect(pipeline.shard.statistics.queueDepth == 1)
        pipeline.orders.release()
        await pipeline.answers.wait(for: 3)
        await pipeline.waitForOutbox(0)
        #expect(pipeline.created.count == 3)
        let s = pipeline.stock.state.withLock { $0 }
        let first = pipeline.created.first { $0.userID == "a" }?.orderID
        #expect(first != nil && s.acknowledgedWithDecisions.contains(first!), "a's entry left with c's decision")
        #expect((s.acknowledgedWithDecisions + s.acknowledgedAlone).count == 3, "each entry acknowledged once")
        #expect(s.acknowledgeCalls < 3)
        #expect(s.outbox.isEmpty && s.acknowledgedUncommitted.isEmpty)
    }

    /// A committed order of another sale than the next batch's is acknowledged on its own, after
    /// that decision: in a cluster its node may not be the batch's.
    @Test func anotherSalesAcknowledgementDoesNotRideOnTheDecision() async {
        let pipeline = Pipeline(stock: 10, otherSale: 10, decidesDuringCommit: true)
        pipeline.orders.hold()
        pipeline.buy("a")
        for _ in 0..<5000 where pipeline.orders.state.withLock({ $0.started }) == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        pipeline.buy("b")
        for _ in 0..<5000 where pipeline.shard.statistics.commitQueueDepth == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
        pipeline.buy("c", sale: "other")
        pipeline.orders.release()
        await pipeline.answers.wait(for: 3)
        await pipeline.waitForOutbox(0)
        #expect(pipeline.created.count == 3)
        let s = pipeline.stock.state.withLock { $0 }
        let first = pipeline.created.first { $0.userID == "a" }?.orderID
        #expect(first != nil && s.acknowledgedAlone.contains(first!) && !s.acknowledgedWithDecisions.contains(first!),
                "a's entry did not travel with c's decision of another sale")
        #expect((s.acknowledgedWithDecisions + s.acknowledgedAlone).count == 3)
        #expect(s.outbox.isEmpty && s.acknowledgedUncommitted.isEmpty)
    }

    @Test func aFencedSaleAnswersStaleAndIsInvalidated() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.orders.state.withLock { $0.fenced = ["sale"] }
        pipeline.buy("u")
        await pipeline.answers.wait(for: 1)
        #expect(pipeline.answers.all["u"] == [.stale])
        #expect(pipeline.stock.state.withLock { $0.invalidated } == ["sale"])
        #expect(pipeline.orders.state.withLock { $0.rows.isEmpty })
        try? await Task.sleep(nanoseconds: 20_000_000)
        let s = pipeline.stock.state.withLock { $0 }
        #expect(s.outbox.count == 1 && s.acknowledgedAlone.isEmpty && s.acknowledgedWithDecisions.isEmpty,
                "a fenced sale's entry is never acknowledged")
    }

    @Test func aWriterSeenDownRefusesBeforeTakingStock() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.orders.writerHealth.markDown()
        pipeline.buy("u")
        await pipeline.answers.wait(for: 1)
        guard case .unavailable? = pipeline.answers.all["u"]?.first else { Issue.record("not refused"); return }
        #expect(pipeline.stock.state.withLock { $0.batchSizes.isEmpty && $0.available["sale"] == 10 })
    }

    @Test func aRetryWithTheSameKeyReturnsTheFirstOrder() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.buy("u", key: "k1")
        await pipeline.answers.wait(for: 1)
        pipeline.buy("u", key: "k1")
        await pipeline.answers.wait(for: 2)
        let answers = pipeline.answers.all["u"] ?? []
        guard answers.count == 2, case .created(let first) = answers[0], case .existing(let again) = answers[1] else {
            Issue.record("\(answers)")
            return
        }
        #expect(first.orderID == again.orderID)
        #expect(pipeline.stock.state.withLock { $0.available["sale"] } == 9, "the retry took nothing")
    }

    @Test func theFailedDecisionAnswersEveryBuyerOnce() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.stock.state.withLock { $0.failing = true }
        for buyer in 0..<4 { pipeline.buy("u\(buyer)") }
        await pipeline.answers.wait(for: 4)
        #expect(pipeline.answers.all.values.allSatisfy { $0.count == 1 })
        #expect(pipeline.orders.state.withLock { $0.groupSizes.isEmpty }, "nothing reached the commit stage")
    }

    /// A shard nobody holds any more while its last task still runs (an old layout's shard, a
    /// test's): the executor must outlive the jobs it runs (it crashed in freed memory before).
    @Test func aShardDroppedWhileItsTaskRunsIsSafe() async {
        for _ in 0..<100 {
            let pipeline = Pipeline(stock: 10)
            pipeline.stock.hold()
            pipeline.buy("u")
            pipeline.stock.release()
        }
        try? await Task.sleep(nanoseconds: 100_000_000)
    }
}
