import StampedeInventory
import StampedeJSON

/// A request the API refuses before doing anything: an error code of the contract and a message.
struct RequestRejection: Error, Equatable {
    var status: Int
    var code: String
    var message: String

    static func body(_ message: String) -> RequestRejection { RequestRejection(status: 400, code: "invalid_body", message: message) }
    static func id(_ message: String) -> RequestRejection { RequestRejection(status: 400, code: "invalid_id", message: message) }
    static func quantity(_ message: String) -> RequestRejection { RequestRejection(status: 400, code: "invalid_quantity", message: message) }
    static func query(_ message: String) -> RequestRejection { RequestRejection(status: 400, code: "invalid_query", message: message) }
}

/// Decoding of the JSON request bodies. Unknown fields are ignored, as the contract says.
enum RequestDecoding {
    /// The body as a JSON object.
    static func object(_ body: [UInt8]) throws(RequestRejection) -> [String: JSONValue] {
        guard !body.isEmpty else { throw .body("a JSON object body is required") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw .body("malformed JSON at byte \(error.offset): \(error.reason)")
        }
        guard case .object(let members) = value else { throw .body("the body must be a JSON object") }
        return members
    }

    /// `{"user_id": "u-1", "quantity": 1}` → the user and quantity (quantity ≥ 1; the per-user
    /// limit is checked against the sale by the caller).
    /// The usual body is decided by `PurchaseBodyScanner` in one pass; the rest by the general path.
    static func purchase(_ body: [UInt8]) throws(RequestRejection) -> (userID: String, quantity: Int64) {
        if let decided = PurchaseBodyScanner.scan(body) { return decided }
        return try generalPurchase(body)
    }

    /// The purchase body through the general JSON parser: every form, every error message.
    static func generalPurchase(_ body: [UInt8]) throws(RequestRejection) -> (userID: String, quantity: Int64) {
        let members = try object(body)
        guard let userValue = members["user_id"] else { throw .body("user_id is required") }
        guard let userID = userValue.stringValue else { throw .body("user_id must be a string") }
        guard Identifier.isValid(userID) else { throw .id("user_id must match [A-Za-z0-9._:-]{1,64}") }
        guard let quantityValue = members["quantity"] else { throw .body("quantity is required") }
        guard case .number = quantityValue else { throw .body("quantity must be a number") }
        guard let quantity = quantityValue.integerValue, quantity >= 1 else {
            throw .quantity("quantity must be a whole number >= 1")
        }
        return (userID, quantity)
    }

    /// The body of `PUT /admin/sales/{id}`.
    static func saleDefinition(saleID: String, _ body: [UInt8], defaultTTL: Int64) throws(RequestRejection) -> SaleDefinition {
        let members = try object(body)
        func string(_ name: String) throws(RequestRejection) -> String {
            guard let value = members[name] else { throw .body("\(name) is required") }
            guard let text = value.stringValue else { throw .body("\(name) must be a string") }
            return text
        }
        func integer(_ name: String, default fallback: Int64? = nil) throws(RequestRejection) -> Int64 {
            guard let value = members[name], value != .null else {
                if let fallback { return fallback }
                throw .body("\(name) is required")
            }
            guard let number = value.integerValue else { throw .body("\(name) must be an integer") }
            return number
        }
        func boolean(_ name: String, default fallback: Bool) throws(RequestRejection) -> Bool {
            guard let value = members[name], value != .null else { return fallback }
            guard case .bool(let flag) = value else { throw .body("\(name) must be true or false") }
            return flag
        }
        func time(_ name: String) throws(RequestRejection) -> Timestamp {
            let text = try string(name)
            guard let time = Timestamp(rfc3339: text) else { throw .body("\(name) must be an RFC 3339 time, e.g. 2026-11-21T12:00:00Z") }
            return time
        }
        func optionalIdentifier(_ name: String) throws(RequestRejection) -> String? {
            guard let value = members[name], value != .null else { return nil }
            guard let text = value.stringValue else { throw .body("\(name) must be a string or null") }
            guard Identifier.isValid(text) else { throw .id("\(name) must match [A-Za-z0-9._:-]{1,64}") }
            return text
        }
        let sku = try string("sku")
        guard Identifier.isValid(sku) else { throw .id("sku must match [A-Za-z0-9._:-]{1,64}") }
        let definition = SaleDefinition(
            saleID: saleID, sku: sku, priceCents: try integer("price_cents"), stock: try integer("stock"),
            perUserLimit: try integer("per_user_limit"), startsAt: try time("starts_at"), endsAt: try time("ends_at"),
            reservationTTLSeconds: try integer("reservation_ttl_seconds", default: defaultTTL),
            purchaseTokenRequired: try boolean("purchase_token_required", default: false),
            exclusiveGroup: try optionalIdentifier("exclusive_group"), buckets: try bucketCount(integer("buckets", default: 1)))
        if let violation = definition.violation() { throw .body("\(violation.field) \(violation.reason)") }
        return definition
    }

    /// A bucket count as a body gives it: 1…16.
    static func bucketCount(_ value: Int64) throws(RequestRejection) -> Int {
        guard value >= 1, value <= Int64(BucketLayout.maxBuckets) else { throw .body("buckets must be between 1 and 16") }
        return Int(value)
    }

    /// The body of `POST /admin/sales/{id}/buckets`: `{"buckets": K}`.
    static func buckets(_ body: [UInt8]) throws(RequestRejection) -> Int {
        let members = try object(body)
        guard let value = members["buckets"] else { throw .body("buckets is required") }
        guard let count = value.integerValue else { throw .body("buckets must be an integer") }
        return try bucketCount(count)
    }

    /// The body of `PUT /admin/groups/{id}`: `{"per_user_limit": N}`.
    static func group(groupID: String, _ body: [UInt8]) throws(RequestRejection) -> ExclusiveGroup {
        let members = try object(body)
        guard let value = members["per_user_limit"] else { throw .body("per_user_limit is required") }
        guard let limit = value.integerValue else { throw .body("per_user_limit must be an integer") }
        let group = ExclusiveGroup(groupID: groupID, perUserLimit: limit)
        if let violation = group.violation() { throw .body("\(violation.field) \(violation.reason)") }
        return group
    }

    /// `{"quantity": 50}` of a restock.
    static func restock(_ body: [UInt8]) throws(RequestRejection) -> Int64 {
        let members = try object(body)
        guard let value = members["quantity"] else { throw .body("quantity is required") }
        guard case .number = value else { throw .body("quantity must be a number") }
        guard let quantity = value.integerValue, quantity >= 1, quantity <= 1_000_000_000 else {
            throw .quantity("quantity must be a whole number between 1 and 1000000000")
        }
        return quantity
    }

    /// The query of `GET /admin/sales/{id}/movements`: `before` (a cursor: a movement id, ≥ 1;
    /// absent: from the newest) and `limit` (1…1000, default 100). Other parameters are ignored.
    static func movementsQuery(_ query: String?) throws(RequestRejection) -> (before: Int64?, limit: Int) {
        var before: Int64?
        var limit = 100
        for (name, value) in try queryParameters(query) {
            switch name {
            case "before":
                guard isPlainNumber(value, maxDigits: 18), let cursor = Int64(value) else {
                    throw .query("before must be a cursor from next_before (a whole number ≥ 1)")
                }
                before = cursor
            case "limit":
                guard isPlainNumber(value, maxDigits: 4), let count = Int(value), (1...1000).contains(count) else {
                    throw .query("limit must be a whole number between 1 and 1000")
                }
                limit = count
            default:
                continue
            }
        }
        return (before, limit)
    }
}
