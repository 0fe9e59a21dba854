import StampedeRedis
import Testing
@testable import StampedeInventory

@Suite("PurchaseDecision")
struct PurchaseDecisionTests {
    static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    static let header: RESPValue = .array([bulk("sku-42"), .integer(999), .integer(2)])

    static func request(_ n: Int, user: String = "u-1", idem: String? = nil) -> PurchaseRequest {
        PurchaseRequest(saleID: "s1", userID: user, quantity: 1, idempotencyKey: idem, orderID: "o-\(n)")
    }

    static func item(_ code: Int64, _ orderID: String, created: Int64 = 0, expires: Int64 = 0, record: String = "") -> RESPValue {
        .array([.integer(code), bulk(orderID), .integer(created), .integer(expires), bulk(record)])
    }

    // MARK: PendingRecord

    /// A full outbox record parses into its fields.
    @Test func parsesRecord() throws {
        let record = try #require(PendingRecord("u-1|2|1795262400000|1795263300000|key-1"))
        #expect(record.userID == "u-1")
        #expect(record.quantity == 2)
        #expect(record.createdAt == Timestamp(milliseconds: 1_795_262_400_000))
        #expect(record.expiresAt == Timestamp(milliseconds: 1_795_263_300_000))
        #expect(record.idempotencyKey == "key-1")
    }

    /// An empty idempotency field means no key.
    @Test func parsesRecordWithoutKey() {
        #expect(PendingRecord("u-1|1|10|20|")?.idempotencyKey == nil)
        #expect(PendingRecord("u-1|1|10|20|")?.quantity == 1)
    }

    /// Anything that is not exactly five fields with numeric middle fields and a user is refused.
    @Test(arguments: ["", "u-1|1|10|20", "u-1|1|10|20|k|extra", "|1|10|20|k", "u-1|x|10|20|k",
                      "u-1|1|ten|20|k", "u-1|1|10||k", "u-1|1.5|10|20|k", "u-1 1 10 20 k"])
    func rejectsInvalidRecords(text: String) {
        #expect(PendingRecord(text) == nil)
    }

