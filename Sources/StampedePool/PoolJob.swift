/// One caller's request for a connection, queued until a worker runs or fails it.
///
/// Exactly one of `run` and `fail` is called, exactly once: whoever removes the job from the
/// `PoolQueue` owns it. Both resume the caller's continuation.
struct PoolJob<Connection>: Sendable {
    /// Runs the caller's body on the worker thread and resumes the caller; `false` if the body threw.
    let run: @Sendable (Connection) -> Bool
    /// Resumes the caller with `error` without running the body.
    let fail: @Sendable (any Error) -> Void
}
