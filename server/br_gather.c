/* br_gather.c - rendezvous data and action results (docs/semantics.md).
 *
 * Each wait's data stays where its caller decoded it (br_waiter.data, owned
 * with the waiter); the barrier only counts its bytes against --max-gather,
 * as the release encodes them: JSON-escaped (a control character costs up to
 * 6 bytes), so that the limit bounds the release's size.
 * At release the generation's data is encoded once, into one array shared by
 * every recipient's reply.
 */
#include "br_barrier.h"

#include "bp_error.h"
#include "bp_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define say br__say

void br_set_rdv_limits(br_registry *r, size_t max_data, size_t max_gather)
{
    r->max_data = max_data;
    r->max_gather = max_gather;
}

/* What w's data adds to the gathered array: its escaped length. */
static size_t cost(const br_waiter *w)
{
    return w->data ? bp_json_escaped_len(w->data, w->data_len) : 0;
}

int br__gather_admit(br_registry *r, br_barrier *b, const br_waiter *w, char *msg, size_t cap)
{
    if (!w->data) return 0;
    if (r->max_data && w->data_len > r->max_data) {
        say(msg, cap, "data of %zu bytes is over the limit of %zu bytes (--max-data)", (size_t)w->data_len,
            r->max_data);
        return BP_ELIMIT;
    }
    br_rdv *d = br__rdv_get(b);
    if (!d) {
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    /* Waits queued behind a running action are bounded together, whichever
     * later generations they end up in. */
    int queued = b->state == BR_RUNNING_ACTION;
    size_t have = queued ? d->pending_bytes : d->bytes, more = cost(w);
    if (r->max_gather && more > r->max_gather - (have < r->max_gather ? have : r->max_gather)) {
        say(msg, cap,
            "barrier '%s' %s already holds %zu bytes of data; %zu more would pass the limit "
            "of %zu bytes (--max-gather)",
            b->name, queued ? "(queued for the next generation)" : "(this generation)", have,
            more, r->max_gather);
        return BP_ELIMIT;
    }
    return 0;
}

void br__gather_add(br_barrier *b, const br_waiter *w)
{
    br_rdv *d = b->rdv;
    if (!w->data || !d) /* data came with br_rdv allocated by admit */
        return;
    if (w->pending) {
        d->pending_bytes += cost(w);
        return;
    }
    d->bytes += cost(w);
    d->n_data++;
}

void br__gather_join(br_barrier *b, const br_waiter *w)
{
    br_rdv *d = b->rdv;
    if (!w->data || !d) return;
    size_t n = cost(w);
    d->pending_bytes -= n;
    d->bytes += n;
    d->n_data++;
}

void br__gather_unqueue(br_barrier *b, const br_waiter *w)
{
    if (w->data && b->rdv) b->rdv->pending_bytes -= cost(w);
}

void br__gather_swap(br_barrier *b, const br_waiter *old, const br_waiter *w)
{
    br_rdv *d = b->rdv;
    size_t *bytes = old->pending ? &d->pending_bytes : &d->bytes;
    if (old->data) {
        *bytes -= cost(old);
        d->n_data -= !old->pending;
    }
    if (w->data) {
        *bytes += cost(w);
        d->n_data += !old->pending;
    }
}

const char *br__gather_take(br_registry *r, br_barrier *b, size_t *len)
{
    br_rdv *d = b->rdv;
    *len = 0;
    if (!d || !d->n_data) return NULL;
    bp_buf *g = &r->gathered;
    bp_buf_reset(g);
    bp_enc_gathered_begin(g);
    for (unsigned i = 0; i < b->n_waiting; i++) {
        const br_waiter *w = b->waiters[i];
        bp_enc_gathered_item(g, i, w->data, w->data_len);
    }
    bp_enc_gathered_end(g);
    d->bytes = 0;
    d->n_data = 0;
    if (g->oom) /* the parties are released without it rather than not at all */
        return NULL;
    *len = g->len;
    return g->data;
}

void br__gather_clear(br_barrier *b)
{
    br_rdv *d = b->rdv;
    if (!d) return;
    d->bytes = d->pending_bytes = 0;
    d->n_data = 0;
    free(d->result);
    d->result = NULL;
    d->result_len = 0;
}

int br__gather_set_result(br_registry *r, br_barrier *b, const char *result, size_t len)
{
    (void)r;
    br_rdv *d = br__rdv_get(b);
    char *copy = d ? malloc(len + 1) : NULL;
    if (!copy) return BP_ENOMEM;
    memcpy(copy, result, len);
    copy[len] = '\0';
    free(d->result);
    d->result = copy;
    d->result_len = len;
    return 0;
}
