import Testing
@testable import StampedeInventory

@Suite("SaleCache")
struct SaleCacheTests {
    static let second: UInt64 = 1_000_000_000
    /// A base monotonic time well past zero, as the real clock is.
    static let t0: UInt64 = 1000 * second

    /// An id never stored needs a load and has no stale value.
    @Test func unknownIdNeedsLoad() {
        let cache = SaleCache(maxAgeSeconds: 1)
        #expect(cache.lookup("s1", now: Self.t0) == .needsLoad(stale: nil))
    }

    /// A stored sale is fresh up to and including `maxAge`, then needs a load with the old value.
    @Test func freshUntilMaxAge() {
        let cache = SaleCache(maxAgeSeconds: 1)
        let sale = Fixture.sale()
        cache.store("s1", sale, now: Self.t0)
        #expect(cache.lookup("s1", now: Self.t0) == .fresh(sale))
        #expect(cache.lookup("s1", now: Self.t0 + Self.second) == .fresh(sale))
        #expect(cache.lookup("s1", now: Self.t0 + Self.second + 1) == .needsLoad(stale: sale))
    }

    /// A sale stored as missing is absent while fresh, then needs a load without a stale value.
    @Test func absentIsRemembered() {
        let cache = SaleCache(maxAgeSeconds: 0.5)
        cache.store("nope", nil, now: Self.t0)
        #expect(cache.lookup("nope", now: Self.t0 + Self.second / 2) == .absent)
        #expect(cache.lookup("nope", now: Self.t0 + Self.second / 2 + 1) == .needsLoad(stale: nil))
    }

