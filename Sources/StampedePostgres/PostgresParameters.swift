import StampedeSystem

/// The text-format parameters of one statement, built in one byte buffer: each value is a
/// NUL-terminated slice of it (a NULL has none), so libpq gets pointers into the buffer and no
/// value is copied into a C string of its own.
///
/// Build a value whole (`append(_:)`, `appendNull()`) or in pieces between `beginValue()` and
/// `endValue()` — an array literal of a group's order ids, for instance, written straight from the
/// orders without a `String` per array. The piecewise methods are `@inlinable`: callers in other
/// modules append byte by byte.
public struct PostgresParameters: Sendable {
    /// The values, each followed by a NUL.
    @usableFromInline var bytes: [UInt8] = []
    /// Where each value starts in `bytes`; -1 for NULL.
    @usableFromInline var starts: [Int] = []

    /// An empty list; `byteCapacity` reserves room for the values' bytes.
    public init(byteCapacity: Int = 0) {
        bytes.reserveCapacity(byteCapacity)
    }

    /// The values of `strings` in order (`nil` is NULL).
    public init(_ strings: [String?]) {
        self.init(byteCapacity: strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
        starts.reserveCapacity(strings.count)
        for string in strings {
            if let string { append(string) } else { appendNull() }
        }
    }

    /// How many values.
    public var count: Int { starts.count }

    /// Appends a NULL value.
    public mutating func appendNull() {
        starts.append(-1)
    }

    /// Appends a whole text value.
    public mutating func append(_ text: String) {
        beginValue()
        appendBytes(of: text)
        endValue()
    }

    /// Starts a value whose bytes follow (`appendByte`, `appendBytes`, `appendDecimal`); close it
    /// with `endValue()` before the next.
    @inlinable
    public mutating func beginValue() {
        starts.append(bytes.count)
    }

    /// Ends the value begun last.
    @inlinable
    public mutating func endValue() {
        bytes.append(0)
    }

    /// Appends one byte to the value being built. It must not be NUL.
    @inlinable
    public mutating func appendByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends the UTF-8 bytes of `text` to the value being built. It must not contain NUL.
    @inlinable
    public mutating func appendBytes(of text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Appends `value` in decimal to the value being built, without a `String`.
    @inlinable
    public mutating func appendDecimal(_ value: Int64) {
        DecimalText.append(value, to: &bytes)
    }

    /// The value at `index` as text; nil for NULL.
    public func value(at index: Int) -> String? {
        let start = starts[index]
        guard start >= 0 else { return nil }
        let end = bytes[start...].firstIndex(of: 0)!
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Calls `body` with a pointer to each value (nil for NULL), valid only during the call.
    func withValuePointers<R>(_ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { text in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(starts.count)
                for start in starts { pointers.append(start < 0 ? nil : UnsafePointer(text.baseAddress! + start)) }
                return body(pointers)
            }
        }
    }
}
