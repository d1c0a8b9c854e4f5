/* sv_write.c - output to connections: try the socket first, queue the rest.
 *
 * A reply is a small prefix (a waiter's id and index) and a body that may be
 * shared by every waiter of a release. The kernel usually takes both at once
 * through uv_try_write, with no allocation. Only what it refuses is queued: the
 * prefix copied into the request, the body referenced, never copied per waiter.
 */
#include "sv_server.h"

#include "sv_log.h"
#include "tl_server.h"

#include <stdlib.h>
#include <string.h>

#define SV_PREFIX_INLINE 64 /* a release prefix is at most ~45 bytes */
#define SV_WREQ_KEEP 1024   /* recycled write requests kept for reuse */

struct sv_wreq {
    uv_write_t req;
    sv_wreq *next_free;
    sv_shared *body;  /* one ref held until the write completes; may be NULL */
    size_t cost;      /* what it adds to its connection's out_cost */
    char prefix[SV_PREFIX_INLINE];
};

sv_shared *sv__shared_new(const char *data, size_t len)
{
    sv_shared *sh = malloc(sizeof *sh + len);
    if (!sh)
        return NULL;
    sh->refs = 1;
    sh->len = len;
    memcpy(sh->data, data, len);
    return sh;
}

void sv__shared_unref(sv_shared *sh)
{
    if (sh && --sh->refs == 0)
        free(sh);
}

static sv_wreq *wreq_get(sv_server *s)
{
    sv_wreq *r = s->free_wreqs;
    if (r) {
        s->free_wreqs = r->next_free;
        s->n_free_wreqs--;
        return r;
    }
    return malloc(sizeof *r);
}

static void wreq_put(sv_server *s, sv_wreq *r)
{
    sv__shared_unref(r->body);
    r->body = NULL;
    if (s->n_free_wreqs >= SV_WREQ_KEEP) {
        free(r);
        return;
    }
    r->next_free = s->free_wreqs;
    s->free_wreqs = r;
    s->n_free_wreqs++;
}

void sv__wreq_pool_free(sv_server *s)
{
    while (s->free_wreqs) {
        sv_wreq *r = s->free_wreqs;
        s->free_wreqs = r->next_free;
        free(r);
    }
    s->n_free_wreqs = 0;
}

static void on_written(uv_write_t *req, int status)
{
    sv_wreq *r = (sv_wreq *)req;
    sv_conn *c = req->handle->data;
    c->out_cost -= r->cost;
    wreq_put(c->srv, r);
    if (status < 0 && status != UV_ECANCELED && c->state != SV_CONN_CLOSING) {
        SV_INFO("conn %llu %s: write failed: %s", (unsigned long long)c->serial, c->peer,
                uv_strerror(status));
        sv__conn_close(c, "disconnected");
    }
}

/* Queue what uv_try_write did not take: the prefix from p, the body from
 * b[boff..blen). With a share slot the body is wrapped once (on the first
 * connection that needs it) and referenced; without one it is copied. */
static void send_queue(sv_conn *c, const char *p, size_t plen, const char *b, size_t blen,
                       size_t boff, sv_shared **share)
{
    sv_server *s = c->srv;
    /* Judged on what is already queued, so that one big reply (a long list) is
     * sent, while a peer that lets replies pile up is dropped. The cost counts
     * each request's own memory, not just its bytes: many tiny replies weigh. */
    if (c->out_cost > s->cfg->max_output) {
        s->counters.dropped_slow++;
        SV_WARN("conn %llu %s: more than %zu bytes of unread output; dropping it",
                (unsigned long long)c->serial, c->peer, s->cfg->max_output);
        sv__conn_close(c, "stopped reading its replies");
        return;
    }
    sv_wreq *r = wreq_get(s);
    if (!r) {
        sv__conn_close(c, "out of memory");
        return;
    }
    r->body = NULL;
    r->cost = sizeof *r;
    const char *body = b + boff;
    size_t body_len = blen - boff;
    int by_ref = body_len && share && plen <= SV_PREFIX_INLINE;
    if (by_ref && !*share)
        *share = sv__shared_new(b, blen);
    if (by_ref && *share) {
        (*share)->refs++;
        r->body = *share;
        body = (*share)->data + boff;
    } else if (plen > SV_PREFIX_INLINE || body_len) { /* one private copy of both parts */
        bp_buf tmp = BP_BUF_INIT;
        bp_buf_append(&tmp, p, plen);
        bp_buf_append(&tmp, body, body_len);
        r->body = tmp.oom ? NULL : sv__shared_new(tmp.data, tmp.len);
        bp_buf_free(&tmp);
        if (!r->body) {
            wreq_put(s, r);
            sv__conn_close(c, "out of memory");
            return;
        }
        plen = 0;
        body = r->body->data;
        body_len = r->body->len;
        r->cost += sizeof(sv_shared);
    }
    r->cost += body_len;
    uv_buf_t bufs[2];
    unsigned n = 0;
    if (plen) {
        memcpy(r->prefix, p, plen);
        bufs[n++] = uv_buf_init(r->prefix, (unsigned)plen);
    }
    if (body_len)
        bufs[n++] = uv_buf_init((char *)body, (unsigned)body_len);
    int rc = uv_write(&r->req, &c->h.stream, bufs, n, on_written);
    if (rc < 0) {
        wreq_put(s, r);
        sv__conn_close(c, "disconnected");
        return;
    }
    c->out_cost += r->cost;
}

void sv__conn_send(sv_conn *c, const char *p, size_t plen, const char *b, size_t blen,
                   sv_shared **share)
{
    if (c->state != SV_CONN_OPEN)
        return; /* draining: only what was queued before goes out */
    if (c->tls) {
        tl__send(c, p, plen, b, blen); /* encrypted per connection */
        return;
    }
    size_t boff = 0;
    if (uv_stream_get_write_queue_size(&c->h.stream) == 0) {
        uv_buf_t bufs[2];
        unsigned n = 0;
        if (plen)
            bufs[n++] = uv_buf_init((char *)p, (unsigned)plen);
        if (blen)
            bufs[n++] = uv_buf_init((char *)b, (unsigned)blen);
        int w = uv_try_write(&c->h.stream, bufs, n);
        if (w == UV_EAGAIN || w == UV_ENOSYS)
            w = 0;
        if (w < 0) {
            SV_DEBUG("conn %llu %s: write failed: %s", (unsigned long long)c->serial, c->peer,
                     uv_strerror(w));
            sv__conn_close(c, "disconnected");
            return;
        }
        size_t done = (size_t)w;
        if (done >= plen + blen)
            return;
        if (done >= plen) {
            boff = done - plen;
            plen = 0;
        } else {
            p += done;
            plen -= done;
        }
    }
    send_queue(c, p, plen, b, blen, boff, share);
}

void sv__conn_send_buf(sv_conn *c, const bp_buf *b)
{
    if (b->oom) {
        sv__conn_close(c, "out of memory");
        return;
    }
    sv__conn_send(c, NULL, 0, b->data, b->len, NULL);
}
