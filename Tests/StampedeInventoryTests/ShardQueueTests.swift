import Testing
@testable import StampedeInventory

@Suite("ShardQueue")
struct ShardQueueTests {
    static func purchase(_ n: Int) -> PendingPurchase {
        PendingPurchase(
            request: PurchaseRequest(saleID: "s1", userID: "u-\(n)", quantity: 1, idempotencyKey: nil, orderID: "o-\(n)"),
            complete: { _ in })
    }

    /// Only the first push of an idle queue asks for a drainer.
    @Test func onlyFirstPushStartsADrain() {
        var queue = ShardQueue()
        #expect(!queue.draining)
        let startsFirst = queue.push(Self.purchase(0))
        #expect(startsFirst)
        #expect(queue.draining)
        let startsSecond = queue.push(Self.purchase(1))
        #expect(!startsSecond)
        let startsThird = queue.push(Self.purchase(2))
        #expect(!startsThird)
        #expect(queue.count == 3)
    }

    /// Batches come out in arrival order, at most `maxSize` each.
    @Test func takesBatchesInOrder() {
        var queue = ShardQueue()
        for i in 0..<7 { _ = queue.push(Self.purchase(i)) }
        let batch1 = queue.takeBatch(maxSize: 3)
        #expect(batch1.map(\.request.orderID) == ["o-0", "o-1", "o-2"])
        #expect(queue.count == 4)
        let batch2 = queue.takeBatch(maxSize: 3)
        #expect(batch2.map(\.request.orderID) == ["o-3", "o-4", "o-5"])
        let batch3 = queue.takeBatch(maxSize: 3)
        #expect(batch3.map(\.request.orderID) == ["o-6"])
        #expect(queue.count == 0)
        #expect(queue.draining, "the drain ends only with an empty batch")
    }

    /// An empty batch ends the drain, so the next push asks for a drainer again.
    @Test func emptyBatchEndsTheDrain() {
        var queue = ShardQueue()
        let startsFirst = queue.push(Self.purchase(0))
        #expect(startsFirst)
        let batch1 = queue.takeBatch(maxSize: 10)
        #expect(batch1.count == 1)
        let startsWhileDraining = queue.push(Self.purchase(1))
        #expect(!startsWhileDraining, "still draining until an empty batch is taken")
        let batch2 = queue.takeBatch(maxSize: 10)
        #expect(batch2.count == 1)
        let emptyBatch = queue.takeBatch(maxSize: 10)
        #expect(emptyBatch.isEmpty)
        #expect(!queue.draining)
        let startsAfterDrain = queue.push(Self.purchase(2))
        #expect(startsAfterDrain)
    }

    /// `maxSize` 1 means no batching; 0 or less is treated as 1.
    @Test func maxSizeOneTakesOneAtATime() {
        var queue = ShardQueue()
        for i in 0..<3 { _ = queue.push(Self.purchase(i)) }
        let batch1 = queue.takeBatch(maxSize: 1)
        #expect(batch1.map(\.request.orderID) == ["o-0"])
        let batch2 = queue.takeBatch(maxSize: 0)
        #expect(batch2.map(\.request.orderID) == ["o-1"])
        let batch3 = queue.takeBatch(maxSize: -5)
        #expect(batch3.map(\.request.orderID) == ["o-2"])
        let emptyBatch = queue.takeBatch(maxSize: 1)
        #expect(emptyBatch.isEmpty)
    }

    /// Many interleaved push/take cycles (crossing the internal compaction) keep FIFO order and lose nothing.
    @Test func longRunsKeepFIFO() {
        var queue = ShardQueue()
        var next = 0
        var expected = 0
        var drainers = 0
        for round in 0..<3000 {
            for _ in 0..<(round % 5 + 1) {
                if queue.push(Self.purchase(next)) { drainers += 1 }
                next += 1
            }
            for purchase in queue.takeBatch(maxSize: round % 3 + 1) {
                #expect(purchase.request.orderID == "o-\(expected)")
                expected += 1
            }
        }
        #expect(queue.count == next - expected)
        while true {
            let batch = queue.takeBatch(maxSize: 64)
            if batch.isEmpty { break }
            for purchase in batch {
                #expect(purchase.request.orderID == "o-\(expected)")
                expected += 1
            }
        }
        #expect(expected == next)
        #expect(drainers == 1)
        #expect(!queue.draining)
    }

    /// Items pushed together keep their order, and only a push to an idle queue asks for a
    /// drainer (the commit stage receives whole decided batches).
    @Test func pushContentsOfKeepsOrder() {
        var queue = BatchQueue<Int>()
        let startsFirst = queue.push(contentsOf: [1, 2, 3])
        let startsSecond = queue.push(contentsOf: [4, 5])
        #expect(startsFirst)
        #expect(!startsSecond)
        let batch1 = queue.takeBatch(maxSize: 4)
        let batch2 = queue.takeBatch(maxSize: 4)
        let batch3 = queue.takeBatch(maxSize: 4)
        #expect(batch1 == [1, 2, 3, 4])
        #expect(batch2 == [5])
        #expect(batch3.isEmpty)
        #expect(!queue.draining)
        let startsAgain = queue.push(contentsOf: [6])
        #expect(startsAgain)
    }
}
