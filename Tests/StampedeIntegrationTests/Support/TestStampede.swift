import Logging
import StampedeInventory
import StampedeJSON
import StampedeService

/// Starts a real Stampede (in this process, on an ephemeral loopback port) against the test
/// Redis and PostgreSQL, and offers the storefront and admin calls tests need.
struct TestStampede {
    static let adminToken = "test-admin-token"

    let service: StampedeService
    var port: Int { service.localPort }

    /// The test configuration: the servers from the environment, port 0, four shards; order reads
    /// go to the streaming replica when there is one (`scripts/test` always starts one). In the
    /// cluster phase (`TestServices.clusterMode`) Redis is the test Redis Cluster.
    static func configuration(_ adjust: (inout StampedeConfiguration) -> Void = { _ in }) throws -> StampedeConfiguration {
        let redis = try TestServices.redisAddress()
        let postgres = try TestServices.postgresConninfo()
        var configuration = StampedeConfiguration()
        configuration.listen = "127.0.0.1:0"
        configuration.threads = 2
        configuration.adminToken = adminToken
        configuration.shardCount = 4
        configuration.redisWriter = "\(redis.host):\(redis.port)"
        configuration.redisReader = configuration.redisWriter
        if TestServices.clusterMode { configuration.redisCluster = try TestServices.redisClusterNodes() }
        configuration.postgresWriter = postgres
        configuration.postgresReader = TestServices.replicaURI ?? postgres
        configuration.replicaCheckMilliseconds = 50
        // Tests define sales in quick succession; the admin rate limit has its own test.
        configuration.adminRequestsPerSecond = 0
        adjust(&configuration)
        return configuration
    }

    /// Runs `body` with a started service, stopping it afterwards. `logger` replaces the default
    /// one (warnings and worse to stderr), e.g. to capture what the service logs.
    static func with<T>(configurationPath: String? = nil, logger: Logger? = nil, _ adjust: (inout StampedeConfiguration) -> Void = { _ in },
                        _ body: (TestStampede) async throws -> T) async throws -> T {
        let logger = logger ?? {
            var logger = Logger(label: "stampede-test")
            logger.logLevel = .warning
            return logger
        }()
        let service = StampedeService(configuration: try configuration(adjust), configurationPath: configurationPath, logger: logger)
        try await service.start()
        let stampede = TestStampede(service: service)
        do {
            let result = try await body(stampede)
            await service.stop()
            return result
        } catch {
            await service.stop()
            throw error
        }
    }

    /// A fresh client connection.
    func client() throws -> HTTPTestClient { try HTTPTestClient(port: port) }

    /// Defines a live sale (started a minute ago, ending in a day) and checks it was created.
    /// `buckets` is the JSON value of its `"buckets"` (absent: `TestServices.defaultBuckets`, the
    /// count a whole phase may give every sale; none: the field is left out).
    func createSale(_ saleID: String, stock: Int, perUserLimit: Int = 1, ttlSeconds: Int = 900,
                    startsIn: Int64 = -60, endsIn: Int64 = 86_400, tokenRequired: Bool = false,
                    group: String? = nil, buckets: String? = TestServices.defaultBuckets) async throws -> HTTPTestClient.Response {
        let now = Timestamp.now()
        let body = """
        {"sku":"sku-\(saleID)","price_cents":999,"stock":\(stock),"per_user_limit":\(perUserLimit),\
        "starts_at":"\(now.adding(seconds: startsIn).rfc3339)","ends_at":"\(now.adding(seconds: endsIn).rfc3339)",\
        "reservation_ttl_seconds":\(ttlSeconds),"purchase_token_required":\(tokenRequired)\
        \(group.map { ",\"exclusive_group\":\"\($0)\"" } ?? "")\(buckets.map { ",\"buckets\":\($0)" } ?? "")}
        """
        return try await client().call("PUT", "/admin/sales/\(saleID)", body: body,
                                    headers: [("Authorization", "Bearer \(Self.adminToken)")])
    }

    /// Creates or changes an exclusive group.
    func putGroup(_ groupID: String, perUserLimit: Int) async throws -> HTTPTestClient.Response {
        try await client().call("PUT", "/admin/groups/\(groupID)", body: "{\"per_user_limit\":\(perUserLimit)}",
                                headers: [("Authorization", "Bearer \(Self.adminToken)")])
    }

    /// The request bytes of a purchase.
    static func purchase(_ saleID: String, user: String, quantity: Int = 1, key: String? = nil) -> [UInt8] {
        HTTPTestClient.encode("POST", "/v1/sales/\(saleID)/orders", body: "{\"user_id\":\"\(user)\",\"quantity\":\(quantity)}",
                              headers: key.map { [("Idempotency-Key", $0)] } ?? [])
    }
}

/// Reading JSON answers in tests.
extension HTTPTestClient.Response {
    var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
    var errorCode: String? { json["error"]?.stringValue }
}
