/// How a request ended, as counted per route: the HTTP status with the body's error code when
/// there is one (`"409 sold_out"`, `"503 overloaded"`), or a transport failure.
public enum Outcome: Hashable, Sendable {
    case answered(status: Int, error: String?)
    case transportError(String)

    /// The label in reports: `201`, `409 sold_out`, `error timeout`.
    public var label: String {
        switch self {
        case .answered(let status, nil): String(status)
        case .answered(let status, let error?): "\(status) \(error)"
        case .transportError(let why): "error \(why)"
        }
    }

    /// The timeline's class of this outcome.
    public var kind: OutcomeKind {
        switch self {
        case .answered(let status, let error):
            switch status {
            case 200..<300: .success
            case 503 where error == "overloaded": .overloaded
            case 400..<500: .rejected
            default: .serverError
            }
        case .transportError: .transportError
        }
    }

    public init(_ response: ClientResponse) {
        self = .answered(status: response.status, error: response.status >= 400 ? response.errorCode : nil)
    }
}

/// Coarse outcome classes for the per-second timeline and the progress line.
public enum OutcomeKind: Int, CaseIterable, Sendable {
    /// 2xx.
    case success
    /// 4xx: the server said no (sold out, limit, not reserved…), as designed.
    case rejected
    /// `503 overloaded`: shed, retried by the workload.
    case overloaded
    /// Other 5xx.
    case serverError
    /// No answer: timeout, reset, refused connection, unparseable response.
    case transportError
}
