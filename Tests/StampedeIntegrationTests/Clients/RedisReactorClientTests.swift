import Foundation
import Glibc
import StampedePool
import StampedeRedis
import StampedeSystem
import Testing

/// `RedisReactorClient` and `RedisReactorConnection` against the test Redis
/// (`STAMPEDE_TEST_REDIS`): pipelines, scripts, calls on and off the reactors, many at once.
@Suite(TestServices.needsRedis) struct RedisReactorClientTests {
    private static func reactors(_ count: Int) throws -> [Reactor] {
        try (0..<count).map { try Reactor(name: "test-redis-\($0)") }
    }

    private static func client(_ reactors: [Reactor], maxPending: Int = 1024) throws -> RedisReactorClient {
        let (host, port) = try TestServices.redisAddress()
        return RedisReactorClient(reactors: reactors, host: host, port: port, maxPending: maxPending)
    }

    private static func stop(_ client: RedisReactorClient, _ reactors: [Reactor]) {
        client.shutdown()
        for reactor in reactors { reactor.shutdown() }
    }

    /// Replies come back in command order with error replies in place, each with the node's identity.
    @Test func pipelineKeepsOrderAndErrorSlots() async throws {
        let reactors = try Self.reactors(2)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        let key = TestServices.uniqueName("reactor-pipeline")
        let replies = try await client.execute([
            ["INCR", key], ["INCR", key], ["HGET", key, "field"], ["INCRBY", key, "10"], ["GET", key], ["DEL", key],
        ].map { RedisRoutedCall(key: key, .command($0)) })
        #expect(replies.map(\.value) == [.integer(1), .integer(2), replies[2].value, .integer(12), .bulkString(Array("12".utf8)), .integer(1)])
        #expect(replies[2].value.errorMessage?.hasPrefix("WRONGTYPE") == true)
        let runID = try await client.pipeline([["INFO", "server"]])[0].string.map { infoField("run_id", $0) }
        #expect(replies[0].node.runID == runID)
        #expect(replies[0].node.runID.count == 40)
        #expect(client.statistics.connected >= 1)
        #expect(client.statistics.size == 2)
    }

