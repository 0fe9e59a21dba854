import StampedeHTTP
import StampedeInventory

/// Every route of the API, with the identifiers taken from the path. Matching is a pure function
/// of method and path, so it tests without a server.
public enum Route: Sendable, Equatable {
    case getSale(String)
    case purchase(String)
    case getOrder(String)
    case payOrder(String)
    case cancelOrder(String)
    case userOrders(String)
    case putSale(String)
    case restock(String)
    case putGroup(String)
    case getGroup(String)
    case deleteGroup(String)
    case movements(String)
    case changeBuckets(String)
    case shards
    case reloadConfig
    /// `GET /admin/credentials`.
    case credentials
    /// `PUT /admin/credentials/{name}`.
    case putCredential(String)
    /// `DELETE /admin/credentials/{name}`.
    case deleteCredential(String)
    /// `GET /admin/audit`.
    case audit
    case metrics
    case live
    case ready
    /// The path names a route but not with this method; `allowed` is for the `Allow` header.
    case methodNotAllowed(allowed: String)
    /// A path segment that should be an identifier is not one (`400 invalid_id`).
    case invalidID(String)
    case notFound

    /// A low-cardinality name for metrics and logs.
    public var name: String {
        switch self {
        case .getSale: return "GET /v1/sales/{id}"
        case .purchase: return "POST /v1/sales/{id}/orders"
        case .getOrder: return "GET /v1/orders/{id}"
        case .payOrder: return "POST /v1/orders/{id}/pay"
        case .cancelOrder: return "POST /v1/orders/{id}/cancel"
        case .userOrders: return "GET /v1/users/{id}/orders"
        case .putSale: return "PUT /admin/sales/{id}"
        case .restock: return "POST /admin/sales/{id}/restock"
        case .putGroup: return "PUT /admin/groups/{id}"
        case .getGroup: return "GET /admin/groups/{id}"
        case .deleteGroup: return "DELETE /admin/groups/{id}"
        case .movements: return "GET /admin/sales/{id}/movements"
        case .changeBuckets: return "POST /admin/sales/{id}/buckets"
        case .shards: return "GET /admin/shards"
        case .reloadConfig: return "POST /admin/config/reload"
        case .credentials: return "GET /admin/credentials"
        case .putCredential: return "PUT /admin/credentials/{id}"
        case .deleteCredential: return "DELETE /admin/credentials/{id}"
        case .audit: return "GET /admin/audit"
        case .metrics: return "GET /metrics"
        case .live: return "GET /health/live"
        case .ready: return "GET /health/ready"
        case .methodNotAllowed: return "method_not_allowed"
        case .invalidID: return "invalid_id"
        case .notFound: return "not_found"
        }
    }

    /// How many distinct `name`s there are.
    static let metricsNameCount = 25

    /// The position of `name` among the `metricsNameCount` names, for tables indexed by route.
    var metricsNameIndex: Int {
        switch self {
        case .getSale: 0
        case .purchase: 1
        case .getOrder: 2
        case .payOrder: 3
        case .cancelOrder: 4
        case .userOrders: 5
        case .putSale: 6
        case .restock: 7
        case .shards: 8
        case .reloadConfig: 9
        case .metrics: 10
        case .live: 11
        case .ready: 12
        case .methodNotAllowed: 13
        case .invalidID: 14
        case .notFound: 15
        case .credentials: 16
        case .putCredential: 17
        case .deleteCredential: 18
        case .audit: 19
        case .putGroup: 20
        case .getGroup: 21
        case .deleteGroup: 22
        case .movements: 23
        case .changeBuckets: 24
        }
    }

    /// Whether the route is under `/admin` (bearer token required).
    public var isAdmin: Bool {
        switch self {
        case .putSale, .restock, .shards, .reloadConfig, .credentials, .putCredential, .deleteCredential, .audit,
             .putGroup, .getGroup, .deleteGroup, .movements, .changeBuckets: return true
        default: return false
        }
    }

    /// Whether the route only reads (it is matched for `GET` and `HEAD` only): what a `viewer`
    /// credential may call under `/admin`.
    public var onlyReads: Bool {
        switch self {
        case .getSale, .getOrder, .userOrders, .shards, .credentials, .audit, .getGroup, .movements, .metrics, .live, .ready: return true
        case .purchase, .payOrder, .cancelOrder, .putSale, .restock, .reloadConfig, .putCredential, .deleteCredential,
             .putGroup, .deleteGroup, .changeBuckets,
             .methodNotAllowed, .invalidID, .notFound: return false
        }
    }

    /// The route for `method` and `path` (the path without its query).
    public static func match(method: HTTPMethod, path: String) -> Route {
        var path = path
        return path.withUTF8 { match(method: method, path: $0) }
    }

