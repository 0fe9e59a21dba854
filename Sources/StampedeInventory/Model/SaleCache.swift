import StampedeSystem
import Synchronization

/// The in-process copy of sales that `GET /v1/sales/{id}` is served from.
///
/// Entries are refreshed from Redis in the background (every `refreshInterval`), so a read costs a
/// lock and a dictionary lookup and never waits on Redis; an entry older than `maxAge` is not
/// served as fresh. Unknown sale ids are remembered as absent for the same time, so a flood of
/// bad ids does not become a flood of Redis calls.
public final class SaleCache: Sendable {
    /// What the cache knows about a sale id.
    public enum Lookup: Sendable, Equatable {
        case fresh(Sale)
        case absent
        /// Not cached, or older than `maxAge`; `stale` is the old value if there is one.
        case needsLoad(stale: Sale?)
    }

    struct Entry {
        var sale: Sale?
        var loadedAtNanos: UInt64
        var lastReadNanos: UInt64
        /// The sale's response body as last encoded; dropped whenever the entry is replaced.
        var rendered: RenderedSale?

        /// Moves `lastReadNanos` to `now`, at most once a second: only idle eviction reads it, and
        /// refreshing it on every request would make the two event loops write the same entry
        /// each time.
        mutating func noteRead(at now: UInt64) {
            if SaleCache.age(of: lastReadNanos, at: now) > SaleCache.lastReadResolutionNanos { lastReadNanos = now }
        }

        /// What the entry says at `now` for an age limit of `maxAgeNanos`, and its version.
        mutating func lookup(at now: UInt64, maxAgeNanos: UInt64) -> (lookup: Lookup, version: UInt64) {
            noteRead(at: now)
            if SaleCache.age(of: loadedAtNanos, at: now) > maxAgeNanos { return (.needsLoad(stale: sale), 0) }
            guard let sale else { return (.absent, 0) }
            return (.fresh(sale), loadedAtNanos)
        }

        /// The rendered body if it still holds at `now` and the entry is no older than `maxAgeNanos`.
        mutating func servableBody(at now: UInt64, maxAgeNanos: UInt64) -> [UInt8]? {
            noteRead(at: now)
            guard let rendered, now <= rendered.validUntilNanos, SaleCache.age(of: loadedAtNanos, at: now) <= maxAgeNanos else {
                return nil
            }
            return rendered.body
        }
    }

    /// A sale's encoded response body and how long it holds: it is served again while the cached
    /// sale is unchanged and its state, which moves with the clock at the window's start and end,
    /// is the one it was encoded in.
    public struct RenderedSale: Sendable {
        public var body: [UInt8]
        /// The monotonic time (nanoseconds) after which the body may show the wrong state.
        public var validUntilNanos: UInt64

        public init(body: [UInt8], validUntilNanos: UInt64) {
            self.body = body
            self.validUntilNanos = validUntilNanos
        }

        /// A body encoded from `sale` in its state at wall time `now`, which was read no earlier than
        /// monotonic time `monotonicNow`: it holds until the sale's next state change, less a
        /// millisecond for the truncation of `now`.
        public init(body: [UInt8], of sale: Sale, renderedAt now: Timestamp, monotonicNow: UInt64) {
            self.body = body
            guard let change = sale.nextStateChange(after: now) else {
                self.validUntilNanos = .max
                return
            }
            let milliseconds = UInt64(max(0, change.milliseconds - now.milliseconds - 1))
            self.validUntilNanos = monotonicNow &+ milliseconds &* 1_000_000
        }
    }

    public let maxAgeNanos: UInt64
    /// How stale an entry's `lastReadNanos` may get (it only decides idle eviction, in minutes).
    static let lastReadResolutionNanos: UInt64 = 1_000_000_000
    private let entries = Mutex<[String: Entry]>([:])

    public init(maxAgeSeconds: Double = 1.0) {
        maxAgeNanos = UInt64(maxAgeSeconds * 1e9)
    }

    /// The cached sale for `saleID` at monotonic time `now`.
    public func lookup(_ saleID: String, now: UInt64 = MonotonicClock.now()) -> Lookup {
        lookupVersioned(saleID, now: now).lookup
    }

    /// Like `lookup`, plus the entry's version (pass it to `keepRendered`).
    public func lookupVersioned(_ saleID: String, now: UInt64 = MonotonicClock.now()) -> (lookup: Lookup, version: UInt64) {
        entries.withLock { map in
            guard let index = map.index(forKey: saleID) else { return (.needsLoad(stale: nil), 0) }
            // In place, as `renderedBody` reads it: the sale is copied out, not the whole entry.
            return map.values[index].lookup(at: now, maxAgeNanos: maxAgeNanos)
        }
    }

    /// The body last rendered for `saleID` when its entry is fresh and the body still holds at
    /// `now`, else nil (then `lookupVersioned` says why). A cached `GET` is this one lookup: only
    /// the body is copied out, not the sale.
    public func renderedBody(_ saleID: String, now: UInt64) -> [UInt8]? {
        entries.withLock { map in
            guard let index = map.index(forKey: saleID) else { return nil }
            // A mutating call reaches the entry in place; reading a field through `values[index]`
            // would copy the whole entry, sale and all, first.
            return map.values[index].servableBody(at: now, maxAgeNanos: maxAgeNanos)
        }
    }

    /// Keeps `rendered` with the entry of `saleID` if it is still the one `lookupVersioned` returned.
    public func keepRendered(_ saleID: String, _ rendered: RenderedSale, version: UInt64) {
        entries.withLock { map in
            guard let index = map.index(forKey: saleID), map.values[index].loadedAtNanos == version else { return }
            map.values[index].rendered = rendered
        }
    }

    /// Stores what was just read for `saleID` (nil: it does not exist); `now` is when the read
    /// began. An entry stored since — a definition's own, while a refresh's read was in flight —
    /// is newer and stays: the older read would undo it until the next refresh.
    public func store(_ saleID: String, _ sale: Sale?, now: UInt64 = MonotonicClock.now()) {
        entries.withLock { map in
            if let existing = map[saleID], existing.loadedAtNanos > now { return }
            let lastRead = map[saleID]?.lastReadNanos ?? now
            map[saleID] = Entry(sale: sale, loadedAtNanos: now, lastReadNanos: lastRead, rendered: nil)
        }
    }

    /// Nanoseconds from `time` to `now`; 0 when another thread stored a later `now` meanwhile.
    static func age(of time: UInt64, at now: UInt64) -> UInt64 { now > time ? now - time : 0 }

    /// Ids to refresh now, after dropping entries nobody read for `idleSeconds`.
    public func idsToRefresh(idleSeconds: Double = 60, now: UInt64 = MonotonicClock.now()) -> [String] {
        let idle = UInt64(idleSeconds * 1e9)
        return entries.withLock { map in
            map = map.filter { Self.age(of: $0.value.lastReadNanos, at: now) <= idle }
            return Array(map.keys)
        }
    }
}

extension SaleCache {
    /// Marks a sale's entry as stale so the next read reloads it (after stock changed here).
    public func forget(_ saleID: String) {
        entries.withLock { map in
            if let index = map.index(forKey: saleID) {
                map.values[index].loadedAtNanos = 0
                map.values[index].rendered = nil
            }
        }
    }
}

extension SaleCache {
    /// Every sale the cache holds (read or sold here within the idle time), as last loaded: for
    /// the per-sale units-left gauge. Absent ids are left out.
    public func cachedSales() -> [Sale] {
        entries.withLock { map in map.values.compactMap(\.sale) }
    }
}
