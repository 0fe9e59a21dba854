/// One caller's request for a connection, queued until a worker runs or fails it.
///
/// Exactly one of `run` and `fail` is called, exactly once: whoever removes the job from the
/// `PoolQueue` owns it. `fail` resumes the caller's continuation; `run` returns what resumes it,
/// which the worker calls once it has accounted for the job.
struct PoolJob<Connection>: Sendable {
    /// Runs the caller's body on the worker thread.
    let run: @Sendable (Connection) -> PoolJobResult
    /// Resumes the caller with `error` without running the body.
    let fail: @Sendable (any Error) -> Void
}

/// What running a job's body left: whether it succeeded, and the caller's resumption.
///
/// The worker resumes the caller only after it has checked its connection and released the job:
/// the caller's code may continue right on this thread (a shard on its inline executor), and
/// must not find the worker still counted busy nor a broken connection still in place.
struct PoolJobResult: Sendable {
    /// `false` if the body threw.
    let succeeded: Bool
    /// Resumes the caller with the body's value or error.
    let resume: @Sendable () -> Void
}
