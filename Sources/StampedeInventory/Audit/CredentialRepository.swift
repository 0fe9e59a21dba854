import StampedePostgres

/// A named admin credential as listed: never its token or the token's hash.
public struct AdminCredential: Sendable, Equatable {
    public var name: String
    public var role: AdminRole
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

/// The `admin_credentials` table (schema version 7): named bearer tokens with a role. PostgreSQL
/// keeps only the SHA-256 of each token; every change writes its audit entry in its transaction.
public struct CredentialRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// Creates the credential `name`, or rotates it (new token hash, new role); true when created.
    /// `tokenSHA256` is the SHA-256 of the new token in lowercase hex (64 digits).
    public func put(_ name: String, role: AdminRole, tokenSHA256: String, change: AdminChange) async throws(InventoryError) -> Bool {
        try await writer.inventoryTransaction { connection in
            let previous = try connection.query("SELECT role FROM admin_credentials WHERE name = $1 FOR UPDATE", [name])
            let before = previous.rows.first?[0] ?? nil
            _ = try connection.query("""
            INSERT INTO admin_credentials (name, role, token_sha256) VALUES ($1, $2, decode($3, 'hex'))
            ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, token_sha256 = EXCLUDED.token_sha256, updated_at = now()
            """, [name, role.rawValue, tokenSHA256])
            try AuditLog.record(AuditEntry(change: change, action: before == nil ? .credentialCreated : .credentialRotated,
                                           target: name, before: before.map(Self.roleJSON), after: Self.roleJSON(role.rawValue)),
                                on: connection)
            return before == nil
        }
    }

    /// Revokes the credential `name`; false when there is none.
    public func delete(_ name: String, change: AdminChange) async throws(InventoryError) -> Bool {
        try await writer.inventoryTransaction { connection in
            let deleted = try connection.query("DELETE FROM admin_credentials WHERE name = $1 RETURNING role", [name])
            guard let role = deleted.rows.first?[0] ?? nil else { return false }
            try AuditLog.record(AuditEntry(change: change, action: .credentialRevoked, target: name,
                                           before: Self.roleJSON(role), after: nil), on: connection)
            return true
        }
    }

    /// Every credential, sorted by name.
    public func list() async throws(InventoryError) -> [AdminCredential] {
        let rows = try await writer.inventoryQuery("""
        SELECT name, role, floor(extract(epoch FROM created_at) * 1000)::bigint, floor(extract(epoch FROM updated_at) * 1000)::bigint
        FROM admin_credentials ORDER BY name
        """).rows
        return rows.compactMap { row in
            guard row.count == 4, let name = row[0], let role = row[1].flatMap(AdminRole.init(rawValue:)),
                  let created = row[2].flatMap({ Int64($0) }), let updated = row[3].flatMap({ Int64($0) }) else { return nil }
            return AdminCredential(name: name, role: role, createdAt: Timestamp(milliseconds: created), updatedAt: Timestamp(milliseconds: updated))
        }
    }

    /// Every credential's token hash (lowercase hex), name and role: what an instance authenticates with.
    public func hashes() async throws(InventoryError) -> [(tokenSHA256: String, name: String, role: AdminRole)] {
        let rows = try await writer.inventoryQuery("SELECT encode(token_sha256, 'hex'), name, role FROM admin_credentials").rows
        return rows.compactMap { row in
            guard row.count == 3, let hash = row[0], let name = row[1],
                  let role = row[2].flatMap(AdminRole.init(rawValue:)) else { return nil }
            return (hash, name, role)
        }
    }

    /// `{"role": "<role>"}`: a credential's state in the audit log (never its token or hash).
    static func roleJSON(_ role: String) -> String { "{\"role\": \"\(role)\"}" }
}
