import Glibc
import Testing

/// The Redis and PostgreSQL servers that integration tests run against, read from the environment.
///
/// - `STAMPEDE_TEST_REDIS`: `host:port`, for example `127.0.0.1:56380`.
/// - `STAMPEDE_TEST_PG`: a libpq URI, for example `postgresql://postgres@127.0.0.1:55433/postgres`.
/// - `STAMPEDE_REQUIRE_SERVICES=1`: a missing address fails the tests instead of skipping them,
///   so CI cannot pass silently without servers.
///
/// Usage: mark a suite `@Suite(TestServices.needsRedis)` and get the address inside a test with
/// `try TestServices.redisAddress()`, which throws (failing the test) when it is missing.
enum TestServices {
    /// Why a test could not get a server address although it runs.
    struct Missing: Error, CustomStringConvertible {
        /// The environment variable that is unset or malformed.
        let variable: String
        var description: String { "\(variable) is not set to a usable address (STAMPEDE_REQUIRE_SERVICES=1)" }
    }

    /// Whether missing servers must fail the tests rather than skip them.
    static var servicesRequired: Bool { environment("STAMPEDE_REQUIRE_SERVICES") == "1" }

    /// The Redis address from `STAMPEDE_TEST_REDIS`, or `nil` if unset or malformed.
    static var redis: (host: String, port: Int)? {
        guard let value = environment("STAMPEDE_TEST_REDIS"),
              let colon = value.lastIndex(of: ":"),
              let port = Int(value[value.index(after: colon)...])
        else { return nil }
        return (String(value[..<colon]), port)
    }

    /// The Redis Cluster's nodes from `STAMPEDE_TEST_REDIS_CLUSTER` (`host:port,…`), or `nil`.
    static var redisCluster: [String]? {
        guard let value = environment("STAMPEDE_TEST_REDIS_CLUSTER"), !value.isEmpty else { return nil }
        return value.split(separator: ",").map(String.init)
    }

    /// Whether the end-to-end suites run Stampede on the Redis Cluster (`STAMPEDE_TEST_REDIS_MODE=cluster`,
    /// the cluster phase of `scripts/test`) instead of the single Redis.
    /// The bucket count `TestStampede.createSale` gives every sale unless a test says otherwise
    /// (`STAMPEDE_TEST_BUCKETS`: the storefront contract run with every sale bucketed); nil: the
    /// field is left out (one bucket).
    static var defaultBuckets: String? { environment("STAMPEDE_TEST_BUCKETS") }

    /// The SQL predicate on `orders` that selects sale `$1`'s orders: those of its buckets too.
    static let ordersOfSale = "sale_id IN (SELECT sale_id FROM sales WHERE sale_id = $1 OR parent_sale_id = $1)"

    static var clusterMode: Bool { environment("STAMPEDE_TEST_REDIS_MODE") == "cluster" }

    /// Runs a suite or test when a Redis Cluster is configured or services are required.
    static let needsRedisCluster = ConditionTrait.enabled(
        if: redisCluster != nil || (servicesRequired && clusterMode), "STAMPEDE_TEST_REDIS_CLUSTER is not set"
    )

    /// The cluster's nodes; throws when they are missing.
    static func redisClusterNodes() throws -> [String] {
        guard let redisCluster else { throw Missing(variable: "STAMPEDE_TEST_REDIS_CLUSTER") }
        return redisCluster
    }

    /// The PostgreSQL URI from `STAMPEDE_TEST_PG`, or `nil` if unset.
    static var postgresURI: String? { environment("STAMPEDE_TEST_PG") }

    /// The URI of a streaming replica of that PostgreSQL (`STAMPEDE_TEST_PG_REPLICA`), or `nil`.
    static var replicaURI: String? { environment("STAMPEDE_TEST_PG_REPLICA") }

    /// Runs a suite or test when a replica is configured or services are required.
    static let needsReplica = ConditionTrait.enabled(
        if: replicaURI != nil || servicesRequired, "STAMPEDE_TEST_PG_REPLICA is not set"
    )

    /// The replica URI; throws when it is missing (only reachable when services are required).
    static func replicaConninfo() throws -> String {
        guard let replicaURI else { throw Missing(variable: "STAMPEDE_TEST_PG_REPLICA") }
        return replicaURI
    }

    /// Runs a suite or test when Redis is configured or required; skips it otherwise.
    static let needsRedis = ConditionTrait.enabled(
        if: redis != nil || servicesRequired, "STAMPEDE_TEST_REDIS is not set"
    )

    /// Runs a suite or test when PostgreSQL is configured or required; skips it otherwise.
    static let needsPostgres = ConditionTrait.enabled(
        if: postgresURI != nil || servicesRequired, "STAMPEDE_TEST_PG is not set"
    )

    /// The Redis address; throws when it is missing (only reachable when services are required).
    static func redisAddress() throws -> (host: String, port: Int) {
        guard let redis else { throw Missing(variable: "STAMPEDE_TEST_REDIS") }
        return redis
    }

    /// The PostgreSQL URI; throws when it is missing (only reachable when services are required).
    static func postgresConninfo() throws -> String {
        guard let postgresURI else { throw Missing(variable: "STAMPEDE_TEST_PG") }
        return postgresURI
    }

    /// A name no other test (or earlier run) uses, for keys and tables: `prefix_<random hex>`.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
