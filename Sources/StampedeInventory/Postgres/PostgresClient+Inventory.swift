import StampedePostgres

/// How the repositories ask PostgreSQL: any failure becomes `InventoryError.unavailable`, the
/// error the API answers `503` with; an `InventoryError` thrown inside a transaction passes through.
extension PostgresClient {
    /// A prepared query.
    func inventoryQuery(_ sql: String, _ parameters: [String?] = []) async throws(InventoryError) -> PostgresResult {
        do {
            return try await query(sql, parameters, prepared: true)
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// `body` in one transaction.
    func inventoryTransaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws(InventoryError) -> T {
        do {
            return try await transaction(body)
        } catch let error as InventoryError {
            throw error
        } catch {
            throw .unavailable("postgres: \(error)")
        }
    }

    /// The epochs `sql` reads (its `$1` a text array of `ids`; each row an id and its `redis_epoch`),
    /// by id; ids whose epoch is null or unreadable are absent.
    func inventoryEpochs(_ sql: String, ids: [String]) async throws(InventoryError) -> [String: RedisEpoch] {
        guard !ids.isEmpty else { return [:] }
        var out: [String: RedisEpoch] = [:]
        for row in try await inventoryQuery(sql, [PostgresArray.text(ids)]).rows {
            if let id = row[0], let epoch = row[1].flatMap(RedisEpoch.init) { out[id] = epoch }
        }
        return out
    }
}
