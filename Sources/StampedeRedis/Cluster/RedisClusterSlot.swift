/// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of the key, or of its hash tag, mod 16384.
///
/// A hash tag is the part between the first `{` and the next `}` when it is not empty; keys that
/// share a tag share a slot, which is how one sale's keys stay together on one primary.
public enum RedisClusterSlot {
    /// Slots in a Redis Cluster.
    public static let count = 16_384

    /// The slot of `key`, as `CLUSTER KEYSLOT` computes it.
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { Int(crc16(hashedPart(of: $0)) & 0x3FFF) }
    }

    /// The bytes that are hashed: the tag between the first `{` and the next `}` when that is
    /// non-empty, else the whole key.
    static func hashedPart(of key: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key }
        let rest = UnsafeBufferPointer(rebasing: key[(open + 1)...])
        guard let close = rest.firstIndex(of: UInt8(ascii: "}")), close > 0 else { return key }
        return UnsafeBufferPointer(rebasing: rest[..<close])
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the checksum the cluster spec names.
    static func crc16(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
