import COpenSSL
import StampedeSystem

/// Why a TLS context could not be built: the OpenSSL call that failed and its error text.
public struct TLSSetupError: Error, Equatable, CustomStringConvertible {
    /// What Stampede was doing, e.g. `"loading the certificate chain /etc/stampede/cert.pem"`.
    public var step: String
    /// OpenSSL's own error text (the thread's error queue), e.g. `"No such file or directory"`.
    public var reason: String

    public var description: String { "TLS setup failed while \(step): \(reason)" }

    /// Takes (and clears) this thread's OpenSSL error queue.
    static func fromQueue(step: String) -> TLSSetupError {
        TLSSetupError(step: step, reason: OpenSSLErrors.drain())
    }
}

/// The OpenSSL error queue of the calling thread.
enum OpenSSLErrors {
    /// Every queued error as text, oldest first, and clears the queue.
    static func drain() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; ")
    }
}

/// A server-side OpenSSL context (`SSL_CTX`): certificate, key, protocol versions and options,
/// shared read-only by every event loop.
///
/// OpenSSL makes creating sessions from one context thread-safe, and the context is never changed
/// after `init`, so the class is `@unchecked Sendable`. The `SSL_CTX` is freed with the object;
/// sessions hold their own reference to it.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    /// Loads the certificate chain and key and checks that they match.
    init(_ configuration: TLSConfiguration) throws(TLSSetupError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw .fromQueue(step: "creating the TLS context")
        }
        self.context = context
        let minimum = configuration.minimumVersion == .tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard cstampede_ssl_ctx_set_min_proto_version(context, minimum) == 1,
              cstampede_ssl_ctx_set_max_proto_version(context, TLS1_3_VERSION) == 1 else {
            throw .fromQueue(step: "setting the protocol versions")
        }
        SSL_CTX_set_options(context, cstampede_ssl_options())
        _ = cstampede_ssl_ctx_set_mode(context, cstampede_ssl_nonblocking_modes())
        // No server-side session cache (a lock shared by the loops on every full handshake, and
        // memory); TLS 1.3 clients still resume with stateless tickets. nginx's default is the same.
        _ = cstampede_ssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        guard SSL_CTX_use_certificate_chain_file(context, configuration.certificateFile) == 1 else {
            throw .fromQueue(step: "loading the certificate chain \(configuration.certificateFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, configuration.privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            throw .fromQueue(step: "loading the private key \(configuration.privateKeyFile)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw .fromQueue(step: "checking that the private key matches the certificate")
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A new server session on the accepted socket `fd`, or nil when OpenSSL is out of memory.
    func makeSession(fd: Int32) -> TLSSession? {
        guard let ssl = SSL_new(context) else {
            ERR_clear_error()
            return nil
        }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            ERR_clear_error()
            return nil
        }
        SSL_set_accept_state(ssl)
        return TLSSession(ssl)
    }
}
