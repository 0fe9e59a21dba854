import Foundation
import Glibc
import StampedeInventory
import Synchronization
import Testing

/// The Stampede ports buyers may use, shared with their threads.
final class PortBoard: Sendable {
    let list = Mutex<[Int]>([])
}

extension PortBoard {
    /// A buyer thread's connection: kept while its instance is live, else opened to a live one
    /// chosen by `seed`. Nil (after a short pause) when none is live or the connect failed: the
    /// caller counts an attempt and tries again.
    func connection(_ client: inout HTTPTestClient?, _ port: inout Int, seed: Int) -> HTTPTestClient? {
        let live = list.withLock { $0 }
        guard !live.isEmpty else { usleep(50_000); return nil }
        if client == nil || !live.contains(port) {
            port = live[seed % live.count]
            client = try? HTTPTestClient(port: port, timeoutSeconds: 2)
            if client == nil { usleep(50_000) }
        }
        return client
    }
}

/// One fault-injection run: its own Redis, PostgreSQL and Stampede processes, a sale, a rush of
/// concurrent buyers (each retrying with its Idempotency-Key after a 503, a timeout or a dropped
/// connection, like a storefront), and the invariant checks made straight on PostgreSQL and Redis.
final class FaultScenario: @unchecked Sendable {
    static let adminToken = "fault-admin-token"

    let name: String
    let directory: String
    let redis: FaultRedis
    let postgres: FaultPostgres
    let saleID: String
    let stock: Int
    /// The instances buyers may use now; a killed one is removed, a restarted one added.
    let ports = PortBoard()
    private let instances = Mutex<[FaultStampede]>([])

    /// `postgres`: a database to use instead of one of the scenario's own (the failover tests'
    /// Patroni cluster, `FaultPostgres(attachedTo:reader:)`).
    init(_ name: String, stock: Int, postgres attached: FaultPostgres? = nil) throws {
        self.name = name
        self.stock = stock
        directory = try FaultEnvironment.directory() + "/" + name
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        redis = try FaultRedis(directory: directory + "/redis")
        postgres = try attached ?? FaultPostgres(directory: directory + "/pg")
        saleID = TestServices.uniqueName(name)
    }

    /// Stops everything this scenario started.
    func tearDown() {
        for instance in instances.withLock({ $0 }) { instance.kill9() }
        redis.kill9()
        postgres.stopImmediately()
    }

    /// Starts one more Stampede instance and lets buyers use it.
    @discardableResult
    func startStampede(environment extra: [String: String] = [:]) throws -> FaultStampede {
        let count = instances.withLock { $0.count }
        let instance = try FaultStampede(redis: redis.address, postgres: postgres.uri, postgresReader: postgres.readerURI,
                                         logPath: "\(directory)/stampede-\(count).log", extra: extra)
        instances.withLock { $0.append(instance) }
        ports.list.withLock { $0.append(instance.port) }
        return instance
    }

    /// The instances buyers may use now.
    var liveInstances: [FaultStampede] {
        let live = ports.list.withLock { $0 }
        return instances.withLock { $0 }.filter { live.contains($0.port) }
    }

    /// Takes an instance away from buyers (before killing or stopping it).
    func retire(_ instance: FaultStampede) {
        ports.list.withLock { $0.removeAll { $0 == instance.port } }
    }

    /// Defines the scenario's sale (`buckets`: its bucket count, 1 by default).
    func createSale(on instance: FaultStampede, buckets: Int = 1) throws {
        let now = Date()
        let format = ISO8601DateFormatter()
        let body = """
        {"sku":"sku-fault","price_cents":500,"stock":\(stock),"per_user_limit":1,\
        "starts_at":"\(format.string(from: now.addingTimeInterval(-60)))","ends_at":"\(format.string(from: now.addingTimeInterval(3600)))",\
        "buckets":\(buckets)}
        """
        let answer = try HTTPTestClient(port: instance.port).request("PUT", "/admin/sales/\(saleID)", body: body,
                                                                     headers: [("Authorization", "Bearer \(Self.adminToken)")])
        guard answer.status == 201 else { throw ChildFailure(description: "create sale: \(answer.status) \(answer.text)") }
    }

    // MARK: The rush

    /// What one buyer saw.
    struct Buyer: Sendable {
        var user: String
        var key: String
        /// Order ids of every 201/200 answer (retries with the key must all name the same order).
        var confirmed: [String] = []
        /// The last status seen (0: none before the deadline).
        var finalStatus = 0
        var attempts = 0
        var resolved = false
        /// `503` answers seen (each followed by a retry).
        var unavailableAnswers = 0
        /// When each answer came (seconds since the rush began) and whether it settled the buyer
        /// (201, 200, 409) or not (503, a timeout, a dropped connection): where the outages were.
        var answers: [(at: Double, settled: Bool)] = []
        /// The purchase was confirmed by a retry that found the order (200): an earlier attempt
        /// with the same key had an indefinite outcome.
        var foundByRetry = false
        /// How long each `503` answer took to come, in seconds (a refusal should be fast).
        var unavailableLatencies: [Double] = []
        /// Answers outside the contract for a purchase (a 5xx that is not `503 unavailable` or
        /// `overloaded` JSON with Retry-After, or an unexpected status), as "status body".
        var oddAnswers: [String] = []
    }