    /// A call's `build` receives the identity read at connect; a throwing `build` fails the call only.
    @Test func callsAreBuiltForTheNodeIdentity() async throws {
        let reactors = try Self.reactors(1)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        struct Refused: Error {}
        let key = TestServices.uniqueName("reactor-identity")
        let replies = try await client.execute([RedisRoutedCall(key: key) { node in .command(["SET", key, node.token]) },
                                                RedisRoutedCall(key: key, .command(["GET", key]))])
        #expect(replies[1].value.string == replies[0].node.token)
        await #expect(throws: Refused.self) {
            try await client.execute([RedisRoutedCall(key: key) { _ in throw Refused() }])
        }
        #expect(try await client.pipeline([["DEL", key]]) == [.integer(1)])
    }

    /// A call with a newer topology generation than the identity was read at reads it again first,
    /// once for the calls that wait together; an older or equal one does not; the calls still see
    /// the node's identity.
    @Test func identityIsReadAgainForANewerGeneration() async throws {
        let reactor = try Reactor(name: "test-redis-generation")
        let (host, port) = try TestServices.redisAddress()
        let connection = RedisReactorConnection(reactor: reactor, host: host, port: port)
        defer {
            reactor.executeAndWait { connection.shutdown() }
            reactor.shutdown()
        }
        let key = TestServices.uniqueName("reactor-generation")
        // Every call of one `run` is handed over in one go on the reactor thread, in order.
        func run(_ generations: [UInt64]) async throws -> [String] {
            try await withCheckedThrowingContinuation { continuation in
                reactor.execute {
                    var tokens: [String] = []
                    var failed = false
                    for generation in generations {
                        connection.execute([RedisRoutedCall(key: key) { .command(["SET", key, $0.token]) }],
                                           identityAsOf: generation) { result in
                            guard !failed else { return }
                            switch result {
                            case .failure(let error):
                                failed = true
                                continuation.resume(throwing: error)
                            case .success(let replies):
                                tokens.append(replies[0].node.token)
                                if tokens.count == generations.count { continuation.resume(returning: tokens) }
                            }
                        }
                    }
                }
            }
        }
        let first = try await run([0])
        #expect(connection.statistics.identityRereads == 0, "the identity read at connect serves generation 0")
        let again = try await run([2, 2, 1, 2])
        #expect(connection.statistics.identityRereads == 1, "one read for the calls that waited together")
        _ = try await run([2, 1])
        #expect(connection.statistics.identityRereads == 1, "nothing newer: no read")
        _ = try await run([3])
        #expect(connection.statistics.identityRereads == 2)
        #expect(Set(first + again).count == 1, "the same node, the same identity")
        reactor.executeAndWait { connection.execute([RedisRoutedCall(key: key, .command(["DEL", key]))]) { _ in } }
    }

    /// After `SCRIPT FLUSH`, scripts in a pipeline are loaded and retried (`NOSCRIPT`), other
    /// replies untouched; a script that does not compile reports the `SCRIPT LOAD` error in place.
    @Test func reloadsScriptsAfterFlush() async throws {
        let reactors = try Self.reactors(1)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        let key = TestServices.uniqueName("reactor-script")
        let increment = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- \(key)")
        let read = RedisScript("return redis.call('GET', KEYS[1]) -- \(key)")
        let broken = RedisScript("this is not lua \(key)")
        _ = try await client.pipeline([["SCRIPT", "FLUSH"]])
        let calls: [RedisCall] = [
            .script(RedisScriptCall(increment, keys: [key], arguments: ["2"])),
            .command(["INCRBY", key, "100"]),
            .script(RedisScriptCall(read, keys: [key], arguments: [])),
            .script(RedisScriptCall(increment, keys: [key], arguments: ["not a number"])),
            .script(RedisScriptCall(broken, keys: [], arguments: [])),
        ]
        let replies = try await client.execute(calls.map { RedisRoutedCall(key: key, $0) }).map(\.value)
        #expect(replies.count == 5)
        // The plain command ran in the first round trip, the scripts after their load.
        #expect(replies[1] == .integer(100))
        #expect(replies[0] == .integer(102))
        #expect(replies[2].int == 102)
        #expect(replies[3].errorMessage != nil && replies[3].errorMessage?.hasPrefix("NOSCRIPT") == false)
        #expect(replies[4].errorMessage != nil && replies[4].errorMessage?.hasPrefix("NOSCRIPT") == false)
        // Loaded now: a second batch needs no reload.
        let again = try await client.execute([RedisRoutedCall(key: key, .script(RedisScriptCall(increment, keys: [key], arguments: ["1"])))])
        #expect(again[0].value == .integer(103))
        _ = try await client.pipeline([["DEL", key]])
    }

    /// A call made on a reactor's thread (a task preferring its executor) runs there and resumes
    /// there; a call from elsewhere is handed to a reactor.
    @Test func callsFromReactorThreadsAndFromOutside() async throws {
        let reactors = try Self.reactors(2)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        let key = TestServices.uniqueName("reactor-thread")
        for reactor in reactors {
            let executor = ReactorExecutor(reactor: reactor)
            let (before, reply, after) = try await withTaskExecutorPreference(executor) {
                let before = reactor.isCurrent
                let reply = try await client.pipeline([["INCR", key]])[0]
                return (before, reply, reactor.isCurrent)
            }
            #expect(before && after)
            #expect(reply.int != nil)
        }
        #expect(!reactors.contains { $0.isCurrent })
        #expect(try await client.pipeline([["GET", key]])[0].int == 2)
        // The calls made on each reactor went to its own connection.
        #expect(client.connections.allSatisfy { $0.statistics.totalCalls >= 1 })
        _ = try await client.pipeline([["DEL", key]])
    }

    /// An actor bound to a reactor (its executor a `ReactorExecutor`, as a shard's) that calls
    /// through `any RedisRouter` runs on its own reactor's connection: `execute` is
    /// `nonisolated(nonsending)`, so the call starts on the reactor's thread — no hand-off.
    @Test func anActorOnAReactorUsesItsOwnConnection() async throws {
        let reactors = try Self.reactors(2)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        let key = TestServices.uniqueName("reactor-actor")
        let bound = ReactorBoundCaller(executor: ReactorExecutor(reactor: reactors[1]))
        let onReactor = try await bound.call(client, key: key, times: 5)
        #expect(onReactor)
        #expect(client.connections[1].statistics.totalCalls == 5)
        #expect(client.connections[0].statistics.totalCalls == 0)
        #expect(try await client.pipeline([["GET", key]])[0].int == 5)
        _ = try await client.pipeline([["DEL", key]])
    }

    /// Many concurrent calls from many tasks: none lost, each pipeline's replies its own and in
    /// order, the shared counter exact.
    @Test func manyConcurrentCallsKeepTheirReplies() async throws {
        let reactors = try Self.reactors(2)
        let client = try Self.client(reactors)
        defer { Self.stop(client, reactors) }
        let prefix = TestServices.uniqueName("reactor-many")
        let counter = prefix + "-counter"
        let tasks = 800
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<tasks {
                group.addTask {
                    let key = "\(prefix)-\(index)"
                    let replies = try await client.pipeline([["SET", key, String(index)], ["INCR", counter], ["GET", key], ["DEL", key]])
                    let ok = replies[0] == .simpleString("OK") && replies[1].int != nil && replies[2].int == Int64(index) && replies[3] == .integer(1)
                    return ok ? 0 : 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect(try await client.pipeline([["GET", counter]])[0].int == Int64(tasks))
        let statistics = client.statistics
        #expect(statistics.totalJobs >= tasks + 1)
        #expect(statistics.failedJobs == 0)
        #expect(statistics.busy == 0 && statistics.waiting == 0)
        _ = try await client.pipeline([["DEL", counter]])
    }

    /// Beyond `maxPending` calls queued or in flight, a call fails at once with `.pool(.overloaded)`.
    @Test func refusesCallsBeyondMaxPending() async throws {
        let reactor = try Reactor(name: "test-redis-bounded")
        defer { reactor.shutdown() }
        let (host, port) = try TestServices.redisAddress()
        let connection = RedisReactorConnection(reactor: reactor, host: host, port: port, maxPending: 2)
        let outcomes = ThreadLock<[String]>([])
        let finished = ThreadLock(0)
        let condition = ThreadCondition()
        reactor.execute {
            // All three are accepted or refused before the connection can open: the first two
            // wait for it, the third is one too many.
            for index in 0..<3 {
                connection.execute([RedisRoutedCall(key: "", .command(["PING"]))]) { result in
                    let outcome: String
                    switch result {
                    case .success(let replies): outcome = "\(index):\(replies[0].value.string ?? "?")"
                    case .failure(RedisError.pool(.overloaded(let limit))): outcome = "\(index):overloaded \(limit)"
                    case .failure(let error): outcome = "\(index):\(error)"
                    }
                    outcomes.withLock { $0.append(outcome) }
                    finished.withLock { $0 += 1 }
                    condition.broadcast()
                }
            }
        }
        try await BlockingThreads.perform {
            finished.wait(on: condition) { $0 >= 3 ? .done(()) : .wait(until: ContinuousClock.now + .seconds(5)) }
        }
        #expect(outcomes.withLock { $0 } == ["2:overloaded 2", "0:PONG", "1:PONG"])
        #expect(connection.statistics.rejectedOverloaded == 1)
        let shut = ThreadLock(false)
        reactor.execute { connection.shutdown(); shut.withLock { $0 = true }; condition.broadcast() }
        try await BlockingThreads.perform { shut.wait(on: condition) { $0 ? .done(()) : .wait(until: nil) } }
    }

    /// After `shutdown`, calls fail with `.pool(.shutdown)` instead of hanging.
    @Test func callsAfterShutdownFail() async throws {
        let reactors = try Self.reactors(1)
        let client = try Self.client(reactors)
        #expect(await client.ping())
        Self.stop(client, reactors)
        await #expect(throws: RedisError.pool(.shutdown)) { try await client.pipeline([["PING"]]) }
    }
}

/// A stand-in for a shard: an actor whose jobs run on one reactor's thread.
private actor ReactorBoundCaller {
    let executor: ReactorExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    init(executor: ReactorExecutor) {
        self.executor = executor
    }

    /// Runs `INCR key` `times` times through `any RedisRouter`; whether every call started and
    /// resumed on the reactor's thread.
    func call(_ router: any RedisRouter, key: String, times: Int) async throws -> Bool {
        var onReactor = true
        for _ in 0..<times {
            onReactor = onReactor && executor.reactor.isCurrent
            _ = try await router.execute([RedisRoutedCall(key: key, .command(["INCR", key]))])
            onReactor = onReactor && executor.reactor.isCurrent
        }
        return onReactor
    }
}

/// The `run_id:` line of an `INFO server` reply.
private func infoField(_ name: String, _ info: String) -> String {
    info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)) } ?? ""
}

