import StampedePool
import StampedeRedis
import Testing

/// `RedisClient` and `RedisConnection` against a real Redis (`STAMPEDE_TEST_REDIS`).
@Suite(TestServices.needsRedis) struct RedisClientTests {
    private func makeClient(poolSize: Int = 2) throws -> RedisClient {
        let (host, port) = try TestServices.redisAddress()
        return RedisClient(host: host, port: port, poolSize: poolSize)
    }

    /// Every byte value, NUL included, survives SET and GET unchanged.
    @Test func setAndGetAreBinarySafe() async throws {
        let client = try makeClient()
        let key = Array(TestServices.uniqueName("binary\0key").utf8)
        let value = (0...255).map(UInt8.init) + [0, 0, 13, 10]
        #expect(try await client.command([Array("SET".utf8), key, value]) == .simpleString("OK"))
        #expect(try await client.command([Array("GET".utf8), key]) == .bulkString(value))
        _ = try await client.command([Array("DEL".utf8), key])
    }

    /// Pipelined replies come back in command order, an error reply in its slot.
    @Test func pipelineKeepsOrderAndErrorSlots() async throws {
        let client = try makeClient()
        let key = TestServices.uniqueName("pipeline")
        let replies = try await client.pipeline([
            ["INCR", key], ["INCR", key], ["HGET", key, "field"], ["INCRBY", key, "10"], ["GET", key], ["DEL", key],
        ])
        #expect(replies.count == 6)
        #expect(replies[0] == .integer(1))
        #expect(replies[1] == .integer(2))
        #expect(replies[2].errorMessage?.hasPrefix("WRONGTYPE") == true)
        #expect(replies[3] == .integer(12))
        #expect(replies[4].int == 12)
        #expect(replies[5] == .integer(1))
    }

    /// A single command's error reply is thrown as `.server`, and the connection stays usable.
    @Test func errorReplyIsThrown() async throws {
        let client = try makeClient(poolSize: 1)
        let key = TestServices.uniqueName("text")
        _ = try await client.command(["SET", key, "not a number"])
        await #expect {
            try await client.command(["INCR", key])
        } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("ERR")
        }
        #expect(try await client.command(["DEL", key]) == .integer(1))
        #expect(client.statistics.reconnects == 0)
    }

    /// The locally computed SHA-1 of scripts equals the one `SCRIPT LOAD` answers.
    @Test func scriptDigestMatchesScriptLoad() async throws {
        let client = try makeClient()
        let sources = [
            "return 1",
            "return redis.call('GET', KEYS[1]) -- é ✓ \(TestServices.uniqueName("unicode"))",
            String(repeating: "-- a long comment line to span several SHA-1 blocks\n", count: 20) + "return ARGV[1]",
        ]
        for source in sources {
            let loaded = try await client.command(["SCRIPT", "LOAD", source])
            #expect(loaded.string == RedisScript(source).sha1)
        }
    }

    /// After `SCRIPT FLUSH`, single and batched script calls load the scripts and still succeed.
    @Test func reloadsScriptsAfterFlush() async throws {
        let client = try makeClient()
        let key = TestServices.uniqueName("script")
        let increment = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- \(key)")
        let read = RedisScript("return redis.call('GET', KEYS[1]) -- \(key)")
        #expect(try await client.evalScript(increment, keys: [key], arguments: ["2"]) == .integer(2))
        _ = try await client.command(["SCRIPT", "FLUSH"])
        #expect(try await client.evalScript(increment, keys: [key], arguments: ["3"]) == .integer(5))
        _ = try await client.command(["SCRIPT", "FLUSH"])
        let replies = try await client.evalScripts([
            RedisScriptCall(increment, keys: [key], arguments: ["1"]),
            RedisScriptCall(read, keys: [key], arguments: []),
            RedisScriptCall(increment, keys: [key], arguments: ["not a number"]),
        ])
        #expect(replies.count == 3)
        #expect(replies[0] == .integer(6))
        #expect(replies[1].int == 6)
        #expect(replies[2].errorMessage != nil)
        _ = try await client.command(["DEL", key])
    }

    /// A script that does not compile reports the `SCRIPT LOAD` error instead of `NOSCRIPT`.
    @Test func reportsScriptCompileErrors() async throws {
        let client = try makeClient()
        let broken = RedisScript("this is not lua \(TestServices.uniqueName("broken"))")
        await #expect {
            try await client.evalScript(broken, keys: [], arguments: [])
        } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return !message.hasPrefix("NOSCRIPT")
        }
    }

    /// A connection killed by the server while idle is replaced and the next call succeeds.
    @Test func reconnectsAfterClientKill() async throws {
        let client = try makeClient(poolSize: 1)
        let firstID = try #require(try await client.command(["CLIENT", "ID"]).int)
        let admin = try makeClient(poolSize: 1)
        #expect(try await admin.command(["CLIENT", "KILL", "ID", String(firstID)]) == .integer(1))
        let secondID = try #require(try await client.command(["CLIENT", "ID"]).int)
        #expect(secondID != firstID)
        #expect(client.statistics.reconnects == 1)
    }

    /// 200 concurrent INCRs through a pool of 4 connections add up to exactly 200.
    @Test func concurrentIncrementsThroughSmallPool() async throws {
        let client = try makeClient(poolSize: 4)
        let key = TestServices.uniqueName("counter")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { _ = try await client.command(["INCR", key]) }
            }
            try await group.waitForAll()
        }
        #expect(try await client.command(["GET", key]).int == 200)
        #expect(client.statistics.connected <= 4)
        _ = try await client.command(["DEL", key])
    }

    /// With no server listening, calls fail fast with `.connect` and `ping` answers false.
    @Test func unreachableServerFailsFast() async throws {
        let client = RedisClient(host: "127.0.0.1", port: 1, poolSize: 1, connectTimeout: .milliseconds(200))
        await #expect {
            try await client.command(["PING"])
        } throws: { error in
            if case RedisError.connect = error { true } else { false }
        }
        #expect(await client.ping() == false)
        #expect(try await makeClient().ping())
    }
}
