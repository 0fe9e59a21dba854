/// Why a `BlockingConnectionPool` did not run a job.
///
/// Errors thrown by the connection factory or by the job's own body pass through the pool
/// unchanged; these cases are the pool's own decisions, made before the body runs.
public enum PoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The waiting queue was full; callers should shed load (for example answer 503) at once.
    case overloaded(maxWaiting: Int)
    /// The job waited longer than the acquire timeout without getting a connection.
    case acquireTimeout(Duration)
    /// The pool was shut down before the job could run.
    case shutdown

    /// A one-line explanation for logs and error responses.
    public var description: String {
        switch self {
        case .overloaded(let maxWaiting):
            "pool overloaded: \(maxWaiting) jobs already waiting for a connection"
        case .acquireTimeout(let timeout):
            "no pool connection became free within \(timeout)"
        case .shutdown:
            "pool is shut down"
        }
    }
}
