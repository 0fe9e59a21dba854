import Foundation
import Glibc
import StampedeService
import Testing

/// The storefront contract through HAProxy in front of two instances on the shared stores:
/// purchases, reads, admin, and the framing errors and timeouts answered to the letter.
@Suite(.serialized, FleetEnvironment.trait)
struct FleetStorefrontTests {
    /// Admin, purchase, retry, reads, pay and errors all answer through the balancer as the
    /// contract says, whichever instance serves each call.
    @Test func contractThroughTheBalancer() throws {
        let fleet = try Fleet("storefront")
        defer { fleet.tearDown() }
        let sale = TestServices.uniqueName("fleet-front")
        #expect(try fleet.createSale(sale, stock: 5, perUserLimit: 2).status == 201)
        let client = try fleet.client()
        let unauthorized = try client.request("PUT", "/admin/sales/\(sale)", body: "{}")
        #expect(unauthorized.status == 401 && unauthorized.json["error"]?.stringValue == "unauthorized")
        let read = try client.request("GET", "/v1/sales/\(sale)")
        #expect(read.status == 200 && read.json["stock_total"]?.integerValue == 5)

        let body = #"{"user_id":"fleet-ann","quantity":1}"#
        let bought = try client.request("POST", "/v1/sales/\(sale)/orders", body: body, headers: [("Idempotency-Key", "fleet-k1")])
        #expect(bought.status == 201)
        let order = try #require(bought.json["order_id"]?.stringValue)
        let retried = try fleet.client().request("POST", "/v1/sales/\(sale)/orders", body: body, headers: [("Idempotency-Key", "fleet-k1")])
        #expect(retried.status == 200 && retried.json["order_id"]?.stringValue == order)
        // Every instance reads the order (GETs are spread round robin).
        for _ in 0..<4 {
            #expect(try fleet.client().request("GET", "/v1/orders/\(order)").status == 200)
        }
        guard case .array(let orders)? = try client.request("GET", "/v1/users/fleet-ann/orders").json["orders"] else {
            Issue.record("no orders list")
            return
        }
        #expect(orders.count == 1)
        let paid = try client.request("POST", "/v1/orders/\(order)/pay")
        #expect(paid.status == 200 && paid.json["status"]?.stringValue == "paid")
        let unknown = try client.request("GET", "/v1/sales/\(sale)-none")
        #expect(unknown.status == 404 && unknown.json["error"]?.stringValue == "unknown_sale")
        let shards = try client.request("GET", "/admin/shards", headers: [("Authorization", "Bearer \(Fleet.adminToken)")])
        #expect(shards.status == 200)
    }

