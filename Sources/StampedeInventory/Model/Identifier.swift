/// Validation of the identifiers the API accepts (`sale_id`, `sku`, `user_id`, order ids and
/// `Idempotency-Key`).
///
/// The contract allows `[A-Za-z0-9._:-]` only, so identifiers can be used verbatim inside Redis
/// keys and log lines without escaping.
public enum Identifier {
    /// The longest `sale_id`, `sku` or `user_id`.
    public static let maxLength = 64
    /// The longest `Idempotency-Key`.
    public static let maxIdempotencyKeyLength = 128

    /// Whether `value` is 1…`maxLength` characters of `[A-Za-z0-9._:-]`. Inlinable, so that every
    /// caller gets a version specialised for its String or Substring: called from another module
    /// unspecialised, this loop through witness tables cost 7 % of a sold-out answer's CPU.
    @inlinable
    public static func isValid(_ value: some StringProtocol, maxLength: Int = Identifier.maxLength) -> Bool {
        var count = 0
        for byte in value.utf8 {
            count += 1
            if count > maxLength || !isAllowed(byte) { return false }
        }
        return count > 0
    }

    /// Whether the UTF-8 `bytes` are 1…`maxLength` characters of `[A-Za-z0-9._:-]`.
    @inlinable
    public static func isValid(bytes: UnsafeBufferPointer<UInt8>, maxLength: Int = Identifier.maxLength) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        for byte in bytes where !isAllowed(byte) { return false }
        return true
    }

    /// Whether `value` is a well-formed `Idempotency-Key`.
    @inlinable
    public static func isValidIdempotencyKey(_ value: some StringProtocol) -> Bool {
        isValid(value, maxLength: maxIdempotencyKeyLength)
    }

    /// Whether `byte` is one of `[A-Za-z0-9._:-]`.
    @inlinable @inline(__always)
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
