/// The HTTPS listener of an `HTTPServer`: where it listens and the certificate it presents.
///
/// The server always serves plain HTTP on `HTTPServerConfiguration.host`/`port`; with a
/// `TLSConfiguration` it serves HTTPS on this second address at the same time, from the same
/// event loops.
public struct TLSConfiguration: Sendable, Equatable {
    /// The oldest protocol version the listener accepts.
    public enum ProtocolVersion: String, Sendable, CaseIterable {
        case tls1_2 = "1.2"
        case tls1_3 = "1.3"
    }

    /// A numeric IPv4 or IPv6 address to bind (`"localhost"` means `127.0.0.1`).
    public var host: String
    /// The TCP port; `0` picks a free ephemeral port, read back from `HTTPServer.localTLSPort`.
    public var port: Int
    /// A PEM file with the server certificate first, then any intermediate certificates.
    public var certificateFile: String
    /// A PEM file with the certificate's private key.
    public var privateKeyFile: String
    /// The oldest version offered; TLS 1.3 is always the newest.
    public var minimumVersion: ProtocolVersion
    /// How long a connection may take to complete its handshake before it is closed.
    public var handshakeTimeoutSeconds: Double

    /// Creates an HTTPS listener configuration.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8443,
        certificateFile: String,
        privateKeyFile: String,
        minimumVersion: ProtocolVersion = .tls1_2,
        handshakeTimeoutSeconds: Double = 10
    ) {
        self.host = host
        self.port = port
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.minimumVersion = minimumVersion
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
    }
}
