import COpenSSL

/// Purchase tokens: the storefront's signed permission for one user to buy in one sale until a
/// time, checked before a purchase reaches the shard (and so Redis).
///
/// Wire form, in the `Purchase-Token` header:
///
///     v1.<expiry>.<signature>
///
/// `expiry` is the end of validity in Unix seconds (decimal); `signature` is the lowercase hex of
/// `HMAC-SHA256(secret, "v1|<sale_id>|<user_id>|<expiry>")`. Identifiers cannot contain `|`, so
/// the signed message is unambiguous, and a token for one user or sale verifies for no other.
public struct PurchaseTokenVerifier: Sendable {
    /// Why a token was refused; every case is answered `403 invalid_token`.
    public enum Rejection: String, Error, Sendable, Equatable {
        case missing, malformed, expired
        /// The expiry lies further ahead than `maxLifetimeSeconds`.
        case tooLongLived = "too_long_lived"
        /// No accepted secret produces this signature for this sale, user and expiry.
        case forged
    }

    /// The header carrying the token.
    public static let header = "Purchase-Token"

    private let secrets: [[UInt8]]
    private let maxLifetimeSeconds: Int64

    /// Accepts tokens signed with any of `secrets` (empty ones are ignored): the current secret
    /// and, during a rotation, the previous one.
    public init(secrets: [String], maxLifetimeSeconds: Int64) {
        self.secrets = secrets.filter { !$0.isEmpty }.map { Array($0.utf8) }
        self.maxLifetimeSeconds = maxLifetimeSeconds
    }

    /// Whether any secret is configured; without one every token-protected purchase is refused.
    public var hasSecret: Bool { !secrets.isEmpty }

    /// Nil when `token` lets `userID` buy in `saleID` at `now` (Unix seconds), else why not.
    ///
    /// The signature is compared with `CRYPTO_memcmp` against every secret, so the time taken
    /// does not depend on how much of a forged signature was right.
    public func verify(_ token: String?, saleID: String, userID: String, now: Int64) -> Rejection? {
        guard let token else { return .missing }
        guard let parsed = Self.parse(token) else { return .malformed }
        if parsed.expiry <= now { return .expired }
        if parsed.expiry - now > maxLifetimeSeconds { return .tooLongLived }
        let message = Self.message(saleID: saleID, userID: userID, expiry: parsed.expiry)
        var matched: Int32 = 0
        for secret in secrets {
            let expected = Self.hmacSHA256(key: secret, message: message)
            let equal = expected.withUnsafeBytes { want in
                parsed.signature.withUnsafeBytes { got in CRYPTO_memcmp(want.baseAddress, got.baseAddress, 32) == 0 }
            }
            matched |= equal ? 1 : 0
        }
        return matched == 1 ? nil : .forged
    }

    /// A token for `userID` in `saleID` valid until `expiry` (Unix seconds), signed with `secret`
    /// — what a storefront computes; used by tests and tools.
    public static func sign(secret: String, saleID: String, userID: String, expiry: Int64) -> String {
        let mac = hmacSHA256(key: Array(secret.utf8), message: message(saleID: saleID, userID: userID, expiry: expiry))
        return "v1.\(expiry)." + hex(mac)
    }

    /// The signed text: `v1|<sale_id>|<user_id>|<expiry>`.
    static func message(saleID: String, userID: String, expiry: Int64) -> [UInt8] {
        Array("v1|\(saleID)|\(userID)|\(expiry)".utf8)
    }

    /// Splits `v1.<expiry>.<64 hex digits>`; nil for anything else.
    static func parse(_ token: String) -> (expiry: Int64, signature: [UInt8])? {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].elementsEqual("v1".utf8) else { return nil }
        let digits = parts[1]
        guard (1...12).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
              let expiry = Int64(String(decoding: digits, as: UTF8.self)) else { return nil }
        let text = Array(parts[2])
        guard text.count == 64 else { return nil }
        var signature = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = nibble(text[2 * index]), let low = nibble(text[2 * index + 1]) else { return nil }
            signature[index] = high << 4 | low
        }
        return (expiry, signature)
    }

    /// The value of one hex digit (either case), or nil.
    static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// HMAC-SHA256 through libcrypto.
    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        key.withUnsafeBytes { key in
            message.withUnsafeBytes { message in
                out.withUnsafeMutableBufferPointer { out in
                    _ = HMAC(EVP_sha256(), key.baseAddress, Int32(key.count),
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                             out.baseAddress, &length)
                }
            }
        }
        return out
    }
}
