@testable import StampedeInventory
import Testing

/// The live shard set (`ShardDirectory`) over in-memory stores: layout switches while purchases
/// are in flight, tunables applied in place, the bound on purchases held during a switch.
struct ShardDirectoryTests {
    static let sales = (0..<12).map { "sale-\($0)" }

    static func layout(_ count: Int, pinned: [String] = [], maxInFlight: Int = 1000, batchSize: Int = 16) -> ShardLayout {
        ShardLayout(hashedCount: count, pinned: pinned, defaults: ShardSettings(batchSize: batchSize, maxInFlight: maxInFlight))
    }

    static func directory(_ layout: ShardLayout, stock: InMemoryStock) -> ShardDirectory {
        var shedding = SheddingSettings()
        shedding.adaptive = false
        return ShardDirectory(layout: layout, shedding: shedding,
                              processor: PurchaseBatchProcessor(ledger: stock, orders: InMemoryOrders()))
    }

    /// Admits one purchase of `saleID` by `user`, its answer recorded in `answers`.
    static func admit(_ saleID: String, _ user: String, _ answers: PurchaseAnswers, to directory: ShardDirectory,
                      available: Int64? = nil) -> Admission {
        directory.admit(PurchaseRequest(saleID: saleID, userID: user, quantity: 1, idempotencyKey: nil), available: available) {
            answers.record(user, $0)
        }
    }

    @Test func aLayoutSwitchUnderTrafficAnswersEveryPurchaseOnceAndNeverSplitsASale() async {
        let stock = InMemoryStock(stock: Dictionary(uniqueKeysWithValues: Self.sales.map { ($0, 1000) }))
        let directory = Self.directory(Self.layout(4), stock: stock)
        let answers = PurchaseAnswers()
        stock.hold()
        var admitted = 0
        for (index, sale) in Self.sales.enumerated() {
            for buyer in 0..<5 where Self.admit(sale, "before-\(index)-\(buyer)", answers, to: directory) == .queued {
                admitted += 1
            }
        }
        let switching = Task { await directory.apply(Self.layout(2, pinned: ["sale-3"]), shedding: SheddingSettings()) }
        for _ in 0..<1000 where !directory.isSwitching { try? await Task.sleep(nanoseconds: 1_000_000) }
        #expect(directory.isSwitching, "old shards still hold purchases: the switch waits for them")
        for (index, sale) in Self.sales.enumerated() {
            for buyer in 0..<5 where Self.admit(sale, "during-\(index)-\(buyer)", answers, to: directory) == .queued {
                admitted += 1
            }
        }
        #expect(admitted == 120)
        stock.release()
        await switching.value
        await answers.wait(for: admitted)
        #expect(answers.count == admitted)
        #expect(answers.all.values.allSatisfy { $0.count == 1 && { if case .created = $0[0] { true } else { false } }($0) })
        #expect(!stock.state.withLock { $0.overlapped }, "no sale was decided by an old and a new shard at once")
        #expect(directory.layout.shardCount == 3)
        #expect(directory.shard(for: "sale-3").index == 2, "the pinned sale has the shard after the hashed ones")
        #expect(Self.sales.allSatisfy { directory.waiting(for: $0) == 0 })
    }

    @Test func tunablesApplyInPlaceWithoutASwitch() async {
        let stock = InMemoryStock(stock: ["sale-0": 10])
        let directory = Self.directory(Self.layout(2, batchSize: 16), stock: stock)
        let before = directory.shard(for: "sale-0")
        await directory.apply(Self.layout(2, maxInFlight: 7, batchSize: 4), shedding: SheddingSettings())
        let after = directory.shard(for: "sale-0")
        #expect(before === after, "same ownership: the shards stay")
        #expect(after.statistics.batchSize == 4)
        #expect(after.statistics.maxInFlight == 7)
    }

    @Test func purchasesHeldDuringASwitchAreBounded() async {
        let stock = InMemoryStock(stock: ["sale-0": 100])
        let directory = Self.directory(Self.layout(1, maxInFlight: 3), stock: stock)
        let answers = PurchaseAnswers()
        stock.hold()
        #expect(Self.admit("sale-0", "first", answers, to: directory) == .queued)
        let switching = Task { await directory.apply(Self.layout(2, maxInFlight: 2), shedding: SheddingSettings()) }
        for _ in 0..<1000 where !directory.isSwitching { try? await Task.sleep(nanoseconds: 1_000_000) }
        // The new layout's total in-flight limit (2 shards × 2) bounds what waits for it.
        let held = (0..<6).map { Self.admit("sale-0", "held-\($0)", answers, to: directory) }
        #expect(held.filter { $0 == .queued }.count == 4)
        #expect(held.filter { $0 == .shedInFlight }.count == 2)
        stock.release()
        await switching.value
        await answers.wait(for: 5)
        #expect(answers.count == 5)
        #expect(stock.state.withLock { $0.available["sale-0"] } == 95, "shed purchases took nothing")
    }

    @Test func stockAwareAdmissionShedsBeyondWhatIsLeft() {
        let stock = InMemoryStock(stock: ["sale-0": 100])
        let directory = Self.directory(Self.layout(1), stock: stock)
        let answers = PurchaseAnswers()
        stock.hold()
        let results = (0..<50).map { Self.admit("sale-0", "u\($0)", answers, to: directory, available: 2) }
        #expect(results.contains(.shedStock), "2 units left cannot use 50 waiting purchases")
        #expect(directory.waiting(for: "sale-0") == results.filter { $0 == .queued }.count)
        stock.release()
    }
}
