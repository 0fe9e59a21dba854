import Foundation
import StampedeSystem

/// Creates the run's sales through `PUT /admin/sales/{id}` and reads them back.
public struct SaleAdmin {
    public let client: BlockingHTTPClient
    public let token: String

    public init(client: BlockingHTTPClient, token: String) {
        self.client = client
        self.token = token
    }

    /// A sale to create.
    public struct Spec: Sendable {
        public var saleID: String
        public var sku: String
        public var priceCents: Int
        public var stock: Int
        public var perUserLimit: Int
        public var startsAt: Double
        public var endsAt: Double
        /// Redis slots the stock is spread over (`"buckets"`; sent only when more than 1).
        public var buckets: Int = 1
    }

    /// Creates (or replaces) the sale; throws unless the answer is `200` or `201`.
    public func create(_ spec: Spec) throws(LoadError) {
        let body = """
        {"sku":"\(spec.sku)","price_cents":\(spec.priceCents),"stock":\(spec.stock),"per_user_limit":\(spec.perUserLimit),\
        "starts_at":"\(Timestamps.rfc3339(spec.startsAt))","ends_at":"\(Timestamps.rfc3339(spec.endsAt))"\
        \(spec.buckets > 1 ? ",\"buckets\":\(spec.buckets)" : "")}
        """
        let response: ClientResponse
        do {
            response = try client.send("PUT", "/admin/sales/\(spec.saleID)", body: Array(body.utf8),
                                       headers: [("Authorization", "Bearer \(token)")])
        } catch {
            throw .setup("PUT /admin/sales/\(spec.saleID): \(error)")
        }
        guard response.status == 200 || response.status == 201 else {
            let hint = response.status == 401 ? " (set STAMPEDE_ADMIN_TOKEN to the server's admin token)" : ""
            throw .setup("PUT /admin/sales/\(spec.saleID) answered \(response.status) \(String(decoding: response.body, as: UTF8.self))\(hint)")
        }
    }

    /// `GET /v1/sales/{id}` as figures; `nil` when it does not answer `200`.
    public func figures(of saleID: String) -> SaleFigures? {
        guard let response = try? client.get("/v1/sales/\(saleID)"), response.status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else { return nil }
        func int(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
        guard let total = int("stock_total"), let limit = int("per_user_limit") else { return nil }
        return SaleFigures(saleID: saleID, stockTotal: total, restocked: int("restocked") ?? 0, perUserLimit: limit,
                           stockAvailable: int("stock_available"))
    }
}

/// A short unique id for a run's sales, users and keys (`[a-z0-9]`).
public enum RunID {
    public static func make() -> String {
        let millis = UInt64(WallClock.seconds() * 1000)
        var random = RandomSource(seed: millis ^ MonotonicClock.now())
        return String(millis % 100_000_000, radix: 36) + String(random.next() % 1_679_616, radix: 36)
    }
}