    /// `buyers` buyers on `threads` threads, each buying one unit with its own key, retrying
    /// after 503s, timeouts and connection failures until answered or `deadline` seconds pass.
    /// Each thread waits `pace` seconds between its buyers, so the rush lasts long enough for a
    /// fault to land in the middle of it.
    /// `users`, when given, names the buyers (else `buyer<index>`).
    func rush(buyers: Int, threads: Int = 24, pace: Double = 0.04, deadline: Double = 40, users: [String]? = nil) async -> [Buyer] {
        let began = Date()
        let ends = began.addingTimeInterval(deadline)
        let saleID = self.saleID
        let ports = self.ports
        let perThread = await BlockingThreads.run(threads) { thread -> [Buyer] in
            var out: [Buyer] = []
            var client: HTTPTestClient?
            var clientPort = 0
            var index = thread
            while index < buyers {
                var buyer = Buyer(user: users?[index] ?? "buyer\(index)", key: "key-\(index)")
                while !buyer.resolved && Date() < ends {
                    buyer.attempts += 1
                    guard let connected = ports.connection(&client, &clientPort, seed: index + buyer.attempts) else { continue }
                    let body = "{\"user_id\":\"\(buyer.user)\",\"quantity\":1}"
                    let sent = Date()
                    guard let answer = try? connected.request("POST", "/v1/sales/\(saleID)/orders", body: body,
                                                            headers: [("Idempotency-Key", buyer.key)]) else {
                        client = nil  // timeout or dropped connection: retry with the same key
                        buyer.answers.append((Date().timeIntervalSince(began), false))
                        usleep(50_000)
                        continue
                    }
                    buyer.finalStatus = answer.status
                    buyer.answers.append((Date().timeIntervalSince(began), [200, 201, 409].contains(answer.status)))
                    if answer.status == 200 && buyer.attempts > 1 { buyer.foundByRetry = true }
                    switch answer.status {
                    case 200, 201:
                        buyer.confirmed.append(answer.json["order_id"]?.stringValue ?? "?")
                        buyer.resolved = true
                    case 503:
                        buyer.unavailableAnswers += 1
                        buyer.unavailableLatencies.append(Date().timeIntervalSince(sent))
                        let code = answer.json["error"]?.stringValue
                        if !(code == "unavailable" || code == "overloaded") || answer.headers["retry-after"] == nil {
                            buyer.oddAnswers.append("503 \(answer.text)")
                        }
                        if answer.headers["connection"] == "close" { client = nil }
                        usleep(100_000)
                    case 409:
                        buyer.resolved = true
                    default:
                        buyer.oddAnswers.append("\(answer.status) \(answer.text)")
                        buyer.resolved = true
                    }
                }
                out.append(buyer)
                index += threads
                usleep(UInt32(pace * 1_000_000))
            }
            return out
        }
        return perThread.flatMap { $0 }
    }

    // MARK: Invariants

    /// Waits (up to 30 s) until the sale's stock is conserved — Redis's `avail` plus the units its
    /// reserved and paid orders hold is `stock` — with an empty outbox; false and the last figures
    /// if it never is.
    func awaitConservation(of sale: String, stock: Int) -> (conserved: Bool, figures: String) {
        var last = ""
        let conserved = FaultEnvironment.wait(seconds: 30, every: 0.25) {
            guard let avail = try? redis.cli(["HGET", "{\(sale)}:sale", "avail"]),
                  let pending = try? redis.cli(["EVAL", "return redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], ARGV[1])",
                                                "1", "{\(sale)}:pending", InventoryScripts.outboxAnchorField]),
                  let result = try? postgres.query(
                    "SELECT COALESCE(sum(quantity), 0) FROM orders WHERE sale_id = '\(sale)' AND status IN ('reserved', 'paid')"),
                  let held = Int(result.first?.first ?? "") else { return false }
            last = "avail \(avail), held \(held), pending \(pending), stock \(stock)"
            return Int(avail).map { $0 + held == stock } == true && pending == "0"
        }
        return (conserved, last)
    }

