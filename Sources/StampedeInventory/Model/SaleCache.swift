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
    }

    /// A sale's encoded response body and the state it was encoded in: the body is served again
    /// while the cached sale is unchanged and its state (which moves with the clock) is the same.
    public struct RenderedSale: Sendable {
        public var body: [UInt8]
        public var state: SaleState

        public init(body: [UInt8], state: SaleState) {
            self.body = body
            self.state = state
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
        lookupRendered(saleID, now: now).lookup
    }

    /// Like `lookup`, plus the body last rendered for a fresh entry and the entry's version (pass it
    /// to `keepRendered`).
    public func lookupRendered(_ saleID: String, now: UInt64 = MonotonicClock.now())
        -> (lookup: Lookup, rendered: RenderedSale?, version: UInt64) {
        entries.withLock { map in
            guard let index = map.index(forKey: saleID) else { return (.needsLoad(stale: nil), nil, 0) }
            let entry = map.values[index]
            if Self.age(of: entry.lastReadNanos, at: now) > Self.lastReadResolutionNanos {
                // Only idle eviction reads this: refreshing it once a second spares the two event
                // loops a write to the same entry on every request.
                map.values[index].lastReadNanos = now
            }
            if Self.age(of: entry.loadedAtNanos, at: now) > maxAgeNanos { return (.needsLoad(stale: entry.sale), nil, 0) }
            guard let sale = entry.sale else { return (.absent, nil, 0) }
            return (.fresh(sale), entry.rendered, entry.loadedAtNanos)
        }
    }

    /// Keeps `rendered` with the entry of `saleID` if it is still the one `lookupRendered` returned.
    public func keepRendered(_ saleID: String, _ rendered: RenderedSale, version: UInt64) {
        entries.withLock { map in
            guard let index = map.index(forKey: saleID), map.values[index].loadedAtNanos == version else { return }
            map.values[index].rendered = rendered
        }
    }

    /// Stores what was just read for `saleID` (nil: it does not exist).
    public func store(_ saleID: String, _ sale: Sale?, now: UInt64 = MonotonicClock.now()) {
        entries.withLock { map in
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
