/// Why a request could not be parsed; each case maps to the answer the server sends before it
/// closes the connection.
enum HTTPParseError: Error, Equatable, Sendable {
    /// The request line is not `method SP target SP version`.
    case invalidRequestLine
    /// The method is empty or contains a character that is not allowed in a token.
    case invalidMethod
    /// The request-target is empty or contains a space, control or non-ASCII byte.
    case invalidTarget
    /// The version is not `HTTP/1.0` or `HTTP/1.1`.
    case unsupportedVersion
    /// A line ends with LF alone; the server requires CRLF so framing cannot be disputed.
    case bareLineFeed
    /// A header line starts with whitespace (obsolete line folding, RFC 9112 §5.2).
    case obsoleteLineFolding
    /// A header line has no `:`.
    case headerWithoutColon
    /// A header name is empty or not a token (including whitespace before the colon).
    case invalidHeaderName
    /// A header value contains a control character.
    case invalidHeaderValue
    /// `Content-Length` is not a plain decimal number that fits in an `Int`.
    case invalidContentLength
    /// Several `Content-Length` fields disagree.
    case conflictingContentLength
    /// The request uses `Transfer-Encoding`; only `Content-Length` bodies are accepted.
    case transferEncodingNotSupported
    /// The request line and headers exceed the configured limit.
    case headerTooLarge(limit: Int)
    /// `Content-Length` exceeds the configured limit; the body is never read.
    case bodyTooLarge(contentLength: Int, limit: Int)

    /// The status code the server answers with.
    var status: Int {
        switch self {
        case .transferEncodingNotSupported: 411
        case .headerTooLarge: 431
        case .bodyTooLarge: 413
        default: 400
        }
    }

    /// The stable machine-readable error code of the answer body.
    var code: String {
        switch self {
        case .transferEncodingNotSupported: "length_required"
        case .headerTooLarge: "header_too_large"
        case .bodyTooLarge: "body_too_large"
        default: "bad_request"
        }
    }

    /// A sentence for a person reading the answer; contains no characters needing JSON escaping.
    var message: String {
        switch self {
        case .invalidRequestLine: "The request line is malformed."
        case .invalidMethod: "The request method is not a valid token."
        case .invalidTarget: "The request target is malformed."
        case .unsupportedVersion: "Only HTTP/1.0 and HTTP/1.1 are supported."
        case .bareLineFeed: "Lines must end with CRLF."
        case .obsoleteLineFolding: "Folded header lines are not accepted."
        case .headerWithoutColon: "A header line has no colon."
        case .invalidHeaderName: "A header name is not a valid token."
        case .invalidHeaderValue: "A header value contains a control character."
        case .invalidContentLength: "Content-Length is not a valid number."
        case .conflictingContentLength: "Content-Length fields disagree."
        case .transferEncodingNotSupported: "Send the body with Content-Length; Transfer-Encoding is not accepted."
        case .headerTooLarge(let limit): "The request line and headers exceed \(limit) bytes."
        case .bodyTooLarge(_, let limit): "The body exceeds \(limit) bytes."
        }
    }
}
