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
        #expect(PurchaseTokenVerifier.hex(AdminToken.sha256("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(PurchaseTokenVerifier.hex(AdminToken.sha256("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// The table finds a principal by token hash; storing a rotation drops the name's old hash;
    /// removing drops it; a refresh read before a local change is not applied.
    @Test func credentialTable() {
        let table = AdminCredentialTable()
        let old = AdminToken.sha256("old".utf8), new = AdminToken.sha256("new".utf8)
        let generation = table.generation
        #expect(table.replace([(old, "ci", .viewer)], readAt: generation))
        #expect(table.principal(forTokenSHA256: old) == AdminPrincipal(name: "ci", role: .viewer))
        let staleRead = table.generation
        table.store(AdminPrincipal(name: "ci", role: .admin), tokenSHA256: new)
        #expect(table.principal(forTokenSHA256: old) == nil)
        #expect(table.principal(forTokenSHA256: new)?.role == .admin)
        #expect(!table.replace([(old, "ci", .viewer)], readAt: staleRead))
        #expect(table.principal(forTokenSHA256: old) == nil)
        table.remove(name: "ci")
        #expect(table.principal(forTokenSHA256: new) == nil)
        #expect(table.count == 0)
    }
}
