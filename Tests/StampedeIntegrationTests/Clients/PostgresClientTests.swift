import StampedePool
import StampedePostgres
import Testing

/// `PostgresClient` and `PostgresConnection` against a real PostgreSQL (`STAMPEDE_TEST_PG`).
@Suite(TestServices.needsPostgres) struct PostgresClientTests {
    /// An error thrown inside a transaction body to force a rollback.
    struct Abort: Error {}

    private func makeClient(poolSize: Int = 2) throws -> PostgresClient {
        PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: poolSize)
    }

    /// Creates a table with a unique name for one test; the caller drops it.
    private func makeTable(_ client: PostgresClient) async throws -> String {
        let table = TestServices.uniqueName("clients_test")
        _ = try await client.query("CREATE TABLE \(table) (id bigint PRIMARY KEY, name text, note text, active boolean)")
        return table
    }

    /// Parameters bind as text with `nil` as NULL, and the accessors read the row back (temp table).
    @Test func bindsParametersIncludingNull() async throws {
        let client = try makeClient()
        let row = try await client.withConnection { connection in
            try connection.execute("CREATE TEMP TABLE params (id bigint, name text, note text, active boolean); SET search_path TO pg_temp, public")
            let insert = try connection.query(
                "INSERT INTO params VALUES ($1, $2, $3, $4)", ["42", "it's \"quoted\"; DROP TABLE x", nil, "true"]
            )
            #expect(insert.affectedRows == 1)
            let result = try connection.query("SELECT id, name, note, active FROM params WHERE id = $1", ["42"])
            try connection.execute("DROP TABLE params")
            return result
        }
        #expect(row.columns == ["id", "name", "note", "active"])
        #expect(row.int64(0, "id") == 42)
        #expect(row.string(0, "name") == "it's \"quoted\"; DROP TABLE x")
        #expect(row[0, "note"] == nil)
        #expect(row.bool(0, "active") == true)
    }

    /// A prepared statement is prepared once per connection and then only executed: it gives the
    /// same answers as the unprepared one, each execution binds its own parameters, an error in
    /// one execution leaves the statement usable, and the server holds exactly one prepared
    /// statement for the text however often it runs.
    @Test func preparedStatementsArePreparedOnceAndReused() async throws {
        let client = try makeClient(poolSize: 1)
        let table = try await makeTable(client)
        let insert = "INSERT INTO \(table) (id, name) VALUES ($1, $2) RETURNING id"
        let counts = try await client.withConnection { connection -> [Int64] in
            for id in 1...10 { _ = try connection.query(insert, [String(id), "n\(id)"], prepared: true) }
            do {
                _ = try connection.query(insert, ["1", "duplicate"], prepared: true)
                Issue.record("a duplicate key was accepted")
            } catch PostgresError.query(let state, _) {
                #expect(state == "23505")
            }
            _ = try connection.query(insert, ["11", "after the error"], prepared: true)
            let prepared = try connection.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1", [insert])
            let rows = try connection.query("SELECT count(*) AS n FROM \(table) WHERE name LIKE 'n%' OR name = 'after the error'")
            return [prepared.int64(0, "n") ?? -1, rows.int64(0, "n") ?? -1]
        }
        #expect(counts == [1, 11])
        let viaPrepared = try await client.query("SELECT name FROM \(table) WHERE id = $1", ["7"], prepared: true)
        let viaPlain = try await client.query("SELECT name FROM \(table) WHERE id = $1", ["7"])
        #expect(viaPrepared.string(0, "name") == "n7")
        #expect(viaPrepared == viaPlain)
        _ = try await client.query("DROP TABLE \(table)")
    }

    /// A throwing body rolls the transaction back; a returning body commits.
    @Test func transactionRollsBackOnThrow() async throws {
        let client = try makeClient()
        let table = try await makeTable(client)
        await #expect(throws: Abort.self) {
            try await client.transaction { connection in
                _ = try connection.query("INSERT INTO \(table) (id) VALUES (1)")
                throw Abort()
            }
        }
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").int64(0, "n") == 0)
        try await client.transaction { connection in
            _ = try connection.query("INSERT INTO \(table) (id) VALUES (2)")
        }
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").int64(0, "n") == 1)
        _ = try await client.query("DROP TABLE \(table)")
    }

    /// A body that swallows a failed statement cannot commit: COMMIT's rollback is thrown.
    @Test func transactionWithSwallowedErrorThrowsOnCommit() async throws {
        let client = try makeClient()
        let table = try await makeTable(client)
        await #expect {
            try await client.transaction { connection in
                _ = try connection.query("INSERT INTO \(table) (id) VALUES (1)")
                _ = try? connection.query("INSERT INTO \(table) (id) VALUES (1)")
            }
        } throws: { error in
            (error as? PostgresError)?.sqlState == "40000"
        }
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").int64(0, "n") == 0)
        _ = try await client.query("DROP TABLE \(table)")
    }

    /// A duplicate primary key maps to `isUniqueViolation` with SQLSTATE 23505.
    @Test func duplicateKeyIsUniqueViolation() async throws {
        let client = try makeClient()
        let table = try await makeTable(client)
        _ = try await client.query("INSERT INTO \(table) (id) VALUES ($1)", ["7"])
        await #expect {
            try await client.query("INSERT INTO \(table) (id) VALUES ($1)", ["7"])
        } throws: { error in
            (error as? PostgresError)?.isUniqueViolation == true
        }
        #expect(client.statistics.reconnects == 0)
        _ = try await client.query("DROP TABLE \(table)")
    }

    /// 100 concurrent inserts through a pool of 4 connections all land.
    @Test func concurrentInsertsThroughSmallPool() async throws {
        let client = try makeClient(poolSize: 4)
        let table = try await makeTable(client)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 0..<100 {
                group.addTask { _ = try await client.query("INSERT INTO \(table) (id, name) VALUES ($1, $2)", [String(id), "order \(id)"]) }
            }
            try await group.waitForAll()
        }
        let result = try await client.query("SELECT count(DISTINCT id) AS n FROM \(table)")
        #expect(result.int64(0, "n") == 100)
        #expect(client.statistics.connected <= 4)
        _ = try await client.query("DROP TABLE \(table)")
    }

    /// A backend killed with `pg_terminate_backend` while idle is replaced on the next call.
    @Test func replacesTerminatedBackend() async throws {
        let client = try makeClient(poolSize: 1)
        let admin = try makeClient(poolSize: 1)
        let firstPID = try #require(try await client.query("SELECT pg_backend_pid() AS pid").string(0, "pid"))
        let terminated = try await admin.query("SELECT pg_terminate_backend($1::int, 5000) AS ok", [firstPID])
        #expect(terminated.bool(0, "ok") == true)
        let secondPID = try #require(try await client.query("SELECT pg_backend_pid() AS pid").string(0, "pid"))
        #expect(secondPID != firstPID)
        #expect(client.statistics.reconnects == 1)
    }

    /// A job that leaves a transaction open gets a fresh connection afterwards, not the open transaction.
    @Test func openTransactionIsNotLeakedToNextJob() async throws {
        let client = try makeClient(poolSize: 1)
        let leakingPID = try await client.withConnection { connection in
            try connection.execute("BEGIN")
            return try connection.query("SELECT pg_backend_pid() AS pid").string(0, "pid")
        }
        let nextPID = try await client.query("SELECT pg_backend_pid() AS pid").string(0, "pid")
        #expect(nextPID != leakingPID)
        #expect(client.statistics.reconnects == 1)
    }

    /// With no server listening, calls fail with `.connect` and `ping` answers false.
    @Test func unreachableServerFails() async throws {
        let client = PostgresClient(conninfo: "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1", poolSize: 1)
        await #expect {
            try await client.query("SELECT 1")
        } throws: { error in
            if case PostgresError.connect = error { true } else { false }
        }
        #expect(await client.ping() == false)
        #expect(try await makeClient().ping())
    }
}
