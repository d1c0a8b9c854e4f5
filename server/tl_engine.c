/* tl_engine.c - TLS over memory BIOs; see tl_engine.h. */
#include "tl_engine.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tl_engine {
    SSL *ssl;
    BIO *in;  /* ciphertext from the peer; SSL reads it */
    BIO *out; /* ciphertext for the peer; SSL writes it */
    char err[256];
};

/* The reason of OpenSSL's oldest queued error, with the certificate check's
 * own reason after "certificate verify failed". */
static void note_error(tl_engine *e, const char *what)
{
    unsigned long code = ERR_peek_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    long vr = SSL_get_verify_result(e->ssl);
    if (code && ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
        snprintf(e->err, sizeof e->err, "%s: %s", reason ? reason : "certificate verify failed",
                 X509_verify_cert_error_string(vr));
    else if (reason)
        snprintf(e->err, sizeof e->err, "%s", reason);
    else if (code)
        snprintf(e->err, sizeof e->err, "%s: error %lu", what, code);
    else
        snprintf(e->err, sizeof e->err, "%s failed", what);
    ERR_clear_error();
}

/* Why a file could not be used: the system's reason (no such file), else the
 * first error OpenSSL queued ("no start line": not PEM), which says more than
 * the last ("PEM lib"). */
static void ctx_error(char *err, size_t cap, const char *what, const char *path)
{
    unsigned long code, first = ERR_peek_error();
    const char *reason = first ? ERR_reason_error_string(first) : NULL;
    while ((code = ERR_get_error()) != 0)
        if (ERR_SYSTEM_ERROR(code)) {
            reason = strerror(ERR_GET_REASON(code));
            break;
        }
    snprintf(err, cap, "%s %s: %s", what, path, reason ? reason : "cannot be read");
    ERR_clear_error();
}

SSL_CTX *tl_ctx_server(const char *cert, const char *key, const char *ca, int verify_client,
                       char *err, size_t cap)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* No renegotiation (a client-driven CPU sink), no compression. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections hold no record buffers (a few KiB each; no CPU cost the
     * bench could measure). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* No session resumption (the clients do not resume): no cache of every
     * session ever made, no tickets to make and send per handshake. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ctx_error(err, cap, "--tls-cert", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ctx_error(err, cap, "--tls-key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ctx_error(err, cap, "--tls-key", key);
        goto fail;
    }
    if (ca) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            ctx_error(err, cap, "--tls-ca", ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    if (verify_client)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

tl_engine *tl_engine_new(SSL_CTX *ctx, int server)
{
    ERR_clear_error();
    tl_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ssl = SSL_new(ctx);
    e->in = BIO_new(BIO_s_mem());
    e->out = BIO_new(BIO_s_mem());
    if (!e->ssl || !e->in || !e->out) {
        BIO_free(e->in);
        BIO_free(e->out);
        SSL_free(e->ssl);
        free(e);
        ERR_clear_error();
        return NULL;
    }
    /* An empty input BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(e->in, -1);
    BIO_set_mem_eof_return(e->out, -1);
    SSL_set_bio(e->ssl, e->in, e->out); /* the SSL owns both now */
    if (server)
        SSL_set_accept_state(e->ssl);
    else
        SSL_set_connect_state(e->ssl);
    return e;
}

void tl_engine_free(tl_engine *e)
{
    if (!e)
        return;
    SSL_free(e->ssl);
    ERR_clear_error();
    free(e);
}

int tl_engine_feed(tl_engine *e, const void *data, size_t n)
{
    ERR_clear_error();
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = BIO_write(e->in, data, chunk);
        if (w <= 0) {
            snprintf(e->err, sizeof e->err, "out of memory");
            ERR_clear_error();
            return TL_ERROR;
        }
        data = (const char *)data + w;
        n -= (size_t)w;
    }
    return 0;
}

int tl_engine_handshake(tl_engine *e)
{
    if (SSL_is_init_finished(e->ssl))
        return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(e->ssl);
    if (r == 1)
        return 1;
    int why = SSL_get_error(e->ssl, r);
    if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return TL_AGAIN;
    }
    note_error(e, "handshake");
    return TL_ERROR;
}

ssize_t tl_engine_read(tl_engine *e, void *buf, size_t cap)
{
    ERR_clear_error();
    int r = SSL_read(e->ssl, buf, cap > (1u << 30) ? 1 << 30 : (int)cap);
    if (r > 0)
        return r;
    int why = SSL_get_error(e->ssl, r);
    if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return TL_AGAIN;
    }
    if (why == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return TL_EOF;
    }
    note_error(e, "read");
    return TL_ERROR;
}

int tl_engine_write(tl_engine *e, const void *data, size_t n)
{
    ERR_clear_error();
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = SSL_write(e->ssl, data, chunk); /* a memory BIO takes everything */
        if (w <= 0) {
            note_error(e, "write");
            return TL_ERROR;
        }
        data = (const char *)data + w;
        n -= (size_t)w;
    }
    return 0;
}

void tl_engine_close_notify(tl_engine *e)
{
    ERR_clear_error();
    if (SSL_is_init_finished(e->ssl))
        SSL_shutdown(e->ssl);
    ERR_clear_error();
}

size_t tl_engine_pending(const tl_engine *e)
{
    return BIO_ctrl_pending(e->out);
}

size_t tl_engine_take(tl_engine *e, void *buf, size_t cap)
{
    int r = BIO_read(e->out, buf, cap > (1u << 30) ? 1 << 30 : (int)cap);
    return r > 0 ? (size_t)r : 0;
}

const char *tl_engine_error(const tl_engine *e)
{
    return e->err[0] ? e->err : "unknown TLS error";
}

const char *tl_engine_version(const tl_engine *e)
{
    return SSL_get_version(e->ssl);
}