/// Faults against a Redis of the test's own (a child process on a free port): a deadline that
/// fires, and Redis killed with `kill -9` and restarted.
@Suite(.serialized, TestServices.needsRedis) struct RedisReactorFaultTests {
    private static func ownRedis(_ name: String) throws -> FaultRedis {
        let base = (try? FaultEnvironment.directory()) ?? NSTemporaryDirectory()
        return try FaultRedis(directory: base + "/reactor-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// A call held past `commandTimeout` (`CLIENT PAUSE`) fails with `.io` … timed out; the
    /// connection is dropped and the next call works on a new one.
    @Test func deadlineDropsTheConnection() async throws {
        let redis = try Self.ownRedis("deadline")
        defer { redis.kill9() }
        let reactor = try Reactor(name: "test-redis-deadline")
        let client = RedisReactorClient(reactors: [reactor], host: "127.0.0.1", port: redis.port,
                                        commandTimeout: .milliseconds(100))
        defer { client.shutdown(); reactor.shutdown() }
        #expect(await client.ping())
        _ = try redis.cli(["CLIENT", "PAUSE", "500"])
        let started = ContinuousClock.now
        await #expect {
            try await client.pipeline([["PING"]])
        } throws: { error in
            guard case RedisError.io(let reason) = error else { return false }
            return reason.contains("timed out")
        }
        // The error itself shows the deadline fired (after the pause the PING would have
        // succeeded); no upper bound on the time: a loaded test run resumes callers late.
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(90), "the deadline fired after \(waited)")
        #expect(client.statistics.timeouts == 1)
        #expect(client.statistics.connected == 0)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await client.pipeline([["PING"]]) == [.simpleString("PONG")])
        #expect(client.statistics.reconnects == 1)
    }

