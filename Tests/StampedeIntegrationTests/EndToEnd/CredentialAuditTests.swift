import Foundation
import Logging
import StampedeInventory
import StampedeJSON
import StampedePostgres
import StampedeService
import Synchronization
import Testing

/// Named admin credentials, the viewer role and the audit log, end to end against real Redis and
/// PostgreSQL (two Stampede instances share the PostgreSQL where the contract speaks of "every
/// instance").
@Suite(TestServices.needsRedis, TestServices.needsPostgres)
struct CredentialAuditTests {
    static let bootstrap = [("Authorization", "Bearer \(TestStampede.adminToken)")]

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    /// The contract says a rotated or revoked token stops working "within 1 s"; the polls below
    /// allow 3 s so a loaded machine does not fail the test, and report how long it took.
    static let propagationBound: Duration = .seconds(3)

    /// Polls `check` every 50 ms until it holds or `propagationBound` passed; returns the time it
    /// took, or nil when it never held.
    static func eventually(_ check: () async throws -> Bool) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < propagationBound {
            if try await check() { return clock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Creates a credential through `stampede` with the bootstrap token; returns its token.
    static func createCredential(_ name: String, role: String, on stampede: TestStampede,
                                 requestID: String? = nil) async throws -> HTTPTestClient.Response {
        try await stampede.client().call("PUT", "/admin/credentials/\(name)", body: "{\"role\": \"\(role)\"}",
                                         headers: bootstrap + (requestID.map { [("X-Request-Id", $0)] } ?? []))
    }

    /// The audit rows with `target`, read from PostgreSQL directly (exact, whatever other tests
    /// write meanwhile).
    static func auditRowCount(target: String) async throws -> Int {
        let postgres = PostgresClient(conninfo: try TestServices.postgresConninfo(), poolSize: 1)
        defer { postgres.shutdown() }
        let result = try await postgres.query("SELECT count(*) FROM admin_audit WHERE target = $1", [target])
        return Int(result.rows.first?[0] ?? "") ?? -1
    }

    /// The entries of `GET /admin/audit` (newest first, up to 500, at or after `since` when
    /// given: other tests' entries made earlier stay out of the page) that `matches` selects.
    static func auditEntries(_ stampede: TestStampede, headers: [(String, String)] = bootstrap, since: Timestamp? = nil,
                             where matches: (JSONValue) -> Bool) async throws -> [JSONValue] {
        let page = try await stampede.client().call("GET", "/admin/audit?limit=500" + (since.map { "&since=\($0.rfc3339)" } ?? ""),
                                                    headers: headers)
        #expect(page.status == 200, "\(page.text)")
        guard case .array(let entries)? = page.json["entries"] else { return [] }
        return entries.filter(matches)
    }

    /// A credential created on one instance works there at once and on a second instance within
    /// a second; rotating it makes the old token `401` on both (at once where rotated, within a
    /// second on the other) while the new one works; revoking does the same; the list shows names
    /// and roles sorted by name and never a token.
    @Test func rotationAndRevocationReachEveryInstance() async throws {
        let name = TestServices.uniqueName("ops")
        try await TestStampede.with { first in
            try await TestStampede.with { second in
                let created = try await Self.createCredential(name, role: "admin", on: first)
                #expect(created.status == 201, "\(created.text)")
                #expect(created.json["name"]?.stringValue == name)
                #expect(created.json["role"]?.stringValue == "admin")
                let token = try #require(created.json["token"]?.stringValue)
                #expect(token.hasPrefix("stk_") && token.utf8.count == 68)
                #expect(try await first.client().call("GET", "/admin/shards", headers: Self.bearer(token)).status == 200)
                let reached = try await Self.eventually {
                    try await second.client().call("GET", "/admin/shards", headers: Self.bearer(token)).status == 200
                }
                #expect(reached != nil, "the new credential never worked on the second instance")

                let rotated = try await Self.createCredential(name, role: "admin", on: first)
                #expect(rotated.status == 200, "\(rotated.text)")
                let newToken = try #require(rotated.json["token"]?.stringValue)
                #expect(newToken != token)
                #expect(try await first.client().call("GET", "/admin/shards", headers: Self.bearer(token)).status == 401)
                #expect(try await first.client().call("GET", "/admin/shards", headers: Self.bearer(newToken)).status == 200)
                let oldRefused = try await Self.eventually {
                    try await second.client().call("GET", "/admin/shards", headers: Self.bearer(token)).status == 401
                }
                #expect(oldRefused != nil, "the rotated token still worked on the second instance after 3 s")
                if let oldRefused { print("rotated token refused by the second instance after \(oldRefused)") }
                let newWorks = try await Self.eventually {
                    try await second.client().call("GET", "/admin/shards", headers: Self.bearer(newToken)).status == 200
                }
                #expect(newWorks != nil)

                let list = try await second.client().call("GET", "/admin/credentials", headers: Self.bootstrap)
                #expect(list.status == 200)
                #expect(!list.text.contains(token) && !list.text.contains(newToken))
                #expect(!list.text.contains(String(newToken.dropFirst(4))))
                guard case .array(let credentials)? = list.json["credentials"] else {
                    Issue.record("unexpected list \(list.text)")
                    return
                }
                let names = credentials.compactMap { $0["name"]?.stringValue }
                #expect(names == names.sorted())
                let mine = credentials.first { $0["name"]?.stringValue == name }
                #expect(mine?["role"]?.stringValue == "admin")
                #expect(mine?["token"] == nil)

                let revoked = try await first.client().call("DELETE", "/admin/credentials/\(name)", headers: Self.bootstrap)
                #expect(revoked.status == 200, "\(revoked.text)")
                #expect(try await first.client().call("GET", "/admin/shards", headers: Self.bearer(newToken)).status == 401)
                let revokedRefused = try await Self.eventually {
                    try await second.client().call("GET", "/admin/shards", headers: Self.bearer(newToken)).status == 401
                }
                #expect(revokedRefused != nil, "the revoked token still worked on the second instance after 3 s")
                let again = try await first.client().call("DELETE", "/admin/credentials/\(name)", headers: Self.bootstrap)
                #expect(again.status == 404)
                #expect(again.errorCode == "unknown_credential")
            }
        }
    }

    /// A viewer may call every `GET` under `/admin` (HEAD matches the same routes: RouteTests); a define, a restock, a
    /// credential change or a reload answers `403 forbidden` and changes nothing: the sale and the
    /// credentials stay as they were and no audit row is added.
    @Test func viewerMayOnlyRead() async throws {
        let viewer = TestServices.uniqueName("viewer")
        let other = TestServices.uniqueName("nobody")
        let sale = TestServices.uniqueName("viewed")
        try await TestStampede.with { stampede in
            let created = try await Self.createCredential(viewer, role: "viewer", on: stampede)
            #expect(created.status == 201)
            let token = try #require(created.json["token"]?.stringValue)
            #expect(try await stampede.createSale(sale, stock: 10).status == 201)
            let headers = Self.bearer(token)
            let client = try stampede.client()
            for path in ["/admin/shards", "/admin/credentials", "/admin/audit", "/admin/audit?limit=1"] {
                #expect(try await client.call("GET", path, headers: headers).status == 200, "GET \(path)")
            }
            let saleRows = try await Self.auditRowCount(target: sale)
            let viewerRows = try await Self.auditRowCount(target: viewer)
            let now = Timestamp.now()
            let changes: [(String, String, String?)] = [
                ("PUT", "/admin/sales/\(sale)", """
                {"sku":"sku-x","price_cents":1,"stock":99,"per_user_limit":1,"starts_at":"\(now.rfc3339)","ends_at":"\(now.adding(seconds: 60).rfc3339)"}
                """),
                ("POST", "/admin/sales/\(sale)/restock", #"{"quantity": 5}"#),
                ("PUT", "/admin/credentials/\(other)", #"{"role": "admin"}"#),
                ("PUT", "/admin/credentials/\(viewer)", #"{"role": "admin"}"#),
                ("DELETE", "/admin/credentials/\(viewer)", nil),
                ("POST", "/admin/config/reload", nil),
            ]
            for (method, path, body) in changes {
                let refused = try await client.call(method, path, body: body, headers: headers)
                #expect(refused.status == 403, "\(method) \(path): \(refused.text)")
                #expect(refused.errorCode == "forbidden", "\(method) \(path)")
                #expect(refused.json["message"]?.stringValue != nil)
            }
            let read = try await client.call("GET", "/v1/sales/\(sale)")
            #expect(read.json["stock_total"]?.integerValue == 10, "\(read.text)")
            #expect(read.json["stock_available"]?.integerValue == 10, "\(read.text)")
            #expect(read.json["sku"]?.stringValue == "sku-\(sale)")
            let list = try await client.call("GET", "/admin/credentials", headers: headers)
            #expect(!list.text.contains(other))
            #expect(list.json["credentials"].map { entries in
                guard case .array(let all) = entries else { return false }
                return all.contains { $0["name"]?.stringValue == viewer && $0["role"]?.stringValue == "viewer" }
            } == true)
            // The viewer's token still works: nothing was rotated or revoked.
            #expect(try await client.call("GET", "/admin/shards", headers: headers).status == 200)
            #expect(try await Self.auditRowCount(target: sale) == saleRows)
            #expect(try await Self.auditRowCount(target: viewer) == viewerRows)
            #expect(try await Self.auditRowCount(target: other) == 0)
            let byViewer = try await Self.auditEntries(stampede) { $0["actor"]?.stringValue == viewer }
            #expect(byViewer.isEmpty)
        }
    }

    /// Every admin change leaves one audit entry with its actor, client address, request id and
    /// the state before and after: sale defined, replaced and restocked, credential created,
    /// rotated and revoked, configuration reloaded (secrets redacted). No token appears in an
    /// entry, and none in what the service logged meanwhile.
    @Test func everyChangeIsAudited() async throws {
        let sale = TestServices.uniqueName("audited")
        let operatorName = TestServices.uniqueName("operator")
        let robot = TestServices.uniqueName("robot")
        let run = TestServices.uniqueName("req")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(TestServices.uniqueName("stampede") + ".json").path
        try #"{"admin_token": "test-admin-token", "limits": {"admin_requests_per_second": 0}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let captured = CapturedLog()
        var logger = Logger(label: "audit-test") { _ in CapturingLogHandler(captured) }
        logger.logLevel = .debug
        var tokens: [String] = []
        let started = Timestamp.now().adding(seconds: -1)
        try await TestStampede.with(configurationPath: path, logger: logger) { stampede in
            let client = try stampede.client()
            func id(_ step: String) -> [(String, String)] { [("X-Request-Id", "\(run)-\(step)")] }

            // The operator is a named admin: the changes below are made in its name.
            let made = try await Self.createCredential(operatorName, role: "admin", on: stampede, requestID: "\(run)-operator")
            let operatorToken = try #require(made.json["token"]?.stringValue)
            tokens.append(operatorToken)
            let auth = Self.bearer(operatorToken)
            let now = Timestamp.now()
            func definition(stock: Int) -> String {
                """
                {"sku":"sku-a","price_cents":500,"stock":\(stock),"per_user_limit":2,\
                "starts_at":"\(now.adding(seconds: -60).rfc3339)","ends_at":"\(now.adding(seconds: 3600).rfc3339)"}
                """
            }
            #expect(try await client.call("PUT", "/admin/sales/\(sale)", body: definition(stock: 10), headers: auth + id("define")).status == 201)
            #expect(try await client.call("PUT", "/admin/sales/\(sale)", body: definition(stock: 20), headers: auth + id("replace")).status == 200)
            #expect(try await client.call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity": 5}"#, headers: auth + id("restock")).status == 200)
            let robotMade = try await client.call("PUT", "/admin/credentials/\(robot)", body: #"{"role": "viewer"}"#, headers: auth + id("create"))
            #expect(robotMade.status == 201)
            let robotRotated = try await client.call("PUT", "/admin/credentials/\(robot)", body: #"{"role": "admin"}"#, headers: auth + id("rotate"))
            #expect(robotRotated.status == 200)
            tokens += [robotMade.json["token"]?.stringValue, robotRotated.json["token"]?.stringValue].compactMap { $0 }
            #expect(try await client.call("DELETE", "/admin/credentials/\(robot)", headers: auth + id("revoke")).status == 200)
            try """
            {"admin_token": "test-admin-token", "limits": {"admin_requests_per_second": 0}, "shards": {"batch_size": 9},
             "purchase_tokens": {"secret": "audit-test-secret-0123456789"}}
            """.write(toFile: path, atomically: true, encoding: .utf8)
            let reload = try await client.call("POST", "/admin/config/reload", headers: auth + id("reload"))
            #expect(reload.status == 200, "\(reload.text)")

            let entries = try await Self.auditEntries(stampede, since: started) { ($0["request_id"]?.stringValue ?? "").hasPrefix(run) }
            var byStep: [String: JSONValue] = [:]
            for entry in entries {
                let step = String((entry["request_id"]?.stringValue ?? "").dropFirst(run.utf8.count + 1))
                #expect(byStep[step] == nil, "two entries for \(step)")
                byStep[step] = entry
            }
            let expected: [(step: String, action: String, target: String, actor: String)] = [
                ("operator", "credential.created", operatorName, "bootstrap"),
                ("define", "sale.defined", sale, operatorName), ("replace", "sale.replaced", sale, operatorName),
                ("restock", "sale.restocked", sale, operatorName), ("create", "credential.created", robot, operatorName),
                ("rotate", "credential.rotated", robot, operatorName), ("revoke", "credential.revoked", robot, operatorName),
                ("reload", "config.reloaded", "config", operatorName),
            ]
            #expect(entries.count == expected.count, "\(entries)")
            for item in expected {
                guard let entry = byStep[item.step] else {
                    Issue.record("no audit entry for \(item.step)")
                    continue
                }
                #expect(entry["action"]?.stringValue == item.action, "\(item.step)")
                #expect(entry["target"]?.stringValue == item.target, "\(item.step)")
                #expect(entry["actor"]?.stringValue == item.actor, "\(item.step)")
                #expect(entry["address"]?.stringValue == "127.0.0.1", "\(item.step)")
                let at = entry["at"]?.stringValue ?? ""
                #expect(Timestamp(rfc3339: at) != nil && at.contains("."), "\(item.step): \(at)")
            }
            // Newest first.
            let order = entries.compactMap { $0["request_id"]?.stringValue }
            #expect(order.first == "\(run)-reload" && order.last == "\(run)-operator", "\(order)")

            #expect(byStep["define"]?["before"] == .null)
            #expect(byStep["define"]?["after"]?["stock_total"]?.integerValue == 10)
            #expect(byStep["replace"]?["before"]?["stock_total"]?.integerValue == 10)
            #expect(byStep["replace"]?["after"]?["stock_total"]?.integerValue == 20)
            #expect(byStep["restock"]?["before"]?["restocked"]?.integerValue == 0)
            #expect(byStep["restock"]?["after"]?["restocked"]?.integerValue == 5)
            #expect(byStep["create"]?["before"] == .null)
            #expect(byStep["create"]?["after"]?["role"]?.stringValue == "viewer")
            #expect(byStep["rotate"]?["before"]?["role"]?.stringValue == "viewer")
            #expect(byStep["rotate"]?["after"]?["role"]?.stringValue == "admin")
            #expect(byStep["revoke"]?["before"]?["role"]?.stringValue == "admin")
            #expect(byStep["revoke"]?["after"] == .null)
            let reloaded = byStep["reload"]
            #expect(reloaded?["before"]?["shards.batch_size"]?.stringValue != "9")
            #expect(reloaded?["after"]?["shards.batch_size"]?.stringValue == "9")
            #expect(reloaded?["before"]?["purchase_tokens.secret"]?.stringValue == "[redacted]")
            #expect(reloaded?["after"]?["purchase_tokens.secret"]?.stringValue == "[redacted]")

            let everything = try await client.call("GET", "/admin/audit?limit=500", headers: auth).text
            #expect(!everything.contains("audit-test-secret"))
            #expect(!everything.contains(TestStampede.adminToken))
            for token in tokens {
                #expect(!everything.contains(token))
                #expect(!everything.contains(String(token.dropFirst(4))))
            }
        }
        #expect(tokens.count == 3)
        let logged = captured.text
        #expect(logged.contains(operatorName), "the capture holds the service's log lines")
        for token in tokens {
            #expect(!logged.contains(String(token.dropFirst(4))), "a token was logged")
        }
        #expect(!logged.contains("audit-test-secret"))
    }

    /// `before` pages to older entries with no overlap and no gap; `since` keeps only entries at
    /// or after a time; a bad `limit`, `since` or `before` is `400 invalid_query`.
    @Test func pagingAndSince() async throws {
        let sale = TestServices.uniqueName("paged")
        let started = Timestamp.now().adding(seconds: -1)
        try await TestStampede.with { stampede in
            #expect(try await stampede.createSale(sale, stock: 1).status == 201)
            for _ in 0..<4 {
                #expect(try await stampede.client().call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity": 1}"#,
                                                         headers: Self.bootstrap).status == 200)
            }
            let client = try stampede.client()
            var ids: [Int64] = []
            var mine: [String] = []
            var cursor: String? = nil
            var pages = 0
            repeat {
                let query = "/admin/audit?limit=2" + (cursor.map { "&before=\($0)" } ?? "")
                let page = try await client.call("GET", query, headers: Self.bootstrap)
                #expect(page.status == 200, "\(page.text)")
                guard case .array(let entries)? = page.json["entries"] else { break }
                #expect(entries.count <= 2)
                ids += entries.compactMap { $0["id"]?.stringValue.flatMap { Int64($0) } }
                mine += entries.filter { $0["target"]?.stringValue == sale }.compactMap { $0["action"]?.stringValue }
                cursor = page.json["next_before"]?.stringValue
                pages += 1
            } while cursor != nil && mine.count < 5 && pages < 200
            #expect(ids == ids.sorted(by: >), "pages overlap or are out of order: \(ids)")
            #expect(Set(ids).count == ids.count)
            #expect(mine == ["sale.restocked", "sale.restocked", "sale.restocked", "sale.restocked", "sale.defined"])

            let all = try await Self.auditEntries(stampede, since: started) { $0["target"]?.stringValue == sale }
            #expect(all.count == 5)
            guard let newest = all.first?["at"]?.stringValue, let oldest = all.last?["at"]?.stringValue else { return }
            let since = try await client.call("GET", "/admin/audit?limit=500&since=\(newest)", headers: Self.bootstrap)
            #expect(since.status == 200)
            guard case .array(let recent)? = since.json["entries"] else { return }
            #expect(recent.contains { $0["target"]?.stringValue == sale && $0["at"]?.stringValue == newest })
            #expect(!recent.contains { $0["target"]?.stringValue == sale && $0["action"]?.stringValue == "sale.defined" })
            let floor = Timestamp(rfc3339: newest)!
            #expect(recent.allSatisfy { Timestamp(rfc3339: $0["at"]?.stringValue ?? "")! >= floor })
            #expect(oldest <= newest)

            for bad in ["limit=0", "limit=501", "since=yesterday", "before=x", "before=0"] {
                let refused = try await client.call("GET", "/admin/audit?\(bad)", headers: Self.bootstrap)
                #expect(refused.status == 400, "\(bad)")
                #expect(refused.errorCode == "invalid_query", "\(bad)")
            }
        }
    }

    /// A refused change writes no audit row: a redefinition of a sale that has orders
    /// (`409 sale_has_orders`), a bad body, a restock of an unknown sale, a credential with a
    /// reserved name (`bootstrap`, `sighup`) or an unknown role.
    @Test func refusedChangesAreNotAudited() async throws {
        let sale = TestServices.uniqueName("sold")
        try await TestStampede.with { stampede in
            #expect(try await stampede.createSale(sale, stock: 5).status == 201)
            let bought = try await stampede.client().call("POST", "/v1/sales/\(sale)/orders", body: #"{"user_id": "ana", "quantity": 1}"#)
            #expect(bought.status == 201, "\(bought.text)")
            #expect(try await Self.auditRowCount(target: sale) == 1)
            let redefined = try await stampede.createSale(sale, stock: 50)
            #expect(redefined.status == 409)
            #expect(redefined.errorCode == "sale_has_orders")
            let badBody = try await stampede.client().call("PUT", "/admin/sales/\(sale)", body: #"{"sku": 1}"#, headers: Self.bootstrap)
            #expect(badBody.status == 400)
            let badRestock = try await stampede.client().call("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity": 0}"#, headers: Self.bootstrap)
            #expect(badRestock.status == 400)
            #expect(try await Self.auditRowCount(target: sale) == 1)
            let unknown = TestServices.uniqueName("nosale")
            #expect(try await stampede.client().call("POST", "/admin/sales/\(unknown)/restock", body: #"{"quantity": 1}"#,
                                                     headers: Self.bootstrap).status == 404)
            #expect(try await Self.auditRowCount(target: unknown) == 0)
            let reserved = try await Self.createCredential("bootstrap", role: "admin", on: stampede)
            #expect(reserved.status == 400)
            #expect(reserved.errorCode == "invalid_id")
            let badRole = try await Self.createCredential(TestServices.uniqueName("c"), role: "root", on: stampede)
            #expect(badRole.status == 400)
            #expect(badRole.errorCode == "invalid_body")
            let sighup = try await Self.createCredential("sighup", role: "viewer", on: stampede)
            #expect(sighup.status == 400)
            #expect(sighup.errorCode == "invalid_id")
            #expect(try await Self.auditRowCount(target: "bootstrap") == 0)
            #expect(try await Self.auditRowCount(target: "sighup") == 0)
        }
    }
}

/// The text of every log line a test's service wrote, with its metadata.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// Writes every log line (message and metadata) into a `CapturedLog`.
struct CapturingLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(_ log: CapturedLog) { self.log = log }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        log.append("\(level) \(message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}
