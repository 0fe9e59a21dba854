import StampedeSystem
import Synchronization
import Testing
@testable import StampedeInventory

/// The shard's inline executor: serial under concurrent hand-overs from many threads, and the
/// code it runs continues on the thread that resumed it.
@Suite struct ShardExecutorTests {
    /// An actor on a `ShardExecutor`, with state that would show two jobs running at once.
    actor Counter {
        nonisolated let executor = ShardExecutor()
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        private var inside = false
        private(set) var count = 0
        private(set) var overlaps = 0
        private var work = 0

        func increment() {
            if inside { overlaps += 1 }
            inside = true
            // A little work with the flag up, so an overlapping job would see it.
            var spin = 0
            for index in 0..<200 { spin &+= index }
            work = spin
            count += 1
            inside = false
        }
    }

    /// Eight threads and the cooperative pool hand over 4,000 jobs at once: every job runs, and
    /// never two at a time.
    @Test func runsJobsOneAtATimeFromManyThreads() async throws {
        let counter = Counter()
        let threads = try (0..<8).map { index in
            try SystemThread.spawn(name: "executor-\(index)") {
                for _ in 0..<250 { Task(executorPreference: counter.executor) { await counter.increment() } }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2000 { group.addTask { await counter.increment() } }
        }
        for thread in threads { thread.join() }
        let deadline = MonotonicClock.now() + 5_000_000_000
        while await counter.count < 4000, MonotonicClock.now() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await counter.count == 4000)
        #expect(await counter.overlaps == 0)
    }

    /// What the second test's threads saw, shared with them.
    final class Probe: Sendable {
        let executor = ShardExecutor()
        let ranInline = Atomic(false)
        let finished = Atomic(false)
        let startedInline = Atomic(false)
        let finishedInline = Atomic(false)
        let resumer = Mutex<pthread_t?>(nil)
        let continuedOn = Mutex<pthread_t?>(nil)
        let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
    }

    /// Code awaiting a continuation goes on on the thread that resumes it (no hop to another
    /// thread), and a job handed over while the executor is idle runs before the hand-over returns.
    @Test func continuesOnTheResumingThread() async throws {
        let probe = Probe()
        try SystemThread.spawn(name: "executor-start") {
            Task(executorPreference: probe.executor) {
                probe.ranInline.store(true, ordering: .relaxed)
                await withCheckedContinuation { continuation in probe.parked.withLock { $0 = continuation } }
                probe.continuedOn.withLock { $0 = pthread_self() }
                probe.finished.store(true, ordering: .releasing)
            }
            // The executor was idle: the task ran up to its first suspension on this thread.
            probe.startedInline.store(probe.ranInline.load(ordering: .relaxed), ordering: .relaxed)
        }.join()
        let deadline = MonotonicClock.now() + 5_000_000_000
        while probe.parked.withLock({ $0 == nil }), MonotonicClock.now() < deadline { try await Task.sleep(for: .milliseconds(1)) }
        try SystemThread.spawn(name: "executor-resume") {
            probe.resumer.withLock { $0 = pthread_self() }
            probe.parked.withLock { $0 }?.resume()
            // Resuming ran the rest of the task inline, before `resume()` returned.
            probe.finishedInline.store(probe.finished.load(ordering: .acquiring), ordering: .relaxed)
        }.join()
        let startedInline = probe.startedInline.load(ordering: .relaxed)
        let finishedInline = probe.finishedInline.load(ordering: .relaxed)
        #expect(startedInline)
        #expect(finishedInline)
        let resumedBy = probe.resumer.withLock { $0 }
        let ranOn = probe.continuedOn.withLock { $0 }
        #expect(resumedBy != nil && ranOn != nil && pthread_equal(resumedBy!, ranOn!) != 0)
    }
}
