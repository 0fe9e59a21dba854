/// What an audit entry says was done: a dotted name such as `sale.defined`.
///
/// A struct rather than an enum so that other modules' changes add their own actions
/// (`extension AuditAction { static let groupDefined = AuditAction("group.defined") }`).
public struct AuditAction: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let saleDefined = AuditAction("sale.defined")
    public static let saleReplaced = AuditAction("sale.replaced")
    public static let saleRestocked = AuditAction("sale.restocked")
    public static let saleRebucketed = AuditAction("sale.rebucketed")
    public static let credentialCreated = AuditAction("credential.created")
    public static let credentialRotated = AuditAction("credential.rotated")
    public static let credentialRevoked = AuditAction("credential.revoked")
    public static let configReloaded = AuditAction("config.reloaded")
    public static let groupDefined = AuditAction("group.defined")
    public static let groupChanged = AuditAction("group.changed")
    public static let groupDeleted = AuditAction("group.deleted")
}

/// One admin change to record: who (`change`), what (`action` on `target`), and the state before
/// and after as JSON text (nil: none, e.g. `before` of a creation). Never holds a secret.
public struct AuditEntry: Sendable, Equatable {
    public var change: AdminChange
    public var action: AuditAction
    /// What was changed: a sale id, a credential name, `config`.
    public var target: String
    /// A JSON document (stored as `jsonb`), or nil.
    public var before: String?
    public var after: String?

    public init(change: AdminChange, action: AuditAction, target: String, before: String?, after: String?) {
        self.change = change
        self.action = action
        self.target = target
        self.before = before
        self.after = after
    }
}

/// An entry as read back from `admin_audit`, newest first.
public struct RecordedAuditEntry: Sendable, Equatable {
    /// The row's id: the paging cursor (`before`).
    public var id: Int64
    public var at: Timestamp
    public var actor: String
    public var address: String?
    public var requestID: String?
    public var action: String
    public var target: String
    /// JSON text as PostgreSQL prints `jsonb`, or nil (JSON `null`).
    public var before: String?
    public var after: String?
}

/// Which entries `GET /admin/audit` asks for: at most `limit`, at or after `since`, older than the
/// entry with id `before`.
public struct AuditQuery: Sendable, Equatable {
    public static let defaultLimit = 100
    public static let limits = 1...500

    public var limit: Int
    public var since: Timestamp?
    public var before: Int64?

    public init(limit: Int = AuditQuery.defaultLimit, since: Timestamp? = nil, before: Int64? = nil) {
        self.limit = limit
        self.since = since
        self.before = before
    }
}