    /// A record becomes a reserved order carrying the sale's sku and price.
    @Test func recordBecomesOrder() throws {
        let record = try #require(PendingRecord("u-1|2|1000|2000|k"))
        let order = record.order(orderID: "o-1", saleID: "s1", sku: "sku-42", priceCents: 999)
        #expect(order == Order(orderID: "o-1", saleID: "s1", sku: "sku-42", userID: "u-1", quantity: 2, priceCents: 999,
                               status: .reserved, createdAt: Timestamp(milliseconds: 1000),
                               expiresAt: Timestamp(milliseconds: 2000), idempotencyKey: "k"))
    }

    // MARK: decode

    /// Every result code maps to its decision, in request order.
    @Test func decodesEveryCode() throws {
        let requests = (0..<8).map { Self.request($0) }
        let reply: RESPValue = .array([
            Self.header,
            Self.item(0, "o-0", created: 1000, expires: 901_000, record: "u-1|1|1000|901000|"),
            Self.item(1, "o-earlier", record: "u-1|1|500|900500|k"),
            Self.item(2, "o-2"),
            Self.item(3, "o-3"),
            Self.item(4, "o-4"),
            Self.item(5, "o-5"),
            Self.item(6, "o-6"),
            Self.item(7, "o-7"),
        ])
        let decisions = try PurchaseDecision.decode(reply, for: requests)
        let reserved = Order(orderID: "o-0", saleID: "s1", sku: "sku-42", userID: "u-1", quantity: 1, priceCents: 999,
                             status: .reserved, createdAt: Timestamp(milliseconds: 1000),
                             expiresAt: Timestamp(milliseconds: 901_000))
        let pending = Order(orderID: "o-earlier", saleID: "s1", sku: "sku-42", userID: "u-1", quantity: 1, priceCents: 999,
                            status: .reserved, createdAt: Timestamp(milliseconds: 500),
                            expiresAt: Timestamp(milliseconds: 900_500), idempotencyKey: "k")
        #expect(decisions == [
            .reserved(reserved),
            .duplicate(orderID: "o-earlier", pending: pending),
            .rejected(.soldOut),
            .rejected(.limitExceeded),
            .rejected(.notStarted),
            .rejected(.ended),
            .rejected(.unknownSale),
            .rejected(.invalidQuantity(limit: 2)),
        ])
    }

    /// A duplicate whose order was already committed (empty record) has no pending order.
    @Test func duplicateWithoutPendingRecord() throws {
        let reply: RESPValue = .array([Self.header, Self.item(1, "o-first")])
        let decisions = try PurchaseDecision.decode(reply, for: [Self.request(9, idem: "k")])
        #expect(decisions == [.duplicate(orderID: "o-first", pending: nil)])
    }

    /// The unknown-sale reply shape of the script (`{'', 0, 0}` header) decodes to `unknownSale`.
    @Test func decodesUnknownSaleReply() throws {
        let reply: RESPValue = .array([
            .array([Self.bulk(""), .integer(0), .integer(0)]),
            Self.item(6, "o-0"), Self.item(6, "o-1"),
        ])
        let decisions = try PurchaseDecision.decode(reply, for: [Self.request(0), Self.request(1)])
        #expect(decisions == [.rejected(.unknownSale), .rejected(.unknownSale)])
    }

    /// Integers sent as strings (as Redis may convert Lua values) are accepted.
    @Test func acceptsStringIntegers() throws {
        let reply: RESPValue = .array([
            .array([Self.bulk("sku-42"), Self.bulk("999"), Self.bulk("3")]),
            .array([Self.bulk("7"), Self.bulk("o-0"), .integer(0), .integer(0), Self.bulk("")]),
        ])
        #expect(try PurchaseDecision.decode(reply, for: [Self.request(0)]) == [.rejected(.invalidQuantity(limit: 3))])
    }

    /// Malformed replies are `unavailable`, never a guess.
    @Test(arguments: [
        RESPValue.error("ERR script failed"),
        .null,
        .integer(1),
        .array([]),
        .array([header]),                                                       // too few results
        .array([header, item(2, "o-0"), item(2, "o-1")]),                       // too many results
        .array([.array([bulk("sku"), .integer(1)]), item(2, "o-0")]),            // short header
        .array([bulk("header"), item(2, "o-0")]),                                // header not an array
        .array([header, .array([.integer(2), bulk("o-0")])]),                    // short result
        .array([header, item(99, "o-0")]),                                       // unknown code
        .array([header, .array([bulk("x"), bulk("o-0"), .integer(0), .integer(0), bulk("")])]), // code not a number
        .array([header, .array([.integer(2), .null, .integer(0), .integer(0), bulk("")])]),    // no order id
        .array([header, item(0, "o-0")]),                                        // reserved without record
        .array([header, item(0, "o-0", record: "garbage")]),                     // reserved with a bad record
    ])
    func malformedReplyIsUnavailable(reply: RESPValue) {
        #expect(throws: InventoryError.self) { try PurchaseDecision.decode(reply, for: [Self.request(0)]) }
        do {
            _ = try PurchaseDecision.decode(reply, for: [Self.request(0)])
        } catch {
            guard case .unavailable = error else {
                Issue.record("expected .unavailable, got \(error)")
                return
            }
        }
    }

    /// A Redis error reply's message is kept in the `unavailable` error.
    @Test func errorReplyKeepsMessage() {
        #expect(throws: InventoryError.unavailable("redis: NOSCRIPT No matching script")) {
            try PurchaseDecision.decode(.error("NOSCRIPT No matching script"), for: [])
        }
    }

    /// An empty batch with only a header decodes to no decisions.
    @Test func emptyBatch() throws {
        #expect(try PurchaseDecision.decode(.array([Self.header]), for: []).isEmpty)
    }
}
