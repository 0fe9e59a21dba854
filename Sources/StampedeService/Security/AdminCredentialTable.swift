import StampedeInventory
import Synchronization

/// This instance's view of the named admin credentials: SHA-256(token), in hex → principal.
///
/// A background task replaces the whole map from PostgreSQL every half second (`replace`), so a
/// rotation or revocation made on another instance takes effect here within a second; the
/// instance that makes a change applies it at once (`store`, `remove`). A refresh that read
/// PostgreSQL before such a local change is dropped (it could bring back a revoked token), and
/// the next one carries the change. When PostgreSQL cannot be read the last map stays.
final class AdminCredentialTable: Sendable {
    private struct State {
        var principals: [String: AdminPrincipal] = [:]
        /// Bumped by every local change; a refresh applies only if none happened while it read.
        var generation: UInt64 = 0
    }
    private let state = Mutex(State())

    /// The principal whose token hashes to `tokenSHA256`, if any.
    func principal(forTokenSHA256 tokenSHA256: String) -> AdminPrincipal? {
        state.withLock { $0.principals[tokenSHA256] }
    }

    /// How many credentials are known (for tests and logs).
    var count: Int { state.withLock { $0.principals.count } }

    /// The generation to hand to `replace` after reading PostgreSQL.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Replaces the map with what PostgreSQL held, unless a local change happened since
    /// `generation` was read; returns whether it was applied.
    @discardableResult
    func replace(_ rows: [(tokenSHA256: String, name: String, role: AdminRole)], readAt generation: UInt64) -> Bool {
        var principals: [String: AdminPrincipal] = [:]
        for row in rows { principals[row.tokenSHA256] = AdminPrincipal(name: row.name, role: row.role) }
        return state.withLock { state in
            guard state.generation == generation else { return false }
            state.principals = principals
            return true
        }
    }

    /// A credential created or rotated here: its old token stops working at once.
    func store(_ principal: AdminPrincipal, tokenSHA256: String) {
        state.withLock { state in
            state.principals = state.principals.filter { $0.value.name != principal.name }
            state.principals[tokenSHA256] = principal
            state.generation &+= 1
        }
    }

    /// A credential revoked here.
    func remove(name: String) {
        state.withLock { state in
            state.principals = state.principals.filter { $0.value.name != name }
            state.generation &+= 1
        }
    }
}
