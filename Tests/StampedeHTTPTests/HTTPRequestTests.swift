import Testing
@testable import StampedeHTTP

@Suite("HTTPRequest")
struct HTTPRequestTests {
    /// The target splits at the first `?` into path and query, which put back together are the target.
    @Test(arguments: ["/v1/sales/s1", "/v1/sales/s1?", "/v1/sales/s1?a=1?b", "/?x", "?"])
    func splitsPathAndQuery(_ target: String) {
        let request = HTTPRequest(method: .get, target: target)
        #expect(request.path + (request.query.map { "?" + $0 } ?? "") == target)
        #expect(!request.path.contains("?"))
    }

    /// A combining mark right after the `?` stays in the query (a fuzzing find: splitting by
    /// `Character` joined `?` and the mark into one grapheme and dropped the mark).
    @Test func keepsCombiningMarkAfterQuestionMark() {
        let request = HTTPRequest(method: .get, target: "/a?\u{351}b")
        #expect(request.path == "/a")
        #expect(request.query == "\u{351}b")
    }
}
