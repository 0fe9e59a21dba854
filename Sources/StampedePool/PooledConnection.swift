/// A blocking connection that a `BlockingConnectionPool` owns and confines to one worker thread.
///
/// The pool creates a connection with its factory on a worker thread, passes it to jobs on that
/// same thread only, and closes it there. Implementations therefore need no locking, but must not
/// let their C handle escape. The pool replaces a connection as soon as it reports itself unusable:
///
/// - `isBroken` is read after every job: return `true` once an I/O error, a protocol violation or
///   leftover state (such as an open transaction) makes the connection unsafe for the next job.
/// - `hasPeerClosed()` is called before every job, so that a connection the server closed while it
///   sat idle is replaced instead of failing the next caller.
///
/// The type itself (its metatype) crosses threads, hence `SendableMetatype`; instances never do.
public protocol PooledConnection: AnyObject, SendableMetatype {
    /// Whether the connection must be closed and replaced instead of serving another job.
    var isBroken: Bool { get }

    /// Checks without blocking whether the server closed this idle connection.
    ///
    /// Implementations poll their socket with a zero timeout; an idle request/response connection
    /// that turns readable has been closed or has protocol garbage pending, and both mean "replace".
    func hasPeerClosed() -> Bool

    /// Releases the connection's resources; the pool never uses it again afterwards.
    func close()
}

extension PooledConnection {
    /// Connections that cannot probe their socket are only replaced after a failed job.
    public func hasPeerClosed() -> Bool { false }
}