    /// Framing errors reach Stampede and come back to the letter: `431` for a 64 KiB header line
    /// and for 1,200 headers, `413` before a 10 MiB body is sent, `400` for garbage — each on a
    /// connection HAProxy then closes; a slow client is cut off with `408` after 10 s.
    @Test func framingErrorsThroughTheBalancer() throws {
        let fleet = try Fleet("framing")
        defer { fleet.tearDown() }
        func exchange(_ bytes: [UInt8]) throws -> (HTTPTestClient.Response, closed: Bool) {
            let client = try fleet.client()
            try client.send(bytes)
            let answer = try client.readResponse()
            let closed = (try? client.readResponse()) == nil
            return (answer, closed)
        }
        let longLine = try exchange(Array("GET /v1/sales/x HTTP/1.1\r\nHost: t\r\nX-Long: \(String(repeating: "a", count: 65_536))\r\n\r\n".utf8))
        #expect(longLine.0.status == 431 && longLine.0.json["error"]?.stringValue == "header_too_large" && longLine.closed)
        let manyHeaders = (0..<1200).map { "X-Header-\($0): value-\($0)\r\n" }.joined()
        let many = try exchange(Array("GET /v1/sales/x HTTP/1.1\r\nHost: t\r\n\(manyHeaders)\r\n".utf8))
        #expect(many.0.status == 431 && many.0.json["error"]?.stringValue == "header_too_large" && many.closed)

        // 413 comes back before the body is sent: only the head goes out. (HAProxy then waits for
        // the announced body before it closes, so the close is not checked here.)
        let bigClient = try fleet.client()
        let started = Date()
        try bigClient.send(Array("POST /v1/sales/x/orders HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n".utf8))
        let big = try bigClient.readResponse()
        #expect(big.status == 413 && big.json["error"]?.stringValue == "body_too_large")
        #expect(Date().timeIntervalSince(started) < 2)

        // Garbage HAProxy can frame reaches Stampede's parser (JSON 400); garbage it cannot frame
        // gets HAProxy's own 400 (HTML in HAProxy 2.6, see Config/haproxy.cfg).
        let badName = try exchange(Array("GET /v1/sales/x HTTP/1.1\r\nHo st: t\r\n\r\n".utf8))
        #expect(badName.0.status == 400 && badName.0.json["error"]?.stringValue == "bad_request" && badName.closed)
        let garbage = try exchange([0x16, 0x03, 0x01, 0x00] + Array("garbage\r\n\r\n".utf8))
        #expect(garbage.0.status == 400 && garbage.closed)

        let slow = try fleet.client(timeoutSeconds: 20)
        let slowStarted = Date()
        try slow.send(Array("GET /v1/sales/x HTTP/1.1\r\nHost: t\r\n".utf8))
        let cutOff = try slow.readResponse()
        #expect(cutOff.status == 408)
        #expect(Date().timeIntervalSince(slowStarted) > 9 && Date().timeIntervalSince(slowStarted) < 13)
    }

    /// A restock or a new sale made through one instance is seen by every instance within the
    /// sale cache's 1 s.
    @Test func changesAreVisibleOnEveryInstanceWithinOneSecond() throws {
        let fleet = try Fleet("visibility")
        defer { fleet.tearDown() }
        let sale = TestServices.uniqueName("fleet-seen")
        let admin = [("Authorization", "Bearer \(Fleet.adminToken)")]
        let first = fleet.instances[0].port
        let second = fleet.instances[1].port
        #expect(try fleet.createSale(sale, stock: 10).status == 201)
        // Warm the second instance's cache, then restock through the first.
        #expect(try HTTPTestClient(port: second).request("GET", "/v1/sales/\(sale)").json["stock_available"]?.integerValue == 10)
        let restocked = try HTTPTestClient(port: first).request("POST", "/admin/sales/\(sale)/restock", body: #"{"quantity":5}"#, headers: admin)
        #expect(restocked.status == 200)
        let changedAt = Date()
        var seenAfter: Double?
        while Date().timeIntervalSince(changedAt) < 3, seenAfter == nil {
            let read = try HTTPTestClient(port: second).request("GET", "/v1/sales/\(sale)")
            if read.json["stock_available"]?.integerValue == 15 { seenAfter = Date().timeIntervalSince(changedAt) }
            usleep(20_000)
        }
        #expect(seenAfter != nil && seenAfter! <= 1.1, "restock seen on the other instance after \(seenAfter ?? -1) s")

        let fresh = TestServices.uniqueName("fleet-new")
        let now = Date()
        let format = ISO8601DateFormatter()
        let body = """
        {"sku":"sku-new","price_cents":1,"stock":3,"per_user_limit":1,\
        "starts_at":"\(format.string(from: now.addingTimeInterval(-60)))","ends_at":"\(format.string(from: now.addingTimeInterval(600)))"}
        """
        #expect(try HTTPTestClient(port: first).request("PUT", "/admin/sales/\(fresh)", body: body, headers: admin).status == 201)
        let created = Date()
        var bought = 0
        while Date().timeIntervalSince(created) < 1.1, bought != 201 {
            bought = try HTTPTestClient(port: second).request("POST", "/v1/sales/\(fresh)/orders", body: #"{"user_id":"fleet-new-1","quantity":1}"#).status
        }
        #expect(bought == 201, "a sale defined on one instance sells on the other within 1 s")
    }
}
