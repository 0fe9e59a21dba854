import Testing
@testable import StampedeInventory

@Suite("OrderIDGenerator")
struct OrderIDGeneratorTests {
    /// An id is 28 lower-case hex digits and a valid identifier.
    @Test func isTwentyEightHexDigits() {
        let id = OrderIDGenerator.next()
        #expect(id.utf8.count == 28)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(Identifier.isValid(id))
    }

    /// The first 12 hex digits are the creation time in milliseconds.
    @Test func prefixIsTheTimeInMilliseconds() {
        let time = Timestamp(milliseconds: 1_795_262_400_123)
        let id = OrderIDGenerator.next(at: time)
        #expect(UInt64(id.prefix(12), radix: 16) == 1_795_262_400_123)
        #expect(id.hasPrefix("01a1fdfa467b"))
        #expect(OrderIDGenerator.next(at: Timestamp(milliseconds: 0)).hasPrefix("000000000000"))
    }

    /// Ids made at later times sort after earlier ones (time-ordered for index locality).
    /// Ids drawn across many refills of the random pool, from several threads, never repeat their
    /// random part.
    @Test func randomPartsDoNotRepeat() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<1500).map { _ in OrderIDGenerator.next(at: Timestamp(milliseconds: 0)) } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ids.count == 6000)
        #expect(Set(ids.map { $0.suffix(16) }).count == 6000)
        #expect(!ids.contains { $0.hasSuffix("0000000000000000") })
    }

    @Test func isTimeOrdered() {
        var previous = ""
        for millis in stride(from: Int64(1_700_000_000_000), to: 1_700_000_100_000, by: 997) {
            let id = OrderIDGenerator.next(at: Timestamp(milliseconds: millis))
            #expect(id > previous)
            previous = id
        }
    }

    /// A time before the epoch is clamped to zero rather than wrapping.
    @Test func clampsNegativeTimes() {
        #expect(OrderIDGenerator.next(at: Timestamp(milliseconds: -5)).hasPrefix("000000000000"))
    }

    /// 10,000 ids made at the same millisecond are all different.
    @Test func tenThousandAreUnique() {
        let time = Timestamp.now()
        var seen = Set<String>()
        for _ in 0..<10_000 { seen.insert(OrderIDGenerator.next(at: time)) }
        #expect(seen.count == 10_000)
    }
}
