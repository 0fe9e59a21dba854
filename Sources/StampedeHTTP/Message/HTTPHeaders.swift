/// The header fields of a request, in the order they were received.
///
/// A small array of name/value pairs rather than a dictionary: requests carry a handful of fields,
/// a linear case-insensitive scan beats hashing them, and repeated fields keep their order.
public struct HTTPHeaders: Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One header field: its name as sent and its value with surrounding whitespace removed.
    public typealias Element = (name: String, value: String)

    private var fields: [Element]

    /// Creates headers from name/value pairs, keeping their order.
    public init(_ fields: [Element] = []) {
        self.fields = fields
    }

    /// Creates headers from a literal such as `["Content-Type": "application/json"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The position of the first field.
    public var startIndex: Int { fields.startIndex }

    /// The position one past the last field.
    public var endIndex: Int { fields.endIndex }

    /// The field at `position`.
    public subscript(position: Int) -> Element { fields[position] }

    /// The value of the first field named `name`, compared case-insensitively, or `nil`.
    public subscript(name: String) -> String? {
        for field in fields where ASCII.caseInsensitiveEquals(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every field named `name` (case-insensitive), in the order received.
    public func values(_ name: String) -> [String] {
        fields.filter { ASCII.caseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    /// Appends a field, keeping any existing field of the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }
}