    /// The route for `method` and the UTF-8 bytes of a path. Works on the bytes in place: the only
    /// `String` made is the identifier the route carries.
    static func match(method: HTTPMethod, path: UnsafeBufferPointer<UInt8>) -> Route {
        // Every route has 1…4 segments; an empty one (trailing or double slash) names no resource:
        // 404, not 405 or invalid_id.
        guard let parts = PathSegments(path) else { return .notFound }
        let isGet = method == .get || method == .head
        let isPost = method == .post

        func identified(_ segment: PathSegment, _ make: (String) -> Route, allowed: String, ok: Bool) -> Route {
            guard ok else { return .methodNotAllowed(allowed: allowed) }
            let id = segment.text
            guard Identifier.isValid(bytes: id) else { return .invalidID(String(decoding: id, as: UTF8.self)) }
            return make(String(decoding: id, as: UTF8.self))
        }

        switch parts.count {
        case 2:
            switch (parts[0], parts[1]) {
            case ("health", "live"): return isGet ? .live : .methodNotAllowed(allowed: "GET, HEAD")
            case ("health", "ready"): return isGet ? .ready : .methodNotAllowed(allowed: "GET, HEAD")
            case ("admin", "shards"): return isGet ? .shards : .methodNotAllowed(allowed: "GET, HEAD")
            case ("admin", "credentials"): return isGet ? .credentials : .methodNotAllowed(allowed: "GET, HEAD")
            case ("admin", "audit"): return isGet ? .audit : .methodNotAllowed(allowed: "GET, HEAD")
            default: return .notFound
            }
        case 1:
            if "metrics" ~= parts[0] { return isGet ? .metrics : .methodNotAllowed(allowed: "GET, HEAD") }
            return .notFound
        case 3:
            switch (parts[0], parts[1]) {
            case ("v1", "sales"): return identified(parts[2], Route.getSale, allowed: "GET, HEAD", ok: isGet)
            case ("v1", "orders"): return identified(parts[2], Route.getOrder, allowed: "GET, HEAD", ok: isGet)
            case ("admin", "sales"): return identified(parts[2], Route.putSale, allowed: "PUT", ok: method == .put)
            case ("admin", "groups"):
                let allowed = "GET, HEAD, PUT, DELETE"
                switch method {
                case .put: return identified(parts[2], Route.putGroup, allowed: allowed, ok: true)
                case .delete: return identified(parts[2], Route.deleteGroup, allowed: allowed, ok: true)
                default: return identified(parts[2], Route.getGroup, allowed: allowed, ok: isGet)
                }
            case ("admin", "credentials"):
                let isDelete = method == .delete
                return identified(parts[2], isDelete ? Route.deleteCredential : Route.putCredential,
                                  allowed: "PUT, DELETE", ok: method == .put || isDelete)
            case ("admin", "config") where "reload" ~= parts[2]:
                return isPost ? .reloadConfig : .methodNotAllowed(allowed: "POST")
            default: return .notFound
            }
        case 4:
            switch (parts[0], parts[1], parts[3]) {
            case ("v1", "sales", "orders"): return identified(parts[2], Route.purchase, allowed: "POST", ok: isPost)
            case ("v1", "orders", "pay"): return identified(parts[2], Route.payOrder, allowed: "POST", ok: isPost)
            case ("v1", "orders", "cancel"): return identified(parts[2], Route.cancelOrder, allowed: "POST", ok: isPost)
            case ("v1", "users", "orders"): return identified(parts[2], Route.userOrders, allowed: "GET, HEAD", ok: isGet)
            case ("admin", "sales", "restock"): return identified(parts[2], Route.restock, allowed: "POST", ok: isPost)
            case ("admin", "sales", "movements"): return identified(parts[2], Route.movements, allowed: "GET, HEAD", ok: isGet)
            case ("admin", "sales", "buckets"): return identified(parts[2], Route.changeBuckets, allowed: "POST", ok: isPost)
            default: return .notFound
            }
        default:
            return .notFound
        }
    }
}

/// The 1…4 non-empty segments of a path after its leading `/`, as slices of the path's bytes held
/// inline (no array per request); nil for any other path.
struct PathSegments {
    private var first = PathSegment(), second = PathSegment()
    private var third = PathSegment(), fourth = PathSegment()
    private(set) var count = 0

    init?(_ path: UnsafeBufferPointer<UInt8>) {
        guard path.first == UInt8(ascii: "/") else { return nil }
        var start = 1
        var index = 1
        while true {
            let atEnd = index == path.count
            if atEnd || path[index] == UInt8(ascii: "/") {
                guard count < 4, index != start else { return nil }
                let segment = PathSegment(text: UnsafeBufferPointer(rebasing: path[start..<index]))
                switch count {
                case 0: first = segment
                case 1: second = segment
                case 2: third = segment
                default: fourth = segment
                }
                count += 1
                if atEnd { return }
                start = index + 1
            }
            index += 1
        }
    }

    subscript(index: Int) -> PathSegment {
        switch index {
        case 0: first
        case 1: second
        case 2: third
        default: fourth
        }
    }
}

/// One segment of a request path, matched against the route table's literals byte for byte (no
/// Unicode-aware `String` comparison on the hot path).
struct PathSegment {
    var text = UnsafeBufferPointer<UInt8>(start: nil, count: 0)

    static func ~= (literal: StaticString, segment: PathSegment) -> Bool {
        segment.text.count == literal.utf8CodeUnitCount
            && segment.text.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
