import Glibc
import StampedeSystem
import Synchronization
import Testing

/// The system-call wrappers: typed errors naming the call, files, random bytes, sockets.
@Suite struct SystemTests {
    /// A file is read whole; a missing one fails with `ENOENT` naming `open`; one past the limit
    /// fails with `EFBIG`.
    @Test func readsFilesWithinALimit() throws {
        let statm = try System.readFile("/proc/self/statm")
        #expect(statm.split(separator: UInt8(ascii: " ")).count >= 2)
        #expect(throws: SystemCallError(call: "open /nonexistent/stampede", errno: ENOENT)) {
            try System.readFile("/nonexistent/stampede")
        }
        #expect(throws: SystemCallError(call: "read /proc/self/maps", errno: EFBIG)) {
            try System.readFile("/proc/self/maps", limit: 16)
        }
    }

    /// Random bytes fill the whole buffer and two draws differ.
    @Test func randomBytesFillTheBuffer() throws {
        var first = [UInt8](repeating: 0, count: 4096)
        var second = [UInt8](repeating: 0, count: 4096)
        try first.withUnsafeMutableBytes { buffer in
            try Result { () throws(SystemCallError) in try System.randomBytes(buffer) }.get()
        }
        try second.withUnsafeMutableBytes { buffer in
            try Result { () throws(SystemCallError) in try System.randomBytes(buffer) }.get()
        }
        #expect(first != second)
        // 4096 zero bytes from a working source has probability 2^-32768.
        #expect(first.contains { $0 != 0 })
        #expect(Set(first).count > 200)
    }

    /// A non-blocking connect to a listening loopback socket completes, and bytes sent arrive.
    @Test func connectsAndExchangesBytes() throws {
        let listener = try System.socket(domain: AF_INET)
        defer { System.close(listener) }
        try System.bind(listener, to: SocketAddress(host: "127.0.0.1", port: 0)!)
        try System.listen(listener, backlog: 4)
        let port = try System.localPort(of: listener)
        let client = try System.socket(domain: AF_INET, nonBlocking: false)
        defer { System.close(client) }
        try System.setTimeout(client, seconds: 2)
        guard case .processed = try System.connect(client, to: SocketAddress(host: "127.0.0.1", port: port)!) else {
            Issue.record("a blocking loopback connect did not complete")
            return
        }
        #expect(System.pendingError(client) == 0)
        var peer = SocketAddress(host: "0.0.0.0", port: 0)!
        var accepted: Int32 = -1
        for _ in 0..<200 where accepted < 0 {
            if case .processed(let fd) = try System.accept(listener, peer: &peer) { accepted = fd } else { System.sleep(nanoseconds: 5_000_000) }
        }
        #expect(accepted >= 0)
        defer { System.close(accepted) }
        let sent = try Array("ping".utf8).withUnsafeBytes { try System.send(client, $0) }
        guard case .processed(4) = sent else { Issue.record("send: \(sent)"); return }
        var buffer = [UInt8](repeating: 0, count: 16)
        var received: IOResult<Int> = .wouldBlock
        for _ in 0..<200 {
            received = try buffer.withUnsafeMutableBytes { try System.read(accepted, into: $0) }
            if case .processed = received { break }
            System.sleep(nanoseconds: 5_000_000)
        }
        guard case .processed(let count) = received else { Issue.record("nothing received"); return }
        #expect(Array(buffer[..<count]) == Array("ping".utf8))
    }

    /// Connecting to a closed port fails with `ECONNREFUSED`, named after `connect`.
    @Test func refusedConnectNamesTheCall() throws {
        let listener = try System.socket(domain: AF_INET)
        try System.bind(listener, to: SocketAddress(host: "127.0.0.1", port: 0)!)
        let port = try System.localPort(of: listener)
        System.close(listener)
        let client = try System.socket(domain: AF_INET, nonBlocking: false)
        defer { System.close(client) }
        #expect(throws: SystemCallError(call: "connect", errno: ECONNREFUSED)) {
            try System.connect(client, to: SocketAddress(host: "127.0.0.1", port: port)!)
        }
    }
}

/// The clocks, the thread type, the lock and its condition.
@Suite struct ClockAndThreadTests {
    /// The monotonic clock never goes back, and its seconds agree with its nanoseconds.
    @Test func monotonicClockAdvances() {
        let start = MonotonicClock.now()
        System.sleep(nanoseconds: 2_000_000)
        let end = MonotonicClock.now()
        #expect(end >= start + 2_000_000)
        #expect(MonotonicClock.seconds(end, since: start) >= 0.002)
        #expect(abs(MonotonicClock.nowSeconds() - Double(MonotonicClock.now()) / 1e9) < 0.01)
    }

    /// The wall clock reads a date after 2025 in both units.
    @Test func wallClockIsADate() {
        #expect(WallClock.milliseconds() > 1_735_689_600_000)
        #expect(abs(WallClock.seconds() - Double(WallClock.milliseconds()) / 1000) < 1)
    }

    /// A thread runs its body, is not the caller's thread, and joins.
    @Test func threadRunsAndJoins() throws {
        let ran = Atomic<Int>(0)
        let thread = try SystemThread.spawn(name: "system-test") { ran.add(1, ordering: .relaxed) }
        #expect(!thread.isCurrent)
        thread.join()
        #expect(ran.load(ordering: .relaxed) == 1)
    }

    /// A waiter sleeps until another thread changes the state and signals; a wait with a deadline
    /// and no signal returns once the deadline passed.
    @Test func lockAndConditionHandOver() throws {
        let lock = ThreadLock(0)
        let changed = ThreadCondition()
        let waiter = try SystemThread.spawn(name: "system-wait") {
            let seen = lock.wait(on: changed) { value in value == 0 ? .wait(until: nil) : .done(value) }
            lock.withLock { $0 = seen * 10 }
        }
        System.sleep(nanoseconds: 10_000_000)
        lock.withLock { $0 = 7 }
        changed.signal()
        waiter.join()
        #expect(lock.withLock { $0 } == 70)

        let deadline = ContinuousClock.now + .milliseconds(30)
        let started = MonotonicClock.now()
        let timedOut = lock.wait(on: changed) { _ in ContinuousClock.now >= deadline ? .done(true) : .wait(until: deadline) }
        #expect(timedOut)
        #expect(MonotonicClock.now() - started >= 29_000_000)
    }

    /// A numeric address resolves to itself; a name under `.invalid` (never registered) to none.
    @Test func resolvesAddressesAndRefusesUnknownNames() {
        let numeric = SocketAddress.resolve(host: "127.0.0.1", port: 6379)
        #expect(numeric?.family == AF_INET)
        #expect(numeric?.port == 6379)
        #expect(SocketAddress.resolve(host: "::1", port: 5432)?.family == AF_INET6)
        #expect(SocketAddress.resolve(host: "no-such-host.invalid", port: 6379) == nil)
    }
}
