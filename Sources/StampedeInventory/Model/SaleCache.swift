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
    }

    public let maxAgeNanos: UInt64
    private let entries = Mutex<[String: Entry]>([:])

    public init(maxAgeSeconds: Double = 1.0) {
        maxAgeNanos = UInt64(maxAgeSeconds * 1e9)
    }

    /// The cached sale for `saleID` at monotonic time `now`.
    public func lookup(_ saleID: String, now: UInt64 = MonotonicClock.now()) -> Lookup {
        entries.withLock { map in
            guard var entry = map[saleID] else { return .needsLoad(stale: nil) }
            entry.lastReadNanos = now
            map[saleID] = entry
            if Self.age(of: entry.loadedAtNanos, at: now) > maxAgeNanos { return .needsLoad(stale: entry.sale) }
            return entry.sale.map(Lookup.fresh) ?? .absent
        }
    }

    /// Stores what was just read for `saleID` (nil: it does not exist).
    public func store(_ saleID: String, _ sale: Sale?, now: UInt64 = MonotonicClock.now()) {
        entries.withLock { map in
            let lastRead = map[saleID]?.lastReadNanos ?? now
            map[saleID] = Entry(sale: sale, loadedAtNanos: now, lastReadNanos: lastRead)
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
            if var entry = map[saleID] {
                entry.loadedAtNanos = 0
                map[saleID] = entry
            }
        }
    }
}
