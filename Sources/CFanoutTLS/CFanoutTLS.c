// See include/CFanoutTLS.h. OpenSSL 3 (libssl-dev); the only file that includes OpenSSL's headers.
#include "CFanoutTLS.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct cfanout_tls_context {
    SSL_CTX *ctx;
};

struct cfanout_tls {
    SSL *ssl;
};

/// Runs when the program loads, before anything else (libcurl included) initialises OpenSSL: no OpenSSL
/// cleanup at exit. That cleanup deletes OpenSSL's thread-local keys while worker threads may still run; a
/// thread that ends after it never frees its per-thread state (the error queue: LeakSanitizer reported it in
/// the test process) and one still calling OpenSSL would use freed memory. The process's memory goes back to
/// the kernel at exit anyway.
__attribute__((constructor)) static void cfanout_tls_no_cleanup_at_exit(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

/// The oldest queued OpenSSL error, prefixed with `what` (and `file`, when not NULL), into `error`; the queue
/// is emptied.
static void describe_file(char *error, const char *what, const char *file) {
    unsigned long code = ERR_get_error();
    char reason[CFANOUT_TLS_ERROR_SIZE] = "no OpenSSL error";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    if (file) {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "%s %s: %s", what, file, reason);
    } else {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "%s: %s", what, reason);
    }
    ERR_clear_error();
}

static void describe(char *error, const char *what) { describe_file(error, what, NULL); }

cfanout_tls_context *cfanout_tls_context_new(
    const char *ca_file, const char *cert_file, const char *key_file, char *error) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        describe(error, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int loaded = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        describe_file(error, ca_file ? "tls_ca" : "the system's CA store", ca_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert_file && key_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            describe_file(error, "tls_cert", cert_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
            describe_file(error, "tls_key", key_file);
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            describe(error, "tls_key does not match tls_cert");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    cfanout_tls_context *context = calloc(1, sizeof *context);
    if (!context) {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "out of memory");
        SSL_CTX_free(ctx);
        return NULL;
    }
    context->ctx = ctx;
    return context;
}

void cfanout_tls_context_free(cfanout_tls_context *context) {
    if (!context) return;
    SSL_CTX_free(context->ctx);
    free(context);
}

cfanout_tls *cfanout_tls_new(cfanout_tls_context *context, int fd, const char *server_name, char *error) {
    ERR_clear_error();
    SSL *ssl = SSL_new(context->ctx);
    if (!ssl) {
        describe(error, "SSL_new");
        return NULL;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    // An IP literal is verified against the certificate's IP addresses and is not sent as SNI (RFC 6066).
    int ok = X509_VERIFY_PARAM_set1_ip_asc(param, server_name) == 1;
    if (!ok) {
        ERR_clear_error();
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(ssl, server_name) == 1 && SSL_set_tlsext_host_name(ssl, server_name) == 1;
    }
    if (!ok || SSL_set_fd(ssl, fd) != 1) {
        describe(error, ok ? "SSL_set_fd" : "tls_server_name");
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    cfanout_tls *tls = calloc(1, sizeof *tls);
    if (!tls) {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "out of memory");
        SSL_free(ssl);
        return NULL;
    }
    tls->ssl = ssl;
    return tls;
}

void cfanout_tls_free(cfanout_tls *tls) {
    if (!tls) return;
    SSL_free(tls->ssl);
    free(tls);
}

/// Maps the result of an SSL_* call to a status, writing the reason of a failure.
static cfanout_tls_status status_of(cfanout_tls *tls, int result, const char *what, char *error) {
    int code = SSL_get_error(tls->ssl, result);
    switch (code) {
    case SSL_ERROR_WANT_READ:
        return CFANOUT_TLS_WANTS_READ;
    case SSL_ERROR_WANT_WRITE:
        return CFANOUT_TLS_WANTS_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return CFANOUT_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (errno == 0) {
                ERR_clear_error();
                return CFANOUT_TLS_CLOSED;
            }
            snprintf(error, CFANOUT_TLS_ERROR_SIZE, "%s: %s", what, strerror(errno));
            return CFANOUT_TLS_FAILED;
        }
        describe(error, what);
        return CFANOUT_TLS_FAILED;
    default: {
        long verify = SSL_get_verify_result(tls->ssl);
        if (verify != X509_V_OK) {
            snprintf(error, CFANOUT_TLS_ERROR_SIZE, "%s: certificate verify failed: %s", what,
                     X509_verify_cert_error_string(verify));
            ERR_clear_error();
            return CFANOUT_TLS_FAILED;
        }
        describe(error, what);
        return CFANOUT_TLS_FAILED;
    }
    }
}

cfanout_tls_status cfanout_tls_handshake(cfanout_tls *tls, char *error) {
    ERR_clear_error();
    errno = 0;
    int result = SSL_do_handshake(tls->ssl);
    if (result == 1) return CFANOUT_TLS_DONE;
    cfanout_tls_status status = status_of(tls, result, "TLS handshake", error);
    if (status == CFANOUT_TLS_CLOSED) {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "TLS handshake: the server closed the connection");
        return CFANOUT_TLS_FAILED;
    }
    return status;
}

cfanout_tls_status cfanout_tls_read(cfanout_tls *tls, void *buffer, size_t capacity, size_t *count, char *error) {
    ERR_clear_error();
    errno = 0;
    *count = 0;
    if (SSL_read_ex(tls->ssl, buffer, capacity, count) == 1) return CFANOUT_TLS_DONE;
    return status_of(tls, 0, "TLS read", error);
}

cfanout_tls_status cfanout_tls_write(
    cfanout_tls *tls, const void *bytes, size_t length, size_t *count, char *error) {
    ERR_clear_error();
    errno = 0;
    *count = 0;
    if (SSL_write_ex(tls->ssl, bytes, length, count) == 1) return CFANOUT_TLS_DONE;
    cfanout_tls_status status = status_of(tls, 0, "TLS write", error);
    if (status == CFANOUT_TLS_CLOSED) {
        snprintf(error, CFANOUT_TLS_ERROR_SIZE, "TLS write: the server closed the connection");
        return CFANOUT_TLS_FAILED;
    }
    return status;
}
