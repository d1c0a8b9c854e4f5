/* tl_server.c - TLS connections on barrierd's loop; see tl_server.h.
 *
 * Use after free: a connection is freed only in its close callback, after the
 * current callback returns, so it stays valid here whatever dispatch decided;
 * every loop below rechecks its state after each step that can close it, and
 * nothing is written once it is CLOSING.
 */
#include "tl_server.h"

#include "sv_log.h"
#include "tl_engine.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define TL_SCRATCH 65536 /* ciphertext taken from an engine per write */

typedef struct tl_server {
    SSL_CTX *ctx;        /* for new connections; open ones hold a reference to theirs */
    uv_signal_t sighup;  /* reloads the certificates */
    int sighup_started;
    bp_buf joined;       /* prefix + body in one record */
    char out[TL_SCRATCH];
} tl_server;

typedef struct tl_conn {
    tl_engine *e;
    int done;           /* handshake finished */
    int failed;         /* a TLS error: input is discarded until the close */
    int64_t by_ms;      /* the handshake's deadline */
    bp_buf early;       /* plaintext written before the handshake finished */
} tl_conn;

/* A queued write of ciphertext: owns its bytes until the write callback. */
typedef struct tl_wreq {
    uv_write_t req;
    size_t cost;
    char data[];
} tl_wreq;

#define CONN_FMT "conn %llu %s"
#define CONN_ARGS(c) (unsigned long long)(c)->serial, (c)->peer

/* ---- the context and its reload ---- */

static SSL_CTX *load_ctx(const sv_config *cfg)
{
    char err[512];
    SSL_CTX *ctx = tl_ctx_server(cfg->tls_cert, cfg->tls_key, cfg->tls_ca,
                                 cfg->tls_verify_client, err, sizeof err);
    if (!ctx)
        SV_ERROR("TLS: %s", err);
    return ctx;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    sv_server *s = h->data;
    if (!s->tls->ctx) {
        SV_INFO("SIGHUP: nothing to reload (no tls:// listener)");
        return;
    }
    SSL_CTX *ctx = load_ctx(s->cfg);
    if (!ctx) {
        SV_ERROR("TLS: SIGHUP: reload failed; keeping the certificates loaded before");
        return;
    }
    SSL_CTX_free(s->tls->ctx); /* open connections hold their own reference */
    s->tls->ctx = ctx;
    SV_INFO("TLS: SIGHUP: certificates reloaded from %s; new connections use them",
            s->cfg->tls_cert);
}

int tl__server_init(sv_server *s)
{
    int any = 0;
    for (size_t i = 0; i < s->cfg->n_listen; i++)
        any |= s->cfg->listen[i].tls;
    tl_server *t = calloc(1, sizeof *t);
    if (!t)
        return UV_ENOMEM;
    if (any && !(t->ctx = load_ctx(s->cfg))) {
        free(t);
        return UV_EINVAL;
    }
    s->tls = t;
    uv_signal_init(s->loop, &t->sighup);
    t->sighup.data = s;
    t->sighup_started = 1;
    uv_signal_start(&t->sighup, on_sighup, SIGHUP);
    /* SIGHUP reloads, or is only logged without TLS: a daemon does not die of
     * it (systemctl reload). Never what keeps the loop running. */
    uv_unref((uv_handle_t *)&t->sighup);
    return 0;
}

void tl__server_free(sv_server *s)
{
    if (!s->tls)
        return;
    SSL_CTX_free(s->tls->ctx);
    bp_buf_free(&s->tls->joined);
    free(s->tls); /* the signal handle was closed with the loop's other handles */
    s->tls = NULL;
}

/* ---- writing ciphertext ---- */

static void on_written(uv_write_t *req, int status)
{
    tl_wreq *r = (tl_wreq *)req;
    sv_conn *c = req->handle->data;
    c->out_cost -= r->cost;
    free(r);
    if (status < 0 && status != UV_ECANCELED && c->state != SV_CONN_CLOSING) {
        SV_INFO(CONN_FMT ": write failed: %s", CONN_ARGS(c), uv_strerror(status));
        sv__conn_close(c, "disconnected");
    }
}

