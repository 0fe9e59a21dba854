/// A serial executor that runs its jobs on one reactor's thread: an actor (a shard) whose
/// connections live on that reactor resumes there when their answers arrive, with no further
/// hand-off.
///
/// A job enqueued on the reactor's thread runs at once, inline (after the job running now, if
/// one does: the executor stays serial); a job enqueued from another thread is handed to the
/// reactor with `Reactor.execute`. It is also a `TaskExecutor`, so the nonisolated async code the
/// actor awaits runs on the reactor too rather than on the global executor.
public final class ReactorExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    /// The reactor whose thread runs the jobs.
    public let reactor: Reactor
    // Touched on the reactor's thread only.
    private var running = false
    private var queued: [UnownedJob] = []

    public init(reactor: Reactor) {
        self.reactor = reactor
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if reactor.isCurrent {
            // The runtime calls this through an unowned reference, and a job may drop the last
            // reference to the actor and so to this executor: keep it alive while it runs.
            let alive = Unmanaged.passRetained(self)
            defer { alive.release() }
            run(job)
        } else {
            // The runtime holds the executor unowned: the work keeps it alive until it ran.
            reactor.execute { [self] in run(job) }
        }
    }

    private func run(_ job: UnownedJob) {
        if running {
            queued.append(job)
            return
        }
        running = true
        job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        var index = 0
        while index < queued.count {
            queued[index].runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            index += 1
        }
        queued.removeAll(keepingCapacity: true)
        running = false
    }

    public func isSameExclusiveExecutionContext(other: ReactorExecutor) -> Bool {
        self === other
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
