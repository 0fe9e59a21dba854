import StampedeInventory
import StampedeJSON

/// The fast path of purchase-body decoding: a single pass over the bytes of the body every
/// storefront sends, `{"user_id":"…","quantity":N}` (either order, any JSON whitespace), with no
/// dictionary, no `JSONValue` and one String.
///
/// It accepts only what it can decide exactly: a user id of identifier characters (no escapes),
/// 1…64 long, and a quantity of 1…18 digits without a leading zero, at least 1. Anything else —
/// another field, an escape, a fraction, a bad id, a syntax error — returns nil and the caller uses
/// the general decoder, so answers (and error messages) are the same as without this scanner.
enum PurchaseBodyScanner {
    static func scan(_ body: [UInt8]) -> (userID: String, quantity: Int64)? {
        body.withUnsafeBufferPointer { bytes -> (userID: String, quantity: Int64)? in
            var cursor = Cursor(bytes: bytes)
            guard cursor.skipSpace(), cursor.take(UInt8(ascii: "{")) else { return nil }
            var userID: String?
            var quantity: Int64?
            for index in 0..<2 {
                if index == 1 { guard cursor.skipSpace(), cursor.take(UInt8(ascii: ",")) else { return nil } }
                guard cursor.skipSpace(), let key = cursor.key(), cursor.skipSpace(), cursor.take(UInt8(ascii: ":")),
                      cursor.skipSpace() else { return nil }
                switch key {
                case .userID where userID == nil: userID = cursor.identifierString()
                case .quantity where quantity == nil: quantity = cursor.positiveInteger()
                default: return nil
                }
                if userID == nil && quantity == nil { return nil }
            }
            guard let userID, let quantity, cursor.skipSpace(), cursor.take(UInt8(ascii: "}")),
                  cursor.skipSpace(), cursor.atEnd else { return nil }
            return (userID, quantity)
        }
    }

    private enum Key { case userID, quantity }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var atEnd: Bool { index == bytes.count }

        /// Skips JSON whitespace; always true (for chaining in guards).
        mutating func skipSpace() -> Bool {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return true
                }
            }
            return true
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// `"user_id"` or `"quantity"`, nothing else.
        mutating func key() -> Key? {
            if matches("\"user_id\"") { return .userID }
            if matches("\"quantity\"") { return .quantity }
            return nil
        }

        private mutating func matches(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            let start = literal.utf8Start
            for offset in 0..<count where bytes[index + offset] != start[offset] { return false }
            index += count
            return true
        }

        /// A string of 1…64 identifier characters, closed by its quote.
        mutating func identifierString() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count, Identifier.isAllowed(bytes[index]) { index += 1 }
            let length = index - start
            guard (1...Identifier.maxLength).contains(length), take(UInt8(ascii: "\"")) else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
        }

        /// 1…18 digits, no leading zero, not followed by a fraction or exponent; at least 1.
        mutating func positiveInteger() -> Int64? {
            let start = index
            var value: Int64 = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if index - start == 18 { return nil }  // 19 digits may not fit an Int64
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > start, bytes[start] != UInt8(ascii: "0") else { return nil }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            return value
        }
    }
}
