#ifndef C_OPENSSL_SHIM_H
#define C_OPENSSL_SHIM_H

/// OpenSSL (libssl + libcrypto) for Stampede: TLS on the event loops and HMAC-SHA256 for purchase
/// tokens. Several OpenSSL calls are function-like macros, which Swift cannot import; the static
/// inline wrappers below give them a callable form.

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

/// SSL_CTX_set_min_proto_version (a macro over SSL_CTX_ctrl).
static inline int cstampede_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

/// SSL_CTX_set_max_proto_version (a macro over SSL_CTX_ctrl).
static inline int cstampede_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

/// SSL_CTX_set_mode (a macro over SSL_CTX_ctrl).
static inline long cstampede_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

/// SSL_CTX_set_session_cache_mode (a macro over SSL_CTX_ctrl).
static inline long cstampede_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

/// The modes Stampede's non-blocking writes need: a partial SSL_write reports what it sent, and a
/// retried write may pass a buffer that moved (a Swift array can reallocate between calls).
static inline long cstampede_ssl_nonblocking_modes(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
}

/// The options Stampede sets: no renegotiation (a client cannot make a read need a write), and a
/// peer closing without close_notify is an ordinary end of input.
static inline uint64_t cstampede_ssl_options(void) {
    return SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION;
}

/// Whether the oldest error on this thread's queue says the peer spoke plain HTTP to a TLS port.
static inline int cstampede_ssl_error_is_http_request(void) {
    unsigned long code = ERR_peek_error();
    return ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST;
}

#endif
