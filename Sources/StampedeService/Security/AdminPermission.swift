import StampedeInventory

/// What each role may do under `/admin`: a pure function of route and role, so it tests without a
/// server. An `admin` may call every route; a `viewer` only the routes that read (`GET`/`HEAD`).
enum AdminPermission {
    /// Whether `role` may call `route` (routes outside `/admin` are not for this check: true).
    static func allows(_ route: Route, _ role: AdminRole) -> Bool {
        guard route.isAdmin else { return true }
        switch role {
        case .admin: return true
        case .viewer: return route.onlyReads
        }
    }
}
