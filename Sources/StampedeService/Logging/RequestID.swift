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

    private static let prefix: String = {
        var text = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        while text.utf8.count < 8 { text = "0" + text }
        return text + "-"
    }()
    private static let counter = Atomic<UInt64>(0)

    /// The incoming id when valid, else a fresh one.
    public static func resolve(incoming: String?) -> String {
        if let incoming, isValid(incoming) { return incoming }
        return generate()
    }

    /// A new process-unique id.
    public static func generate() -> String {
        prefix + String(counter.wrappingAdd(1, ordering: .relaxed).newValue, radix: 16)
    }

    /// Whether `text` is 1–128 characters of `[A-Za-z0-9._:-]`: the `Idempotency-Key` alphabet.
    public static func isValid(_ text: String) -> Bool { Identifier.isValidIdempotencyKey(text) }
}
