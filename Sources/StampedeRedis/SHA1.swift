/// SHA-1 (FIPS 180-4), used only to name Lua scripts the way Redis' `EVALSHA` does.
///
/// Redis identifies a loaded script by the SHA-1 of its source; computing it locally lets the
/// client call `EVALSHA` first and send the source only when Redis answers `NOSCRIPT`. Not for
/// anything security-related.
enum SHA1 {
    /// The 40-character lowercase hex digest of `message`.
    static func hexDigest(of message: some Collection<UInt8>) -> String {
        var state: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        var padded = Array(message)
        let bitLength = UInt64(padded.count) &* 8
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        for chunkStart in stride(from: 0, to: padded.count, by: 64) {
            compress(padded[chunkStart..<chunkStart + 64], into: &state)
        }
        return [state.0, state.1, state.2, state.3, state.4].map(hex).joined()
    }

    private static func compress(_ chunk: ArraySlice<UInt8>, into state: inout (UInt32, UInt32, UInt32, UInt32, UInt32)) {
        var words = [UInt32](repeating: 0, count: 80)
        for index in 0..<16 {
            let offset = chunk.startIndex + index * 4
            words[index] = chunk[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        for index in 16..<80 {
            words[index] = rotateLeft(words[index - 3] ^ words[index - 8] ^ words[index - 14] ^ words[index - 16], by: 1)
        }
        var (a, b, c, d, e) = state
        for index in 0..<80 {
            let (f, k): (UInt32, UInt32) = switch index {
            case 0..<20: ((b & c) | (~b & d), 0x5A82_7999)
            case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
            case 40..<60: ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
            default: (b ^ c ^ d, 0xCA62_C1D6)
            }
            let next = rotateLeft(a, by: 5) &+ f &+ e &+ k &+ words[index]
            (a, b, c, d, e) = (next, a, rotateLeft(b, by: 30), c, d)
        }
        state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
    }

    private static func rotateLeft(_ value: UInt32, by count: UInt32) -> UInt32 {
        value << count | value >> (32 - count)
    }

    private static func hex(_ word: UInt32) -> String {
        let digits = String(word, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
