import Testing
@testable import StampedeService

/// The answers encoded once ahead of time are byte for byte the ones built per request.
@Suite("APIResponse")
struct APIResponseTests {
    @Test(arguments: [Int64(1), 2, 16, 17, 1_000])
    func soldOutMatchesTheBuiltAnswer(quantity: Int64) {
        let ready = APIResponse.soldOut(quantity: quantity)
        let built = APIResponse.error(409, "sold_out", "not enough stock left for quantity \(quantity)")
        #expect(ready.status == 409 && ready.body == built.body)
        #expect(ready.headers.map(\.name) == built.headers.map(\.name))
    }

    @Test func overloadedCarriesRetryAfter() {
        let shed = APIResponse.overloaded(retryAfter: 3)
        #expect(shed.status == 503)
        #expect(shed.headers.contains { $0.name == "Retry-After" && $0.value == "3" })
        #expect(String(decoding: shed.body, as: UTF8.self).hasPrefix(#"{"error":"overloaded","message":"#))
    }
}