/* Queue len bytes: the socket did not take them. 0, or -1 when it closed. */
static int queue(sv_conn *c, const char *data, size_t len)
{
    tl_wreq *r = malloc(sizeof *r + len);
    if (!r) {
        sv__conn_close(c, "out of memory");
        return -1;
    }
    memcpy(r->data, data, len);
    r->cost = sizeof *r + len;
    uv_buf_t buf = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->req, &c->h.stream, &buf, 1, on_written) < 0) {
        free(r);
        sv__conn_close(c, "disconnected");
        return -1;
    }
    c->out_cost += r->cost;
    return 0;
}

/* Send what the engine has for the peer: straight to the socket when it
 * takes it (no allocation), the rest queued. */
static void flush_out(sv_conn *c)
{
    tl_server *t = c->srv->tls;
    /* Judged once, on what was queued before, as the plain path judges it: one
     * big reply (a long list, in many 64 KiB pieces) goes out whole, while a
     * peer that lets replies pile up is dropped. */
    if (c->state != SV_CONN_CLOSING && tl_engine_pending(c->tls->e) > 0 &&
        sv__conn_drop_if_slow(c))
        return;
    while (c->state != SV_CONN_CLOSING && tl_engine_pending(c->tls->e) > 0) {
        size_t len = tl_engine_take(c->tls->e, t->out, sizeof t->out);
        size_t done = 0;
        if (uv_stream_get_write_queue_size(&c->h.stream) == 0) {
            uv_buf_t buf = uv_buf_init(t->out, (unsigned)len);
            int w = uv_try_write(&c->h.stream, &buf, 1);
            if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
                SV_DEBUG(CONN_FMT ": write failed: %s", CONN_ARGS(c), uv_strerror(w));
                sv__conn_close(c, "disconnected");
                return;
            }
            done = w > 0 ? (size_t)w : 0;
        }
        if (done < len && queue(c, t->out + done, len - done) < 0)
            return;
    }
}

/* ---- connections ---- */

int tl__conn_start(sv_conn *c)
{
    sv_server *s = c->srv;
    tl_conn *t = calloc(1, sizeof *t);
    if (!t || !(t->e = tl_engine_new(s->tls->ctx, 1))) {
        free(t);
        return UV_ENOMEM;
    }
    t->early = (bp_buf)BP_BUF_INIT;
    if (s->cfg->tls_handshake_timeout_ms) /* 0: no limit */
        t->by_ms = sv__now(s) + (int64_t)s->cfg->tls_handshake_timeout_ms;
    c->tls = t;
    return 0;
}

void tl__conn_free(sv_conn *c)
{
    tl_conn *t = c->tls;
    if (!t)
        return;
    tl_engine_free(t->e);
    bp_buf_free(&t->early);
    free(t);
    c->tls = NULL;
}

/* A TLS error ends the connection. On input, the alert that says why goes out
 * first, then the FIN: closing at once, with the peer's input unread, would be
 * a reset that can destroy the alert before the peer reads it. On output (in
 * the middle of a notification: the registry must not be re-entered, so the
 * waits leave only when the handle is closed) it closes at once. */
static void failed(sv_conn *c, const char *what, int sending)
{
    SV_WARN(CONN_FMT ": TLS %s: %s; closing", CONN_ARGS(c), what, tl_engine_error(c->tls->e));
    c->tls->failed = 1;
    flush_out(c);
    const char *why = c->tls->done ? "TLS error" : "TLS handshake failed";
    if (c->state == SV_CONN_OPEN && !sending)
        sv__conn_close_after_flush(c, why);
    else if (c->state != SV_CONN_CLOSING)
        sv__conn_close(c, why);
}

static int encrypt(sv_conn *c, const char *data, size_t len)
{
    if (tl_engine_write(c->tls->e, data, len) < 0) {
        failed(c, "write", 1);
        return -1;
    }
    return 0;
}

