import StampedeInventory
import Testing
@testable import StampedeService

@Suite("AdminToken")
struct AdminTokenTests {
    /// A new token is `stk_` and 64 lowercase hex digits (32 random bytes), well formed, and two
    /// tokens differ.
    @Test func generatedTokensAreWellFormedAndDistinct() throws {
        let first = try AdminToken.generate()
        let second = try AdminToken.generate()
        #expect(first.hasPrefix("stk_"))
        #expect(first.utf8.count == 4 + 64)
        #expect(AdminToken.isWellFormed(first.utf8))
        #expect(first != second)
    }

    /// Anything else is refused before hashing: wrong prefix, length or digits.
    @Test(arguments: ["", "stk_", "test-admin-token", "stk_" + String(repeating: "A", count: 64),
                      "stk_" + String(repeating: "a", count: 63), "stk_" + String(repeating: "a", count: 65),
                      "stq_" + String(repeating: "a", count: 64)])
    func malformedTokens(token: String) {
        #expect(!AdminToken.isWellFormed(token.utf8))
    }

    /// SHA-256 through libcrypto matches the published test vectors.
    @Test func sha256Vectors() {
        #expect(AdminToken.sha256Hex("".utf8) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(AdminToken.sha256Hex("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
