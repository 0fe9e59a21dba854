/// One Redis reply in the RESP2 protocol, decoded into Swift values.
///
/// Bulk strings stay bytes, because Redis values are binary-safe; the accessors decode them on
/// demand. Inside a pipeline an error reply is a value (`.error`) so the other replies survive.
public enum RESPValue: Sendable, Equatable {
    /// A status reply such as `OK` or `PONG`.
    case simpleString(String)
    /// An error reply such as `ERR wrong number of arguments` or `NOSCRIPT …`.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A binary-safe bulk string.
    case bulkString([UInt8])
    /// The nil bulk string or nil array (a missing key, for instance).
    case null
    /// A multi-bulk reply.
    case array([RESPValue])
}

extension RESPValue {
    /// The text of a status or bulk-string reply (bulk bytes decoded as UTF-8); `nil` otherwise.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The bytes of a bulk-string or status reply; `nil` otherwise.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let text): Array(text.utf8)
        default: nil
        }
    }

    /// An integer reply, or a string reply holding a decimal integer (as `GET` of a counter returns).
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        default: string.flatMap { Int64($0) }
        }
    }

    /// The elements of an array reply; `nil` otherwise.
    public var array: [RESPValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    /// A flat `[name, value, name, value, …]` array reply (`HGETALL`, the records of
    /// `CLUSTER SHARDS`) as name/value pairs; an odd last element is dropped, anything else is `[]`.
    public var pairs: [(name: RESPValue, value: RESPValue)] {
        guard let items = array else { return [] }
        return stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    /// `pairs` as a dictionary keyed by the names that are text (a later duplicate wins).
    public var fields: [String: RESPValue] {
        var fields: [String: RESPValue] = [:]
        for (name, value) in pairs {
            if let name = name.string { fields[name] = value }
        }
        return fields
    }

    /// The message of an error reply; `nil` otherwise.
    public var errorMessage: String? {
        if case .error(let message) = self { message } else { nil }
    }

    /// Whether this is the nil reply.
    public var isNull: Bool { self == .null }
}
