import COpenSSL
import StampedeSystem

/// The bearer tokens of named admin credentials: made from the kernel's random bytes, shown once,
/// and kept (in PostgreSQL and in memory) only as their SHA-256.
enum AdminToken {
    /// Random bytes in a token: 256 bits, beyond guessing even without the rate limit.
    static let randomByteCount = 32

    /// A new token: `stk_` and the lowercase hex of 32 random bytes (68 characters). The prefix
    /// lets secret scanners and people recognise a Stampede admin token.
    static func generate() throws(SystemCallError) -> String {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: randomByteCount, alignment: 1)
        defer { buffer.deallocate() }
        try System.randomBytes(buffer)
        let bytes = Array(buffer)
        return prefix + PurchaseTokenVerifier.hex(bytes)
    }

    static let prefix = "stk_"

    /// Whether `token` has the shape `generate` makes (a cheap check before hashing).
    static func isWellFormed(_ token: some Collection<UInt8>) -> Bool {
        token.count == prefix.utf8.count + 2 * randomByteCount
            && token.prefix(prefix.utf8.count).elementsEqual(prefix.utf8)
            && token.dropFirst(prefix.utf8.count).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// SHA-256 of `token` in lowercase hex: the form PostgreSQL and the credential table keep.
    static func sha256Hex(_ token: some Collection<UInt8>) -> String {
        PurchaseTokenVerifier.hex(sha256(token))
    }

    /// SHA-256 of `bytes` through libcrypto (32 bytes).
    static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        input.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { out in
                _ = EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        return out
    }
}
