import COpenSSL
import Glibc
import StampedeSystem

/// One connection's TLS state (`SSL*`) on a non-blocking socket.
///
/// Every call returns at once: when OpenSSL needs the socket to become readable or writable it
/// says so (`wantRead`/`wantWrite`) and the connection maps that to epoll interest, so a slow or
/// stalled peer never holds the event loop. Owned by exactly one `HTTPConnection` and used only on
/// its loop's thread; `release()` frees the `SSL*`.
final class TLSSession {
    /// The outcome of one handshake step.
    enum HandshakeStep: Equatable {
        case done
        case wantRead
        case wantWrite
        /// The handshake failed; `plainHTTP` when the peer sent a plain HTTP request instead.
        case failed(plainHTTP: Bool)
    }

    /// The outcome of one read or write.
    enum Transfer: Equatable {
        case processed(Int)
        case wantRead
        case wantWrite
        /// The peer closed the TLS stream (close_notify, or end of input).
        case closed
        /// A protocol or socket error; the connection must close.
        case failed
    }

    private var ssl: OpaquePointer?

    init(_ ssl: OpaquePointer) {
        self.ssl = ssl
    }

    deinit {
        release()
    }

    /// Advances the handshake as far as the socket allows.
    func handshake() -> HandshakeStep {
        guard let ssl else { return .failed(plainHTTP: false) }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default:
            let plainHTTP = cstampede_ssl_error_is_http_request() != 0
            ERR_clear_error()
            return .failed(plainHTTP: plainHTTP)
        }
    }

    /// The negotiated protocol, e.g. `"TLSv1.3"`.
    var protocolVersion: String {
        guard let ssl, let name = SSL_get_version(ssl) else { return "" }
        return String(cString: name)
    }

    /// Decrypts up to `buffer.count` bytes.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if count > 0 { return .processed(Int(count)) }
        return failure(ssl, count)
    }

    /// Encrypts and sends from `bytes`; with partial writes enabled, reports what was taken.
    func write(_ bytes: UnsafeRawBufferPointer) -> Transfer {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let count = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if count > 0 { return .processed(Int(count)) }
        return failure(ssl, count)
    }

    /// Whether decrypted or undecrypted bytes wait inside OpenSSL (epoll cannot see them).
    var hasBufferedInput: Bool {
        guard let ssl else { return false }
        return SSL_has_pending(ssl) == 1
    }

    /// Sends close_notify once, without waiting for the peer's; errors are irrelevant on a
    /// connection about to close.
    func sendCloseNotify() {
        guard let ssl else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Frees the `SSL*`. Idempotent.
    func release() {
        if let ssl { SSL_free(ssl) }
        ssl = nil
    }

    private func failure(_ ssl: OpaquePointer, _ result: Int32) -> Transfer {
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL where errno == 0 || errno == EAGAIN:
            ERR_clear_error()
            return result == 0 ? .closed : .failed
        default:
            ERR_clear_error()
            return .failed
        }
    }
}
