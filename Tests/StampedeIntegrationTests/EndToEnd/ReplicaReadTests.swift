import StampedeInventory
import StampedeJSON
import StampedePostgres
import StampedeService
import Testing

/// The read/write split against the real streaming replica `scripts/test` starts: order reads are
/// served by the replica, fall back to the primary while it lags or when it is down, and nothing
/// is ever written through the reader.
///
/// Serialized: two tests pause the replica's WAL replay, which the others would see as lag.
@Suite(.serialized, TestServices.needsRedis, TestServices.needsPostgres, TestServices.needsReplica)
struct ReplicaReadTests {
    private static func buy(_ stampede: TestStampede, _ sale: String, _ user: String) async throws -> String {
        let response = try await stampede.client().call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}")
        #expect(response.status == 201, "\(response.text)")
        return response.json["order_id"]?.stringValue ?? ""
    }

    /// Waits (bounded: 10 s) until `condition` holds; false if it never did.
    private static func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
        for _ in 0..<500 {
            if try await condition() { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return false
    }

    /// Runs `body` with the replica's WAL replay paused (the replica lags by everything written
    /// meanwhile), resuming it afterwards whatever happens.
    private static func withReplayPaused<T>(_ body: () async throws -> T) async throws -> T {
        let replica = PostgresClient(conninfo: try TestServices.replicaConninfo(), poolSize: 1)
        defer { replica.shutdown() }
        _ = try await replica.query("SELECT pg_wal_replay_pause()")
        do {
            let result = try await body()
            _ = try await replica.query("SELECT pg_wal_replay_resume()")
            return result
        } catch {
            _ = try? await replica.query("SELECT pg_wal_replay_resume()")
            throw error
        }
    }

    private static func primaryReads(_ stampede: TestStampede, _ reason: ReplicaReadPolicy.PrimaryReason) -> Int {
        stampede.service.inventory.orders.routing.statistics.primaryReads.first { $0.reason == reason }?.count ?? 0
    }

    /// The reader pool is connected to a server in recovery, and an order read is answered by it:
    /// a change made on the primary behind Stampede's back is not visible while replay is paused,
    /// and becomes visible once the replica replays it.
    @Test func orderReadsAreServedByTheReplica() async throws {
        try await TestStampede.with { stampede in
            let routing = stampede.service.inventory.orders.routing
            let recovery = try await stampede.service.inventory.orders.reader.query("SELECT pg_is_in_recovery()")
            #expect(recovery.rows.first?[0] == "t")
            let sale = TestServices.uniqueName("replica")
            _ = try await stampede.createSale(sale, stock: 5)
            let order = try await Self.buy(stampede, sale, "reader")
            #expect(await Self.eventually { routing.target(order: order) == .replica })
            let before = routing.statistics.replicaReads
            #expect(try await stampede.client().call("GET", "/v1/orders/\(order)").status == 200)
            #expect(routing.statistics.replicaReads == before + 1)

            let primary = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { primary.shutdown() }
            try await Self.withReplayPaused {
                _ = try await primary.query("UPDATE orders SET price_cents = 4242 WHERE order_id = $1", [order])
                let stale = try await stampede.client().call("GET", "/v1/orders/\(order)")
                #expect(stale.json["price_cents"]?.integerValue == 999, "read on the paused replica")
            }
            #expect(try await Self.eventually {
                try await stampede.client().call("GET", "/v1/orders/\(order)").json["price_cents"]?.integerValue == 4242
            })
        }
    }

    /// While the replica lags, a buyer still reads their own purchase, payment and order list:
    /// those reads go to the primary (`not_caught_up`), and return to the replica once it catches up.
    @Test func buyersReadTheirOwnWritesWhileTheReplicaLags() async throws {
        try await TestStampede.with { stampede in
            let routing = stampede.service.inventory.orders.routing
            let sale = TestServices.uniqueName("lag")
            _ = try await stampede.createSale(sale, stock: 5)
            let user = TestServices.uniqueName("buyer")
            let order = try await Self.withReplayPaused {
                let before = Self.primaryReads(stampede, .notCaughtUp)
                let order = try await Self.buy(stampede, sale, user)
                let client = try stampede.client()
                #expect(try await client.call("GET", "/v1/orders/\(order)").json["status"]?.stringValue == "reserved")
                #expect(try await client.call("POST", "/v1/orders/\(order)/pay").status == 200)
                #expect(try await client.call("GET", "/v1/orders/\(order)").json["status"]?.stringValue == "paid")
                let list = try await client.call("GET", "/v1/users/\(user)/orders")
                #expect(list.json.firstOrderID == order)
                #expect(Self.primaryReads(stampede, .notCaughtUp) >= before + 3)
                return order
            }
            #expect(await Self.eventually { routing.target(order: order) == .replica && routing.target(user: user) == .replica })
            let replicaBefore = routing.statistics.replicaReads
            #expect(try await stampede.client().call("GET", "/v1/orders/\(order)").json["status"]?.stringValue == "paid")
            #expect(routing.statistics.replicaReads == replicaBefore + 1)
        }
    }

    /// An order another instance wrote is not in this instance's read-your-writes memory; while the
    /// replica lacks it, the read misses there and is answered from the primary (`replica_miss`).
    @Test func aReplicaMissFallsBackToThePrimary() async throws {
        try await TestStampede.with { reading in
            try await TestStampede.with { writing in
                let sale = TestServices.uniqueName("miss")
                _ = try await writing.createSale(sale, stock: 5)
                try await Self.withReplayPaused {
                    let order = try await Self.buy(writing, sale, "elsewhere")
                    let before = Self.primaryReads(reading, .replicaMiss)
                    let answer = try await reading.client().call("GET", "/v1/orders/\(order)")
                    #expect(answer.status == 200 && answer.json["order_id"]?.stringValue == order)
                    #expect(Self.primaryReads(reading, .replicaMiss) == before + 1)
                }
            }
        }
    }

    /// With the replica unreachable, order reads are served by the primary (`replica_down`) and
    /// `/metrics` reports the replica down.
    @Test func aDownReplicaFallsBackToThePrimary() async throws {
        // Nothing listens on port 1 of the loopback: connections are refused at once.
        try await TestStampede.with({ $0.postgresReader = "postgresql://stampede@127.0.0.1:1/stampede" }) { stampede in
            let sale = TestServices.uniqueName("down")
            _ = try await stampede.createSale(sale, stock: 5)
            let user = TestServices.uniqueName("buyer")
            let order = try await Self.buy(stampede, sale, user)
            let routing = stampede.service.inventory.orders.routing
            #expect(await Self.eventually { !routing.statistics.replicaUp })
            let client = try stampede.client()
            #expect(try await client.call("GET", "/v1/orders/\(order)").status == 200)
            #expect(try await client.call("GET", "/v1/users/\(user)/orders").json.firstOrderID == order)
            #expect(Self.primaryReads(stampede, .replicaDown) >= 2)
            let metrics = try await client.call("GET", "/metrics").text
            #expect(metrics.contains("stampede_postgres_replica_up 0"))
            #expect(metrics.contains("stampede_postgres_reads_total{target=\"primary\",reason=\"replica_down\"}"))
        }
    }

    /// Purchases, payments and cancels never touch the reader pool's connections with a write: its
    /// calls all succeed (a write on a hot standby fails), and its sessions are read-only even when
    /// the reader is the primary itself.
    @Test func nothingIsWrittenThroughTheReader() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("rw")
            _ = try await stampede.createSale(sale, stock: 10)
            let client = try stampede.client()
            let first = try await Self.buy(stampede, sale, "w1")
            let second = try await Self.buy(stampede, sale, "w2")
            #expect(try await client.call("POST", "/v1/orders/\(first)/pay").status == 200)
            #expect(try await client.call("POST", "/v1/orders/\(second)/cancel").status == 200)
            let routing = stampede.service.inventory.orders.routing
            #expect(await Self.eventually { routing.target(order: first) == .replica })
            #expect(try await client.call("GET", "/v1/orders/\(first)").status == 200)
            #expect(try await client.call("GET", "/v1/users/w1/orders").status == 200)
            let reader = stampede.service.inventory.orders.reader
            #expect(reader.statistics.totalJobs > 0)
            #expect(reader.statistics.failedJobs == 0)
            let sold = try await stampede.service.inventory.orders.writer.query(
                "SELECT count(*) FROM orders WHERE sale_id = $1", [sale])
            #expect(sold.rows.first?[0] == "2")
        }
        try await TestStampede.with({ $0.postgresReader = $0.postgresWriter }) { stampede in
            let reader = stampede.service.inventory.orders.reader
            let recovery = try await reader.query("SELECT pg_is_in_recovery()")
            #expect(recovery.rows.first?[0] == "f")
            await #expect(throws: PostgresError.self) {
                try await reader.query("UPDATE orders SET price_cents = price_cents WHERE false")
            }
        }
    }
}

private extension JSONValue {
    /// `orders[0].order_id` of a user's order list.
    var firstOrderID: String? {
        guard case .array(let orders) = self["orders"], let first = orders.first else { return nil }
        return first["order_id"]?.stringValue
    }
}
