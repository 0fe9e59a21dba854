import StampedeHTTP
import StampedeInventory

/// Builders for the API's answers: JSON bodies and the contract's error shape
/// `{"error": "<code>", "message": "<text>"}`.
enum APIResponse {
    static func json(_ status: Int, _ writer: JSONWriter, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse.json(status: status, writer.bytes, headers: headers)
    }

    static func error(_ status: Int, _ code: String, _ message: String,
                      headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var writer = JSONWriter(capacity: 64 + message.utf8.count)
        writer.beginObject()
        writer.field("error", code)
        writer.field("message", message)
        writer.endObject()
        return HTTPResponse.json(status: status, writer.bytes, headers: headers)
    }

    /// `503 overloaded` with `Retry-After`: the request had no effect.
    static func overloaded(retryAfter: Int) -> HTTPResponse {
        error(503, "overloaded", "too many requests in flight; nothing was done, retry later",
              headers: [("Retry-After", String(retryAfter))])
    }

    /// The answer for an inventory failure.
    static func from(_ error: InventoryError) -> HTTPResponse {
        switch error {
        case .unknownSale(let id): return self.error(404, "unknown_sale", "no sale \(id)")
        case .unknownOrder(let id): return self.error(404, "unknown_order", "no order \(id)")
        case .orderNotReserved(let id, let status):
            return self.error(409, "order_not_reserved", "order \(id) is \(status.rawValue)")
        case .saleHasOrders(let id): return self.error(409, "sale_has_orders", "sale \(id) has orders and cannot be replaced")
        case .invalidField(let field, let reason): return self.error(400, "invalid_body", "\(field) \(reason)")
        case .unavailable(let why):
            return self.error(503, "unavailable", "a backing store is unavailable: \(why)", headers: [("Retry-After", "1")])
        }
    }
}
