import StampedeHTTP
import Testing
@testable import StampedeService

@Suite("Route")
struct RouteTests {
    static func match(_ method: HTTPMethod, _ path: String) -> Route { Route.match(method: method, path: path) }

    /// The metrics table is indexed by route: each route's index is within `metricsNameCount`,
    /// and indices and names pair one to one (a route added without both would share a timer or
    /// index past the table).
    @Test func metricsIndicesCoverEveryRouteOnce() {
        let routes: [Route] = [
            .getSale("s"), .purchase("s"), .getOrder("o"), .payOrder("o"), .cancelOrder("o"), .userOrders("u"),
            .putSale("s"), .restock("s"), .shards, .reloadConfig, .metrics, .live, .ready,
            .methodNotAllowed(allowed: "GET"), .invalidID("!"), .notFound,
            .credentials, .putCredential("c"), .deleteCredential("c"), .audit, .putGroup("g"), .getGroup("g"), .deleteGroup("g"), .movements("s"), .changeBuckets("s"),
        ]
        #expect(routes.count == Route.metricsNameCount)
        #expect(Set(routes.map(\.metricsNameIndex)) == Set(0..<Route.metricsNameCount))
        #expect(Set(routes.map(\.name)).count == Route.metricsNameCount)
    }

    /// Every GET route of the contract matches for GET and HEAD.
    @Test(arguments: [
        ("/v1/sales/s1", Route.getSale("s1")),
        ("/v1/orders/018f3a2b4c5d9f1e0a1b2c3d4e5f", .getOrder("018f3a2b4c5d9f1e0a1b2c3d4e5f")),
        ("/v1/users/u-1/orders", .userOrders("u-1")),
        ("/admin/shards", .shards),
        ("/admin/credentials", .credentials),
        ("/admin/audit", .audit),
        ("/admin/sales/s1/movements", .movements("s1")),
        ("/metrics", .metrics),
        ("/health/live", .live),
        ("/health/ready", .ready),
    ])
    func getRoutes(path: String, route: Route) {
        #expect(Self.match(.get, path) == route)
        #expect(Self.match(.head, path) == route)
        #expect(Self.match(.post, path) == .methodNotAllowed(allowed: "GET, HEAD"))
        #expect(Self.match(.put, path) == .methodNotAllowed(allowed: "GET, HEAD"))
        #expect(Self.match(.delete, path) == .methodNotAllowed(allowed: "GET, HEAD"))
    }

    /// Every POST route of the contract matches for POST only.
    @Test(arguments: [
        ("/v1/sales/s1/orders", Route.purchase("s1")),
        ("/v1/orders/o-1/pay", .payOrder("o-1")),
        ("/v1/orders/o-1/cancel", .cancelOrder("o-1")),
        ("/admin/sales/s1/restock", .restock("s1")),
        ("/admin/config/reload", .reloadConfig),
    ])
    func postRoutes(path: String, route: Route) {
        #expect(Self.match(.post, path) == route)
        #expect(Self.match(.get, path) == .methodNotAllowed(allowed: "POST"))
        #expect(Self.match(.head, path) == .methodNotAllowed(allowed: "POST"))
        #expect(Self.match(.put, path) == .methodNotAllowed(allowed: "POST"))
        #expect(Self.match(.other("PROPFIND"), path) == .methodNotAllowed(allowed: "POST"))
    }

    /// `PUT /admin/sales/{id}` matches for PUT only.
    /// `/admin/groups/{id}` takes PUT, GET (and HEAD) and DELETE; nothing else.
    @Test func groupRoutes() {
        #expect(Self.match(.put, "/admin/groups/doorbusters") == .putGroup("doorbusters"))
        #expect(Self.match(.get, "/admin/groups/doorbusters") == .getGroup("doorbusters"))
        #expect(Self.match(.head, "/admin/groups/doorbusters") == .getGroup("doorbusters"))
        #expect(Self.match(.delete, "/admin/groups/doorbusters") == .deleteGroup("doorbusters"))
        #expect(Self.match(.post, "/admin/groups/doorbusters") == .methodNotAllowed(allowed: "GET, HEAD, PUT, DELETE"))
        #expect(Self.match(.put, "/admin/groups/a;b") == .invalidID("a;b"))
        #expect(Self.match(.put, "/admin/groups/g").isAdmin)
        #expect(Self.match(.get, "/admin/groups/g").isAdmin)
    }

    @Test func putSale() {
        #expect(Self.match(.put, "/admin/sales/black-friday:2026") == .putSale("black-friday:2026"))
        #expect(Self.match(.get, "/admin/sales/s1") == .methodNotAllowed(allowed: "PUT"))
        #expect(Self.match(.post, "/admin/sales/s1") == .methodNotAllowed(allowed: "PUT"))
        #expect(Self.match(.patch, "/admin/sales/s1") == .methodNotAllowed(allowed: "PUT"))
    }

    /// A path segment that is not an identifier is `invalid_id`, for every identified route.
    @Test(arguments: [
        (HTTPMethod.get, "/v1/sales/a%20b"), (.get, "/v1/sales/" + String(repeating: "x", count: 65)),
        (.post, "/v1/sales/a%2Fb/orders"), (.get, "/v1/orders/caf%C3%A9"), (.post, "/v1/orders/a+b/pay"),
        (.post, "/v1/orders/a*b/cancel"), (.get, "/v1/users/u@x/orders"), (.put, "/admin/sales/a,b"),
        (.post, "/admin/sales/a;b/restock"), (.get, "/v1/sales/café"),
    ])
    func invalidIDs(method: HTTPMethod, path: String) {
        guard case .invalidID = Self.match(method, path) else {
            Issue.record("\(method.rawValue) \(path) → \(Self.match(method, path))")
            return
        }
    }

