/* bc_tls.c - TLS for "tls://" addresses: the handle's context, the handshake
 * on a fresh socket, and reading and writing through it.
 *
 * The server's certificate is always verified (tls_ca_file, else the system's
 * store) and its name checked: tls_server_name, else the address's host, as a
 * DNS name (also sent as SNI) or as an IP address. One SSL object is shared by
 * the reader and the writers of a handle, which OpenSSL does not allow at
 * once: every call on it holds c->smu, briefly (the socket is nonblocking, so
 * no call waits), and the waiting for the socket happens outside it. OpenSSL's
 * error queue is cleared before each call, and what a failure left is read
 * into the message at once.
 */
#include "bc_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL writes to the socket with write(), which raises SIGPIPE on a
 * connection the peer reset; the library must not. Each call that may write
 * runs with SIGPIPE blocked in its thread, and one it raised is taken back
 * before unblocking. */
typedef struct quiet {
    sigset_t old;
    int pending_before;
} quiet;

static void quiet_begin(quiet *q)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    q->pending_before = sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &q->old);
}

static void quiet_end(quiet *q)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    if (!q->pending_before && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}

static __thread char tls_why[256]; /* the last TLS failure of bc__recv / the writes */

/* The reason of what failed, from the verification result or the error queue. */
static void reason(SSL *ssl, char *dst, size_t cap)
{
    unsigned long code = ERR_peek_error();
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    const char *r = code ? ERR_reason_error_string(code) : NULL;
    if (code && ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
        snprintf(dst, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    else if (code && ERR_SYSTEM_ERROR(code))
        snprintf(dst, cap, "%s", strerror(ERR_GET_REASON(code)));
    else if (r)
        snprintf(dst, cap, "%s", r);
    else if (code)
        snprintf(dst, cap, "error %lu", code);
    else
        snprintf(dst, cap, "connection closed during the TLS exchange");
    ERR_clear_error();
}

/* Why a file could not be used: the system's reason (no such file), else the
 * first error OpenSSL queued ("no start line": not PEM). */
static int ctx_fail(SSL_CTX *ctx, const char *what, const char *path)
{
    unsigned long code, first = ERR_peek_error();
    const char *why = first ? ERR_reason_error_string(first) : NULL;
    while ((code = ERR_get_error()) != 0)
        if (ERR_SYSTEM_ERROR(code)) {
            why = strerror(ERR_GET_REASON(code));
            break;
        }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return bc__fail(BC_EINVAL, "%s %s: %s", what, path, why ? why : "cannot be used");
}

int bc__tls_setup(bc_client *c, const bc_options *o)
{
    int any = 0;
    for (size_t i = 0; i < c->n_addrs; i++)
        any |= c->addrs[i].tls;
    if (!any) return 0;
    if (!o->tls_cert_file != !o->tls_key_file)
        return bc__fail(BC_EINVAL, "tls_cert_file and tls_key_file go together");
    if (o->tls_server_name && (!*o->tls_server_name || strlen(o->tls_server_name) > BP_HOST_MAX))
        return bc__fail(BC_EINVAL, "tls_server_name must be 1..%d bytes", BP_HOST_MAX);
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return bc__fail(BC_ENOMEM, "out of memory");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A server that closes without close_notify has closed all the same. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->tls_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->tls_ca_file, NULL) != 1)
            return ctx_fail(ctx, "tls_ca_file", o->tls_ca_file);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return ctx_fail(ctx, "the system's CA store", "");
    }
    if (o->tls_cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) != 1)
            return ctx_fail(ctx, "tls_cert_file", o->tls_cert_file);
        if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            return ctx_fail(ctx, "tls_key_file", o->tls_key_file);
    }
    ERR_clear_error();
    c->tls_ctx = ctx;
    if (o->tls_server_name) snprintf(c->tls_name, sizeof c->tls_name, "%s", o->tls_server_name);
    return 0;
}

void bc__tls_free(bc_client *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
    SSL_CTX_free(c->tls_ctx);
    c->tls_ctx = NULL;
}

/* The peer's name: what the certificate must show, and SNI for a DNS name. */
static int set_peer_name(SSL *ssl, const char *name)
{
    unsigned char ip[16];
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -1; /* no SNI for an IP */
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, name) == 1 && SSL_set_tlsext_host_name(ssl, name) == 1 ? 0 : -1;
}

