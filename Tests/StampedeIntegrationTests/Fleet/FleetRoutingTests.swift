import Foundation
import Glibc
import StampedeService
import Testing

/// How HAProxy spreads the work: purchases of one sale land on one instance (sale affinity), and
/// move to another only while that instance is out.
@Suite(.serialized, FleetEnvironment.trait)
struct FleetRoutingTests {
    private static func buy(_ fleet: Fleet, _ sale: String, user: String) throws -> Int {
        try fleet.client().request("POST", "/v1/sales/\(sale)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":1}").status
    }

    /// Each of 12 sales has every purchase created on exactly one instance (read from each
    /// instance's `/metrics`), both instances own some sales; a drained owner's sale is sold by the
    /// other instance, and returns to its owner once it is ready again.
    @Test func purchasesOfOneSaleLandOnOneInstance() throws {
        let fleet = try Fleet("affinity")
        defer { fleet.tearDown() }
        var owners: [String: Int] = [:]
        for index in 0..<12 {
            let sale = TestServices.uniqueName("fleet-aff\(index)")
            #expect(try fleet.createSale(sale, stock: 100).status == 201)
            let before = try fleet.createdPerInstance()
            for user in 0..<5 {
                #expect(try Self.buy(fleet, sale, user: "aff\(index)-\(user)") == 201)
            }
            let after = try fleet.createdPerInstance()
            let delta = zip(after, before).map { $0 - $1 }
            #expect(delta.sorted() == [0, 5], "sale \(index): purchases per instance \(delta)")
            owners[sale] = delta.firstIndex(of: 5)
        }
        #expect(Set(owners.values).count == 2, "the hash spreads sales over both instances: \(owners)")

        let (sale, owner) = try #require(owners.first)
        let server = "s\(owner + 1)"
        #expect(try fleet.balancer.command("set server stampede/\(server) state drain").isEmpty)
        let before = try fleet.createdPerInstance()
        for user in 0..<5 { #expect(try Self.buy(fleet, sale, user: "aff-moved-\(user)") == 201) }
        let moved = zip(try fleet.createdPerInstance(), before).map { $0 - $1 }
        #expect(moved[owner] == 0 && moved[1 - owner] == 5, "while its owner drains, the sale is sold elsewhere: \(moved)")
        #expect(try fleet.balancer.command("set server stampede/\(server) state ready").isEmpty)
        let back = try fleet.createdPerInstance()
        for user in 0..<3 { #expect(try Self.buy(fleet, sale, user: "aff-back-\(user)") == 201) }
        let returned = zip(try fleet.createdPerInstance(), back).map { $0 - $1 }
        #expect(returned[owner] == 3, "the sale returns to its owner: \(returned)")
    }
}
