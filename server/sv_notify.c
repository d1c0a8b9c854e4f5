/* sv_notify.c - the registry's sink: turn outcomes into bytes on sockets.
 *
 * A release or failure encodes its shared part once, then gives each waiter a
 * small prefix (its id, and for a release its index) in front of the same
 * bytes; a connection gets all of its waiters' replies in one write (sv_batch.c).
 * Told waiters leave their connection and are recycled.
 */
#include "sv_server.h"

#include "bp_error.h"
#include "sv_log.h"

#include <string.h>

/* Add a waiter's reply (its prefix, encoded into the batch; the body is the
 * outcome's, sent at the flush) to its connection's batch, then forget the
 * waiter. */
static void tell(sv_server *s, br_waiter *bw, int with_index, const char *body, size_t blen)
{
    sv_wait *w = (sv_wait *)bw;
    sv_conn *c = w->conn;
    if (sv__batch_add(s, c, bw, with_index) < 0) { /* no room to batch: straight out */
        bp_buf_reset(&s->prefix);
        sv__batch_prefix(&s->prefix, bw, with_index);
        sv_shared *own = NULL;
        if (!s->prefix.oom)
            sv__conn_send(c, s->prefix.data, s->prefix.len, body, blen, &own);
        else
            sv__conn_close(c, "out of memory");
        sv__shared_unref(own);
    }
    sv__conn_unlink_wait(c, w);
    sv__wait_free(s, w);
}

static void notify_release(sv_server *s, const br_outcome *o)
{
    br_info in;
    br_barrier_info(o->barrier, &in);
    bp_buf *body = &s->out;
    bp_buf_reset(body);
    if (o->gathered || o->action_result) /* else the bytes of a plain release, exactly */
        bp_enc_release_shared_rdv(body, in.name, in.name_len, o->generation, o->gathered,
                                  o->gathered_len, o->action_result, o->action_result_len);
    else
        bp_enc_release_shared(body, in.name, in.name_len, o->generation);
    uint64_t t0 = s->obs->metrics ? uv_hrtime() : 0; /* two clock reads a release, with --http */
    for (unsigned i = 0; i < o->n; i++)
        tell(s, o->waiters[i], 1, body->data, body->len);
    sv__batch_flush(s, body->data, body->len);
    if (t0)
        mt_hist_observe(&s->obs->fanout_hist, uv_hrtime() - t0);
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
    for (unsigned i = 0; i < o->n; i++) {
        br_waiter *w = o->waiters[i];
        if (w == o->culprit) { /* its own code: encoded apart, sent apart */
            bp_buf_reset(&s->prefix);
            bp_enc_reply_start(&s->prefix, w->has_id, w->id);
            bp_buf own = BP_BUF_INIT;
            bp_enc_wait_error_shared(&own, o->culprit_code, o->message, in.name, in.name_len,
                                     o->generation);
            sv_wait *sw = (sv_wait *)w;
            sv__conn_send(sw->conn, s->prefix.data, s->prefix.len, own.data, own.len, NULL);
            sv__conn_unlink_wait(sw->conn, sw);
            sv__wait_free(s, sw);
            bp_buf_free(&own);
            continue;
        }
        tell(s, w, 0, body->data, body->len);
    }
    sv__batch_flush(s, body->data, body->len);
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
