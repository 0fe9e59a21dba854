import Glibc
import StampedeSystem
import Synchronization
import Testing

/// The reactor: work handed over from other threads, timers in deadline order, cancelled timers,
/// descriptor readiness, and an actor running on a `ReactorExecutor`.
@Suite struct ReactorTests {
    /// Blocks the test thread until `condition` holds (at most 5 s); false on timeout.
    private func waitFor(_ condition: () -> Bool) -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            System.sleep(nanoseconds: 10_000_000)
        }
        return condition()
    }

    /// Work from another thread runs on the reactor thread, in order.
    @Test func runsHandedOverWorkInOrder() throws {
        let reactor = try Reactor(name: "test-reactor")
        defer { reactor.shutdown() }
        let seen = Mutex<[Int]>([])
        for value in 0..<100 {
            reactor.execute { seen.withLock { $0.append(reactor.isCurrent ? value : -1) } }
        }
        #expect(waitFor { seen.withLock { $0.count } == 100 })
        #expect(seen.withLock { $0 } == Array(0..<100))
        #expect(!reactor.isCurrent)
    }

    /// Timers fire by deadline, not by scheduling order; a cancelled one never fires.
    @Test func firesTimersByDeadlineAndSkipsCancelled() throws {
        let reactor = try Reactor(name: "test-timers")
        defer { reactor.shutdown() }
        let fired = Mutex<[String]>([])
        reactor.execute {
            reactor.schedule(after: 0.06) { fired.withLock { $0.append("late") } }
            let cancelled = reactor.schedule(after: 0.02) { fired.withLock { $0.append("cancelled") } }
            reactor.schedule(after: 0.01) { fired.withLock { $0.append("early") } }
            reactor.cancel(cancelled)
        }
        #expect(waitFor { fired.withLock { $0.count } == 2 })
        System.sleep(nanoseconds: 50_000_000)
        #expect(fired.withLock { $0 } == ["early", "late"])
    }

    /// A registered descriptor's handler runs when it becomes readable, and not after
    /// `unregister`.
    @Test func callsHandlersOfReadyDescriptors() throws {
        let reactor = try Reactor(name: "test-fds")
        defer { reactor.shutdown() }
        let fd = try System.eventFD()
        defer { System.close(fd) }
        let calls = Mutex(0)
        let registered = Mutex<Reactor.Registration?>(nil)
        reactor.execute {
            let registration = try? reactor.register(fd: fd, events: EPOLLIN.rawValue) { _ in
                try? System.eventFDDrain(fd)
                calls.withLock { $0 += 1 }
            }
            registered.withLock { $0 = registration }
        }
        #expect(waitFor { registered.withLock { $0 } != nil })
        try System.eventFDSignal(fd)
        #expect(waitFor { calls.withLock { $0 } == 1 })
        let removed = Mutex(false)
        reactor.execute {
            if let registration = registered.withLock({ $0 }) { reactor.unregister(registration, fd: fd) }
            removed.withLock { $0 = true }
        }
        #expect(waitFor { removed.withLock { $0 } })
        try System.eventFDSignal(fd)
        System.sleep(nanoseconds: 50_000_000)
        #expect(calls.withLock { $0 } == 1)
    }

    actor Counter {
        let executor: ReactorExecutor
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        var count = 0
        var offReactor = 0
        init(executor: ReactorExecutor) { self.executor = executor }
        func increment() {
            if !executor.reactor.isCurrent { offReactor += 1 }
            count += 1
        }
    }

    /// An actor on a `ReactorExecutor` runs on the reactor's thread, serially, whatever thread
    /// calls it.
    @Test func actorRunsOnTheReactor() async throws {
        let reactor = try Reactor(name: "test-actor")
        defer { reactor.shutdown() }
        let counter = Counter(executor: ReactorExecutor(reactor: reactor))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 { group.addTask { await counter.increment() } }
        }
        #expect(await counter.count == 200)
        #expect(await counter.offReactor == 0)
    }
}