    /// Redis killed: calls in flight fail with `.io`, later ones fail fast with `.connect` while
    /// backing off; once Redis is back, calls succeed again on a new identity.
    @Test func redisKilledAndRestarted() async throws {
        let redis = try Self.ownRedis("kill")
        defer { redis.kill9() }
        let reactors = try (0..<2).map { try Reactor(name: "test-redis-kill-\($0)") }
        let client = RedisReactorClient(reactors: reactors, host: "127.0.0.1", port: redis.port,
                                        connectTimeout: .milliseconds(200), commandTimeout: .seconds(2))
        defer { client.shutdown(); for reactor in reactors { reactor.shutdown() } }
        // Open both connections.
        for _ in 0..<4 { #expect(await client.ping()) }
        let before = try await client.execute([RedisRoutedCall(key: "", .command(["PING"]))])[0].node
        // A call in flight when Redis dies (a blocking pop that never gets an answer).
        let blocked = Task { try await client.pipeline([["BLPOP", "reactor-kill-never", "0"]]) }
        try await Task.sleep(for: .milliseconds(100))
        redis.kill9()
        await #expect {
            _ = try await blocked.value
        } throws: { error in
            if case RedisError.io = error { return true } else { return false }
        }
        // Down: every call fails, none hangs, and quickly (refused connects, then back-off).
        let started = ContinuousClock.now
        for _ in 0..<20 {
            await #expect {
                try await client.pipeline([["PING"]])
            } throws: { error in
                switch error {
                case RedisError.connect, RedisError.io: true
                default: false
                }
            }
        }
        // Hanging until the command timeout would take 20 × 2 s; a loaded run may be slow, not that slow.
        #expect(ContinuousClock.now - started < .seconds(10))
        try await BlockingThreads.perform { try redis.start(appendOnly: false) }
        var back = false
        let deadline = ContinuousClock.now + .seconds(5)
        while !back, ContinuousClock.now < deadline {
            // Two in a row: one per connection (each backs off on its own schedule).
            let first = await client.ping()
            back = await client.ping() && first
            if !back { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(back, "calls did not succeed again after Redis came back")
        let after = try await client.execute([RedisRoutedCall(key: "", .command(["PING"]))])[0].node
        #expect(after.runID != before.runID)
        #expect(client.statistics.reconnects >= 1)
        #expect(client.statistics.failedJobs >= 21)
    }
}
