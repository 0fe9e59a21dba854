/// The `--url` of a run: `http://host:port` with an IPv4 host (no path, no TLS).
public struct TargetURL: Sendable, Equatable, CustomStringConvertible {
    public let endpoint: IPv4Endpoint
    /// The `Host` header value.
    public let hostHeader: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notHTTP(String)
        case badAddress(String)

        public var description: String {
            switch self {
            case .notHTTP(let url): "\(url): only http://IPv4:port URLs are supported"
            case .badAddress(let url): "\(url): the host must be an IPv4 address (or localhost) and the port 1…65535"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        guard text.hasPrefix("http://") else { throw .notHTTP(text) }
        var rest = Substring(text.dropFirst("http://".count))
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let host = String(parts[0])
        let port = parts.count == 2 ? Int(parts[1]) : (parts.count == 1 ? 80 : nil)
        guard let port, let endpoint = IPv4Endpoint(host: host, port: port) else { throw .badAddress(text) }
        self.endpoint = endpoint
        hostHeader = "\(host):\(port)"
    }

    public var description: String { "http://\(hostHeader)" }
}
