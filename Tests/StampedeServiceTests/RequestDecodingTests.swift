import StampedeInventory
import StampedeJSON
import StampedeTestSupport
import Testing
@testable import StampedeService

@Suite("RequestDecoding")
struct RequestDecodingTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The error code a purchase body is refused with, or nil when it is accepted.
    static func purchaseCode(_ body: String) -> String? {
        do {
            _ = try RequestDecoding.purchase(bytes(body))
            return nil
        } catch {
            #expect(error.status == 400)
            return error.code
        }
    }

    // MARK: purchase

    /// A well-formed body gives the user and quantity; unknown fields are ignored.
    @Test func decodesPurchase() throws {
        let decoded = try RequestDecoding.purchase(Self.bytes(#"{"user_id": "u-1", "quantity": 2, "coupon": {"x": [1]}}"#))
        #expect(decoded.userID == "u-1")
        #expect(decoded.quantity == 2)
        #expect(try RequestDecoding.purchase(Self.bytes(#"{"quantity": 1.0, "user_id": "u"}"#)).quantity == 1)
    }

    /// The one-pass scanner decides the usual bodies exactly as the general decoder does, and
    /// leaves everything else (other fields, escapes, fractions, bad ids, bad syntax) to it.
    @Test func scannerAgreesWithTheGeneralDecoder() throws {
        let decided = [
            #"{"user_id":"u-1","quantity":1}"#, #"{ "quantity" : 12 , "user_id" : "A.b_c:d-9" }"#,
            "{\n\t\"user_id\": \"u\",\r\n \"quantity\": 999999999999999999 }\n",
            #"{"user_id":""# + String(repeating: "x", count: 64) + #"","quantity":3}"#,
        ]
        for body in decided {
            let fast = try #require(PurchaseBodyScanner.scan(Self.bytes(body)), "scanner should decide \(body)")
            let general = try RequestDecoding.generalPurchase(Self.bytes(body))
            #expect(fast.userID == general.userID && fast.quantity == general.quantity, "\(body)")
        }
        let leftToTheGeneralPath = [
            "", "{}", #"{"user_id":"u"}"#, #"{"quantity":1}"#, #"{"user_id":"u","quantity":0}"#,
            #"{"user_id":"u","quantity":01}"#, #"{"user_id":"u","quantity":1.0}"#, #"{"user_id":"u","quantity":1e2}"#,
            #"{"user_id":"u","quantity":-1}"#, #"{"user_id":"u\u0041","quantity":1}"#, #"{"user_id":"u v","quantity":1}"#,
            #"{"user_id":"","quantity":1}"#, #"{"user_id":""# + String(repeating: "x", count: 65) + #"","quantity":1}"#,
            #"{"user_id":"u","quantity":1,"coupon":"x"}"#, #"{"user_id":"u","user_id":"v","quantity":1}"#,
            #"{"user_id":"u","quantity":1}x"#, #"{"user_id":"u" "quantity":1}"#, #"{"user_id":"u","quantity":1234567890123456789}"#,
            #"{"user_id":7,"quantity":1}"#, #"[{"user_id":"u","quantity":1}]"#,
        ]
        for body in leftToTheGeneralPath {
            #expect(PurchaseBodyScanner.scan(Self.bytes(body)) == nil, "\(body)")
        }
    }

    /// Each malformed purchase body is refused with its contract code.
    @Test(arguments: [
        ("", "invalid_body"),
        ("   ", "invalid_body"),
        ("{", "invalid_body"),
        ("[]", "invalid_body"),
        ("\"u-1\"", "invalid_body"),
        ("null", "invalid_body"),
        (#"{"quantity": 1}"#, "invalid_body"),
        (#"{"user_id": 7, "quantity": 1}"#, "invalid_body"),
        (#"{"user_id": null, "quantity": 1}"#, "invalid_body"),
        (#"{"user_id": "u-1"}"#, "invalid_body"),
        (#"{"user_id": "u-1", "quantity": "1"}"#, "invalid_body"),
        (#"{"user_id": "u-1", "quantity": null}"#, "invalid_body"),
        (#"{"user_id": "u-1", "quantity": true}"#, "invalid_body"),
        (#"{"user_id": "u 1", "quantity": 1}"#, "invalid_id"),
        (#"{"user_id": "", "quantity": 1}"#, "invalid_id"),
        (#"{"user_id": "u/1", "quantity": 1}"#, "invalid_id"),
        (#"{"user_id": "u-1", "quantity": 0}"#, "invalid_quantity"),
        (#"{"user_id": "u-1", "quantity": -1}"#, "invalid_quantity"),
        (#"{"user_id": "u-1", "quantity": 1.5}"#, "invalid_quantity"),
        (#"{"user_id": "u-1", "quantity": 1e300}"#, "invalid_quantity"),
        (#"{"user_id": "u-1", "quantity": 99999999999999999999}"#, "invalid_quantity"),
    ])
    func rejectsPurchase(body: String, code: String) {
        #expect(Self.purchaseCode(body) == code, "\(body)")
    }

    /// An invalid user id is reported before a missing quantity (the id is checked first).
    @Test func idCheckedBeforeQuantity() {
        #expect(Self.purchaseCode(#"{"user_id": "u 1"}"#) == "invalid_id")
    }

    // MARK: sale definition

    static let fullSale = """
    {"sku": "sku-42", "price_cents": 999, "stock": 1000, "per_user_limit": 2,
     "starts_at": "2026-11-21T12:00:00Z", "ends_at": "2026-11-21T14:00:00+01:00", "reservation_ttl_seconds": 300,
     "note": "ignored"}
    """

    /// Replaces (or with nil removes) one member of `fullSale` and decodes it.
    static func saleCode(_ name: String, _ json: String?) -> String? {
        guard case .object(var members) = try! JSONParser.parse(fullSale) else { return "not an object" }
        if let json { members[name] = try! JSONParser.parse(json) } else { members[name] = nil }
        var writer = JSONWriter()
        writer.writeValue(.object(members))
        do {
            _ = try RequestDecoding.saleDefinition(saleID: "s1", writer.bytes, defaultTTL: 900)
            return nil
        } catch {
            #expect(error.status == 400)
            return error.code
        }
    }

    /// Every field of a full body is decoded, offsets converted to UTC.
    @Test func decodesFullSaleDefinition() throws {
        let definition = try RequestDecoding.saleDefinition(saleID: "s1", Self.bytes(Self.fullSale), defaultTTL: 900)
        #expect(definition == SaleDefinition(
            saleID: "s1", sku: "sku-42", priceCents: 999, stock: 1000, perUserLimit: 2,
            startsAt: Timestamp(rfc3339: "2026-11-21T12:00:00Z")!, endsAt: Timestamp(rfc3339: "2026-11-21T13:00:00Z")!,
            reservationTTLSeconds: 300))
    }

    /// A missing or null `reservation_ttl_seconds` takes the configured default.
    @Test func defaultTTL() throws {
        #expect(Self.saleCode("reservation_ttl_seconds", nil) == nil)
        let body = #"{"sku": "k", "price_cents": 0, "stock": 0, "per_user_limit": 1, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z"}"#
        #expect(try RequestDecoding.saleDefinition(saleID: "s1", Self.bytes(body), defaultTTL: 123).reservationTTLSeconds == 123)
        let withNull = #"{"sku": "k", "price_cents": 0, "stock": 0, "per_user_limit": 1, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z", "reservation_ttl_seconds": null}"#
        #expect(try RequestDecoding.saleDefinition(saleID: "s1", Self.bytes(withNull), defaultTTL: 77).reservationTTLSeconds == 77)
    }

    /// Each missing, mistyped or out-of-range field is a `400` with the contract's code.
    @Test(arguments: [
        ("sku", nil, "invalid_body"), ("sku", "42", "invalid_body"), ("sku", #""a b""#, "invalid_id"),
        ("sku", #""""#, "invalid_id"),
        ("price_cents", nil, "invalid_body"), ("price_cents", #""999""#, "invalid_body"), ("price_cents", "9.5", "invalid_body"),
        ("price_cents", "-1", "invalid_body"),
        ("stock", nil, "invalid_body"), ("stock", "-1", "invalid_body"), ("stock", "null", "invalid_body"),
        ("per_user_limit", nil, "invalid_body"), ("per_user_limit", "0", "invalid_body"),
        ("starts_at", nil, "invalid_body"), ("starts_at", "1795262400", "invalid_body"),
        ("starts_at", #""2026-11-21""#, "invalid_body"), ("starts_at", #""2026-11-21T15:00:00Z""#, "invalid_body"),
        ("ends_at", nil, "invalid_body"), ("ends_at", #""2026-11-21T12:00:00Z""#, "invalid_body"),
        ("ends_at", #""2026-02-30T12:00:00Z""#, "invalid_body"),
        ("reservation_ttl_seconds", "0", "invalid_body"), ("reservation_ttl_seconds", "604801", "invalid_body"),
        ("reservation_ttl_seconds", #""900""#, "invalid_body"), ("reservation_ttl_seconds", "1.5", "invalid_body"),
    ] as [(String, String?, String)])
    func rejectsSaleField(name: String, json: String?, code: String) {
        #expect(Self.saleCode(name, json) == code, "\(name) = \(json ?? "missing")")
    }

    /// The sale id from the path is validated with the body.
    @Test func rejectsBadSaleIDFromPath() {
        #expect(throws: RequestRejection.self) {
            try RequestDecoding.saleDefinition(saleID: "", Self.bytes(Self.fullSale), defaultTTL: 900)
        }
    }

    /// Non-object and empty sale bodies are `invalid_body`.
    @Test func rejectsNonObjectSaleBody() {
        for body in ["", "[]", "1", "{"] {
            #expect(throws: RequestRejection.self) {
                try RequestDecoding.saleDefinition(saleID: "s1", Self.bytes(body), defaultTTL: 900)
            }
        }
    }

    // MARK: restock

    /// A positive whole quantity is accepted.
    @Test func decodesRestock() throws {
        #expect(try RequestDecoding.restock(Self.bytes(#"{"quantity": 50, "reason": "x"}"#)) == 50)
        #expect(try RequestDecoding.restock(Self.bytes(#"{"quantity": 1000000000}"#)) == 1_000_000_000)
    }

    /// Missing or non-numeric quantity and non-objects are `invalid_body` (as for purchases); bad
    /// numbers are `invalid_quantity`.
    @Test(arguments: [
        ("", "invalid_body"), ("[50]", "invalid_body"), ("{}", "invalid_body"), (#"{"qty": 5}"#, "invalid_body"),
        (#"{"quantity": 0}"#, "invalid_quantity"), (#"{"quantity": -5}"#, "invalid_quantity"),
        (#"{"quantity": 2.5}"#, "invalid_quantity"), (#"{"quantity": 1000000001}"#, "invalid_quantity"),
        (#"{"quantity": "50"}"#, "invalid_body"),
    ])
    func rejectsRestock(body: String, code: String) {
        do {
            _ = try RequestDecoding.restock(Self.bytes(body))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == code, "\(body)")
            #expect(error.status == 400)
        }
    }

    // MARK: movements query

    /// `before` and `limit` are read; absent, the page starts at the newest with 100 rows; other
    /// parameters are ignored.
    @Test func decodesMovementsQuery() throws {
        #expect(try RequestDecoding.movementsQuery(nil) == (nil, 100))
        #expect(try RequestDecoding.movementsQuery("") == (nil, 100))
        #expect(try RequestDecoding.movementsQuery("before=42&limit=5") == (42, 5))
        #expect(try RequestDecoding.movementsQuery("limit=1000&x=y") == (nil, 1000))
    }

    /// A cursor that is not a positive whole number or a limit outside 1…1000 is `400 invalid_query`.
    @Test(arguments: ["limit=0", "limit=1001", "limit=", "limit=1.5", "before=abc", "before=0", "before=-3", "before"])
    func rejectsMovementsQuery(query: String) {
        do {
            _ = try RequestDecoding.movementsQuery(query)
            Issue.record("accepted \(query)")
        } catch {
            #expect(error.code == "invalid_query" && error.status == 400, "\(query)")
        }
    }
}
