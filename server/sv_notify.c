/* sv_notify.c - the registry's sink: turn outcomes into bytes on sockets.
 *
 * A release or failure encodes its shared part once, then gives each waiter a
 * small prefix (its id, and for a release its index) in front of the same
 * bytes. Told waiters leave their connection and are recycled.
 */
#include "sv_server.h"

#include "bp_error.h"
#include "sv_log.h"

#include <string.h>

/* Send prefix + shared bytes to one waiter, then forget the waiter. */
static void tell(sv_server *s, br_waiter *bw, const bp_buf *prefix, const char *body,
                 size_t blen, sv_shared **shared)
{
    sv_wait *w = (sv_wait *)bw;
    sv_conn *c = w->conn;
    sv__conn_send(c, prefix->data, prefix->len, body, blen, shared);
    sv__conn_unlink_wait(c, w);
    sv__wait_free(s, w);
}

static void notify_release(sv_server *s, const br_outcome *o)
{
    br_info in;
    br_barrier_info(o->barrier, &in);
    bp_buf *body = &s->out;
    bp_buf_reset(body);
    bp_enc_release_shared(body, in.name, in.name_len, o->generation);
    sv_shared *shared = NULL;
    uint64_t t0 = s->obs->metrics ? uv_hrtime() : 0; /* two clock reads a release, with --http */
    for (unsigned i = 0; i < o->n; i++) {
        br_waiter *w = o->waiters[i];
        bp_buf_reset(&s->prefix);
        bp_enc_release_prefix(&s->prefix, w->has_id, w->id, w->index);
        tell(s, w, &s->prefix, body->data, body->len, &shared);
    }
    if (t0)
        mt_hist_observe(&s->obs->fanout_hist, uv_hrtime() - t0);
    sv__shared_unref(shared);
    SV_DEBUG("barrier '%s' generation %llu released (%u parties)", in.name,
             (unsigned long long)o->generation, o->n);
}

static void notify_fail(sv_server *s, const br_outcome *o)
{
    br_info in;
    br_barrier_info(o->barrier, &in);
    SV_INFO("barrier '%s' generation %llu: %s: %s", in.name, (unsigned long long)o->generation,
            bp_err_name(o->code), o->message);
    bp_buf *body = &s->out;
    bp_buf_reset(body);
    /* A failure names its generation, which ended; a shutdown ends none (the
     * parties take their waits to the next server), so it names none. */
    if (o->code == BP_ESHUTDOWN)
        bp_enc_error_shared(body, o->code, o->message);
    else
        bp_enc_wait_error_shared(body, o->code, o->message, in.name, in.name_len, o->generation);
    s->counters.errors += o->n; /* each is an error reply, like any other */
    sv_shared *shared = NULL;
    for (unsigned i = 0; i < o->n; i++) {
        br_waiter *w = o->waiters[i];
        bp_buf_reset(&s->prefix);
        bp_enc_reply_start(&s->prefix, w->has_id, w->id);
        if (w == o->culprit) { /* its own code: encoded apart, not shared */
            bp_buf own = BP_BUF_INIT;
            bp_enc_wait_error_shared(&own, o->culprit_code, o->message, in.name, in.name_len,
                                     o->generation);
            sv_shared *mine = NULL;
            tell(s, w, &s->prefix, own.data, own.len, &mine);
            sv__shared_unref(mine);
            bp_buf_free(&own);
            continue;
        }
        tell(s, w, &s->prefix, body->data, body->len, &shared);
    }
    sv__shared_unref(shared);
}

static void notify_run_action(sv_server *s, const br_outcome *o)
{
    br_waiter *w = o->waiters[0];
    sv_conn *c = ((sv_wait *)w)->conn;
    br_info in;
    br_barrier_info(o->barrier, &in);
    bp_buf *b = &s->out;
    bp_buf_reset(b);
    bp_enc_event_run_action(b, w->has_id, w->id, in.name, in.name_len, o->generation);
    sv__conn_send_buf(c, b);
}

void sv__notify(void *ctx, const br_outcome *o)
{
    sv_server *s = ctx;
    switch (o->kind) {
    case BR_RELEASE: notify_release(s, o); break;
    case BR_FAIL: notify_fail(s, o); break;
    case BR_RUN_ACTION: notify_run_action(s, o); break;
    }
}
