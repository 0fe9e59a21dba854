import StampedeJSON
import Testing
@testable import StampedeService

@Suite("ConfigurationAudit")
struct ConfigurationAuditTests {
    /// The audit entry of a reload holds the named keys' values before and after, secrets as
    /// `[redacted]`, and no other key.
    @Test func valuesOfAppliedKeysWithSecretsRedacted() throws {
        var before = StampedeConfiguration()
        before.adminToken = "old-admin-token-value"
        before.purchaseTokenSecret = "old-secret-0123456789"
        before.shardBatchSize = 64
        var after = before
        after.adminToken = "new-admin-token-value"
        after.purchaseTokenSecret = "new-secret-0123456789"
        after.shardBatchSize = 9
        after.pinnedSales = ["hot-1", "hot-2"]
        let values = ConfigurationAudit.values(of: ["admin_token", "purchase_tokens.secret", "shards.batch_size", "shards.pinned"],
                                               before: before, after: after)
        let old = try JSONParser.parse(Array(values.before.utf8))
        let new = try JSONParser.parse(Array(values.after.utf8))
        #expect(old["admin_token"]?.stringValue == "[redacted]")
        #expect(new["purchase_tokens.secret"]?.stringValue == "[redacted]")
        #expect(old["shards.batch_size"]?.stringValue == "64")
        #expect(new["shards.batch_size"]?.stringValue == "9")
        #expect(old["shards.pinned"]?.stringValue == "")
        #expect(new["shards.pinned"]?.stringValue == "hot-1,hot-2")
        #expect(new["shards.count"] == nil)
        for text in [values.before, values.after] {
            #expect(!text.contains("admin-token-value") && !text.contains("secret-0123456789"))
        }
    }
}
