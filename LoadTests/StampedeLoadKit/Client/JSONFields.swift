/// Reads single top-level fields out of Stampede's small JSON answers without building a tree.
///
/// The load loop needs only an order's id, quantity or an error code from each answer; a full
/// parser per response would cost more than the request. Keys are matched as `"key"` followed by
/// `:`; values are plain strings (no escapes, as every identifier is `[A-Za-z0-9._:-]`) or integers.
public enum JSONFields {
    /// The string value of the first `"key": "value"`.
    public static func string(_ key: String, in body: [UInt8]) -> String? {
        guard var index = valueStart(key, in: body), index < body.count, body[index] == 34 else { return nil }
        index += 1
        let begin = index
        while index < body.count, body[index] != 34 {
            if body[index] == 92 { return nil }
            index += 1
        }
        guard index < body.count else { return nil }
        return String(decoding: body[begin..<index], as: UTF8.self)
    }

    /// The integer value of the first `"key": 123`.
    public static func integer(_ key: String, in body: [UInt8]) -> Int? {
        guard var index = valueStart(key, in: body) else { return nil }
        var negative = false
        if index < body.count, body[index] == 45 { negative = true; index += 1 }
        var value = 0
        var digits = 0
        while index < body.count, (48...57).contains(body[index]) {
            value = value * 10 + Int(body[index] - 48)
            index += 1
            digits += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    /// Index of the first byte of the value after `"key"` and its colon.
    private static func valueStart(_ key: String, in body: [UInt8]) -> Int? {
        let needle = Array("\"\(key)\"".utf8)
        guard body.count >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= body.count {
            if body[index] == 34, body[index..<(index + needle.count)].elementsEqual(needle) {
                var cursor = index + needle.count
                while cursor < body.count, body[cursor] == 32 || body[cursor] == 10 || body[cursor] == 9 || body[cursor] == 13 { cursor += 1 }
                if cursor < body.count, body[cursor] == 58 {
                    cursor += 1
                    while cursor < body.count, body[cursor] == 32 || body[cursor] == 10 || body[cursor] == 9 || body[cursor] == 13 { cursor += 1 }
                    return cursor
                }
            }
            index += 1
        }
        return nil
    }
}
