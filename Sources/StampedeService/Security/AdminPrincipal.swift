import StampedeInventory

/// Who an `/admin` request authenticated as: a named credential, or `bootstrap` for the
/// configured `admin_token`.
struct AdminPrincipal: Sendable, Equatable {
    var name: String
    var role: AdminRole

    /// The name of the configured `admin_token`; reserved, no credential may take it.
    static let bootstrapName = "bootstrap"
    static let bootstrap = AdminPrincipal(name: bootstrapName, role: .admin)

    /// Actor names of the audit log that are not credentials; no credential may take them.
    static let reservedNames: Set<String> = [bootstrapName, AdminChange.sighup.actor]
}

extension AdminChange {
    /// A configuration reload asked by `SIGHUP` (no client address or request).
    public static let sighup = AdminChange(actor: "sighup", address: nil, requestID: nil)
}
