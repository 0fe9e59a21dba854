import Glibc
import StampedeSystem

/// Why the server could not start.
public enum HTTPServerError: Error, Equatable, CustomStringConvertible {
    /// A system call failed, e.g. `bind` with `EADDRINUSE` when the port is taken.
    case systemCall(call: String, errno: Int32)
    /// `host` is not a numeric IPv4 or IPv6 address.
    case invalidHost(String)
    /// A configuration value is out of range; the text names it.
    case invalidConfiguration(String)
    /// The HTTPS listener's certificate, key or OpenSSL settings were refused; the text says why.
    case tlsSetup(String)
    /// `start()` was called on a server that was already started (servers are not restartable).
    case alreadyStarted

    /// A sentence naming what failed, e.g. `"bind failed: Address already in use (errno 98)"`.
    public var description: String {
        switch self {
        case .systemCall(let call, let errno):
            "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .invalidHost(let host):
            "host \"\(host)\" is not a numeric IPv4 or IPv6 address"
        case .invalidConfiguration(let problem):
            "invalid configuration: \(problem)"
        case .tlsSetup(let reason):
            reason
        case .alreadyStarted:
            "the server was already started"
        }
    }

    /// Wraps a failed system call.
    init(_ error: SystemCallError) {
        self = .systemCall(call: error.call, errno: error.errno)
    }
}
