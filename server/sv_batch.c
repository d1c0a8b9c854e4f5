/* sv_batch.c - everything one outcome owes each connection, in one write.
 *
 * A release ends every wait of its generation; a connection may hold several
 * of them (threads sharing one client handle, a load spread over fewer
 * sockets). Each waiter's prefix is encoded here as the sink meets it; the
 * flush then hands sv_write.c, per connection, its prefixes each followed by
 * the shared body, so a connection costs one system call per release however
 * many of its parties the release answers (docs/performance.md).
 */
#include "sv_server.h"

#include <stdlib.h>
#include <string.h>

#define SV_BATCH_SHRINK (1u << 20) /* scratch kept between outcomes, at most */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

void sv__batch_prefix(bp_buf *b, const br_waiter *w, int with_index)
{
    if (with_index)
        bp_enc_release_prefix(b, w->has_id, w->id, w->index);
    else
        bp_enc_reply_start(b, w->has_id, w->id);
}

int sv__batch_add(sv_server *s, sv_conn *c, const br_waiter *w, int with_index)
{
    sv_batch *b = &s->batch;
    if (b->n_ents >= UINT32_MAX - 1 || b->prefixes.len > UINT32_MAX - 64)
        return -1;
    if (grow((void **)&b->ents, &b->cap_ents, b->n_ents + 1, sizeof *b->ents) < 0)
        return -1;
    if (!c->batch_first &&
        grow((void **)&b->conns, &b->cap_conns, b->n_conns + 1, sizeof *b->conns) < 0)
        return -1;
    size_t off = b->prefixes.len;
    sv__batch_prefix(&b->prefixes, w, with_index);
    if (b->prefixes.oom) {
        b->prefixes.oom = 0; /* what was there is intact; only this entry failed */
        b->prefixes.len = off;
        if (b->prefixes.data)
            b->prefixes.data[off] = '\0';
        return -1;
    }
    uint32_t me = (uint32_t)++b->n_ents; /* index + 1 */
    b->ents[me - 1] = (sv_batch_ent){
        .conn = c, .off = (uint32_t)off, .len = (uint32_t)(b->prefixes.len - off)};
    if (c->batch_first)
        b->ents[c->batch_last - 1].next = me;
    else {
        c->batch_first = me;
        b->conns[b->n_conns++] = c;
    }
    c->batch_last = me;
    return 0;
}

/* c's entries, each prefix followed by the body: into the io_uring
 * submission when the release has other connections to write and the reply is
 * small, else in writes of at most SV_SENDV_MAX buffers (one, unless c holds
 * more than 256 of the waits). */
static void flush_conn(sv_server *s, sv_conn *c, const char *body, size_t blen,
                       sv_shared **shared)
{
    sv_batch *b = &s->batch;
    unsigned n = 0;
    size_t total = 0;
    int chunked = 0;
    for (uint32_t e = c->batch_first; e; e = b->ents[e - 1].next) {
        const sv_batch_ent *en = &b->ents[e - 1];
        b->iov[n++] = uv_buf_init(b->prefixes.data + en->off, en->len);
        if (blen)
            b->iov[n++] = uv_buf_init((char *)body, (unsigned)blen);
        total += en->len + blen;
        if (n + 2 > SV_SENDV_MAX) {
            sv__conn_sendv(c, b->iov, n, body, blen, shared);
            n = 0;
            chunked = 1;
        }
    }
    if (!chunked && b->n_conns > 1 && sv__uring_add(s, c, b->iov, n, total) == 0)
        return;
    sv__conn_sendv(c, b->iov, n, body, blen, shared);
}

void sv__batch_flush(sv_server *s, const char *body, size_t blen)
{
    sv_batch *b = &s->batch;
    sv_shared *shared = NULL;
    for (size_t i = 0; i < b->n_conns; i++) {
        sv_conn *c = b->conns[i];
        flush_conn(s, c, body, blen, &shared);
        c->batch_first = c->batch_last = 0;
    }
    sv__uring_flush(s);
    sv__shared_unref(shared);
    b->n_ents = b->n_conns = 0;
    if (b->prefixes.cap > SV_BATCH_SHRINK)
        bp_buf_free(&b->prefixes);
    else
        bp_buf_reset(&b->prefixes);
    if (b->cap_ents * sizeof *b->ents > SV_BATCH_SHRINK) {
        free(b->ents);
        free(b->conns);
        b->ents = NULL;
        b->conns = NULL;
        b->cap_ents = b->cap_conns = 0;
    }
}

void sv__batch_free(sv_server *s)
{
    sv_batch *b = &s->batch;
    bp_buf_free(&b->prefixes);
    free(b->ents);
    free(b->conns);
    memset(b, 0, sizeof *b);
}
