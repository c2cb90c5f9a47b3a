// TLS client connections on a non-blocking socket, for the shared store's connection: OpenSSL's SSL_CTX and SSL
// behind two opaque types, so that no OpenSSL type or macro reaches Swift. Every call returns at once; a call
// that needs the socket readable or writable says so and is repeated when the event loop reports it.
#ifndef FANOUT_CFANOUTTLS_H
#define FANOUT_CFANOUTTLS_H

#include <stddef.h>

/// What one handshake, read or write step came to.
typedef enum {
    /// Done: the handshake is complete, or `*count` bytes were read or written.
    CFANOUT_TLS_DONE = 0,
    /// Repeat the call when the socket is readable.
    CFANOUT_TLS_WANTS_READ = 1,
    /// Repeat the call when the socket is writable.
    CFANOUT_TLS_WANTS_WRITE = 2,
    /// The peer closed the TLS session (close_notify, or the socket's end of file).
    CFANOUT_TLS_CLOSED = 3,
    /// Failed; the reason is in the error buffer.
    CFANOUT_TLS_FAILED = 4,
} cfanout_tls_status;

/// A client configuration (SSL_CTX): TLS 1.2 or later, the server always verified.
typedef struct cfanout_tls_context cfanout_tls_context;
/// One connection (SSL) on a socket it does not own.
typedef struct cfanout_tls cfanout_tls;

/// The size of an error buffer that holds any reason these functions write.
#define CFANOUT_TLS_ERROR_SIZE 256

/// A context verifying servers against the PEM bundle `ca_file` (NULL: the system's store), presenting the
/// client certificate `cert_file` with key `key_file` when both are given. NULL on failure, with the reason in
/// `error` (`CFANOUT_TLS_ERROR_SIZE` bytes). Reads the files: call it outside a loop's hot path.
cfanout_tls_context *_Nullable cfanout_tls_context_new(
    const char *_Nullable ca_file, const char *_Nullable cert_file, const char *_Nullable key_file,
    char *_Nonnull error);
void cfanout_tls_context_free(cfanout_tls_context *_Nullable context);

/// A connection on the connected, non-blocking socket `fd`, verifying that the server's certificate names
/// `server_name` (an IP address is matched against the certificate's IP addresses and is not sent as SNI; a
/// name is sent as SNI and matched against its DNS names). NULL on failure, with the reason in `error`.
cfanout_tls *_Nullable cfanout_tls_new(
    cfanout_tls_context *_Nonnull context, int fd, const char *_Nonnull server_name, char *_Nonnull error);
/// Frees the connection (without a close_notify; the caller closes the socket).
void cfanout_tls_free(cfanout_tls *_Nullable tls);

/// One step of the handshake; a failed verification says why (`certificate verify failed: …`).
cfanout_tls_status cfanout_tls_handshake(cfanout_tls *_Nonnull tls, char *_Nonnull error);
/// Reads at most `capacity` bytes; `*count` is the number read when DONE.
cfanout_tls_status cfanout_tls_read(
    cfanout_tls *_Nonnull tls, void *_Nonnull buffer, size_t capacity, size_t *_Nonnull count,
    char *_Nonnull error);
/// Writes at most `length` bytes (`length` > 0); `*count` is the number written when DONE. After WANTS_*,
/// repeat with the same bytes.
cfanout_tls_status cfanout_tls_write(
    cfanout_tls *_Nonnull tls, const void *_Nonnull bytes, size_t length, size_t *_Nonnull count,
    char *_Nonnull error);

#endif