/* Wait for the socket to be ready for what OpenSSL wants, until deadline. */
static int wait_for(int fd, int want, int64_t deadline_ns)
{
    struct pollfd p = {.fd = fd, .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    if (bc__now_ns() >= deadline_ns) return -1;
    if (poll(&p, 1, bc__poll_ms(deadline_ns)) < 0 && errno != EINTR) return -1;
    return 0;
}

int bc__tls_connect(bc_client *c, int fd, const bp_addr *a, const char *text, int64_t deadline_ns,
                    SSL **out)
{
    *out = NULL;
    if (!a->tls) return 0;
    ERR_clear_error();
    SSL *ssl = SSL_new(c->tls_ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 ||
        set_peer_name(ssl, c->tls_name[0] ? c->tls_name : a->host) < 0) {
        SSL_free(ssl);
        ERR_clear_error();
        return bc__fail(BC_ENOMEM, "connect %s: cannot set up TLS", text);
    }
    for (;;) {
        ERR_clear_error();
        quiet q;
        quiet_begin(&q);
        int r = SSL_connect(ssl);
        quiet_end(&q);
        if (r == 1) break;
        int want = SSL_get_error(ssl, r);
        if ((want == SSL_ERROR_WANT_READ || want == SSL_ERROR_WANT_WRITE) &&
            wait_for(fd, want, deadline_ns) == 0)
            continue;
        char why[256];
        if (want == SSL_ERROR_WANT_READ || want == SSL_ERROR_WANT_WRITE)
            snprintf(why, sizeof why, "timed out");
        else if ((want == SSL_ERROR_SYSCALL || want == SSL_ERROR_ZERO_RETURN) &&
                 (!ERR_peek_error() || ERR_SYSTEM_ERROR(ERR_peek_error())))
            /* Closed or reset: a server at its connection limit closes a TLS
             * connection before the handshake (it cannot send a plaintext
             * reason). */
            snprintf(why, sizeof why, "closed by the server%s%s (is it at its connection limit?)",
                     ERR_peek_error() ? ": " : "",
                     ERR_peek_error() ? strerror(ERR_GET_REASON(ERR_peek_error())) : "");
        else
            reason(ssl, why, sizeof why);
        ERR_clear_error();
        SSL_free(ssl);
        return bc__fail(BC_ECONN, "connect %s: TLS handshake: %s", text, why);
    }
    *out = ssl;
    return 0;
}

int bc__tls_pending(bc_client *c, SSL *ssl)
{
    /* Decrypted bytes only: without read-ahead OpenSSL takes no more from the
     * socket than the record it decrypts, so the rest is still for poll() to
     * see, and a partial record never makes the reader spin. */
    pthread_mutex_lock(&c->smu);
    int n = SSL_pending(ssl) > 0;
    pthread_mutex_unlock(&c->smu);
    return n;
}

ssize_t bc__recv(bc_client *c, int fd, SSL *ssl, char *buf, size_t cap, int peek)
{
    if (!ssl) return recv(fd, buf, cap, peek ? MSG_PEEK | MSG_DONTWAIT : MSG_DONTWAIT);
    quiet q;
    quiet_begin(&q);
    pthread_mutex_lock(&c->smu);
    ERR_clear_error();
    size_t n = 0;
    errno = 0;
    int ok = peek ? SSL_peek_ex(ssl, buf, cap, &n) : SSL_read_ex(ssl, buf, cap, &n);
    int why = ok ? SSL_ERROR_NONE : SSL_get_error(ssl, 0);
    int err = errno;
    quiet_end(&q);
    if (why == SSL_ERROR_SSL) reason(ssl, tls_why, sizeof tls_why);
    ERR_clear_error();
    pthread_mutex_unlock(&c->smu);
    if (ok) return (ssize_t)n;
    switch (why) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        errno = err ? err : ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

const char *bc__recv_error(int err)
{
    if (err == EPROTO && tls_why[0]) return tls_why;
    return strerror(err);
}

const char *bc__write_conn(bc_client *c, int fd, SSL *ssl, const char *data, size_t len,
                           int64_t deadline_ns)
{
    if (!ssl) return bc__write_fd(fd, data, len, deadline_ns);
    while (len > 0) {
        quiet q;
        quiet_begin(&q);
        pthread_mutex_lock(&c->smu);
        ERR_clear_error();
        size_t n = 0;
        errno = 0;
        int ok = SSL_write_ex(ssl, data, len, &n);
        int why = ok ? SSL_ERROR_NONE : SSL_get_error(ssl, 0);
        int err = errno;
        quiet_end(&q);
        if (why == SSL_ERROR_SSL) reason(ssl, tls_why, sizeof tls_why);
        ERR_clear_error();
        pthread_mutex_unlock(&c->smu);
        if (ok) {
            data += n;
            len -= n;
            continue;
        }
        if (why == SSL_ERROR_SSL) return tls_why;
        if (why == SSL_ERROR_SYSCALL) return strerror(err ? err : EPIPE);
        if (why != SSL_ERROR_WANT_READ && why != SSL_ERROR_WANT_WRITE) return "TLS write failed";
        if (wait_for(fd, why, deadline_ns) < 0) return "write timed out";
    }
    return NULL;
}
