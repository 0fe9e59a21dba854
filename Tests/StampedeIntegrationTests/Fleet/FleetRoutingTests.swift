import Foundation
import Glibc
import StampedeInventory
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

    /// A bucketed sale the balancer knows (`scripts/balancer-buckets`) is spread by sale and bucket:
    /// each bucket's buyers land on one instance, the sale's buckets on both; before it is listed
    /// (and after it is taken off) the sale has plain sale affinity.
    @Test func aBucketedSaleIsSpreadByBucket() throws {
        let fleet = try Fleet("buckets")
        defer { fleet.tearDown() }
        let script = FleetEnvironment.root + "/scripts/balancer-buckets"
        func buyers(_ sale: String, bucket: Int, count: Int) -> [String] {
            var users: [String] = []
            var n = 0
            while users.count < count {
                if BucketLayout.bucket(ofUser: "\(sale)-u\(n)", count: 2) == bucket { users.append("\(sale)-u\(n)") }
                n += 1
            }
            return users
        }
        func perInstance(_ users: [String], _ sale: String) throws -> [Int] {
            let before = try fleet.createdPerInstance()
            for user in users { #expect(try Self.buy(fleet, sale, user: user) == 201) }
            return zip(try fleet.createdPerInstance(), before).map { $0 - $1 }
        }
        // A sale whose two buckets hash to different instances (each sale is one try in two).
        var chosen: (sale: String, owners: [Int])?
        for attempt in 0..<12 where chosen == nil {
            let sale = TestServices.uniqueName("fleet-bk\(attempt)")
            #expect(try fleet.createSale(sale, stock: 1000, buckets: 2).status == 201)
            let listed = try FaultEnvironment.run(script, ["--run-dir", fleet.balancer.directory, sale, "2"], check: false)
            #expect(listed.status == 0, "\(listed.output)")
            let first = try perInstance(buyers(sale, bucket: 0, count: 6), sale)
            let second = try perInstance(buyers(sale, bucket: 1, count: 6), sale)
            #expect(first.sorted() == [0, 6] && second.sorted() == [0, 6], "each bucket on one instance: \(first) \(second)")
            if first != second { chosen = (sale, [first.firstIndex(of: 6) ?? -1, second.firstIndex(of: 6) ?? -1]) }
        }
        let (sale, _) = try #require(chosen, "no sale had its buckets on both instances in 12 tries")
        // Listed in the file too, for a restart of the balancer.
        let map = try String(contentsOfFile: fleet.balancer.mapPath, encoding: .utf8)
        #expect(map.contains("\n\(sale) 2\n"), "\(map)")
        let list = try FaultEnvironment.run(script, ["--run-dir", fleet.balancer.directory, "--list"])
        #expect(list.output.contains("\(sale) 2"))
        // Taken off the list, the sale is back on one instance.
        #expect(try FaultEnvironment.run(script, ["--run-dir", fleet.balancer.directory, sale, "1"], check: false).status == 0)
        let mixed = try perInstance((0..<8).map { "\(sale)-late\($0)" }, sale)
        #expect(mixed.sorted() == [0, 8], "plain sale affinity again: \(mixed)")
        // Bad input changes nothing.
        #expect(try FaultEnvironment.run(script, ["--run-dir", fleet.balancer.directory, sale, "17"], check: false).status != 0)
        #expect(try FaultEnvironment.run(script, ["--run-dir", fleet.balancer.directory, "bad~id", "2"], check: false).status != 0)
    }
}
