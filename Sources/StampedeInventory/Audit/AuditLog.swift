import StampedePostgres

/// The `admin_audit` table (schema version 7): one row per admin change.
///
/// `record` writes on a connection the caller holds inside its own transaction, so an entry
/// commits with the change it describes or not at all; a refused change writes nothing.
public enum AuditLog {
    /// Inserts `entry` on `connection`; call it inside the transaction that makes the change.
    public static func record(_ entry: AuditEntry, on connection: PostgresConnection) throws(PostgresError) {
        _ = try connection.query("""
        INSERT INTO admin_audit (actor, address, request_id, action, target, before, after)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
        """, [entry.change.actor, entry.change.address, entry.change.requestID, entry.action.rawValue, entry.target,
              entry.before, entry.after], prepared: true)
    }

    /// Records `entry` in a transaction of its own, for a change PostgreSQL does not hold (a
    /// configuration reload).
    public static func record(_ entry: AuditEntry, on writer: PostgresClient) async throws(InventoryError) {
        try await writer.inventoryTransaction { connection in try record(entry, on: connection) }
    }

    /// The entries `query` selects, newest first (by id, which is also the paging cursor).
    public static func entries(_ query: AuditQuery, on writer: PostgresClient) async throws(InventoryError) -> [RecordedAuditEntry] {
        let result = try await writer.inventoryQuery("""
            SELECT id, floor(extract(epoch FROM at) * 1000)::bigint, actor, address, request_id, action, target,
                   before::text, after::text
            FROM admin_audit
            WHERE ($1::bigint IS NULL OR id < $1::bigint)
              AND ($2::bigint IS NULL OR at >= to_timestamp($2::bigint / 1000.0))
            ORDER BY id DESC LIMIT $3
            """, [query.before.map(String.init), query.since.map { String($0.milliseconds) }, String(query.limit)])
        return result.rows.compactMap { row -> RecordedAuditEntry? in
            guard row.count == 9, let id = row[0].flatMap({ Int64($0) }), let at = row[1].flatMap({ Int64($0) }),
                  let actor = row[2], let action = row[5], let target = row[6] else { return nil }
            return RecordedAuditEntry(id: id, at: Timestamp(milliseconds: at), actor: actor, address: row[3],
                                      requestID: row[4], action: action, target: target, before: row[7], after: row[8])
        }
    }
}
