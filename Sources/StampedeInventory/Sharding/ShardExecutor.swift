import Synchronization

/// The executor of one shard: it runs the shard's jobs on whichever thread hands it one, one job
/// at a time, instead of waking a thread of Swift's cooperative pool for each.
///
/// A purchase used to cross six threads: event loop → cooperative pool (the shard) → Redis pool
/// thread → cooperative pool → PostgreSQL pool thread → cooperative pool → event loop, each hop a
/// futex wake-up and a context switch (the largest share of Stampede's CPU per purchase under
/// `perf`). With this executor the shard's code continues where its input arrives: on the event
/// loop that submitted the purchase, on the Redis pool thread that got the decision, on the
/// PostgreSQL pool thread that got the commit. What remains are the hand-offs to the threads
/// that own the connections and back to the loops.
///
/// It is both the shard actor's `SerialExecutor` and its pipeline tasks' `TaskExecutor`, so the
/// nonisolated async code the shard awaits (ledger, repository, clients) runs here too rather than
/// hopping to the global executor. Serial: a job handed over while another runs (on any thread)
/// is queued, and the thread running drains the queue before it returns. The shard's code never
/// blocks (its I/O waits suspend on the pools' continuations), so running it inline costs the
/// handing thread only the CPU the shard would have used elsewhere.
final class ShardExecutor: SerialExecutor, TaskExecutor, Sendable {
    private let state = Mutex(State())

    private struct State {
        var running = false
        var queue: [UnownedJob] = []
        var head = 0
    }

    func enqueue(_ job: consuming ExecutorJob) {
        // The runtime calls this through an unowned reference, and a job may drop the last
        // reference to the shard (its task ends; an old layout's shard is gone from the directory):
        // without a reference of its own, the loop below would go on in freed memory.
        let alive = Unmanaged.passRetained(self)
        defer { alive.release() }
        let job = UnownedJob(job)
        let runsNow = state.withLock { state in
            if state.running {
                state.queue.append(job)
                return false
            }
            state.running = true
            return true
        }
        guard runsNow else { return }
        var next: UnownedJob? = job
        while let current = next {
            current.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            next = state.withLock { state in
                guard state.head < state.queue.count else {
                    state.queue.removeAll(keepingCapacity: true)
                    state.head = 0
                    state.running = false
                    return nil
                }
                defer { state.head += 1 }
                return state.queue[state.head]
            }
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
