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

        init(stock: Int64, maxInFlight: Int = 10_000, batchSize: Int = 32, commitGroupSize: Int = 64, perUserLimit: Int64 = 10) {
            self.stock = InMemoryStock(stock: ["sale": stock], perUserLimit: perUserLimit)
            orders = InMemoryOrders()
            shard = Shard(index: 0, maxInFlight: maxInFlight, batchSize: batchSize, commitGroupSize: commitGroupSize,
                          processor: PurchaseBatchProcessor(ledger: self.stock, orders: orders))
        }

        /// Submits a purchase of `user`; false when shed.
        @discardableResult
        func buy(_ user: String, quantity: Int64 = 1, key: String? = nil) -> Bool {
            let request = PurchaseRequest(saleID: "sale", userID: user, quantity: quantity, idempotencyKey: key)
            let answers = self.answers
            return shard.submit(PendingPurchase(request: request) { answers.record(user, $0) })
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
        #expect(pipeline.stock.state.withLock { $0.outbox.isEmpty }, "committed reservations leave the outbox")
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
    }

    @Test func aFencedSaleAnswersStaleAndIsInvalidated() async {
        let pipeline = Pipeline(stock: 10)
        pipeline.orders.state.withLock { $0.fenced = ["sale"] }
        pipeline.buy("u")
        await pipeline.answers.wait(for: 1)
        #expect(pipeline.answers.all["u"] == [.stale])
        #expect(pipeline.stock.state.withLock { $0.invalidated } == ["sale"])
        #expect(pipeline.orders.state.withLock { $0.rows.isEmpty })
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
