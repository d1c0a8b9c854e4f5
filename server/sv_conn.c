/* sv_conn.c - a connection's life: accept, read and frame lines, close.
 *
 * A connection is freed only in its close callback, which runs after the loop
 * has finished the current callbacks: that is where its waits leave the
 * registry, so a close decided inside a registry notification (a failed write)
 * never re-enters the registry.
 */
#include "sv_server.h"

#include "bp_error.h"
#include "sv_log.h"
#include "tl_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define SV_WAIT_KEEP 1024 /* recycled waits kept for reuse */
#define SV_DRAIN_MS 2000  /* how long a closing connection may take to flush and close */

static void peer_name(sv_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    strcpy(c->peer, "unix");
    if (c->h.handle.type != UV_TCP || uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len))
        return;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(c->peer, sizeof c->peer, "[%s]:%u", ip, ntohs(a->sin6_port));
    }
}

void sv__conn_unlink_wait(sv_conn *c, sv_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        c->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    c->n_waits--;
}

sv_wait *sv__wait_new(sv_server *s)
{
    sv_wait *w = s->free_waits;
    if (!w)
        return malloc(sizeof *w);
    s->free_waits = w->next;
    s->n_free_waits--;
    return w;
}

void sv__wait_free(sv_server *s, sv_wait *w)
{
    free(w->ext);
    w->ext = NULL;
    free(w->client_heap);
    w->client_heap = NULL;
    if (s->n_free_waits >= SV_WAIT_KEEP) {
        free(w);
        return;
    }
    w->next = s->free_waits;
    s->free_waits = w;
    s->n_free_waits++;
}

void sv__wait_pool_free(sv_server *s)
{
    while (s->free_waits) {
        sv_wait *w = s->free_waits;
        s->free_waits = w->next;
        free(w);
    }
    s->n_free_waits = 0;
}

/* Each wait leaves the registry; that breaks its barrier for the others. */
static void conn_leave_waits(sv_conn *c, const char *why)
{
    while (c->waits) {
        sv_wait *w = c->waits;
        sv__conn_unlink_wait(c, w);
        br_leave(c->srv->reg, &w->w, why, sv__now(c->srv));
        sv__wait_free(c->srv, w);
    }
    sv__arm_deadline(c->srv);
}

static void on_closed(uv_handle_t *h)
{
    sv_conn *c = h->data;
    sv_server *s = c->srv;
    conn_leave_waits(c, c->close_why ? c->close_why : "disconnected");
    sv__watch_forget(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    tl__conn_free(c);
    bp_framer_free(&c->framer);
    free(c);
}

void sv__conn_set_state(sv_conn *c, sv_conn_state to)
{
    sv_conn_state from = c->state;
    assert((from == SV_CONN_OPEN && (to == SV_CONN_DRAINING || to == SV_CONN_CLOSING)) ||
           (from == SV_CONN_DRAINING && to == SV_CONN_CLOSING));
    if (from == SV_CONN_OPEN)
        c->srv->n_open--; /* no longer holds a slot of --max-connections */
    c->state = to;
}

void sv__conn_close(sv_conn *c, const char *why)
{
    if (c->state == SV_CONN_CLOSING)
        return;
    if (!c->close_why)
        c->close_why = why;
    sv__conn_set_state(c, SV_CONN_CLOSING);
    SV_INFO("conn %llu %s: closed (%s)", (unsigned long long)c->serial, c->peer, why);
    uv_close(&c->h.handle, on_closed);
}

/* The FIN went out after every queued write (or the stream failed). The
 * connection is done once the peer has closed its side too. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    sv_conn *c = req->handle->data;
    if (c->state != SV_CONN_DRAINING)
        return; /* closed meanwhile (libuv then reports UV_ECANCELED) */
    c->shutdown_done = 1;
    /* Closed once the peer has closed too; at shutdown at once: an idle client
     * (a library handle nobody reads) would never answer, and everything it
     * needed to hear (the shutdown event) is out. */
    if (status < 0 || c->peer_eof || c->srv->shutting_down)
        sv__conn_close(c, c->close_why);
}

void sv__conn_close_after_flush(sv_conn *c, const char *why)
{
    if (c->state != SV_CONN_OPEN)
        return;
    sv__conn_set_state(c, SV_CONN_DRAINING);
    c->close_why = why;
    /* Bounded from now, not from the flush: a peer that does not read would
     * otherwise keep the connection and its queued output forever. */
    c->drain_until_ms = sv__now(c->srv) + SV_DRAIN_MS;
    SV_INFO("conn %llu %s: closing (%s)", (unsigned long long)c->serial, c->peer, why);
    conn_leave_waits(c, why);
    if (c->tls)
        tl__close_notify(c);
    if (c->state == SV_CONN_CLOSING)
        return;
    /* Send FIN once the output is flushed; reads go on (discarded) until the peer
     * closes or the drain deadline passes, so that unread input does not turn our
     * close into a reset that could destroy the error reply. The callback is
     * never NULL: libuv up to 1.44.1 calls it unchecked when the handle closes
     * while the shutdown is pending. */
    if (uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) < 0)
        sv__conn_close(c, why);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    sv_conn *c = h->data;
    /* One buffer serves every connection: read_cb consumes it before returning. */
    *buf = uv_buf_init(c->srv->read_buf, sizeof c->srv->read_buf);
}

