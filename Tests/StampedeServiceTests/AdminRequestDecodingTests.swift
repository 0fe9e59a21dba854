import StampedeInventory
import Testing
@testable import StampedeService

@Suite("AdminRequestDecoding")
struct AdminRequestDecodingTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The role of a credential is `admin` or `viewer`; anything else is `invalid_body`.
    @Test func credentialRole() throws {
        #expect(try RequestDecoding.credentialRole(Self.bytes(#"{"role": "viewer"}"#)) == .viewer)
        #expect(try RequestDecoding.credentialRole(Self.bytes(#"{"role": "admin", "note": 1}"#)) == .admin)
        for body in ["", "[]", "{}", #"{"role": "root"}"#, #"{"role": 1}"#, #"{"role": "Admin"}"#, "{"] {
            #expect(throws: RequestRejection.self, "\(body)") { try RequestDecoding.credentialRole(Self.bytes(body)) }
            do {
                _ = try RequestDecoding.credentialRole(Self.bytes(body))
            } catch {
                #expect(error.code == "invalid_body")
            }
        }
    }

    /// No query is the defaults; each parameter is read, percent-decoded, unknown ones ignored.
    @Test func auditQuery() throws {
        #expect(try RequestDecoding.auditQuery(nil) == AuditQuery(limit: 100))
        #expect(try RequestDecoding.auditQuery("") == AuditQuery(limit: 100))
        let query = try RequestDecoding.auditQuery("limit=2&since=2026-12-06T21%3A00%3A00%2B01%3A00&before=42&x=y")
        #expect(query.limit == 2)
        #expect(query.since == Timestamp(rfc3339: "2026-12-06T20:00:00Z"))
        #expect(query.before == 42)
        #expect(try RequestDecoding.auditQuery("limit=500").limit == 500)
        #expect(try RequestDecoding.auditQuery("before=123456789012345678").before == 123_456_789_012_345_678)
        #expect(try RequestDecoding.auditQuery("since=2026-12-06T20:00:00.123Z").since?.milliseconds == Timestamp(rfc3339: "2026-12-06T20:00:00Z")!.milliseconds + 123)
    }

    /// Out-of-range or malformed values are `400 invalid_query`.
    @Test(arguments: ["limit=0", "limit=501", "limit=", "limit=ten", "limit=-1", "since=yesterday", "since=",
                      "before=0", "before=-3", "before=abc", "before=", "before=99999999999999999999", "since=%zz",
                      "limit=+5", "limit=05", "before=07", "before=1234567890123456789"])
    func badAuditQueries(query: String) {
        do {
            _ = try RequestDecoding.auditQuery(query)
            Issue.record("\(query) was accepted")
        } catch {
            #expect(error.status == 400)
            #expect(error.code == "invalid_query")
        }
    }

    /// The audit answer always shows milliseconds.
    @Test func auditTimesHaveMilliseconds() {
        let whole = Timestamp(rfc3339: "2026-12-06T20:00:00Z")!
        #expect(whole.rfc3339Milliseconds == "2026-12-06T20:00:00.000Z")
        #expect(Timestamp(milliseconds: whole.milliseconds + 7).rfc3339Milliseconds == "2026-12-06T20:00:00.007Z")
    }
}
