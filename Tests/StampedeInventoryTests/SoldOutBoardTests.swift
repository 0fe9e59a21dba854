import Testing
@testable import StampedeInventory

@Suite("SoldOutBoard")
struct SoldOutBoardTests {
    static let ends = Timestamp(milliseconds: 10_000)
    static let before = Timestamp(milliseconds: 5_000)

    /// An unknown sale is never answered from memory: Redis decides.
    @Test func unknownSaleGoesToRedis() {
        let board = SoldOutBoard()
        #expect(board.answer(for: "s1", now: Self.before) == nil)
        #expect(!board.isSoldOut("s1"))
    }

    /// Once marked, a sale's purchases are answered `sold_out` until it ends, then `sale_ended`.
    @Test func markedSaleIsAnsweredFromMemory() {
        let board = SoldOutBoard()
        board.markSoldOut("s1", endsAt: Self.ends, generation: board.generation(of: "s1"))
        #expect(board.answer(for: "s1", now: Self.before) == .soldOut)
        #expect(board.answer(for: "s1", now: Self.ends) == .ended)
        #expect(board.answer(for: "s2", now: Self.before) == nil)
    }

    /// Stock coming back (cancel, expiry, restock, a refresh that saw units) sends purchases to
    /// Redis again.
    @Test func clearSendsPurchasesBackToRedis() {
        let board = SoldOutBoard()
        board.markSoldOut("s1", endsAt: Self.ends, generation: board.generation(of: "s1"))
        board.clear("s1")
        #expect(board.answer(for: "s1", now: Self.before) == nil)
    }

    /// A decision that started before stock came back cannot mark the sale sold out again: its
    /// generation is stale, so the returned units stay reachable.
    @Test func staleMarkIsIgnored() {
        let board = SoldOutBoard()
        let generation = board.generation(of: "s1")   // a batch goes to Redis…
        board.clear("s1")                             // …a cancel returns a unit meanwhile…
        board.markSoldOut("s1", endsAt: Self.ends, generation: generation)   // …the batch saw 0 left
        #expect(board.answer(for: "s1", now: Self.before) == nil)
        board.markSoldOut("s1", endsAt: Self.ends, generation: board.generation(of: "s1"))
        #expect(board.answer(for: "s1", now: Self.before) == .soldOut)
    }
}