void sv__conn_fail(sv_conn *c, int code, const char *msg, const char *why)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    bp_enc_error(b, 0, 0, code, msg);
    c->srv->counters.errors++;
    sv__obs_error(c->srv, code);
    SV_WARN("conn %llu %s: %s; closing", (unsigned long long)c->serial, c->peer, msg);
    sv__conn_send_buf(c, b);
    sv__conn_close_after_flush(c, why);
}

static void conn_framing_lost(sv_conn *c, int rc)
{
    char msg[96];
    if (rc == BP_ELIMIT)
        snprintf(msg, sizeof msg, "line longer than %zu bytes", c->srv->cfg->max_line);
    else
        snprintf(msg, sizeof msg, "out of memory");
    sv__conn_fail(c, rc, msg, "sent an oversized line");
}

/* The peer closed its side. Replies still queued are sent whole (a script's
 * `nc -N` half-closes after its request and reads on); its waits leave now. */
void sv__conn_peer_eof(sv_conn *c)
{
    c->peer_eof = 1;
    if (c->state == SV_CONN_OPEN)
        sv__conn_close_after_flush(c, "disconnected");
    else if (c->state == SV_CONN_DRAINING && c->shutdown_done)
        sv__conn_close(c, c->close_why);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    sv_conn *c = st->data;
    if (n == UV_EOF) {
        sv__conn_peer_eof(c);
        return;
    }
    if (n < 0) {
        sv__conn_close(c, uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    if (c->tls) {
        tl__on_read(c, buf->base, (size_t)n);
        return;
    }
    if (c->state != SV_CONN_OPEN) /* draining: input is discarded */
        return;
    sv__conn_input(c, buf->base, (size_t)n);
}

void sv__conn_input(sv_conn *c, const char *data, size_t n)
{
    c->last_rx_ms = sv__now(c->srv);
    c->unanswered = 0;
    int rc = bp_framer_feed(&c->framer, data, n);
    const char *line;
    size_t len;
    while (c->state == SV_CONN_OPEN && (rc = bp_framer_next(&c->framer, &line, &len)) == 1)
        sv__dispatch(c, line, len);
    if (rc < 0 && c->state == SV_CONN_OPEN)
        conn_framing_lost(c, rc);
    sv__arm_deadline(c->srv);
}

void sv__conn_accept(sv_listener *l)
{
    sv_server *s = l->srv;
    sv_conn *c = calloc(1, sizeof *c);
    if (!c) {
        SV_ERROR("out of memory accepting a connection");
        return;
    }
    int rc = l->h.handle.type == UV_TCP ? uv_tcp_init(s->loop, &c->h.tcp)
                                        : uv_pipe_init(s->loop, &c->h.pipe, 0);
    if (rc < 0) {
        free(c);
        return;
    }
    c->h.handle.data = c;
    c->srv = s;
    c->serial = ++s->next_serial;
    c->last_rx_ms = sv__now(s);
    c->authed = s->cfg->auth_token == NULL;
    bp_framer_init(&c->framer, s->cfg->max_line);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->n_open++;
    if ((rc = uv_accept(&l->h.stream, &c->h.stream)) < 0) {
        SV_WARN("accept on %s: %s", l->addr, uv_strerror(rc));
        sv__conn_close(c, "accept failed");
        return;
    }
    s->counters.connections_total++;
    peer_name(c);
    if (c->h.handle.type == UV_TCP) {
        uv_tcp_nodelay(&c->h.tcp, 1);
        uv_tcp_keepalive(&c->h.tcp, 1, 30);
    }
    if (s->n_open > s->cfg->max_connections && l->tls) {
        /* No plaintext error line to a TLS client: it would read it as garbage. */
        s->counters.refused++;
        SV_WARN("conn %llu %s: refused before the TLS handshake: %zu connections is the limit",
                (unsigned long long)c->serial, c->peer, s->cfg->max_connections);
        sv__conn_close(c, "over the connection limit");
        return;
    }
    if (s->n_open > s->cfg->max_connections) {
        s->counters.refused++;
        bp_buf_reset(&s->out);
        bp_enc_error(&s->out, 0, 0, BP_ELIMIT, "too many connections; try again later");
        sv__obs_error(s, BP_ELIMIT);
        SV_WARN("conn %llu %s: refused: %zu connections is the limit",
                (unsigned long long)c->serial, c->peer, s->cfg->max_connections);
        uv_read_start(&c->h.stream, on_alloc, on_read);
        sv__conn_send_buf(c, &s->out);
        sv__conn_close_after_flush(c, "over the connection limit");
        return;
    }
    if (!c->authed && s->cfg->hello_timeout_ms)
        c->hello_by_ms = sv__now(s) + (int64_t)s->cfg->hello_timeout_ms;
    if (l->tls && tl__conn_start(c) < 0) {
        sv__conn_close(c, "out of memory");
        return;
    }
    SV_INFO("conn %llu %s: connected via %s", (unsigned long long)c->serial, c->peer, l->addr);
    if ((rc = uv_read_start(&c->h.stream, on_alloc, on_read)) < 0)
        sv__conn_close(c, uv_strerror(rc));
}