/* The handshake finished: say so, and send what was written meanwhile. */
static void handshake_done(sv_conn *c)
{
    tl_conn *t = c->tls;
    t->done = 1;
    SV_DEBUG(CONN_FMT ": TLS handshake done (%s)", CONN_ARGS(c), tl_engine_version(t->e));
    if (t->early.len && c->state != SV_CONN_CLOSING && encrypt(c, t->early.data, t->early.len) == 0)
        bp_buf_free(&t->early);
}

void tl__on_read(sv_conn *c, const char *data, size_t n)
{
    tl_conn *t = c->tls;
    if (c->state == SV_CONN_CLOSING || t->failed)
        return;
    if (tl_engine_feed(t->e, data, n) < 0) {
        failed(c, "read", 0);
        return;
    }
    if (!t->done) {
        int r = tl_engine_handshake(t->e);
        if (r == TL_ERROR) {
            failed(c, "handshake failed", 0);
            return;
        }
        if (r == 1)
            handshake_done(c);
    }
    /* The shared read buffer is free again: feed copied the ciphertext. */
    char *buf = c->srv->read_buf;
    while (t->done && !t->failed && c->state != SV_CONN_CLOSING) {
        ssize_t got = tl_engine_read(t->e, buf, sizeof c->srv->read_buf);
        if (got == TL_AGAIN)
            break;
        if (got == TL_EOF) { /* close_notify: the peer sends no more, as a TCP EOF */
            sv__conn_peer_eof(c);
            break;
        }
        if (got < 0) {
            failed(c, "read", 0);
            return;
        }
        if (c->state == SV_CONN_OPEN) /* draining: input is discarded */
            sv__conn_input(c, buf, (size_t)got);
    }
    flush_out(c);
}

void tl__sendv(sv_conn *c, const uv_buf_t *bufs, unsigned n)
{
    tl_conn *t = c->tls;
    if (!t->done) { /* said before the handshake finished (a limit): sent after it */
        for (unsigned i = 0; i < n; i++)
            bp_buf_append(&t->early, bufs[i].base, bufs[i].len);
        return;
    }
    /* One record for all of it (a prefix and its body, or everything a release
     * owes this connection): they are small, and a record costs more than a copy. */
    const char *data = n == 1 ? bufs[0].base : NULL;
    size_t len = n == 1 ? bufs[0].len : 0;
    if (n > 1) {
        bp_buf *j = &c->srv->tls->joined;
        bp_buf_reset(j);
        for (unsigned i = 0; i < n; i++)
            bp_buf_append(j, bufs[i].base, bufs[i].len);
        if (j->oom) {
            sv__conn_close(c, "out of memory");
            return;
        }
        data = j->data;
        len = j->len;
    }
    if (len && encrypt(c, data, len) < 0)
        return;
    flush_out(c);
}

void tl__close_notify(sv_conn *c)
{
    if (!c->tls->done || c->tls->failed)
        return;
    tl_engine_close_notify(c->tls->e);
    flush_out(c);
}

void tl__sweep(sv_conn *c, int64_t now)
{
    tl_conn *t = c->tls;
    if (t->done || !t->by_ms || c->state == SV_CONN_CLOSING || now < t->by_ms)
        return;
    SV_WARN(CONN_FMT ": no TLS handshake within %.3g s; closing", CONN_ARGS(c),
            c->srv->cfg->tls_handshake_timeout_ms / 1e3);
    sv__conn_close(c, "TLS handshake timed out");
}

static int peer_on_loopback(sv_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0)
        return 1; /* cannot tell: no warning */
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6))
        return a6->s6_addr[12] == 127;
    return IN6_IS_ADDR_LOOPBACK(a6);
}

void tl__plain_token(sv_conn *c)
{
    if (c->tls || c->token_warned || c->h.handle.type != UV_TCP || peer_on_loopback(c))
        return;
    c->token_warned = 1;
    SV_WARN(CONN_FMT ": the auth token came over plain TCP from another host: anyone on the "
            "way can read it; listen on tls:// (docs/tls.md)", CONN_ARGS(c));
}
