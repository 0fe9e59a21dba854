import Glibc

/// The `--url` of a run: `http://host:port` or `https://host:port`, the host a name, an IPv4
/// address or `localhost`. A name is resolved once, to an IPv4 address (`getaddrinfo`), when the
/// URL is read; the `Host` header, TLS's server name and its certificate check use the name.
public struct TargetURL: Sendable, Equatable, CustomStringConvertible {
    public let endpoint: IPv4Endpoint
    /// The host as written in the URL (a name or an address).
    public let host: String
    /// The `Host` header value.
    public let hostHeader: String
    /// How to speak TLS to it; nil for `http://`.
    public let tls: ClientTLSSettings?

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notHTTP(String)
        case badAddress(String)
        case unresolvable(String)

        public var description: String {
            switch self {
            case .notHTTP(let url): "\(url): only http:// and https:// URLs are supported"
            case .badAddress(let url): "\(url): expected scheme://host[:port] with a port 1…65535 and no path"
            case .unresolvable(let host): "\(host): the name does not resolve to an IPv4 address"
            }
        }
    }

    /// `resolve` turns a host name into a dotted IPv4 address (default: `getaddrinfo`).
    public init(_ text: String, tls settings: ClientTLSSettings = ClientTLSSettings(),
                resolve: (String) -> String? = TargetURL.resolveIPv4) throws(ParseError) {
        let secure: Bool
        var rest: Substring
        if text.hasPrefix("http://") { secure = false; rest = Substring(text.dropFirst("http://".count)) }
        else if text.hasPrefix("https://") { secure = true; rest = Substring(text.dropFirst("https://".count)) }
        else { throw .notHTTP(text) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@") else { throw .badAddress(text) }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let host = String(parts.first ?? "")
        let port = parts.count == 2 ? Int(parts[1]) : (parts.count == 1 ? (secure ? 443 : 80) : nil)
        guard let port, (1...65535).contains(port), Self.isHostName(host) else { throw .badAddress(text) }
        let endpoint: IPv4Endpoint
        if let literal = IPv4Endpoint(host: host, port: port) {
            endpoint = literal
        } else {
            guard let address = resolve(host), let resolved = IPv4Endpoint(host: address, port: port) else { throw .unresolvable(host) }
            endpoint = resolved
        }
        self.endpoint = endpoint
        self.host = host
        hostHeader = "\(host):\(port)"
        tls = secure ? settings : nil
    }

    public var description: String { (tls == nil ? "http://" : "https://") + hostHeader }

    /// Letters, digits, `-` and `.` (a DNS name or a dotted address), 1…253 bytes.
    static func isHostName(_ host: String) -> Bool {
        (1...253).contains(host.utf8.count) && host.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 46
        }
    }

    /// The first IPv4 address of `host` (`getaddrinfo`, `AF_INET`), dotted; nil when it has none.
    public static func resolveIPv4(_ host: String) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &results) == 0, let first = results else { return nil }
        defer { freeaddrinfo(results) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if info.pointee.ai_family == AF_INET, let address = info.pointee.ai_addr {
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer -> Bool in
                    var inAddress = pointer.pointee.sin_addr
                    return inet_ntop(AF_INET, &inAddress, &text, socklen_t(text.count)) != nil
                }
                if ok { return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            }
            cursor = info.pointee.ai_next
        }
        return nil
    }
}
