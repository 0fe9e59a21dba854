import StampedeRedis
import Testing
@testable import StampedeInventory

@Suite("PurchaseDecision")
struct PurchaseDecisionTests {
    static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// sku, price, limit, units left, reservation TTL (s), end of the sale (ms), counters' generation.
    static let header: RESPValue = .array([bulk("sku-42"), .integer(999), .integer(2), .integer(5), .integer(900),
                                           .integer(2_000_000), .integer(3)])
    static let now = Timestamp(milliseconds: 1000)

    static func request(_ n: Int, user: String = "u-1", idem: String? = nil) -> PurchaseRequest {
        PurchaseRequest(saleID: "s1", userID: user, quantity: 1, idempotencyKey: idem, orderID: "o-\(n)")
    }

    static func duplicate(_ orderID: String, record: String = "") -> RESPValue {
        .array([.integer(1), bulk(orderID), bulk(record)])
    }

    static func decode(_ reply: RESPValue, for requests: [PurchaseRequest]) throws(InventoryError) -> [PurchaseDecision] {
        try PurchaseDecision.decode(reply, for: requests, now: now).decisions
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

    /// Every result code maps to its decision, in request order; a reservation is the request's
    /// order, created now and expiring after the sale's reservation TTL.
    @Test func decodesEveryCode() throws {
        let requests = (0..<9).map { Self.request($0) }
        let reply: RESPValue = .array([
            Self.header,
            .integer(0),
            Self.duplicate("o-earlier", record: "u-1|1|500|900500|k"),
            .integer(2), .integer(3), .integer(4), .integer(5), .integer(6), .integer(7), .integer(8),
        ])
        let decisions = try Self.decode(reply, for: requests)
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
            .rejected(.stale),
        ])
    }

    /// The header says what the sale looks like after the batch: units left and when it ends.
    @Test func decodesSaleAfterBatch() throws {
        let decoded = try PurchaseDecision.decode(.array([Self.header, .integer(2)]), for: [Self.request(0)], now: Self.now)
        #expect(decoded.sale == PurchaseBatchSale(sku: "sku-42", priceCents: 999, perUserLimit: 2, available: 5,
                                                  reservationTTLSeconds: 900, endsAt: Timestamp(milliseconds: 2_000_000),
                                                  generation: 3))
    }

    /// A reservation keeps the request's idempotency key.
    @Test func reservationKeepsIdempotencyKey() throws {
        let decisions = try Self.decode(.array([Self.header, .integer(0)]), for: [Self.request(3, idem: "key-3")])
        guard case .reserved(let order) = decisions.first else { Issue.record("not reserved"); return }
        #expect(order.idempotencyKey == "key-3")
        #expect(order.orderID == "o-3")
    }

    /// A duplicate whose order was already committed (empty record) has no pending order.
    @Test func duplicateWithoutPendingRecord() throws {
        let reply: RESPValue = .array([Self.header, Self.duplicate("o-first")])
        let decisions = try Self.decode(reply, for: [Self.request(9, idem: "k")])
        #expect(decisions == [.duplicate(orderID: "o-first", pending: nil)])
    }

    /// The unknown-sale reply shape of the script (empty sku in the header) decodes to
    /// `unknownSale`, with no sale state.
    @Test func decodesUnknownSaleReply() throws {
        let reply: RESPValue = .array([
            .array([Self.bulk(""), .integer(0), .integer(0), .integer(0), .integer(0), .integer(0), .integer(0)]),
            .integer(6), .integer(6),
        ])
        let decoded = try PurchaseDecision.decode(reply, for: [Self.request(0), Self.request(1)], now: Self.now)
        #expect(decoded.decisions == [.rejected(.unknownSale), .rejected(.unknownSale)])
        #expect(decoded.sale == nil)
    }

    /// A sale whose counters predate the Redis run (`stale`) decodes to `stale`, with no sale state:
    /// nothing was decided at any epoch.
    @Test func decodesStaleReply() throws {
        let reply: RESPValue = .array([
            .array([Self.bulk(""), .integer(0), .integer(0), .integer(0), .integer(0), .integer(0), .integer(0)]),
            .integer(8),
        ])
        let decoded = try PurchaseDecision.decode(reply, for: [Self.request(0)], now: Self.now)
        #expect(decoded.decisions == [.rejected(.stale)])
        #expect(decoded.sale == nil)
    }

    /// Integers sent as strings (as Redis may convert Lua values) are accepted.
    @Test func acceptsStringIntegers() throws {
        let reply: RESPValue = .array([
            .array([Self.bulk("sku-42"), Self.bulk("999"), Self.bulk("3"), Self.bulk("0"), Self.bulk("60"), Self.bulk("5000"), Self.bulk("1")]),
            .integer(7),
        ])
        #expect(try Self.decode(reply, for: [Self.request(0)]) == [.rejected(.invalidQuantity(limit: 3))])
    }

    /// Malformed replies are `unavailable`, never a guess.
    @Test(arguments: [
        RESPValue.error("ERR script failed"),
        .null,
        .integer(1),
        .array([]),
        .array([header]),                                                       // too few results
        .array([header, .integer(2), .integer(2)]),                             // too many results
        .array([.array([bulk("sku"), .integer(1), .integer(1)]), .integer(2)]), // short header
        .array([bulk("header"), .integer(2)]),                                  // header not an array
        .array([header, .array([.integer(1), bulk("o-0")])]),                   // short duplicate
        .array([header, .integer(99)]),                                         // unknown code
        .array([header, bulk("x")]),                                            // code not a number
        .array([header, .array([.integer(1), .null, bulk("")])]),               // duplicate without order id
        .array([header, .array([.integer(2), bulk("o-0"), bulk("")])]),         // array that is no duplicate
        .array([header, .integer(1)]),                                          // duplicate without its order
    ])
    func malformedReplyIsUnavailable(reply: RESPValue) {
        #expect(throws: InventoryError.self) { try Self.decode(reply, for: [Self.request(0)]) }
        do {
            _ = try Self.decode(reply, for: [Self.request(0)])
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
            try Self.decode(.error("NOSCRIPT No matching script"), for: [])
        }
    }

    /// An empty batch with only a header decodes to no decisions.
    @Test func emptyBatch() throws {
        #expect(try Self.decode(.array([Self.header]), for: []).isEmpty)
    }

    /// A reservation TTL no sale can have (a damaged Redis hash) is refused as an unexpected reply
    /// instead of overflowing the expiry and trapping (a FuzzRedisReply find).
    @Test(arguments: [Int64.max, -1, Int64(7 * 86_400 + 1)] as [Int64])
    func refusesTTLOutOfRange(_ ttl: Int64) {
        let header: RESPValue = .array([Self.bulk("sku-42"), .integer(999), .integer(2), .integer(5), .integer(ttl),
                                        .integer(2_000_000)])
        #expect(throws: InventoryError.self) {
            try Self.decode(.array([header, .integer(InventoryScripts.PurchaseCode.reserved.rawValue)]), for: [Self.request(1)])
        }
    }
}

@Suite("Outbox anchor")
struct OutboxAnchorTests {
    /// The anchor's value is longer than Redis's default `hash-max-listpack-value` (64), so the
    /// outbox is a hashtable; both strings go into the Lua scripts as literals, so they hold no
    /// quote or backslash; the field is never an order id and never decodes as a reservation.
    @Test func anchorFitsItsJob() {
        #expect(InventoryScripts.outboxAnchorValue.utf8.count > 64)
        for text in [InventoryScripts.outboxAnchorField, InventoryScripts.outboxAnchorValue] {
            #expect(!text.contains("'") && !text.contains("\"") && !text.contains("\\"))
        }
        #expect(!Identifier.isValid(InventoryScripts.outboxAnchorField))
        #expect(PendingRecord(InventoryScripts.outboxAnchorValue) == nil)
        #expect(InventoryScripts.purchase.source.contains("'\(InventoryScripts.outboxAnchorValue)'"))
    }
}
