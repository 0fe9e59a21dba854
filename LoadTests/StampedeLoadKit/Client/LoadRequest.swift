/// The routes a run exercises; the report groups counts and latencies by these names.
public enum LoadRoute: Int, CaseIterable, Sendable, Codable {
    case viewSale, buy, pay, cancel, userOrders, getOrder

    /// The name in reports (stable: part of the JSON schema).
    public var name: String {
        switch self {
        case .viewSale: "view_sale"
        case .buy: "buy"
        case .pay: "pay"
        case .cancel: "cancel"
        case .userOrders: "user_orders"
        case .getOrder: "get_order"
        }
    }

    /// The route's HTTP pattern, for people reading a report.
    public var pattern: String {
        switch self {
        case .viewSale: "GET /v1/sales/{id}"
        case .buy: "POST /v1/sales/{id}/orders"
        case .pay: "POST /v1/orders/{id}/pay"
        case .cancel: "POST /v1/orders/{id}/cancel"
        case .userOrders: "GET /v1/users/{id}/orders"
        case .getOrder: "GET /v1/orders/{id}"
        }
    }

    public init?(name: String) {
        guard let route = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = route
    }
}

/// One request of a run, with what the workload needs to interpret its answer.
///
/// `intended` is when the traffic model meant it to be sent (monotonic ns); in an open-loop run
/// latency counts from there, so time spent queued behind a stalled server is measured.
public struct LoadRequest: Sendable {
    public var route: LoadRoute
    public var method: String
    public var path: String
    public var body: [UInt8]
    public var idempotencyKey: String?
    /// The workload's own reference (a user index, an order slot…).
    public var tag: Int
    /// Which try this is (1 for the first; retries of a shed purchase count up).
    public var attempt: Int = 1
    /// Whether an earlier try of this request ended without a known answer (timeout, reset).
    public var hadUnknownOutcome = false
    /// Whether every earlier try was answered `503 overloaded`.
    public var onlyOverloadedBefore = true
    /// Intended send time (monotonic ns), set by the loop.
    public var intended: UInt64 = 0

    public init(route: LoadRoute, method: String, path: String, body: [UInt8] = [], idempotencyKey: String? = nil, tag: Int = 0) {
        self.route = route
        self.method = method
        self.path = path
        self.body = body
        self.idempotencyKey = idempotencyKey
        self.tag = tag
    }

    /// Appends the request's bytes (HTTP/1.1, keep-alive) to `buffer`.
    public func encode(into buffer: inout [UInt8], host: String) {
        buffer.append(contentsOf: method.utf8)
        buffer.append(32)
        buffer.append(contentsOf: path.utf8)
        buffer.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        buffer.append(contentsOf: host.utf8)
        if let idempotencyKey {
            buffer.append(contentsOf: "\r\nIdempotency-Key: ".utf8)
            buffer.append(contentsOf: idempotencyKey.utf8)
        }
        if !body.isEmpty || method == "POST" || method == "PUT" {
            buffer.append(contentsOf: "\r\nContent-Type: application/json\r\nContent-Length: ".utf8)
            buffer.append(contentsOf: String(body.count).utf8)
        }
        buffer.append(contentsOf: "\r\n\r\n".utf8)
        buffer.append(contentsOf: body)
    }
}
