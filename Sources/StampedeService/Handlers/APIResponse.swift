import StampedeHTTP
import StampedeInventory
import StampedeJSON

/// Builders for the API's answers: JSON bodies and the contract's error shape
/// `{"error": "<code>", "message": "<text>"}`.
enum APIResponse {
    static func json(_ status: Int, _ writer: JSONWriter, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse.json(status: status, writer.bytes, headers: headers)
    }

    static func error(_ status: Int, _ code: String, _ message: String,
                      headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse.json(status: status, errorBody(code, message), headers: headers)
    }

    /// The answer to a request refused before anything was done (`RequestDecoding`).
    static func from(_ rejection: RequestRejection) -> HTTPResponse {
        error(rejection.status, rejection.code, rejection.message)
    }

    /// `{"error": code, "message": message}`.
    private static func errorBody(_ code: String, _ message: String) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + message.utf8.count)
        writer.beginObject()
        writer.field("error", code)
        writer.field("message", message)
        writer.endObject()
        return writer.bytes
    }

    /// `503 overloaded` with `Retry-After`: the request had no effect.
    static func overloaded(retryAfter: Int) -> HTTPResponse {
        HTTPResponse.json(status: 503, overloadedBody, headers: [("Retry-After", String(retryAfter))])
    }

    /// `409 sold_out` for a purchase of `quantity`: the bodies of quantities 1…16 are encoded once
    /// (a rush after the last unit is answered this way from memory, thousands per second).
    static func soldOut(quantity: Int64) -> HTTPResponse {
        if quantity >= 1, quantity <= Int64(soldOutBodies.count) {
            return HTTPResponse.json(status: 409, soldOutBodies[Int(quantity) - 1])
        }
        return error(409, "sold_out", soldOutMessage(quantity))
    }

    private static func soldOutMessage(_ quantity: Int64) -> String { "not enough stock left for quantity \(quantity)" }

    private static let soldOutBodies: [[UInt8]] = (1...16).map { errorBody("sold_out", soldOutMessage(Int64($0))) }

    /// The body of every `503 overloaded`, encoded once: a shed must cost next to nothing.
    private static let overloadedBody = errorBody("overloaded", "too many requests in flight; nothing was done, retry later")

    /// The answer for an inventory failure.
    static func from(_ error: InventoryError) -> HTTPResponse {
        switch error {
        case .unknownSale(let id): return self.error(404, "unknown_sale", "no sale \(id)")
        case .unknownOrder(let id): return self.error(404, "unknown_order", "no order \(id)")
        case .orderNotReserved(let id, let status):
            return self.error(409, "order_not_reserved", "order \(id) is \(status.rawValue)")
        case .saleHasOrders(let id): return self.error(409, "sale_has_orders", "sale \(id) has orders and cannot be replaced")
        case .unknownGroup(let id): return self.error(404, "unknown_group", "no exclusive group \(id)")
        case .groupInUse(let id): return self.error(409, "group_in_use", "exclusive group \(id) has sales; remove them from it first")
        case .invalidField(let field, let reason): return self.error(400, "invalid_body", "\(field) \(reason)")
        case .unavailable(let why):
            return self.error(503, "unavailable", "a backing store is unavailable: \(why)", headers: [("Retry-After", "1")])
        }
    }
}
