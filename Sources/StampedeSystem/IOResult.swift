/// The outcome of a non-blocking call: it made progress, or the kernel would have blocked.
public enum IOResult<Value> {
    /// The call succeeded with this value (a byte count or a descriptor).
    case processed(Value)
    /// The call returned `EAGAIN`/`EWOULDBLOCK`; wait for readiness and retry.
    case wouldBlock
}
