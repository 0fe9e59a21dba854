import Testing
@testable import StampedeInventory

/// The pure decisions of bucketed sales: which bucket a buyer maps to, which tags the buckets
/// take, how the stock starts and how much a refill moves.
@Suite("BucketLayout")
struct BucketLayoutTests {
    /// CRC-32 as zlib and HAProxy's `crc32` converter compute it (checked against both: `alice`
    /// is 663665735 there too), so the balancer can tell a buyer's bucket.
    @Test func crc32IsZlibs() {
        #expect(BucketLayout.crc32("123456789") == 0xCBF4_3926)
        #expect(BucketLayout.crc32("alice") == 663_665_735)
        #expect(BucketLayout.crc32("") == 0)
        #expect(BucketLayout.bucket(ofUser: "alice", count: 3) == 2)
    }

    /// A buyer always maps to the same bucket, every bucket is used, and one bucket means bucket 0.
    @Test func buyersSpreadOverEveryBucket() {
        var counts = [Int](repeating: 0, count: 5)
        for n in 0..<5000 { counts[BucketLayout.bucket(ofUser: "user-\(n)", count: 5)] += 1 }
        #expect(counts.allSatisfy { $0 > 800 && $0 < 1200 }, "\(counts)")
        #expect(BucketLayout.bucket(ofUser: "anyone", count: 1) == 0)
        #expect(BucketLayout.bucket(ofUser: "u7", count: 4) == BucketLayout.bucket(ofUser: "u7", count: 4))
    }

    @Test func childIDsNameTheirSale() {
        #expect(BucketLayout.childID(of: "flash1", candidate: 7) == "flash1~7")
        #expect(BucketLayout.saleID(of: "flash1~7") == "flash1")
        #expect(BucketLayout.saleID(of: "flash1") == "flash1")
        #expect(BucketLayout.isChild("flash1~7"))
        #expect(!BucketLayout.isChild("flash.1:x-y"))
        var sale = Sale(definition: SaleDefinition(saleID: "s", sku: "k", priceCents: 1, stock: 9, perUserLimit: 1,
                                                   startsAt: Timestamp(milliseconds: 0), endsAt: Timestamp(milliseconds: 1),
                                                   reservationTTLSeconds: 60, buckets: 3),
                        restocked: 0, available: 9, bucketIDs: ["s~4", "s~9"])
        #expect(sale.counterID(forUser: "alice") == "s~9")  // bucket 2
        sale.bucketIDs = []
        #expect(sale.counterID(forUser: "alice") == "s")
    }

    /// Each bucket takes a primary holding none of the sale's buckets while there is one; then
    /// they spread evenly. On one node every candidate is on it: the first ones are taken.
    @Test func tagsSpreadOverPrimaries() {
        let candidates = [(1, "A"), (2, "A"), (3, "B"), (4, "A"), (5, "C"), (6, "B"), (7, "C")]
        #expect(BucketLayout.chooseCandidates(count: 3, homeOwner: "A", candidates: candidates) == [3, 5])
        #expect(BucketLayout.chooseCandidates(count: 5, homeOwner: "A", candidates: candidates) == [3, 5, 1, 6])
        #expect(BucketLayout.chooseCandidates(count: 1, homeOwner: "A", candidates: candidates) == [])
        #expect(BucketLayout.chooseCandidates(count: 3, homeOwner: "X", candidates: [(1, "X"), (2, "X"), (3, "X")]) == [1, 2])
        #expect(BucketLayout.chooseCandidates(count: 4, homeOwner: "X", candidates: [(1, "X"), (2, "X")]) == nil)
    }

    @Test func stockStartsEvenlySplit() {
        #expect(BucketLayout.initialShares(stock: 10, count: 3) == [4, 3, 3])
        #expect(BucketLayout.initialShares(stock: 2, count: 4) == [2, 0, 0, 0])
        #expect(BucketLayout.initialShares(stock: 7, count: 1) == [7])
    }

    /// Half the source, at least what is lacking, at most all of it.
    @Test func refillsMoveHalfTheRichestBucket() {
        #expect(BucketLayout.moveAmount(needed: 1, have: 0, sourceHas: 80) == 40)
        #expect(BucketLayout.moveAmount(needed: 5, have: 1, sourceHas: 6) == 4)
        #expect(BucketLayout.moveAmount(needed: 3, have: 0, sourceHas: 2) == 2)
        #expect(BucketLayout.moveAmount(needed: 1, have: 0, sourceHas: 1) == 1)
        #expect(BucketLayout.moveAmount(needed: 1, have: 0, sourceHas: 0) == 0)
    }
}
