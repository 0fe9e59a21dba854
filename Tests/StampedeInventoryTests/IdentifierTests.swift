import Testing
@testable import StampedeInventory

@Suite("Identifier")
struct IdentifierTests {
    /// Every character of `[A-Za-z0-9._:-]` is allowed on its own and all together.
    @Test func acceptsTheAllowedCharset() {
        let allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-"
        for character in allowed {
            #expect(Identifier.isValid(String(character)), "\(character)")
        }
        #expect(Identifier.isValid("sku-42"))
        #expect(Identifier.isValid("black-friday:2026.v1_b"))
    }

    /// Every other ASCII byte is refused, so ids are safe inside Redis keys and log lines.
    @Test func rejectsEveryOtherASCIIByte() {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-".utf8)
        for byte in UInt8(0)...UInt8(127) where !allowed.contains(byte) {
            let text = "a" + String(decoding: [byte], as: UTF8.self) + "b"
            #expect(!Identifier.isValid(text), "byte \(byte)")
        }
    }

    /// 64 characters is the longest valid id; 65 is refused.
    @Test func limitsLengthTo64() {
        #expect(Identifier.isValid(String(repeating: "a", count: 64)))
        #expect(!Identifier.isValid(String(repeating: "a", count: 65)))
        #expect(Identifier.maxLength == 64)
    }

    /// The empty string is not an identifier.
    @Test func rejectsEmpty() {
        #expect(!Identifier.isValid(""))
        #expect(!Identifier.isValidIdempotencyKey(""))
    }

    /// Non-ASCII text, `/`, a space and percent-encoding are refused.
    @Test(arguments: ["café", "日本", "a/b", "a b", " ", "a%20b", "é", "sale\n", "a|b", "a\u{0}"])
    func rejectsUnsafeCharacters(text: String) {
        #expect(!Identifier.isValid(text))
    }

    /// An `Idempotency-Key` may be up to 128 characters; a sale id may not.
    @Test func idempotencyKeyAllows128() {
        let key128 = String(repeating: "k", count: 128)
        #expect(Identifier.isValidIdempotencyKey(key128))
        #expect(!Identifier.isValidIdempotencyKey(key128 + "k"))
        #expect(!Identifier.isValid(key128))
        #expect(Identifier.isValidIdempotencyKey("7c9e6679-7425-40de-944b-e07fc1f90ae7"))
        #expect(!Identifier.isValidIdempotencyKey("key with space"))
    }

    /// Substrings are checked like strings.
    @Test func acceptsSubstrings() {
        let path = "/v1/sales/s1"
        #expect(Identifier.isValid(path.split(separator: "/").last!))
        #expect(!Identifier.isValid(path.dropFirst()))
    }
}
