import StampedeInventory
import Synchronization

/// The id that ties a request's answer (`X-Request-Id`) to its log lines.
///
/// An incoming `X-Request-Id` is kept when it is a safe token (`[A-Za-z0-9._:-]{1,128}`, the
/// `Idempotency-Key` alphabet), so a caller's or a proxy's id follows the request through; anything
/// else is replaced by a generated id: 8 hex digits random per process, `-`, a 64-bit counter in
/// hex. Generating costs one atomic increment and one small string.
public enum RequestID {
    /// The header that carries it, in both directions.
    public static let header = "X-Request-Id"

    /// 8 random hex digits and `-`, drawn once per process.
    private static let prefix: [UInt8] = {
        var text = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        while text.utf8.count < 8 { text = "0" + text }
        return Array((text + "-").utf8)
    }()
    private static let counter = Atomic<UInt64>(0)
    private static let hexDigits: StaticString = "0123456789abcdef"

    /// The incoming id when valid, else a fresh one.
    public static func resolve(incoming: String?) -> String {
        if let incoming, isValid(incoming) { return incoming }
        return generate()
    }

    /// A new process-unique id.
    public static func generate() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let digitCount = max(1, (UInt64.bitWidth - value.leadingZeroBitCount + 3) / 4)
        // Written in place: up to 15 bytes (the first 16.7 million ids) make a small string, no allocation.
        return String(unsafeUninitializedCapacity: prefix.count + digitCount) { buffer in
            for (index, byte) in prefix.enumerated() { buffer[index] = byte }
            let digits = hexDigits.utf8Start
            var remaining = value
            for index in stride(from: prefix.count + digitCount - 1, through: prefix.count, by: -1) {
                buffer[index] = digits[Int(remaining & 0xF)]
                remaining >>= 4
            }
            return prefix.count + digitCount
        }
    }

    /// Whether `text` is 1–128 characters of `[A-Za-z0-9._:-]`: the `Idempotency-Key` alphabet.
    public static func isValid(_ text: String) -> Bool { Identifier.isValidIdempotencyKey(text) }
}
