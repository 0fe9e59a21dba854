extension HTTPResponse {
    /// An error answer produced by the server itself, in the API's error shape
    /// `{"error":"<code>","message":"<text>"}`.
    ///
    /// `code` and `message` are fixed strings from this module, so they need no JSON escaping.
    static func serverError(
        status: Int,
        code: String,
        message: String,
        headers: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        .json(status: status, Array(#"{"error":"\#(code)","message":"\#(message)"}"#.utf8), headers: headers)
    }

    /// The answer to a request the parser refused.
    static func parseFailure(_ error: HTTPParseError) -> HTTPResponse {
        serverError(status: error.status, code: error.code, message: error.message)
    }

    /// `408 request_timeout`: a started request did not complete within the read timeout.
    static let requestTimeout = serverError(
        status: 408, code: "request_timeout", message: "The request was not completed in time."
    )

    /// `503 overloaded` with `Retry-After: 1`: the connection limit is reached; nothing was done.
    static let overloaded = serverError(
        status: 503,
        code: "overloaded",
        message: "The server is at its connection limit; retry shortly.",
        headers: [(name: "Retry-After", value: "1")]
    )

    /// `429 rate_limited` with `Retry-After: 1`: the client address holds too many connections.
    static let tooManyConnections = serverError(
        status: 429,
        code: "rate_limited",
        message: "Too many connections from your address; retry shortly.",
        headers: [(name: "Retry-After", value: "1")]
    )

    /// `400 bad_request`: a trusted proxy sent a PROXY protocol signature without a valid header.
    static let invalidProxyHeader = serverError(
        status: 400,
        code: "bad_request",
        message: "The PROXY protocol header is malformed."
    )

    /// `400 bad_request` for a plain HTTP request sent to the HTTPS port.
    static let plainHTTPOnTLSPort = serverError(
        status: 400,
        code: "bad_request",
        message: "This port speaks HTTPS; a plain HTTP request was sent to it."
    )
}
