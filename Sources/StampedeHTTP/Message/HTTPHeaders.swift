import Glibc

/// The header fields of a request, in the order they were received.
///
/// A parsed request keeps its header lines as one copy of the bytes received, checked by the
/// parser: a lookup scans them and makes a `String` only for the field it returns, so the fields
/// nobody asks for (most of them) cost no allocation. Fields added in code follow the received
/// ones. Requests carry a handful of fields, so a linear case-insensitive scan beats hashing them,
/// and repeated fields keep their order.
public struct HTTPHeaders: Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One header field: its name as sent and its value with surrounding whitespace removed.
    public typealias Element = (name: String, value: String)

    /// The received header lines, each `name ":" OWS value OWS CRLF`, validated by the parser.
    private var received: [UInt8]
    /// How many lines `received` holds.
    private var receivedCount: Int
    /// Fields added in code, after the received ones.
    private var added: [Element]

    /// Creates headers from name/value pairs, keeping their order.
    public init(_ fields: [Element] = []) {
        self.received = []
        self.receivedCount = 0
        self.added = fields
    }

    /// Creates headers from a literal such as `["Content-Type": "application/json"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { (name: $0.0, value: $0.1) })
    }

    /// Headers over `count` validated header lines, each ending with CRLF.
    init(receivedLines: UnsafeBufferPointer<UInt8>, count: Int) {
        self.received = Array(receivedLines)
        self.receivedCount = count
        self.added = []
    }

    /// The position of the first field.
    public var startIndex: Int { 0 }

    /// The position one past the last field.
    public var endIndex: Int { receivedCount + added.count }

    /// The field at `position`; a received field is found by scanning the lines before it.
    public subscript(position: Int) -> Element {
        if position >= receivedCount { return added[position - receivedCount] }
        var result: Element = ("", "")
        var index = 0
        forEachReceived { name, value in
            defer { index += 1 }
            guard index == position else { return true }
            result = (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
            return false
        }
        return result
    }

    /// The value of the first field named `name`, compared case-insensitively, or `nil`.
    public subscript(name: String) -> String? {
        var found: String?
        var wanted = name
        wanted.withUTF8 { wantedBytes in
            forEachReceived { fieldName, value in
                guard ASCII.caseInsensitiveEquals(fieldName, wantedBytes) else { return true }
                found = String(decoding: value, as: UTF8.self)
                return false
            }
        }
        if let found { return found }
        for field in added where ASCII.caseInsensitiveEquals(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every field named `name` (case-insensitive), in the order received.
    public func values(_ name: String) -> [String] {
        filter { ASCII.caseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    /// Appends a field, keeping any existing field of the same name.
    public mutating func add(name: String, value: String) {
        added.append((name: name, value: value))
    }

    /// Calls `body` with the name and trimmed value of each received line until it returns false.
    private func forEachReceived(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) {
        guard receivedCount > 0 else { return }
        received.withUnsafeBufferPointer { bytes in
            let base = bytes.baseAddress!
            var lineStart = 0
            while lineStart < bytes.count {
                // Every line has a colon and ends with CRLF, and a value holds no CR: the parser
                // checked all three.
                let remaining = bytes.count - lineStart
                let colon = UnsafeRawPointer(memchr(base + lineStart, Int32(ASCII.colon), remaining)!)
                    .assumingMemoryBound(to: UInt8.self) - base
                let lineEnd = UnsafeRawPointer(memchr(base + colon, Int32(ASCII.cr), bytes.count - colon)!)
                    .assumingMemoryBound(to: UInt8.self) - base
                let name = UnsafeBufferPointer(rebasing: bytes[lineStart..<colon])
                let value = ASCII.trimmingWhitespace(UnsafeBufferPointer(rebasing: bytes[(colon + 1)..<lineEnd]))
                guard body(name, value) else { return }
                lineStart = lineEnd + 2
            }
        }
    }
}
