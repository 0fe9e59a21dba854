/// A parsed JSON document: what request bodies and the configuration file are read into.
public enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    /// A number; `integer` is set when the literal is an integer that fits in 64 bits.
    case number(Double, integer: Int64?)
    case bool(Bool)
    case null

    /// The member `key` of an object, nil for anything else.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an integer: an integer literal, or a number with no fraction.
    public var integerValue: Int64? {
        if case .number(_, let integer) = self { return integer }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let value, _) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
}
