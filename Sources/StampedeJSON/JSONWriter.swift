import StampedeSystem

/// Builds a JSON object into a byte buffer, without Foundation or intermediate strings.
///
/// Used for every response body; keys are written in the order given, so answers are stable.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"name":` inside an object; the value follows.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    /// Writes `"name":` for a name known at compile time (no escaping scan); the value follows.
    public mutating func key(static name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    public mutating func string(_ value: String) { separate(); appendString(value) }
    /// Writes a string given as UTF-8 bytes (escaped like any string).
    public mutating func string(utf8 value: UnsafeBufferPointer<UInt8>) { separate(); appendUTF8(value) }
    public mutating func int(_ value: Int64) { separate(); composedInt(value) }
    public mutating func int(_ value: Int) { int(Int64(value)) }
    public mutating func double(_ value: Double) {
        separate()
        bytes.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
    }
    public mutating func bool(_ value: Bool) { separate(); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }

    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    public mutating func field(_ name: String, _ value: Int64) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Int) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }
    public mutating func field(_ name: String, _ value: Double) { key(name); double(value) }

    // MARK: Values composed by the caller
    //
    // For a shape written on every answer (an order), the caller writes the punctuation and the
    // names as literals between values: no nesting stack, no per-field separator logic. Begin
    // with `beginComposedValue()` (the comma before it, inside an array or object), then `literal`
    // and the `composed…` values, which are escaped exactly as `string` and `int` escape them.

    /// Starts a value the caller composes; writes the separator it needs.
    public mutating func beginComposedValue() { separate() }
    /// Appends `text` as it is: JSON punctuation and names the caller knows to be valid.
    public mutating func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
    /// A quoted, escaped string inside a composed value.
    public mutating func composedString(_ value: String) { appendString(value) }
    /// A quoted, escaped string, given as UTF-8, inside a composed value.
    public mutating func composedString(utf8 value: UnsafeBufferPointer<UInt8>) { appendUTF8(value) }
    /// Bytes `write` appends as they are, inside a composed value: text known to need no escaping
    /// (digits, times), between literal quotes when it is a string.
    public mutating func composedRaw(_ write: (inout [UInt8]) -> Void) { write(&bytes) }
    /// An integer inside a composed value.
    public mutating func composedInt(_ value: Int64) { DecimalText.append(value, to: &bytes) }

    private mutating func separate() {
        guard let last = needsComma.last else { return }
        if last { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendString(_ value: String) {
        // Ids, codes and times never need escaping: scan the string's own UTF-8 storage and copy it
        // in one go; the byte-by-byte walk, through the generic `UTF8View`, is for the rest.
        if value.utf8.withContiguousStorageIfAvailable({ appendUTF8($0) }) != nil { return }
        bytes.append(UInt8(ascii: "\""))
        appendEscaped(value.utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendUTF8(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        if utf8.contains(where: Self.needsEscape) {
            appendEscaped(utf8)
        } else {
            bytes.append(contentsOf: utf8)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ utf8: some Sequence<UInt8>) {
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(0x5C); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(0x5C); bytes.append(byte)
            case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}
