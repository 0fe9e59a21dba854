import Foundation
import Glibc
import Testing

/// A purchase whose commit was not confirmed by the synchronous WAL receiver is not a sale: real
/// PostgreSQL, a real `pg_receivewal --synchronous` named in `synchronous_standby_names`, a real
/// Stampede. With the receiver stopped the commit waits; cancelling the wait makes PostgreSQL
/// answer success with the warning "committed locally but might not have been replicated", and
/// Stampede must answer `503 unavailable`. Once the receiver is back, a retry with the same
/// Idempotency-Key finds that very order.
///
/// Run with the fault-injection tests (`STAMPEDE_FAULT_TESTS=1`, scripts/test).
@Suite(.serialized, FaultEnvironment.trait)
struct SynchronousReceiverTests {
    static let receiver = "fault_receiver"

    /// The WAL receiver of the test's PostgreSQL, started and stopped by the test.
    final class Receiver: @unchecked Sendable {
        let postgres: FaultPostgres
        let directory: String
        private var process: ChildProcess?

        init(postgres: FaultPostgres, directory: String) throws {
            self.postgres = postgres
            self.directory = directory
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FaultEnvironment.run("/usr/bin/chown", [FaultEnvironment.postgresUser, directory])
            try FaultPostgres.asUser(FaultEnvironment.postgresBin + "/pg_receivewal",
                                     ["-d", conninfo, "--slot", SynchronousReceiverTests.receiver, "--create-slot", "--if-not-exists"])
        }

        deinit { stop() }

        var conninfo: String {
            "host=127.0.0.1 port=\(postgres.port) user=stampede application_name=\(SynchronousReceiverTests.receiver)"
        }

        /// Starts pg_receivewal and waits until PostgreSQL streams to it.
        func start() throws {
            process = try ChildProcess("/usr/bin/setpriv", [
                "--reuid=\(FaultEnvironment.postgresUser)", "--regid=\(FaultEnvironment.postgresUser)", "--init-groups",
                FaultEnvironment.postgresBin + "/pg_receivewal", "-d", conninfo, "-D", directory,
                "--slot", SynchronousReceiverTests.receiver, "--synchronous", "--status-interval=1",
            ], outputPath: directory + "/../receiver.log")
            // scripts/test kills a receiver by this pid file if the test run dies.
            try? String(process!.pid).write(toFile: directory + "/../receiver.pid", atomically: true, encoding: .utf8)
            let streaming = FaultEnvironment.wait(seconds: 15) { (try? self.state()) == "streaming" }
            if !streaming { throw ChildFailure(description: "pg_receivewal is not streaming; see \(directory)/../receiver.log") }
        }

        /// `kill -9` (children of the test process inherit its blocked signal mask: SIGTERM
        /// would stay pending).
        func stop() {
            guard let process else { return }
            process.send(SIGKILL)
            process.wait()
            self.process = nil
            unlink(directory + "/../receiver.pid")
        }

        /// The receiver's row in pg_stat_replication: its state, or "" when not connected.
        func state(_ column: String = "state") throws -> String {
            try postgres.query("SELECT \(column) FROM pg_stat_replication WHERE application_name = '\(SynchronousReceiverTests.receiver)'")
                .first?.first ?? ""
        }
    }

    /// Makes the receiver PostgreSQL's synchronous standby (`synchronous_commit = on`: flush).
    private func makeSynchronous(_ scenario: FaultScenario, _ receiver: Receiver) throws {
        _ = try scenario.postgres.query("ALTER SYSTEM SET synchronous_standby_names = '\(Self.receiver)'")
        _ = try scenario.postgres.query("SELECT pg_reload_conf()")
        let sync = FaultEnvironment.wait(seconds: 15) { (try? receiver.state("sync_state")) == "sync" }
        try #require(sync, "PostgreSQL does not count \(Self.receiver) as its synchronous standby")
    }

    private func buy(_ port: Int, _ saleID: String, user: String, key: String) throws -> HTTPTestClient.Response {
        try HTTPTestClient(port: port, timeoutSeconds: 60).request(
            "POST", "/v1/sales/\(saleID)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}",
            headers: [("Idempotency-Key", key)])
    }

    /// With the receiver stopped, a purchase's commit waits for it; `pg_cancel_backend` ends the
    /// wait with "committed locally but might not have been replicated" and the buyer gets `503
    /// unavailable`, although the row is there. With the receiver back, the retry with the same
    /// key answers `200` with that order, and the key holds one order only. Fails if Stampede
    /// treats the warned commit as a success (it would answer `201`).
    @Test func cancelledWaitForTheReceiverIsNotAConfirmedSale() async throws {
        let scenario = try FaultScenario("sync-receiver", stock: 10)
        defer { scenario.tearDown() }
        let receiver = try Receiver(postgres: scenario.postgres, directory: scenario.directory + "/wal-received")
        defer { receiver.stop() }
        try receiver.start()
        try makeSynchronous(scenario, receiver)
        // Reconciler later than the test needs, so the buyer's own retry is what finds the order.
        let stampede = try scenario.startStampede()
        try scenario.createSale(on: stampede)
        let saleID = scenario.saleID
        let port = stampede.port

        let confirmed = try buy(port, saleID, user: "alice", key: "sync-alice")
        #expect(confirmed.status == 201, "a commit the receiver confirmed is a sale: \(confirmed.text)")

        receiver.stop()
        #expect(FaultEnvironment.wait(seconds: 10) { (try? receiver.state()) == "" }, "the receiver is still connected")
        async let waiting = BlockingThreads.perform { try self.buy(port, saleID, user: "bob", key: "sync-bob") }
        // The commit waits for the receiver (wait event SyncRep) until its wait is cancelled.
        var waiters: [String] = []
        let blocked = FaultEnvironment.wait(seconds: 20) {
            waiters = ((try? scenario.postgres.query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) ?? [])
                .compactMap(\.first)
            return !waiters.isEmpty
        }
        try #require(blocked, "no commit waited for the stopped receiver")
        usleep(300_000)
        #expect((try scenario.postgres.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")).first?.first != "0",
                "the commit stopped waiting by itself")
        for pid in try scenario.postgres.query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'").compactMap(\.first) {
            _ = try scenario.postgres.query("SELECT pg_cancel_backend(\(pid))")
        }
        let unconfirmed = try await waiting
        #expect(unconfirmed.status == 503, "an unconfirmed commit must not be answered as a sale: \(unconfirmed.status) \(unconfirmed.text)")
        #expect(unconfirmed.text.contains("\"unavailable\""), "503 unavailable: \(unconfirmed.text)")
        // PostgreSQL did commit it locally: the row is visible although no 201 was given.
        let rows = try scenario.postgres.query("SELECT order_id FROM orders WHERE idempotency_key = 'sync-bob'")
        #expect(rows.count == 1, "the cancelled wait's commit is there locally: \(rows)")

        try receiver.start()
        #expect(FaultEnvironment.wait(seconds: 15) { (try? receiver.state("sync_state")) == "sync" })
        let retried = try buy(port, saleID, user: "bob", key: "sync-bob")
        #expect(retried.status == 200, "the retry finds the order: \(retried.status) \(retried.text)")
        #expect(retried.json["order_id"]?.stringValue == rows.first?.first, "the retry names the committed order")
        let keyed = try scenario.postgres.query("SELECT count(*) FROM orders WHERE idempotency_key = 'sync-bob'")
        #expect(keyed.first?.first == "1", "one order for the key")
    }
}
