/// How a bucketed sale's stock is spread over Redis hash slots (docs/consistency.md, "Buckets").
///
/// Bucket 0 is the sale itself (hash tag `{<sale_id>}`, where its definition lives); bucket
/// b ≥ 1 is a child sale whose id is its own hash tag, `<sale_id>~<n>`, chosen when the sale is
/// defined so that each bucket sits on another primary where the cluster has enough. A buyer
/// always maps to one bucket, so the per-user limit and the idempotency key stay inside one
/// script call. Pure decisions only: no I/O.
public enum BucketLayout {
    /// The most buckets a sale may have.
    public static let maxBuckets = 16
    /// The character between a sale id and a bucket's suffix; never in a public identifier.
    public static let separator: Character = "~"

    /// The bucket of `userID` in a sale of `count` buckets: the CRC-32 (IEEE, as zlib's) of the
    /// user id modulo the count — the same in every process and on every start, and what HAProxy's
    /// `crc32` converter computes, so the balancer can send each bucket's buyers to one instance
    /// (Config/haproxy.cfg).
    @inlinable
    public static func bucket(ofUser userID: some StringProtocol, count: Int) -> Int {
        guard count > 1 else { return 0 }
        return Int(crc32(userID) % UInt32(count))
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib and HAProxy compute it) of the UTF-8 bytes.
    @inlinable
    public static func crc32(_ text: some StringProtocol) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in text.utf8 {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// The id (and hash tag) of candidate `n` for a bucket of `saleID`.
    public static func childID(of saleID: String, candidate n: Int) -> String {
        saleID + String(separator) + String(n)
    }

    /// The public sale a bucket belongs to: the id itself for a sale, the part before `~` for a
    /// bucket's child id.
    @inlinable
    public static func saleID(of id: String) -> String {
        guard let cut = id.utf8.firstIndex(of: UInt8(ascii: "~")) else { return id }
        return String(id[..<cut])
    }

    /// Whether `id` names a bucket's child sale rather than a sale.
    @inlinable
    public static func isChild(_ id: some StringProtocol) -> Bool { id.utf8.contains(UInt8(ascii: "~")) }

    /// Picks the tags of buckets 1…count−1 from candidates `(n, owner)` (the node that owns each
    /// candidate's slot, in candidate order): each bucket takes the first candidate whose owner
    /// holds no bucket yet — bucket 0's owner is `homeOwner` — and, once every owner holds one,
    /// the first candidate on the owner holding fewest (so buckets spread evenly over however
    /// many primaries there are). Returns the candidate numbers, or nil when too few candidates.
    public static func chooseCandidates(count: Int, homeOwner: String, candidates: [(n: Int, owner: String)]) -> [Int]? {
        guard count > 1 else { return [] }
        var load: [String: Int] = [homeOwner: 1]
        for candidate in candidates where load[candidate.owner] == nil { load[candidate.owner] = 0 }
        var chosen: [Int] = []
        var used = Set<Int>()
        while chosen.count < count - 1 {
            let least = load.values.min() ?? 0
            guard let pick = candidates.first(where: { !used.contains($0.n) && load[$0.owner] == least }) else { return nil }
            used.insert(pick.n)
            chosen.append(pick.n)
            load[pick.owner, default: 0] += 1
        }
        return chosen
    }

    /// The units each bucket starts with: `stock` split evenly, the remainder to bucket 0.
    public static func initialShares(stock: Int64, count: Int) -> [Int64] {
        let count = max(1, count)
        let share = stock / Int64(count)
        var shares = [Int64](repeating: share, count: count)
        shares[0] += stock - share * Int64(count)
        return shares
    }

    /// How many units to move into a bucket that lacks `needed` units (it holds `have`), from a
    /// source holding `sourceHas`: half the source's units, at least what is lacking, at most all
    /// of them — so a bucket that keeps selling refills in few moves, and no source is emptied
    /// for one buyer. Zero when the source holds nothing.
    public static func moveAmount(needed: Int64, have: Int64, sourceHas: Int64) -> Int64 {
        guard sourceHas > 0 else { return 0 }
        let lacking = max(1, needed - max(0, have))
        return min(sourceHas, max(lacking, sourceHas / 2))
    }
}
