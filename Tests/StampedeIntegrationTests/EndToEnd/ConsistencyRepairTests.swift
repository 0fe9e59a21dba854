import StampedeInventory
import StampedePostgres
import StampedeRedis
import StampedeService
import Testing

/// The Redis↔PostgreSQL hand-off repairs itself: stranded outbox entries are committed, and a
/// sale Redis lost is rebuilt from PostgreSQL without overselling.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct ConsistencyRepairTests {
    /// A reservation taken in Redis whose batch never committed (a crash between the two) is
    /// committed by the reconciler, and the buyer's retry with the same key returns it (200).
    @Test func strandedReservationIsCommittedAndReturnedToTheRetry() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("stranded")
            _ = try await stampede.createSale(sale, stock: 4, perUserLimit: 1)
            let inventory = stampede.service.inventory
            // Take the stock in Redis only, as a batch that crashed before its commit would.
            let request = PurchaseRequest(saleID: sale, userID: "judy", quantity: 1, idempotencyKey: "crash-1")
            let decisions = try await inventory.ledger.decisions([request], now: .now())
            guard case .reserved = decisions[0] else {
                Issue.record("expected a reservation, got \(decisions)")
                return
            }
            #expect(try await inventory.orders.order(request.orderID) == nil)

            let committed = await inventory.commitStrandedReservations(graceSeconds: 0, saleIDs: [sale])
            #expect(committed >= 1)
            #expect(try await inventory.orders.order(request.orderID)?.status == .reserved)
            #expect(try await inventory.ledger.pending(saleID: sale).isEmpty)
            // Running it again commits nothing twice.
            _ = await inventory.commitStrandedReservations(graceSeconds: 0, saleIDs: [sale])
            let retry = try await stampede.client().call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"judy","quantity":1}"#,
                                                      headers: [("Idempotency-Key", "crash-1")])
            #expect(retry.status == 200)
            #expect(retry.json["order_id"]?.stringValue == request.orderID)
            #expect(try await inventory.loadSale(sale)?.available == 3)
        }
    }

    /// A retry that arrives while the first attempt's order is still only in the outbox commits
    /// it and answers it: nothing is sold twice.
    @Test func retryCommitsAPendingReservation() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("pending")
            _ = try await stampede.createSale(sale, stock: 2, perUserLimit: 2)
            let inventory = stampede.service.inventory
            let request = PurchaseRequest(saleID: sale, userID: "ken", quantity: 1, idempotencyKey: "slow-1")
            _ = try await inventory.ledger.decisions([request], now: .now())
            let retry = try await stampede.client().call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"ken","quantity":1}"#,
                                                      headers: [("Idempotency-Key", "slow-1")])
            #expect(retry.status == 200)
            #expect(retry.json["order_id"]?.stringValue == request.orderID)
            #expect(try await inventory.orders.order(request.orderID) != nil)
            #expect(try await inventory.loadSale(sale)?.available == 1)
        }
    }

    /// When Redis loses a sale's keys, the next read rebuilds it from PostgreSQL's orders, so the
    /// sale neither oversells nor forgets per-user holdings.
    @Test func lostSaleIsRebuiltFromPostgres() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("lost")
            _ = try await stampede.createSale(sale, stock: 5, perUserLimit: 2)
            let client = try stampede.client()
            for user in ["lea", "lea", "max"] {
                #expect(try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status == 201)
            }
            let keys = SaleKeys(saleID: sale)
            let redis = try await TestRedis.connect()
            defer { redis.shutdown() }
            try await redis.command(["DEL", keys.sale, keys.users, keys.idempotency, keys.pending, keys.released])

            let rebuilt = try await stampede.service.inventory.loadSale(sale)
            #expect(rebuilt?.available == 2)
            let lea = try await client.call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"lea","quantity":1}"#)
            #expect(lea.errorCode == "limit_exceeded")
            for (user, expected) in [("ned", 201), ("oda", 201), ("pia", 409)] {
                #expect(try await client.call("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status == expected)
            }
            let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { postgres.shutdown() }
            let sold = try await postgres.query("SELECT sum(quantity) FROM orders WHERE sale_id = $1 AND status IN ('reserved', 'paid')", [sale])
            #expect(sold.rows.first?[0] == "5")
        }
    }
}
