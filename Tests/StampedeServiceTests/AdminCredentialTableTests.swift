import StampedeInventory
import Testing
@testable import StampedeService

@Suite("AdminCredentialTable")
struct AdminCredentialTableTests {
    /// The table finds a principal by token hash; storing a rotation drops the name's old hash;
    /// removing drops it; a refresh read before a local change is not applied.
    @Test func lookupRotationRevocationAndStaleRefresh() {
        let table = AdminCredentialTable()
        let old = AdminToken.sha256Hex("old".utf8), new = AdminToken.sha256Hex("new".utf8)
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
