import Foundation
import Glibc
import StampedeService
import Testing

/// Behind HAProxy the instances see the shopper's address (PROXY protocol v2 from a trusted
/// proxy): the per-client connection limit, the admin limiter and the access log count shoppers,
/// not the balancer; nobody else can claim an address.
@Suite(.serialized, FleetEnvironment.trait)
struct FleetClientAddressTests {
    /// With 2 connections per client and 2 instances, a shopper's 5th open connection is `429`
    /// while another shopper behind the same HAProxy is served; failed admin logins of one shopper
    /// are limited while another's are not; the access log names the shopper; a PROXY header sent
    /// straight to an instance from an untrusted address is `400`.
    @Test func instancesSeeTheShopper() throws {
        let fleet = try Fleet("address", extra: [
            "STAMPEDE_LIMITS_MAX_CONNECTIONS_PER_CLIENT": "2",
            "STAMPEDE_LIMITS_ADMIN_BURST": "2", "STAMPEDE_LIMITS_ADMIN_REQUESTS_PER_SECOND": "0.01",
            "STAMPEDE_LOG_LEVEL": "debug",
        ])
        defer { fleet.tearDown() }
        let sale = TestServices.uniqueName("fleet-addr")
        #expect(try fleet.createSale(sale, stock: 5).status == 201)

        var held: [HTTPTestClient] = []
        for _ in 0..<4 {
            let client = try fleet.client(source: "127.0.0.5")
            #expect(try client.request("GET", "/v1/sales/\(sale)").status == 200)
            held.append(client)
        }
        let fifth = try fleet.client(source: "127.0.0.5").request("GET", "/v1/sales/\(sale)")
        #expect(fifth.status == 429 && fifth.json["error"]?.stringValue == "rate_limited")
        #expect(try fleet.client(source: "127.0.0.6").request("GET", "/v1/sales/\(sale)").status == 200)
        held.removeAll()

        let wrong = [("Authorization", "Bearer not-the-token")]
        var statuses: [Int] = []
        for _ in 0..<6 {
            statuses.append(try fleet.client(source: "127.0.0.5").request("GET", "/admin/shards", headers: wrong).status)
        }
        #expect(statuses.contains(429), "failed admin logins of one shopper are limited: \(statuses)")
        #expect(try fleet.client(source: "127.0.0.6").request("GET", "/admin/shards", headers: wrong).status == 401)

        let logs = try fleet.instances.map { try String(contentsOfFile: $0.logPath, encoding: .utf8) }.joined()
        #expect(logs.contains("127.0.0.5") && logs.contains("127.0.0.6"), "the access log names the shoppers")

        let spoofer = try HTTPTestClient(port: fleet.instances[0].port, timeoutSeconds: 5, source: "127.0.0.7")
        let header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
                               10, 9, 8, 7, 127, 0, 0, 1, 0xC3, 0x50, 0x1F, 0x90]
        try spoofer.send(header + HTTPTestClient.encode("GET", "/admin/shards", headers: wrong))
        #expect(try spoofer.readResponse().status == 400)
    }
}