    /// The invalid id is reported as it appeared in the path.
    @Test func invalidIDCarriesTheSegment() {
        #expect(Self.match(.get, "/v1/sales/a%20b") == .invalidID("a%20b"))
        #expect(Self.match(.get, "/v1/sales/" + String(repeating: "x", count: 64)) == .getSale(String(repeating: "x", count: 64)))
    }

    /// The method is checked before the id, so a wrong method on a bad id is still `405`.
    @Test func methodBeforeID() {
        #expect(Self.match(.get, "/v1/sales/a%20b/orders") == .methodNotAllowed(allowed: "POST"))
    }

    /// Unknown paths, trailing slashes, double slashes and relative paths are `404`.
    @Test(arguments: [
        "", "/", "metrics", "/metric", "/metrics/", "/metrics/x", "/v1", "/v1/sales", "/v1/sales/", "/v1/sales/s1/",
        "//v1/sales/s1", "/v1//sales/s1", "/v1/sales//orders", "/v1/sales/s1//orders", "/v1/sales/s1/orders/",
        "/v2/sales/s1", "/V1/sales/s1", "/v1/sales/s1/refund", "/v1/orders/o-1/refund", "/v1/users/u-1",
        "/admin/config", "/admin/config/other", "/admin/shards/1", "/health", "/health/other", "/health/live/",
        "/admin/sales/s1/orders", "/v1/sales/s1/orders/o-1", "/a/b/c/d/e",
    ])
    func notFound(path: String) {
        #expect(Self.match(.get, path) == .notFound, "GET \(path)")
        #expect(Self.match(.post, path) == .notFound, "POST \(path)")
    }

    /// `GET /admin/sales/{id}/movements` carries the sale id; a bad id is `invalid_id`.
    @Test func movements() {
        #expect(Self.match(.get, "/admin/sales/black-friday:2026/movements") == .movements("black-friday:2026"))
        #expect(Self.match(.get, "/admin/sales/bad!id/movements") == .invalidID("bad!id"))
        #expect(Self.match(.get, "/admin/sales/s1/movements").name == "GET /admin/sales/{id}/movements")
    }

    /// Only the admin routes need the bearer token.
    @Test func isAdmin() {
        let admin: [Route] = [.putSale("s1"), .restock("s1"), .shards, .reloadConfig,
                              .credentials, .putCredential("c"), .deleteCredential("c"), .audit, .movements("s1")]
        let open: [Route] = [.getSale("s1"), .purchase("s1"), .getOrder("o"), .payOrder("o"), .cancelOrder("o"),
                             .userOrders("u"), .metrics, .live, .ready, .notFound, .invalidID("x"),
                             .methodNotAllowed(allowed: "GET")]
        #expect(admin.allSatisfy { $0.isAdmin })
        #expect(!open.contains { $0.isAdmin })
        #expect(Self.match(.put, "/admin/sales/s1").isAdmin)
    }

    /// `/admin/credentials/{name}` matches PUT (create or rotate) and DELETE (revoke), checks the
    /// name as an identifier, and answers `405` with both methods for anything else.
    @Test func credentialRoutes() {
        #expect(Self.match(.put, "/admin/credentials/ci-bot") == .putCredential("ci-bot"))
        #expect(Self.match(.delete, "/admin/credentials/ci-bot") == .deleteCredential("ci-bot"))
        #expect(Self.match(.get, "/admin/credentials/ci-bot") == .methodNotAllowed(allowed: "PUT, DELETE"))
        #expect(Self.match(.post, "/admin/credentials/ci-bot") == .methodNotAllowed(allowed: "PUT, DELETE"))
        #expect(Self.match(.put, "/admin/credentials/a%20b") == .invalidID("a%20b"))
        #expect(Self.match(.delete, "/admin/credentials/a,b") == .invalidID("a,b"))
        #expect(Self.match(.put, "/admin/credentials") == .methodNotAllowed(allowed: "GET, HEAD"))
        #expect(Self.match(.delete, "/admin/audit") == .methodNotAllowed(allowed: "GET, HEAD"))
        #expect(Self.match(.get, "/admin/credentials/a/b") == .notFound)
        #expect(Self.match(.put, "/admin/credentials/c").name == "PUT /admin/credentials/{id}")
    }

    /// `onlyReads` is true exactly for the routes matched for GET and HEAD only.
    @Test func onlyReadsFollowsTheMethod() {
        let reads: [Route] = [.getSale("s"), .getOrder("o"), .userOrders("u"), .shards, .credentials, .audit, .metrics, .live, .ready]
        let writes: [Route] = [.purchase("s"), .payOrder("o"), .cancelOrder("o"), .putSale("s"), .restock("s"), .reloadConfig,
                               .putCredential("c"), .deleteCredential("c"), .methodNotAllowed(allowed: "PUT"), .invalidID("!"), .notFound]
        #expect(reads.allSatisfy { $0.onlyReads })
        #expect(!writes.contains { $0.onlyReads })
    }

    /// Route names are low-cardinality: the id is not part of the name.
    @Test func namesHideIDs() {
        #expect(Self.match(.get, "/v1/sales/s1").name == "GET /v1/sales/{id}")
        #expect(Self.match(.get, "/v1/sales/s2").name == Self.match(.head, "/v1/sales/s3").name)
        #expect(Self.match(.post, "/admin/sales/s1/restock").name == "POST /admin/sales/{id}/restock")
    }
}
