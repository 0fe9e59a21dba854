/// The method of an HTTP request.
///
/// The common methods are cases so routing compares enum tags, not strings; any other valid token
/// (`TRACE`, `PROPFIND`…) arrives as `.other` with its exact spelling.
public enum HTTPMethod: Sendable, Equatable, Hashable {
    case get
    case head
    case post
    case put
    case delete
    case patch
    case options
    /// A method token the server does not name, exactly as it was sent.
    case other(String)

    /// The method as it is written on the wire, e.g. `"GET"`.
    public var rawValue: String {
        switch self {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .patch: "PATCH"
        case .options: "OPTIONS"
        case .other(let token): token
        }
    }
}

extension HTTPMethod {
    /// Maps a method token (already validated as an RFC 9110 token) without allocating for the
    /// common methods.
    init(token: UnsafeBufferPointer<UInt8>) {
        switch token.count {
        case 3 where ASCII.equals(token, "GET"): self = .get
        case 3 where ASCII.equals(token, "PUT"): self = .put
        case 4 where ASCII.equals(token, "POST"): self = .post
        case 4 where ASCII.equals(token, "HEAD"): self = .head
        case 5 where ASCII.equals(token, "PATCH"): self = .patch
        case 6 where ASCII.equals(token, "DELETE"): self = .delete
        case 7 where ASCII.equals(token, "OPTIONS"): self = .options
        default: self = .other(String(decoding: token, as: UTF8.self))
        }
    }
}
