import Synchronization

/// The sales this process knows to be sold out, so their rejections are answered from memory
/// without a Redis call — a rush keeps hammering a sale long after its last unit went.
///
/// A sale is marked when a purchase batch leaves it with no units, and cleared whenever stock may
/// have come back: a cancel or an expiry returned units here, a restock, or a cache refresh that
/// read units in Redis (stock returned by another instance). Each clear bumps the sale's
/// generation; a mark carries the generation read before its Redis call and is ignored when a
/// clear happened meanwhile, so a batch that raced a cancel cannot hide the returned units.
///
/// Only purchases without an `Idempotency-Key` are answered here: a retry with a key must reach
/// Redis, which returns the first order if it was in fact taken.
public final class SoldOutBoard: Sendable {
    struct Entry {
        var generation: UInt64 = 0
        /// When the sale ends, if it is sold out now; nil while it may have stock.
        var soldOutUntil: Timestamp?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The generation to pass to `markSoldOut` for a decision about to be made.
    public func generation(of saleID: String) -> UInt64 {
        entries.withLock { $0[saleID]?.generation ?? 0 }
    }

    /// Records that `saleID` had no units left after a decision made at `generation`.
    public func markSoldOut(_ saleID: String, endsAt: Timestamp, generation: UInt64) {
        entries.withLock { map in
            var entry = map[saleID] ?? Entry()
            guard entry.generation == generation else { return }
            entry.soldOutUntil = endsAt
            map[saleID] = entry
        }
    }

    /// Stock may have come back to `saleID`: the next purchases go to Redis again.
    public func clear(_ saleID: String) {
        entries.withLock { map in
            var entry = map[saleID] ?? Entry()
            entry.generation &+= 1
            entry.soldOutUntil = nil
            map[saleID] = entry
        }
    }

    /// The answer for a purchase without an idempotency key, when it can be given from memory:
    /// `sale_ended` past the end (as Redis would say), else `sold_out`; nil when Redis must decide.
    /// The clock is read only for a sale marked sold out.
    public func answer(for saleID: String, now: @autoclosure () -> Timestamp = .now()) -> PurchaseOutcome? {
        guard let ends = entries.withLock({ $0[saleID]?.soldOutUntil }) else { return nil }
        return now() >= ends ? .ended : .soldOut
    }

    /// Whether `saleID` is marked sold out.
    public func isSoldOut(_ saleID: String) -> Bool {
        entries.withLock { $0[saleID]?.soldOutUntil != nil }
    }
}
