/* sv_write.c - output to connections: try the socket first, queue the rest.
 *
 * A reply is a small prefix (a waiter's id and index) and a body that may be
 * shared by every waiter of a release; a connection holding several of the
 * release's waits gets all their replies in one system call (sv_batch.c): a
 * write of a stack copy when they are small, which costs the kernel less than
 * a writev of the pieces, else a writev. The kernel usually takes it all at
 * once through uv_try_write, with no allocation. Only what it refuses is
 * queued: the prefix copied into the request, the body referenced, never
 * copied per waiter (docs/performance.md).
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
    char *prefix_heap; /* prefixes past the inline room, or NULL */
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
    free(r->prefix_heap);
    r->prefix_heap = NULL;
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

int sv__conn_drop_if_slow(sv_conn *c)
{
    sv_server *s = c->srv;
    if (c->out_cost <= s->cfg->max_output)
        return 0;
    s->counters.dropped_slow++;
    SV_WARN("conn %llu %s: more than %zu bytes of unread output; dropping it",
            (unsigned long long)c->serial, c->peer, s->cfg->max_output);
    sv__conn_close(c, "stopped reading its replies");
    return 1;
}

size_t sv__bufs_copy(char *dst, const uv_buf_t *bufs, unsigned n)
{
    size_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        memcpy(dst + at, bufs[i].base, bufs[i].len);
        at += bufs[i].len;
    }
    return at;
}

/* Queue what uv_try_write did not take: bufs[0..n) less their first `done`
 * bytes. Prefixes are copied into the request; a body (bytes at b) with a
 * share slot is wrapped once (on the first connection that needs it) and
 * referenced however often it appears. Without a share slot, or without a
 * body left, what remains is copied into one private buffer. */
static void send_queue(sv_conn *c, const uv_buf_t *bufs, unsigned n, size_t done, const char *b,
                       size_t blen, sv_shared **share)
{
    sv_server *s = c->srv;
    /* Judged on what is already queued, so that one big reply (a long list) is
     * sent, while a peer that lets replies pile up is dropped. The cost counts
     * each request's own memory, not just its bytes: many tiny replies weigh. */
    if (sv__conn_drop_if_slow(c))
        return;
    while (n && done >= bufs[0].len) { /* what the kernel took whole */
        done -= bufs[0].len;
        bufs++;
        n--;
    }
    size_t prefix_bytes = 0, body_bytes = 0;
    unsigned bodies = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t len = bufs[i].len - (i ? 0 : done);
        if (blen && bufs[i].base == b) {
            bodies++;
            body_bytes += len;
        } else {
            prefix_bytes += len;
        }
    }
    sv_wreq *r = wreq_get(s);
    if (!r) {
        sv__conn_close(c, "out of memory");
        return;
    }
    r->body = NULL;
    r->prefix_heap = NULL;
    r->cost = sizeof *r;
    int by_ref = bodies && share;
    if (by_ref && !*share)
        *share = sv__shared_new(b, blen);
    uv_buf_t one, *out = &one;
    unsigned nout = 1;
    if (by_ref && *share) {
        char *pbuf = r->prefix;
        if (prefix_bytes > SV_PREFIX_INLINE)
            pbuf = r->prefix_heap = malloc(prefix_bytes);
        out = n > 1 ? malloc(n * sizeof *out) : &one;
        if (!pbuf || !out) {
            if (out != &one)
                free(out);
            wreq_put(s, r);
            sv__conn_close(c, "out of memory");
            return;
        }
        (*share)->refs++;
        r->body = *share;
        size_t at = 0;
        for (unsigned i = 0; i < n; i++) {
            size_t skip = i ? 0 : done, len = bufs[i].len - skip;
            if (bufs[i].base == b) {
                out[i] = uv_buf_init(r->body->data + skip, (unsigned)len);
            } else {
                memcpy(pbuf + at, bufs[i].base + skip, len);
                out[i] = uv_buf_init(pbuf + at, (unsigned)len);
                at += len;
            }
        }
        nout = n;
        r->cost += prefix_bytes + body_bytes;
    } else { /* one private copy of all of it */
        bp_buf tmp = BP_BUF_INIT;
        for (unsigned i = 0; i < n; i++)
            bp_buf_append(&tmp, bufs[i].base + (i ? 0 : done), bufs[i].len - (i ? 0 : done));
        r->body = tmp.oom ? NULL : sv__shared_new(tmp.data, tmp.len);
        bp_buf_free(&tmp);
        if (!r->body) {
            wreq_put(s, r);
            sv__conn_close(c, "out of memory");
            return;
        }
        one = uv_buf_init(r->body->data, (unsigned)r->body->len);
        r->cost += sizeof(sv_shared) + r->body->len;
    }
    int rc = uv_write(&r->req, &c->h.stream, out, nout, on_written); /* copies out[] */
    if (out != &one)
        free(out);
    if (rc < 0) {
        wreq_put(s, r);
        sv__conn_close(c, "disconnected");
        return;
    }
    c->out_cost += r->cost;
}

/* Straight to the socket when the queue is empty; the rest is queued. */
static void send_bufs(sv_conn *c, const uv_buf_t *bufs, unsigned n, const char *b, size_t blen,
                      sv_shared **share)
{
    if (c->tls) {
        tl__sendv(c, bufs, n); /* encrypted per connection */
        return;
    }
    size_t total = 0, done = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (uv_stream_get_write_queue_size(&c->h.stream) == 0) {
        char small[SV_SMALL_WRITE];
        uv_buf_t one;
        const uv_buf_t *out = bufs;
        unsigned nout = n;
        if (n > 1 && total <= sizeof small) { /* see SV_SMALL_WRITE */
            one = uv_buf_init(small, (unsigned)sv__bufs_copy(small, bufs, n));
            out = &one;
            nout = 1;
        }
        int w = uv_try_write(&c->h.stream, out, nout);
        if (w == UV_EAGAIN || w == UV_ENOSYS)
            w = 0;
        if (w < 0) {
            SV_DEBUG("conn %llu %s: write failed: %s", (unsigned long long)c->serial, c->peer,
                     uv_strerror(w));
            sv__conn_close(c, "disconnected");
            return;
        }
        done = (size_t)w;
        if (done >= total)
            return;
    }
    send_queue(c, bufs, n, done, b, blen, share);
}

void sv__conn_sendv(sv_conn *c, const uv_buf_t *bufs, unsigned n, const char *b, size_t blen,
                    sv_shared **share)
{
    /* Only while open: a draining connection sends just what was queued before. */
    if (n && c->state == SV_CONN_OPEN)
        send_bufs(c, bufs, n, b, blen, share);
}

void sv__conn_send(sv_conn *c, const char *p, size_t plen, const char *b, size_t blen,
                   sv_shared **share)
{
    uv_buf_t bufs[2];
    unsigned n = 0;
    if (plen)
        bufs[n++] = uv_buf_init((char *)p, (unsigned)plen);
    if (blen)
        bufs[n++] = uv_buf_init((char *)b, (unsigned)blen);
    sv__conn_sendv(c, bufs, n, b, blen, share);
}

void sv__conn_send_buf(sv_conn *c, const bp_buf *b)
{
    if (b->oom) {
        sv__conn_close(c, "out of memory");
        return;
    }
    sv__conn_send(c, NULL, 0, b->data, b->len, NULL);
}
