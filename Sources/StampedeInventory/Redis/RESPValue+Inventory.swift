import StampedeRedis

extension RESPValue {
    /// The value as an integer, whether Redis sent an integer or a numeric string.
    var asInt64: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString(let bytes): return Int64(String(decoding: bytes, as: UTF8.self))
        case .simpleString(let text): return Int64(text)
        default: return nil
        }
    }

    /// The value as text (bulk or simple string).
    var asText: String? {
        switch self {
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .simpleString(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The elements of an array reply.
    var asArray: [RESPValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// Throws when the reply is a Redis error.
    func orThrow() throws(InventoryError) -> RESPValue {
        if case .error(let message) = self { throw .unavailable("redis: " + message) }
        return self
    }
}
