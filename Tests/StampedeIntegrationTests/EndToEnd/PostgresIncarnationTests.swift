import StampedeInventory
import StampedePostgres
import StampedeRedis
import Testing

/// PostgreSQL restored to an earlier point (or a promoted standby) is *behind* Redis, with the old
/// epochs back in its `sales` rows. Its incarnation — system identifier and timeline — is part of
/// every sale's epoch, so counters built under another one are rebuilt from PostgreSQL, and the
/// orders Redis had taken that PostgreSQL lost are logged and kept in `lost_orders`.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct PostgresIncarnationTests {
    private static func postgres() throws -> PostgresClient {
        PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
    }

    /// Stampede reads PostgreSQL's system identifier and timeline before it serves, and every
    /// sale's run string is the Redis node's identity, `@`, that incarnation.
    @Test func epochsNameThePostgresIncarnation() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("incarnation")
            _ = try await stampede.createSale(sale, stock: 3, perUserLimit: 1)
            let postgres = try Self.postgres()
            defer { postgres.shutdown() }
            let row = try await postgres.query(PostgresIncarnation.query).rows.first ?? []
            let expected = PostgresIncarnation(systemIdentifier: row[0] ?? "?", timeline: Int64(row[1] ?? "") ?? -1)
            #expect(stampede.service.inventory.incarnation.current == expected)
            let redis = try await TestRedis.connect()
            defer { redis.shutdown() }
            let keys = SaleKeys(saleID: sale)
            let run = try await redis.command(["HGET", keys.sale, "run"]).string
            #expect(run == "\(try await redis.nodeToken(forKey: keys.sale))@\(expected)")
            let epoch = try await postgres.query("SELECT redis_epoch FROM sales WHERE sale_id = $1", [sale]).rows.first?[0] ?? nil
            #expect(epoch?.hasPrefix((run ?? "?") + "/") == true, "PostgreSQL fences on the same run: \(epoch ?? "nil")")
        }
    }

    /// The state a restore leaves: Redis's counters and PostgreSQL's `sales` row carry an epoch of
    /// an earlier incarnation, and an order Redis took (its idempotency record, its unit) is gone
    /// from PostgreSQL. The rebuild records that order in `lost_orders`, and the counters come back
    /// from PostgreSQL at the current incarnation: the lost order's unit is available again and its
    /// key is free. Fails if the rebuild skips the check (no row) or keeps Redis's counters.
    @Test func rebuildAfterARestoreRecordsTheOrdersPostgresLost() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("restored")
            _ = try await stampede.createSale(sale, stock: 5, perUserLimit: 2)
            let client = try stampede.client()
            var ids: [String: String] = [:]
            for user in ["kept", "lost"] {
                let answer = try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}",
                                                   headers: [("Idempotency-Key", "key-\(user)")])
                #expect(answer.status == 201, "\(answer.text)")
                ids[user] = answer.json["order_id"]?.stringValue
            }
            let inventory = stampede.service.inventory
            let now = try #require(inventory.incarnation.current)
            let keys = SaleKeys(saleID: sale)
            let redis = try await TestRedis.connect()
            defer { redis.shutdown() }
            let postgres = try Self.postgres()
            defer { postgres.shutdown() }
            // What a restore to an earlier point leaves: the epoch of the old timeline in both
            // stores, and PostgreSQL without the last order.
            let token = try await redis.nodeToken(forKey: keys.sale)
            let old = RedisEpoch(runID: RedisEpoch.run(redis: token, postgres: PostgresIncarnation(
                systemIdentifier: now.systemIdentifier, timeline: now.timeline + 100)), generation: 7)
            _ = try await redis.command(["HSET", keys.sale, "run", old.runID, "gen", "7"])
            // Other tests' reconcilers would repair it first: out of their window (a scoped rebuild still sees it).
            _ = try await postgres.query("""
            UPDATE sales SET redis_epoch = $2, starts_at = now() - interval '3 days', ends_at = now() - interval '2 days'
            WHERE sale_id = $1
            """, [sale, old.description])
            _ = try await postgres.query("DELETE FROM orders WHERE order_id = $1", [ids["lost"]])

            #expect(try await inventory.rebuild(sale))
            let lost = try await postgres.query(
                "SELECT order_id, user_id, idempotency_key, redis_epoch, postgres_incarnation FROM lost_orders WHERE sale_id = $1", [sale]).rows
            #expect(lost.count == 1, "\(lost)")
            #expect(lost.first == [ids["lost"], "lost", "key-lost", old.description, now.description], "\(lost)")
            let run = try await redis.command(["HGET", keys.sale, "run"]).string
            #expect(run == "\(token)@\(now)", "rebuilt at the current incarnation")
            #expect(try await redis.command(["HGET", keys.sale, "avail"]).string == "4", "the lost order's unit is back")
            #expect(try await redis.command(["HGET", keys.idempotency, "lost|key-lost"]).string == nil, "its key is free again")
        }
    }
}
