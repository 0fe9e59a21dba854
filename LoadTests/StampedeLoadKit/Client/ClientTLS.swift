import COpenSSL
import Glibc
import StampedeSystem
import Synchronization

/// How the harness checks an HTTPS target's certificate: against the system's trusted
/// authorities (default), against `caFile` (a PEM bundle, e.g. a self-signed certificate), or not
/// at all (`insecure`, for a rehearsal against a throw-away certificate).
public struct ClientTLSSettings: Sendable, Hashable {
    public var caFile: String?
    public var insecure: Bool

    public init(caFile: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.insecure = insecure
    }
}

/// Why TLS could not be set up or failed.
public struct ClientTLSError: Error, Equatable, CustomStringConvertible {
    public var step: String
    public var reason: String
    public var description: String { "TLS: \(step): \(reason)" }

    static func fromQueue(_ step: String) -> ClientTLSError {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return ClientTLSError(step: step, reason: reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; "))
    }
}

/// A client `SSL_CTX` (TLS 1.2 or 1.3, certificate verification per the settings), made once per
/// settings and shared by every connection and thread: creating sessions from one context is
/// thread-safe in OpenSSL and the context is never changed after it is made.
final class ClientTLSContext: @unchecked Sendable {
    let context: OpaquePointer
    let verifies: Bool

    private static let made = Mutex<[ClientTLSSettings: ClientTLSContext]>([:])

    /// The context of `settings` (made on first use).
    static func shared(_ settings: ClientTLSSettings) throws(ClientTLSError) -> ClientTLSContext {
        let result: Result<ClientTLSContext, ClientTLSError> = made.withLock { table in
            if let context = table[settings] { return .success(context) }
            let made = Result { () throws(ClientTLSError) -> ClientTLSContext in try ClientTLSContext(settings) }
            if case .success(let context) = made { table[settings] = context }
            return made
        }
        return try result.get()
    }

    private init(_ settings: ClientTLSSettings) throws(ClientTLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw .fromQueue("SSL_CTX_new") }
        self.context = context
        verifies = !settings.insecure
        _ = cstampede_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        _ = cstampede_ssl_ctx_set_mode(context, cstampede_ssl_nonblocking_modes())
        if settings.insecure {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if let file = settings.caFile {
                guard SSL_CTX_load_verify_locations(context, file, nil) == 1 else { throw .fromQueue("loading the CA file \(file)") }
            } else {
                guard SSL_CTX_set_default_verify_paths(context) == 1 else { throw .fromQueue("loading the system's trusted authorities") }
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// A session on the connected socket `fd` to `host` (server name and, when verifying, the
    /// name the certificate must carry).
    func session(fd: Int32, host: String) throws(ClientTLSError) -> ClientTLSSession {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw .fromQueue("SSL_new") }
        let session = ClientTLSSession(ssl)
        guard SSL_set_fd(ssl, fd) == 1 else { throw .fromQueue("SSL_set_fd") }
        SSL_set_connect_state(ssl)
        if IPv4Endpoint(host: host, port: 1) == nil {
            // SSL_set_tlsext_host_name is a macro over SSL_ctrl: the server name (SNI).
            _ = host.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        }
        if verifies {
            let checked = IPv4Endpoint(host: host, port: 1) == nil
                ? SSL_set1_host(ssl, host)
                : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host == "localhost" ? "127.0.0.1" : host)
            guard checked == 1 else { throw .fromQueue("setting the name to verify") }
        }
        return session
    }
}

/// One connection's client TLS state (`SSL*`) on a socket, blocking or not: every call maps
/// OpenSSL's "want read / want write" to `.wouldBlock` (the loop waits for the socket), and a
/// failure to an error.
final class ClientTLSSession {
    enum HandshakeStep: Equatable {
        case done
        case wantRead
        case wantWrite
        case failed(String)
    }

    private let ssl: OpaquePointer

    init(_ ssl: OpaquePointer) { self.ssl = ssl }

    deinit { SSL_free(ssl) }

    /// Advances the handshake as far as the socket allows.
    func handshake() -> HandshakeStep {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default:
            let verify = SSL_get_verify_result(ssl)
            let reason = verify != X509_V_OK
                ? "certificate: " + String(cString: X509_verify_cert_error_string(Int(verify)))
                : ClientTLSError.fromQueue("handshake").reason
            return .failed(reason)
        }
    }

    /// SSL_read: `.processed(0)` is the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        ERR_clear_error()
        var count = 0
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count) == 1 { return .processed(count) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .processed(0)
        case SSL_ERROR_SYSCALL where errno == EINTR: return .wouldBlock
        default:
            ERR_clear_error()
            return .processed(0)
        }
    }

    /// SSL_write (partial writes enabled).
    func send(_ bytes: UnsafeRawBufferPointer) throws(SystemCallError) -> IOResult<Int> {
        ERR_clear_error()
        var count = 0
        if SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count) == 1 { return .processed(count) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wouldBlock
        default:
            ERR_clear_error()
            throw SystemCallError(call: "SSL_write", errno: ECONNRESET)
        }
    }
}
