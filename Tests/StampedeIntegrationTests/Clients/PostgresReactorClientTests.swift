import StampedePool
import StampedePostgres
import StampedeSystem
import Synchronization
import Testing

/// `PostgresReactorClient` and `PostgresReactorConnection` against a real PostgreSQL
/// (`STAMPEDE_TEST_PG`): statements from a reactor's thread and from outside, pipelined statements
/// each committed on its own, and the faults — a statement over its deadline, a backend killed
/// under pending statements, more statements than `maxPending`.
@Suite(TestServices.needsPostgres) struct PostgresReactorClientTests {
    /// A client on `count` fresh reactors; `body` runs with it, then both are shut down.
    private func withClient<T>(reactors count: Int = 1, maxPending: Int = 64, deadline: Duration = .seconds(5),
                               _ body: (PostgresReactorClient, [Reactor]) async throws -> T) async throws -> T {
        let reactors = try (0..<count).map { try Reactor(name: "pg-test-\($0)") }
        let client = PostgresReactorClient(reactors: reactors, conninfo: try TestServices.postgresConninfo(),
                                           maxPending: maxPending, statementDeadline: deadline)
        defer {
            client.shutdown()
            for reactor in reactors { reactor.shutdown() }
        }
        return try await body(client, reactors)
    }

    /// Runs `sql` on the client from a task on `executor`'s reactor (as a shard bound to it does)
    /// and reports whether the answer arrived on that reactor's thread.
    private func queryOnReactor(_ client: PostgresReactorClient, _ executor: ReactorExecutor, _ sql: String,
                                _ parameters: [String?] = [], prepared: Bool = false) async -> (Result<PostgresResult, PostgresError>, Bool) {
        let reactor = executor.reactor
        // The runtime holds a task executor unowned: the caller keeps `executor` alive.
        return await withCheckedContinuation { continuation in
            reactor.execute {
                Task(executorPreference: executor) {
                    let outcome: Result<PostgresResult, PostgresError>
                    do throws(PostgresError) { outcome = .success(try await client.query(sql, parameters, prepared: prepared)) } catch { outcome = .failure(error) }
                    continuation.resume(returning: (outcome, reactor.isCurrent))
                }
            }
        }
    }

    /// A backend process id of the connection the client uses (one reactor).
    private func backendPID(_ client: PostgresReactorClient) async throws -> String {
        let row = try await client.query("SELECT pg_backend_pid()::text AS pid")
        return try #require(row.string(0, "pid"))
    }

    /// Parameters bind as text with NULLs, prepared and not, from outside any reactor.
    @Test func bindsParametersFromOutsideAReactor() async throws {
        try await withClient { client, _ in
            let sql = "SELECT $1::bigint + 1 AS next, $2::text AS name, $3::text AS note"
            for prepared in [false, true, true] {
                let row = try await client.query(sql, ["41", "it's \"quoted\"", nil], prepared: prepared)
                #expect(row.int64(0, "next") == 42)
                #expect(row.string(0, "name") == "it's \"quoted\"")
                #expect(row[0, "note"] == nil)
            }
            let prepared = try await client.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1", [sql])
            #expect(prepared.int64(0, "n") == 1)
            do throws(PostgresError) {
                _ = try await client.query("SELECT 1/0")
                Issue.record("a division by zero succeeded")
            } catch {
                #expect(error.sqlState == "22012")
            }
            #expect(await client.ping())
            let statistics = client.statistics
            #expect(statistics.size == 1 && statistics.connected == 1)
            #expect(statistics.totalJobs == 6 && statistics.failedJobs == 1)
        }
    }

