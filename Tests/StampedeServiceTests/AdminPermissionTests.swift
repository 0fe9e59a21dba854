import StampedeHTTP
import StampedeInventory
import Testing
@testable import StampedeService

@Suite("AdminPermission")
struct AdminPermissionTests {
    static let adminRoutes: [Route] = [.putSale("s"), .restock("s"), .shards, .reloadConfig,
                                       .credentials, .putCredential("c"), .deleteCredential("c"), .audit]

    /// An admin may call every `/admin` route.
    @Test func adminMayCallEverything() {
        #expect(Self.adminRoutes.allSatisfy { AdminPermission.allows($0, .admin) })
    }

    /// A viewer may call exactly the `/admin` routes that answer GET and HEAD, and no route that
    /// changes something.
    @Test func viewerMayOnlyRead() {
        let allowed = Self.adminRoutes.filter { AdminPermission.allows($0, .viewer) }
        #expect(allowed == [.shards, .credentials, .audit])
        for method in [HTTPMethod.get, .head] {
            for path in ["/admin/shards", "/admin/credentials", "/admin/audit"] {
                #expect(AdminPermission.allows(Route.match(method: method, path: path), .viewer), "\(method.rawValue) \(path)")
            }
        }
        for (method, path) in [(HTTPMethod.put, "/admin/sales/s1"), (.post, "/admin/sales/s1/restock"), (.post, "/admin/config/reload"),
                               (.put, "/admin/credentials/c"), (.delete, "/admin/credentials/c")] {
            #expect(!AdminPermission.allows(Route.match(method: method, path: path), .viewer), "\(method.rawValue) \(path)")
        }
    }

    /// Routes outside `/admin` are not this check's business: open to any role.
    @Test func openRoutesAreNotRestricted() {
        for route: Route in [.getSale("s"), .purchase("s"), .metrics, .live, .ready, .notFound] {
            #expect(AdminPermission.allows(route, .viewer))
        }
    }
}
