import Foundation
import StampedePostgres
import StampedeService
import StampedeTestSupport
import Testing

/// The contract's admin, ops and shedding behaviour, checked over real sockets.
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct ServiceAPITests {
    /// Admin routes need the bearer token; sales are created (201), replaced (200) and restocked.
    @Test func adminRoutes() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("admin")
            let client = try stampede.client()
            let body = #"{"sku":"sku-1","price_cents":100,"stock":10,"per_user_limit":1,"starts_at":"2020-01-01T00:00:00Z","ends_at":"2099-01-01T00:00:00Z"}"#
            #expect(try await client.call("PUT", "/admin/sales/\(sale)", body: body).status == 401)
            let wrong = try await client.call("PUT", "/admin/sales/\(sale)", body: body, headers: [("Authorization", "Bearer nope")])
            #expect(wrong.status == 401 && wrong.errorCode == "unauthorized")
            let auth = [("Authorization", "Bearer \(TestStampede.adminToken)")]
            let created = try await client.call("PUT", "/admin/sales/\(sale)", body: body, headers: auth)
            #expect(created.status == 201)
            #expect(created.json["reservation_ttl_seconds"]?.integerValue == 900)
            #expect(try await client.call("PUT", "/admin/sales/\(sale)", body: body, headers: auth).status == 200)
            let restocked = try await client.call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity":5}"#, headers: auth)
            #expect(restocked.status == 200)
            #expect(restocked.json["stock_available"]?.integerValue == 15)
            #expect(restocked.json["stock_total"]?.integerValue == 10)
            #expect(restocked.json["restocked"]?.integerValue == 5)
            let bad = try await client.call("PUT", "/admin/sales/\(sale)", body: #"{"sku":"s","price_cents":1,"stock":-1,"per_user_limit":1,"starts_at":"2020-01-01T00:00:00Z","ends_at":"2099-01-01T00:00:00Z"}"#, headers: auth)
            #expect(bad.status == 400 && bad.errorCode == "invalid_body")
            let backwards = try await client.call("PUT", "/admin/sales/\(sale)", body: #"{"sku":"s","price_cents":1,"stock":1,"per_user_limit":1,"starts_at":"2099-01-01T00:00:00Z","ends_at":"2020-01-01T00:00:00Z"}"#, headers: auth)
            #expect(backwards.status == 400)
            #expect(try await client.call("POST", "/admin/sales/\(TestServices.uniqueName("none"))/restock", body: #"{"quantity":5}"#, headers: auth).status == 404)
            let shards = try await client.call("GET", "/admin/shards", headers: auth)
            #expect(shards.status == 200 && shards.json["shard_count"]?.integerValue == 4)
        }
    }

    /// Bad purchases get the contract's codes and change nothing.
    @Test func purchaseValidation() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("valid")
            _ = try await stampede.createSale(sale, stock: 3, perUserLimit: 2)
            let client = try stampede.client()
            let cases: [(String, [(String, String)], Int, String)] = [
                ("{\"user_id\":\"u1\",\"quantity\":3}", [], 400, "invalid_quantity"),
                ("{\"user_id\":\"u1\",\"quantity\":0}", [], 400, "invalid_quantity"),
                ("{\"user_id\":\"u 1\",\"quantity\":1}", [], 400, "invalid_id"),
                ("{\"quantity\":1}", [], 400, "invalid_body"),
                ("not json", [], 400, "invalid_body"),
                ("{\"user_id\":\"u1\",\"quantity\":1}", [("Idempotency-Key", "bad key!")], 400, "invalid_id"),
            ]
            for (body, headers, status, code) in cases {
                let response = try await client.call("POST", "/v1/sales/\(sale)/orders", body: body, headers: headers)
                #expect(response.status == status && response.errorCode == code, "\(body): \(response.text)")
            }
            #expect(try await client.call("POST", "/v1/sales/\(TestServices.uniqueName("none"))/orders", body: #"{"user_id":"u1","quantity":1}"#).errorCode == "unknown_sale")
            #expect(try await stampede.service.inventory.loadSale(sale)?.available == 3)
            #expect(try await client.call("GET", "/v1/sales/bad$id").errorCode == "invalid_id")
            #expect(try await client.call("DELETE", "/v1/sales/\(sale)").status == 405)
            #expect(try await client.call("GET", "/v2/nothing").status == 404)
        }
    }

    /// A sale outside its window answers sale_not_started / sale_ended and its state says so.
    @Test func saleWindow() async throws {
        try await TestStampede.with { stampede in
            let early = TestServices.uniqueName("early")
            let late = TestServices.uniqueName("late")
            _ = try await stampede.createSale(early, stock: 3, startsIn: 3600, endsIn: 7200)
            _ = try await stampede.createSale(late, stock: 3, startsIn: -7200, endsIn: -3600)
            let client = try stampede.client()
            #expect(try await client.call("GET", "/v1/sales/\(early)").json["state"]?.stringValue == "scheduled")
            #expect(try await client.call("GET", "/v1/sales/\(late)").json["state"]?.stringValue == "ended")
            #expect(try await client.call("POST", "/v1/sales/\(early)/orders", body: #"{"user_id":"u","quantity":1}"#).errorCode == "sale_not_started")
            #expect(try await client.call("POST", "/v1/sales/\(late)/orders", body: #"{"user_id":"u","quantity":1}"#).errorCode == "sale_ended")
        }
    }

    /// With a tiny in-flight bound, a burst is partly shed with 503 overloaded + Retry-After, and
    /// the shed requests had no effect: PostgreSQL holds exactly the orders answered 201.
    @Test func sheddingHasNoEffect() async throws {
        try await TestStampede.with({ $0.shardMaxInFlight = 2 }) { stampede in
            let sale = TestServices.uniqueName("shed")
            _ = try await stampede.createSale(sale, stock: 1000, perUserLimit: 1)
            let port = stampede.port
            let answers = await BlockingThreads.run(4) { thread -> [(Int, String?, String?)] in
                let clients = (0..<75).compactMap { _ in try? HTTPTestClient(port: port) }
                for (i, client) in clients.enumerated() { try? client.send(TestStampede.purchase(sale, user: "t\(thread)-\(i)")) }
                return clients.map { client in
                    guard let response = try? client.readResponse() else { return (0, nil, nil) }
                    return (response.status, response.errorCode, response.headers["retry-after"])
                }
            }.flatMap { $0 }
            let created = answers.filter { $0.0 == 201 }.count
            let shed = answers.filter { $0.0 == 503 }
            #expect(created + shed.count == 300, "every answer is 201 or 503: \(Set(answers.map(\.0)))")
            #expect(!shed.isEmpty, "a 300-request burst against an in-flight bound of 2 sheds")
            #expect(shed.allSatisfy { $0.1 == "overloaded" && $0.2 == "1" })
            let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
            defer { postgres.shutdown() }
            let rows = try await postgres.query("SELECT count(*) FROM orders WHERE \(TestServices.ordersOfSale)", [sale])
            #expect(rows.rows.first?[0] == String(created))
            #expect(try await stampede.service.inventory.loadSale(sale)?.available == Int64(1000 - created))
        }
    }

    /// Pipelined purchases on one connection are answered in order: each `201` is the order of the
    /// request in its place. Which three buyers win is not part of it: normally the first three,
    /// but a purchase that meets an expired cache entry waits for the sale to load, and a
    /// stalled box (the cache keeps an entry 1 s) let a later purchase overtake the first.
    @Test func pipelinedPurchasesAnswerInOrder() async throws {
        try await TestStampede.with { stampede in
            let sale = TestServices.uniqueName("pipe")
            #expect(try await stampede.createSale(sale, stock: 3, perUserLimit: 1).status == 201)
            let client = try stampede.client()
            let pipeline = (0..<5).flatMap { TestStampede.purchase(sale, user: "pipe\($0)") } + HTTPTestClient.encode("GET", "/health/live")
            try await BlockingThreads.perform { try client.send(pipeline) }
            var answers: [HTTPTestClient.Response] = []
            for _ in 0..<6 { answers.append(try await client.nextResponse()) }
            #expect(answers.map(\.status).prefix(5).sorted() == [201, 201, 201, 409, 409])
            #expect(answers[5].status == 200)
            for (index, answer) in answers.prefix(5).enumerated() {
                if answer.status == 201 {
                    #expect(answer.json["user_id"]?.stringValue == "pipe\(index)", "answer \(index): \(answer.text)")
                } else {
                    #expect(answer.errorCode == "sold_out", "answer \(index): \(answer.text)")
                }
            }
        }
    }

    /// Health, readiness and metrics answer; metrics count requests by route and status.
    @Test func healthAndMetrics() async throws {
        try await TestStampede.with { stampede in
            let client = try stampede.client()
            #expect(try await client.call("GET", "/health/live").status == 200)
            let ready = try await client.call("GET", "/health/ready")
            #expect(ready.status == 200 && ready.json["checks"]?["postgres"]?.stringValue == "ok")
            _ = try await client.call("GET", "/v1/sales/\(TestServices.uniqueName("nothing"))")
            let sale = TestServices.uniqueName("left")
            _ = try await stampede.createSale(sale, stock: 7, perUserLimit: 2)
            let bought = try await client.call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id":"m","quantity":2}"#)
            #expect(bought.status == 201)
            // Units left per sale: the sale cache's figure, at most 1 s behind the purchase.
            var unitsLeft = ""
            for _ in 0..<30 {
                _ = try await client.call("GET", "/v1/sales/\(sale)")
                unitsLeft = try await client.call("GET", "/metrics").text.split(separator: "\n")
                    .first { $0.hasPrefix("stampede_sale_units_available{sale=\"\(sale)\"}") }.map(String.init) ?? "absent"
                if unitsLeft.hasSuffix(" 5") { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            #expect(unitsLeft == "stampede_sale_units_available{sale=\"\(sale)\"} 5")
            let metrics = try await client.call("GET", "/metrics")
            #expect(metrics.status == 200)
            // The build, and readiness (the ready probe above recorded it).
            #expect(metrics.text.contains("stampede_build_info{version=\"\(StampedeVersion.version)\",configuration=\"debug\""))
            #expect(metrics.text.contains("stampede_ready 1"))
            #expect(metrics.text.contains("stampede_dependency_up{dependency=\"postgres\"} 1"))
            #expect(metrics.text.contains("stampede_http_request_duration_seconds_count{route=\"GET /v1/sales/{id}\",status=\"404\"}"))
            #expect(metrics.text.contains("stampede_shard_queue_depth{shard=\"3\"}"))
            #expect(metrics.text.contains("stampede_pool_size{pool=\"postgres-writer\"}"))
            #expect(metrics.text.contains("stampede_pool_call_duration_seconds_bucket{pool=\"postgres-writer\",le=\"+Inf\"}"))
            // One Redis: the writer pool; a Redis Cluster: a pool per primary, named by its address.
            #expect(metrics.text.contains("stampede_pool_call_duration_seconds_count{pool=\"redis-writer\"}")
                    || (TestServices.clusterMode && metrics.text.contains("stampede_pool_call_duration_seconds_count{pool=\"redis-primary-")))
            #expect(metrics.text.contains("# TYPE stampede_postgres_replica_lag_bytes gauge"))
            if TestServices.clusterMode {
                #expect(metrics.text.contains("stampede_redis_cluster_primaries 3"))
                #expect(metrics.text.contains("stampede_redis_cluster_redirects_total{kind=\"moved\"}"))
            }
        }
    }

    /// A scrape of a running service shows exactly the families of `MetricFamily.catalogue` (the
    /// Redis Cluster's only against a cluster), each with the catalogue's type, help and label
    /// names: no family is spelled anywhere else. A refusal, requests and a sale served first give
    /// every family a sample.
    @Test func scrapeShowsExactlyTheCatalogue() async throws {
        try await TestStampede.with({
            $0.adminRequestsPerSecond = 0.01
            $0.adminBurst = 1
        }) { stampede in
            let client = try stampede.client()
            var refusals: [Int] = []
            for _ in 0..<2 { refusals.append(try await client.call("GET", "/admin/shards", headers: [("Authorization", "Bearer wrong")]).status) }
            #expect(refusals == [401, 429])
            #expect(try await client.call("GET", "/health/ready").status == 200)
            // A sale served, so the per-sale gauge has a sample.
            let sale = TestServices.uniqueName("catalogue")
            #expect(try await stampede.createSale(sale, stock: 5, perUserLimit: 1).status == 201)
            #expect(try await client.call("GET", "/v1/sales/\(sale)").status == 200)
            _ = try await client.call("GET", "/metrics")
            let scrape = try await client.call("GET", "/metrics")
            #expect(scrape.status == 200)
            let expected = MetricFamily.catalogue.filter { $0.presence != .redisCluster || TestServices.clusterMode }
            let mismatches = PrometheusExposition(scrape.text).mismatches(expected.map { ($0.name, $0.kind.rawValue, $0.help, $0.labels) })
            #expect(mismatches.isEmpty, "\(mismatches)")
        }
    }

    /// Every answer carries an `X-Request-Id`: the caller's when it is a safe token, else a fresh one.
    @Test func requestIDsAreEchoed() async throws {
        try await TestStampede.with { stampede in
            let client = try stampede.client()
            let given = try await client.call("GET", "/health/live", headers: [("X-Request-Id", "trace-42.a")])
            #expect(given.headers["x-request-id"] == "trace-42.a")
            let replaced = try await client.call("GET", "/v1/sales/bad$id", headers: [("X-Request-Id", "no spaces allowed")])
            let id = replaced.headers["x-request-id"]
            #expect(id != nil && id != "no spaces allowed" && RequestID.isValid(id ?? ""))
            let fresh = try await client.call("GET", "/health/live")
            #expect(fresh.headers["x-request-id"] != id)
        }
    }

    /// Reloading the configuration applies live keys and lists the ones needing a restart.
    @Test func configurationReload() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(TestServices.uniqueName("stampede") + ".json").path
        try #"{"shards": {"batch_size": 64}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestStampede.with(configurationPath: path) { stampede in
            let auth = [("Authorization", "Bearer \(TestStampede.adminToken)")]
            try #"{"admin_token": "test-admin-token", "shards": {"batch_size": 7, "count": 9}}"#.write(toFile: path, atomically: true, encoding: .utf8)
            let reload = try await stampede.client().call("POST", "/admin/config/reload", headers: auth)
            #expect(reload.status == 200, "\(reload.text)")
            guard case .array(let applied)? = reload.json["applied"], case .array(let restart)? = reload.json["needs_restart"] else {
                Issue.record("unexpected reload answer \(reload.text)")
                return
            }
            #expect(applied.contains(.string("shards.batch_size")))
            #expect(applied.contains(.string("shards.count")))
            #expect(restart.contains(.string("listen")))
            #expect(stampede.service.inventory.shardStatistics().count == 9)
            #expect(stampede.service.inventory.shardStatistics().allSatisfy { $0.batchSize == 7 })
            // The same file again: nothing new is applied, and the restart-only change is still
            // pending (the process still listens where it did).
            let again = try await stampede.client().call("POST", "/admin/config/reload", headers: auth)
            #expect(again.status == 200, "\(again.text)")
            #expect(again.json["applied"] == .array([]), "\(again.text)")
            if case .array(let stillPending)? = again.json["needs_restart"] {
                #expect(stillPending.contains(.string("listen")), "\(again.text)")
            } else {
                Issue.record("unexpected reload answer \(again.text)")
            }
            try #"{"shards": {"batch_size": "seven"}}"#.write(toFile: path, atomically: true, encoding: .utf8)
            let refused = try await stampede.client().call("POST", "/admin/config/reload", headers: auth)
            #expect(refused.status == 400 && refused.text.contains("shards.batch_size"))
        }
    }
}
