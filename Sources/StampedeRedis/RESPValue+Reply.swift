import CHiredis

extension RESPValue {
    /// Copies a hiredis reply tree into Swift values; the caller still frees `reply`.
    init(reply: UnsafePointer<redisReply>) throws(RedisError) {
        let reply = reply.pointee
        let text = { UnsafeRawBufferPointer(start: reply.str, count: reply.len) }
        switch reply.type {
        case REDIS_REPLY_STRING:
            self = .bulkString(Array(text()))
        case REDIS_REPLY_STATUS:
            self = .simpleString(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(reply.integer)
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                guard let element = reply.element[index] else {
                    throw .protocolViolation("array reply has a missing element at index \(index)")
                }
                elements.append(try RESPValue(reply: element))
            }
            self = .array(elements)
        default:
            throw .protocolViolation("unknown hiredis reply type \(reply.type)")
        }
    }
}