    /// A read that began before a newer entry was stored (a refresh in flight while the sale was
    /// redefined) does not replace it.
    @Test func anOlderReadDoesNotUndoANewerEntry() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("s1", Fixture.sale(available: 7), now: Self.t0 + 5)
        cache.store("s1", Fixture.sale(available: 3), now: Self.t0 + 2)
        #expect(cache.lookup("s1", now: Self.t0 + 6) == .fresh(Fixture.sale(available: 7)))
        cache.store("s1", Fixture.sale(available: 2), now: Self.t0 + 8)
        #expect(cache.lookup("s1", now: Self.t0 + 9) == .fresh(Fixture.sale(available: 2)))
    }

    /// A rendered body is kept with the entry it was rendered from, and dropped when the entry is
    /// replaced or forgotten; a body rendered from an entry replaced meanwhile is not kept.
    @Test func renderedBodyFollowsItsEntry() {
        let cache = SaleCache(maxAgeSeconds: 1)
        let five = SaleCache.RenderedSale(body: Array("five".utf8), validUntilNanos: .max)
        cache.store("s1", Fixture.sale(available: 5), now: Self.t0)
        #expect(cache.renderedBody("s1", now: Self.t0 + 1) == nil)
        let first = cache.lookupVersioned("s1", now: Self.t0 + 1)
        #expect(first.lookup == .fresh(Fixture.sale(available: 5)))
        cache.keepRendered("s1", five, version: first.version)
        #expect(cache.renderedBody("s1", now: Self.t0 + 2) == Array("five".utf8))
        // Replaced: the old body goes, and one rendered from the old version is refused.
        cache.store("s1", Fixture.sale(available: 4), now: Self.t0 + 3)
        #expect(cache.renderedBody("s1", now: Self.t0 + 4) == nil)
        cache.keepRendered("s1", five, version: first.version)
        #expect(cache.renderedBody("s1", now: Self.t0 + 5) == nil)
        // Forgotten (stock changed here): stale, and no body.
        let current = cache.lookupVersioned("s1", now: Self.t0 + 6)
        cache.keepRendered("s1", .init(body: Array("four".utf8), validUntilNanos: .max), version: current.version)
        #expect(cache.renderedBody("s1", now: Self.t0 + 6) == Array("four".utf8))
        cache.forget("s1")
        #expect(cache.renderedBody("s1", now: Self.t0 + 7) == nil)
        #expect(cache.lookupVersioned("s1", now: Self.t0 + 7).lookup == .needsLoad(stale: Fixture.sale(available: 4)))
    }

    /// A rendered body is not served once its entry is older than `maxAge`, even if it still holds.
    @Test func renderedBodyAgesWithItsEntry() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("s1", Fixture.sale(), now: Self.t0)
        cache.keepRendered("s1", .init(body: [1], validUntilNanos: .max), version: cache.lookupVersioned("s1", now: Self.t0).version)
        #expect(cache.renderedBody("s1", now: Self.t0 + Self.second) == [1])
        #expect(cache.renderedBody("s1", now: Self.t0 + Self.second + 1) == nil)
    }

    /// A body rendered before the window opens holds until a millisecond before it opens (the
    /// wall clock's milliseconds are truncated), one rendered inside it until a millisecond before
    /// it closes, and one rendered after the end for good.
    @Test func renderedBodyHoldsUntilTheStateChanges() {
        let sale = Fixture.sale()
        let beforeStart = Fixture.start.adding(seconds: -5)
        let scheduled = SaleCache.RenderedSale(body: [], of: sale, renderedAt: beforeStart, monotonicNow: Self.t0)
        #expect(scheduled.validUntilNanos == Self.t0 + 5 * Self.second - 1_000_000)
        let live = SaleCache.RenderedSale(body: [], of: sale, renderedAt: Fixture.start, monotonicNow: Self.t0)
        #expect(live.validUntilNanos == Self.t0 + 3600 * Self.second - 1_000_000)
        let lastMillisecond = SaleCache.RenderedSale(body: [], of: sale, renderedAt: Timestamp(milliseconds: Fixture.end.milliseconds - 1),
                                                     monotonicNow: Self.t0)
        #expect(lastMillisecond.validUntilNanos == Self.t0)
        #expect(SaleCache.RenderedSale(body: [], of: sale, renderedAt: Fixture.end, monotonicNow: Self.t0).validUntilNanos == .max)

        let cache = SaleCache(maxAgeSeconds: 10)
        cache.store("s1", sale, now: Self.t0)
        cache.keepRendered("s1", SaleCache.RenderedSale(body: [7], of: sale, renderedAt: beforeStart, monotonicNow: Self.t0),
                           version: cache.lookupVersioned("s1", now: Self.t0).version)
        #expect(cache.renderedBody("s1", now: Self.t0 + 5 * Self.second - 1_000_000) == [7])
        #expect(cache.renderedBody("s1", now: Self.t0 + 5 * Self.second - 1_000_000 + 1) == nil)
    }

    /// Storing again replaces the value and restarts its age.
    @Test func storeRefreshes() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("s1", Fixture.sale(available: 5), now: Self.t0)
        let newer = Fixture.sale(available: 4)
        cache.store("s1", newer, now: Self.t0 + 2 * Self.second)
        #expect(cache.lookup("s1", now: Self.t0 + 2 * Self.second + 1) == .fresh(newer))
    }

    /// `forget` makes the next read reload while keeping the old value as stale; unknown ids are ignored.
    @Test func forgetMakesStale() {
        let cache = SaleCache(maxAgeSeconds: 1)
        let sale = Fixture.sale()
        cache.store("s1", sale, now: Self.t0)
        cache.forget("s1")
        cache.forget("other")
        #expect(cache.lookup("s1", now: Self.t0) == .needsLoad(stale: sale))
        #expect(cache.lookup("other", now: Self.t0) == .needsLoad(stale: nil))
    }

    /// Entries nobody read for `idleSeconds` are dropped; read ones are returned for refresh.
    @Test func idleEntriesAreEvicted() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("read", Fixture.sale(saleID: "read"), now: Self.t0)
        cache.store("idle", Fixture.sale(saleID: "idle"), now: Self.t0)
        _ = cache.lookup("read", now: Self.t0 + 50 * Self.second)
        let ids = cache.idsToRefresh(idleSeconds: 60, now: Self.t0 + 61 * Self.second)
        #expect(ids == ["read"])
        #expect(cache.lookup("idle", now: Self.t0 + 61 * Self.second) == .needsLoad(stale: nil))
    }

    /// The idle limit is inclusive: an entry read exactly `idleSeconds` ago is kept.
    @Test func idleBoundary() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("s1", Fixture.sale(), now: Self.t0)
        #expect(cache.idsToRefresh(idleSeconds: 60, now: Self.t0 + 60 * Self.second) == ["s1"])
        #expect(cache.idsToRefresh(idleSeconds: 60, now: Self.t0 + 60 * Self.second + 1) == [])
    }

    /// Refreshing (storing) does not count as a read, so an unread entry still goes idle.
    @Test func storeDoesNotCountAsRead() {
        let cache = SaleCache(maxAgeSeconds: 1)
        cache.store("s1", Fixture.sale(), now: Self.t0)
        cache.store("s1", Fixture.sale(), now: Self.t0 + 59 * Self.second)
        #expect(cache.idsToRefresh(idleSeconds: 60, now: Self.t0 + 61 * Self.second) == [])
    }

    /// `maxAgeSeconds` is kept in nanoseconds.
    @Test func maxAgeInNanoseconds() {
        #expect(SaleCache(maxAgeSeconds: 0.25).maxAgeNanos == 250_000_000)
        #expect(SaleCache().maxAgeNanos == 1_000_000_000)
    }
}