    /// A statement called on a reactor's thread runs on that reactor's connection and its caller
    /// resumes there.
    @Test func runsOnTheCallingReactorsConnection() async throws {
        try await withClient(reactors: 2) { client, reactors in
            var pids: [String] = []
            let executors = reactors.map { ReactorExecutor(reactor: $0) }
            for executor in executors {
                let (outcome, onReactor) = await queryOnReactor(client, executor, "SELECT pg_backend_pid()::text AS pid")
                #expect(onReactor)
                pids.append(try #require(try outcome.get().string(0, "pid")))
                // Again on the same reactor: the same connection.
                let (again, _) = await queryOnReactor(client, executor, "SELECT pg_backend_pid()::text AS pid")
                #expect(try again.get().string(0, "pid") == pids.last)
            }
            #expect(Set(pids).count == 2)
            withExtendedLifetime(executors) {}
        }
    }

    /// Statements in flight together in pipeline mode commit each on its own: one failing with a
    /// unique violation loses none of the others.
    @Test func pipelinedStatementsCommitEachOnItsOwn() async throws {
        try await withClient { client, reactors in
            let table = TestServices.uniqueName("reactor_test")
            _ = try await client.query("CREATE TABLE \(table) (id bigint PRIMARY KEY)")
            _ = try await client.query("INSERT INTO \(table) VALUES (7)")
            let insert = "INSERT INTO \(table) VALUES ($1)"
            // All issued in one go on the reactor's thread, so they share the pipeline.
            let outcomes = Mutex<[Int: Result<PostgresResult, PostgresError>]>([:])
            let connection = client.connections[0]
            reactors[0].execute {
                for id in 1...20 {
                    connection.query(insert, [String(id)], prepared: true) { outcome in
                        outcomes.withLock { $0[id] = outcome }
                    }
                }
            }
            for _ in 0..<500 where outcomes.withLock({ $0.count }) < 20 { System.sleep(nanoseconds: 10_000_000) }
            let results = outcomes.withLock { $0 }
            #expect(results.count == 20)
            for (id, outcome) in results {
                switch outcome {
                case .success(let result): #expect(id != 7 && result.affectedRows == 1)
                case .failure(let error): #expect(id == 7 && error.isUniqueViolation)
                }
            }
            let count = try await client.query("SELECT count(*) AS n FROM \(table)")
            #expect(count.int64(0, "n") == 20)
            _ = try await client.query("DROP TABLE \(table)")
        }
    }

    /// Concurrent callers from outside share the connections; every statement is answered.
    @Test func concurrentCallersAreAllAnswered() async throws {
        try await withClient(reactors: 2, maxPending: 200) { client, _ in
            let sums = try await withThrowingTaskGroup(of: Int64.self) { group in
                for value in 0..<200 {
                    group.addTask { try await client.query("SELECT $1::bigint AS v", [String(value)], prepared: true).int64(0, "v") ?? -1 }
                }
                var sum: Int64 = 0
                for try await value in group { sum += value }
                return sum
            }
            #expect(sums == (0..<200).reduce(0, +))
            #expect(client.statistics.totalJobs == 200)
        }
    }

    /// A statement over its deadline fails as an unknown outcome (`.io`), and the next call works
    /// on a new connection.
    @Test func statementOverItsDeadlineFailsAndTheNextReconnects() async throws {
        try await withClient(deadline: .milliseconds(200)) { client, _ in
            // The connection's first statement shares the 200 ms deadline: on a loaded run (the
            // clean-clone suite starting every client at once) connecting may take longer, which is
            // not what this test is about. It is retried (bounded), and the counts below are taken
            // from after it.
            var warm: String?
            for _ in 0..<20 where warm == nil { warm = try? await backendPID(client) }
            let before = try #require(warm, "no statement within 200 ms in 20 tries")
            let timeouts = client.statistics.timeouts, reconnects = client.statistics.reconnects
            let started = MonotonicClock.now()
            do throws(PostgresError) {
                _ = try await client.query("SELECT pg_sleep(1)")
                Issue.record("a statement over its deadline succeeded")
            } catch {
                guard case .io = error else { Issue.record("expected .io, got \(error)"); return }
            }
            // The `.io` itself shows the deadline fired (pg_sleep(1) would have succeeded); no
            // upper bound on the time: a loaded test run resumes callers late.
            let elapsed = MonotonicClock.seconds(since: started)
            #expect(elapsed >= 0.19)
            let after = try await backendPID(client)
            #expect(after != before)
            #expect(client.statistics.timeouts == timeouts + 1)
            #expect(client.statistics.reconnects == reconnects + 1)
        }
    }

    /// A backend killed with `pg_terminate_backend` fails the statements pending on it, and the
    /// next call reconnects.
    @Test func killedBackendFailsPendingStatementsAndTheNextReconnects() async throws {
        let admin = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { admin.shutdown() }
        try await withClient { client, reactors in
            let pid = try await backendPID(client)
            // Both issued in one go on the reactor's thread: the second waits behind the first in
            // the pipeline.
            let outcomes = Mutex<[Int: Result<PostgresResult, PostgresError>]>([:])
            let connection = client.connections[0]
            reactors[0].execute {
                connection.query("SELECT pg_sleep(3)", [], prepared: false) { outcome in outcomes.withLock { $0[0] = outcome } }
                connection.query("SELECT 2", [], prepared: false) { outcome in outcomes.withLock { $0[1] = outcome } }
            }
            var sleeping = false
            for _ in 0..<100 where !sleeping {
                let row = try await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1::int AND wait_event = 'PgSleep'", [pid])
                sleeping = row.int64(0, "n") == 1
                if !sleeping { try await Task.sleep(for: .milliseconds(20)) }
            }
            try #require(sleeping, "the backend never ran pg_sleep")
            let terminated = try await admin.query("SELECT pg_terminate_backend($1::int, 5000) AS ok", [pid])
            #expect(terminated.bool(0, "ok") == true)
            for _ in 0..<250 where outcomes.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(10)) }
            let results = outcomes.withLock { $0 }
            #expect(results.count == 2)
            for (_, outcome) in results {
                guard case .failure(.io) = outcome else { Issue.record("expected .io, got \(outcome)"); continue }
            }
            let after = try await backendPID(client)
            #expect(after != pid)
            #expect(client.statistics.reconnects == 1)
        }
    }

    /// An idle connection whose backend was killed is replaced on the next call.
    @Test func killedIdleBackendIsReplaced() async throws {
        let admin = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { admin.shutdown() }
        try await withClient { client, _ in
            let pid = try await backendPID(client)
            _ = try await admin.query("SELECT pg_terminate_backend($1::int, 5000)", [pid])
            // The reactor notices the close on its own (end-of-file on the idle socket).
            for _ in 0..<500 where client.statistics.connected == 1 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(client.statistics.connected == 0)
            #expect(try await backendPID(client) != pid)
        }
    }

    /// Beyond `maxPending` statements queued or in flight, calls fail fast with `.overloaded`.
    @Test func beyondMaxPendingCallsAreRefused() async throws {
        try await withClient(maxPending: 2) { client, reactors in
            let outcomes = Mutex<[Result<PostgresResult, PostgresError>]>([])
            let connection = client.connections[0]
            reactors[0].execute {
                for _ in 0..<4 {
                    connection.query("SELECT pg_sleep(0.2)", [], prepared: false) { outcome in outcomes.withLock { $0.append(outcome) } }
                }
            }
            for _ in 0..<300 where outcomes.withLock({ $0.count }) < 4 { System.sleep(nanoseconds: 10_000_000) }
            let results = outcomes.withLock { $0 }
            #expect(results.count == 4)
            let refused = results.filter { if case .failure(.pool(.overloaded(maxWaiting: 2))) = $0 { true } else { false } }
            let succeeded = results.filter { if case .success = $0 { true } else { false } }
            #expect(refused.count == 2 && succeeded.count == 2)
            #expect(client.statistics.rejectedOverloaded == 2)
        }
    }

    /// A server that refuses connections fails calls with `.connect`, then fast (back-off) with
    /// the same error.
    @Test func unreachableServerFailsWithConnectErrors() async throws {
        let reactor = try Reactor(name: "pg-test-down")
        let client = PostgresReactorClient(reactors: [reactor], conninfo: "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2",
                                           statementDeadline: .seconds(1))
        defer { client.shutdown(); reactor.shutdown() }
        for _ in 0..<3 {
            do throws(PostgresError) {
                _ = try await client.query("SELECT 1")
                Issue.record("a query on a closed port succeeded")
            } catch {
                guard case .connect = error else { Issue.record("expected .connect, got \(error)"); continue }
            }
        }
        #expect(client.statistics.connected == 0)
    }
}
