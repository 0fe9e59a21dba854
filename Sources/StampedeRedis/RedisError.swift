import StampedePool

/// Why a Redis call failed.
///
/// `connect`, `io` and `protocolViolation` mean the connection is unusable and will be replaced;
/// `server` is Redis answering with an error reply on a healthy connection; `pool` and `cluster`
/// mean the command never ran.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Opening a connection failed; carries the address and hiredis' reason.
    case connect(String)
    /// Reading or writing the socket failed or timed out (hiredis' reason).
    case io(String)
    /// Redis answered with an error reply, for example `WRONGTYPE …` or a script error.
    case server(String)
    /// The bytes from the server do not form a valid RESP2 reply.
    case protocolViolation(String)
    /// The connection pool refused or timed out the call before it reached Redis.
    case pool(PoolError)
    /// A Redis Cluster could not take the call within its redirect and retry budget (no primary
    /// for the slot, `CLUSTERDOWN`, too many redirects): the call did not run.
    case cluster(String)

    /// Maps what a `BlockingConnectionPool` of `RedisConnection`s can throw.
    ///
    /// The factory and the bodies throw `RedisError`, the pool itself `PoolError`; any other
    /// error is reported as `.io` rather than lost.
    init(poolFailure error: any Error) {
        switch error {
        case let error as RedisError: self = error
        case let error as PoolError: self = .pool(error)
        default: self = .io(String(describing: error))
        }
    }

    /// A one-line explanation for logs and error responses.
    public var description: String {
        switch self {
        case .connect(let reason): "Redis connect failed: \(reason)"
        case .io(let reason): "Redis I/O failed: \(reason)"
        case .server(let message): "Redis error reply: \(message)"
        case .protocolViolation(let reason): "Redis protocol violation: \(reason)"
        case .pool(let error): "Redis pool: \(error)"
        case .cluster(let reason): "Redis Cluster: \(reason)"
        }
    }
}