    /// Checks, straight on PostgreSQL and Redis, once repairs have had time to run:
    /// every confirmed order exists; a key never names two orders; the sale is never oversold;
    /// every buyer got an answer; and stock is conserved (`avail + held = stock`, outbox empty).
    func verify(_ buyers: [Buyer], expectRetries: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rows = try postgres.query(
            "SELECT order_id, user_id, COALESCE(idempotency_key, ''), status, quantity FROM orders WHERE sale_id = '\(saleID)'")
        let byID = Dictionary(rows.map { ($0[0], $0) }, uniquingKeysWith: { first, _ in first })
        var confirmed = 0
        for buyer in buyers {
            #expect(buyer.resolved, "buyer \(buyer.user) got no final answer (last status \(buyer.finalStatus), \(buyer.attempts) attempts)",
                    sourceLocation: sourceLocation)
            #expect(buyer.finalStatus == 0 || [200, 201, 409].contains(buyer.finalStatus),
                    "buyer \(buyer.user) ended with \(buyer.finalStatus)", sourceLocation: sourceLocation)
            #expect(Set(buyer.confirmed).count <= 1, "key \(buyer.key) answered with two orders \(buyer.confirmed)",
                    sourceLocation: sourceLocation)
            for id in Set(buyer.confirmed) {
                confirmed += 1
                #expect(byID[id] != nil, "order \(id) confirmed to \(buyer.user) is not in PostgreSQL", sourceLocation: sourceLocation)
                #expect(byID[id]?[1] == buyer.user, sourceLocation: sourceLocation)
            }
        }
        let perUser = Dictionary(grouping: rows, by: { $0[1] })
        #expect(perUser.values.allSatisfy { $0.count == 1 }, "a user (one key each) has two orders", sourceLocation: sourceLocation)
        let held = rows.filter { ["reserved", "paid"].contains($0[3]) }.reduce(0) { $0 + (Int($1[4]) ?? 0) }
        #expect(held <= stock, "oversold: \(held) units held of \(stock)", sourceLocation: sourceLocation)
        #expect(confirmed > 0, "the rush confirmed nothing", sourceLocation: sourceLocation)
        let retried = buyers.filter { $0.attempts > 1 }.count
        if expectRetries {
            #expect(retried > 0, "no buyer had to retry: the fault did not hit the rush", sourceLocation: sourceLocation)
        }
        let statuses = Dictionary(grouping: buyers, by: \.finalStatus).mapValues(\.count).sorted { $0.key < $1.key }
        print("[fault \(name)] buyers \(buyers.count), final statuses \(statuses), confirmed \(confirmed), "
              + "retried \(retried), attempts \(buyers.reduce(0) { $0 + $1.attempts }), held \(held) of \(stock)")

        // Conservation, once the reconciler committed stranded reservations and rebuilt counters.
        let (conserved, last) = awaitConservation(of: saleID, stock: stock)
        #expect(conserved, "stock not conserved after reconciliation: \(last)", sourceLocation: sourceLocation)

        // The ledger: every sale's stock movements sum to its stock_available (Redis's `avail`,
        // conserved above) = stock_total + restocked − held, without the reconciler having had to
        // repair anything — the movements commit in the transactions that move the stock.
        let ledger = try postgres.query("""
        SELECT s.sale_id, COALESCE((SELECT sum(m.quantity) FROM stock_movements m WHERE m.sale_id = s.sale_id), 0),
               s.stock_total + s.restocked - COALESCE((SELECT sum(o.quantity) FROM orders o
                                                       WHERE o.sale_id = s.sale_id AND o.status IN ('reserved', 'paid')), 0),
               (SELECT count(*) FROM stock_movements m WHERE m.sale_id = s.sale_id AND m.kind = 'repaired')
        FROM sales s
        """)
        #expect(!ledger.isEmpty, "no sale in PostgreSQL", sourceLocation: sourceLocation)
        let avail = try? redis.cli(["HGET", "{\(saleID)}:sale", "avail"])
        for row in ledger {
            #expect(row[1] == row[2], "sale \(row[0]): Σ stock movements \(row[1]) ≠ stock_total + restocked − held \(row[2])",
                    sourceLocation: sourceLocation)
            #expect(row[3] == "0", "sale \(row[0]): \(row[3]) repaired movements after the fault", sourceLocation: sourceLocation)
            if row[0] == saleID {
                #expect(avail.flatMap { Int($0) } == Int(row[1]), "sale \(saleID): Σ movements \(row[1]) ≠ avail \(avail ?? "?")",
                        sourceLocation: sourceLocation)
            }
        }

        // Ops' view: once repaired, `stampede reconcile --dry-run` finds nothing to do (exit 0).
        var environment = ChildProcess.currentEnvironment().filter { !$0.key.hasPrefix("STAMPEDE_") }
        environment["STAMPEDE_REDIS_WRITER"] = redis.address
        environment["STAMPEDE_POSTGRES_WRITER"] = postgres.uri
        let dryRun = try FaultEnvironment.run(try FaultEnvironment.binary(),
                                              ["reconcile", "--dry-run", "--config", FaultEnvironment.configPath],
                                              environment: environment, check: false)
        #expect(dryRun.status == 0 && dryRun.output.contains("totals: sale_rebuilt=0"),
                "stampede reconcile --dry-run after the repairs: \(dryRun.output)", sourceLocation: sourceLocation)
    }
}
