import StampedePostgres

/// The `exclusive_groups` table: each group's limit, and the epoch of its claims PostgreSQL
/// accepts commits for.
public struct GroupRepository: Sendable {
    public let writer: PostgresClient

    public init(writer: PostgresClient) { self.writer = writer }

    /// Creates or changes a group's limit and records it in the audit log (`group.defined` /
    /// `group.changed`, the row before and after), in one transaction; true when created.
    public func save(_ group: ExclusiveGroup, change: AdminChange) async throws(InventoryError) -> Bool {
        try await writer.inventoryTransaction { connection in
            let before = try connection.query(Self.rowJSON + " WHERE group_id = $1 FOR NO KEY UPDATE", [group.groupID],
                                              prepared: true).rows.first?[0] ?? nil
            let saved = try connection.query("""
            INSERT INTO exclusive_groups (group_id, per_user_limit) VALUES ($1, $2)
            ON CONFLICT (group_id) DO UPDATE SET per_user_limit = EXCLUDED.per_user_limit, updated_at = now()
            RETURNING (xmax = 0), jsonb_build_object('group_id', group_id, 'per_user_limit', per_user_limit)::text
            """, [group.groupID, String(group.perUserLimit)], prepared: true)
            let created = saved.rows.first?[0] == "t"
            try AuditLog.record(AuditEntry(change: change, action: created ? .groupDefined : .groupChanged, target: group.groupID,
                                           before: before, after: saved.rows.first?[1] ?? nil), on: connection)
            return created
        }
    }

    /// A group's row as the audit log records it (its limit; the epoch is Redis bookkeeping).
    private static let rowJSON = "SELECT jsonb_build_object('group_id', group_id, 'per_user_limit', per_user_limit)::text FROM exclusive_groups"

    /// The group with its sales, nil when it does not exist.
    public func group(_ groupID: String) async throws(InventoryError) -> ExclusiveGroup? {
        let result = try await run("""
        SELECT g.per_user_limit, COALESCE(array_to_string(array_agg(s.sale_id ORDER BY s.sale_id) FILTER (WHERE s.sale_id IS NOT NULL), ','), '')
        FROM exclusive_groups g LEFT JOIN sales s ON s.exclusive_group = g.group_id AND s.parent_sale_id IS NULL
        WHERE g.group_id = $1 GROUP BY g.group_id
        """, [groupID])
        guard let row = result.rows.first, let limit = row[0].flatMap({ Int64($0) }) else { return nil }
        let sales = (row[1] ?? "").split(separator: ",").map(String.init)
        return ExclusiveGroup(groupID: groupID, perUserLimit: limit, sales: sales)
    }

    /// Deletes a group and records it in the audit log (`group.deleted`), in one transaction:
    /// false when it does not exist; throws `groupInUse` while a sale names it.
    public func delete(_ groupID: String, change: AdminChange) async throws(InventoryError) -> Bool {
        do {
            return try await writer.transaction { connection -> Bool in
                let deleted = try connection.query("""
                DELETE FROM exclusive_groups WHERE group_id = $1
                RETURNING jsonb_build_object('group_id', group_id, 'per_user_limit', per_user_limit)::text
                """, [groupID], prepared: true)
                guard let row = deleted.rows.first else { return false }
                try AuditLog.record(AuditEntry(change: change, action: .groupDeleted, target: groupID, before: row[0], after: nil),
                                    on: connection)
                return true
            }
        } catch let error as PostgresError where error.isForeignKeyViolation {
            throw .groupInUse(groupID)
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// Every group's id, for the reconciler.
    public func groupIDs() async throws(InventoryError) -> [String] {
        try await run("SELECT group_id FROM exclusive_groups ORDER BY group_id", []).rows.compactMap { $0[0] }
    }

    /// The epoch PostgreSQL accepts commits for, per group (absent: unknown or never built).
    public func epochs(_ groupIDs: [String]) async throws(InventoryError) -> [String: RedisEpoch] {
        try await writer.inventoryEpochs("SELECT group_id, redis_epoch FROM exclusive_groups WHERE group_id = ANY($1::text[])",
                                         ids: groupIDs)
    }

    /// Moves a group to the next epoch on Redis run `runID` and reads its claims from the held
    /// orders of its sales, in one transaction holding the group's row `FOR UPDATE`.
    ///
    /// Every commit of the group's orders takes the row `FOR KEY SHARE` in its fence, so the lock
    /// waits for those in flight (the claims include them) and holds off the rest until the new
    /// epoch is committed (those decided under the old claims are then refused). Nil when the group
    /// does not exist.
    ///
    /// `aboveGeneration`: the generation Redis holds, which the new one must pass (keys left by a
    /// deleted group of the same id would otherwise win over the rebuild).
    public func rebuildSnapshot(_ groupID: String, runID: String, aboveGeneration: Int64 = 0) async throws(InventoryError) -> GroupSnapshot? {
        try await writer.inventoryTransaction { connection -> GroupSnapshot? in
            let head = try connection.query(
                "SELECT redis_epoch, per_user_limit FROM exclusive_groups WHERE group_id = $1 FOR UPDATE", [groupID])
            guard let row = head.rows.first, let limit = row[1].flatMap({ Int64($0) }) else { return nil }
            var epoch = RedisEpoch.next(after: row[0].flatMap(RedisEpoch.init), runID: runID)
            epoch.generation = max(epoch.generation, aboveGeneration + 1)
            _ = try connection.query("UPDATE exclusive_groups SET redis_epoch = $2 WHERE group_id = $1",
                                     [groupID, epoch.description])
            let claims = try connection.query("""
            SELECT o.order_id, o.user_id, o.quantity, o.sale_id, (extract(epoch FROM o.created_at) * 1000)::bigint
            FROM orders o JOIN sales s ON s.sale_id = o.sale_id
            WHERE s.exclusive_group = $1 AND o.status IN ('reserved', 'paid')
            """, [groupID]).rows.compactMap { row -> GroupClaim? in
                guard let id = row[0], let user = row[1], let quantity = row[2].flatMap({ Int64($0) }), let sale = row[3],
                      let created = row[4].flatMap({ Int64($0) }) else { return nil }
                return GroupClaim(orderID: id, userID: user, quantity: quantity, saleID: sale,
                                  createdAt: Timestamp(milliseconds: created))
            }
            return GroupSnapshot(groupID: groupID, epoch: epoch, perUserLimit: limit, claims: claims)
        }
    }

    private func run(_ sql: String, _ params: [String?]) async throws(InventoryError) -> PostgresResult {
        try await writer.inventoryQuery(sql, params)
    }
}
