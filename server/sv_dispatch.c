/* sv_dispatch.c - one decoded request line: check it, act on it, reply. */
#include "sv_server.h"

#include "bp_error.h"
#include "sv_json_arena.h"
#include "sv_log.h"
#include "tl_server.h"

#include <stdlib.h>
#include <string.h>

#define SV_SCRATCH_KEEP (256u << 10)

/* Compare without an early exit, so timing does not reveal a matching prefix. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}

static void reply_error(sv_conn *c, const bp_request *r, int code, const char *msg)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    bp_enc_error(b, r->has_id, r->id, code, msg);
    c->srv->counters.errors++;
    sv__obs_error(c->srv, code);
    SV_DEBUG("conn %llu %s: %s error %s: %s", (unsigned long long)c->serial, c->peer,
             bp_op_name(r->op) ? bp_op_name(r->op) : "?", bp_err_name(code), msg);
    sv__conn_send_buf(c, b);
}

static void reply_ok(sv_conn *c, const bp_request *r)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    bp_enc_ok(b, r->has_id, r->id);
    sv__conn_send_buf(c, b);
}

static void do_hello(sv_conn *c, const bp_request *r)
{
    sv_server *s = c->srv;
    if (r->has_token)
        tl__plain_token(c);
    if (s->cfg->auth_token && !(r->has_token && token_equal(r->token, s->cfg->auth_token))) {
        SV_WARN("conn %llu %s: authentication failed", (unsigned long long)c->serial, c->peer);
        reply_error(c, r, BP_EAUTH, r->has_token ? "wrong token" : "this server needs a token");
        sv__conn_close_after_flush(c, "failed authentication");
        return;
    }
    c->authed = 1;
    c->said_hello = 1;
    bp_buf *b = &s->out;
    bp_buf_reset(b);
    bp_enc_hello(b, r->has_id, r->id, s->cfg->heartbeat_ms, s->cfg->max_line);
    sv__conn_send_buf(c, b);
}

static void do_wait(sv_conn *c, bp_request *r)
{
    sv_server *s = c->srv;
    if (s->shutting_down) {
        reply_error(c, r, BP_ESHUTDOWN, "server is shutting down");
        return;
    }
    if (c->n_waits >= s->cfg->max_conn_waits) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many waits outstanding on this connection (limit %u)",
                 s->cfg->max_conn_waits);
        reply_error(c, r, BP_ELIMIT, msg);
        return;
    }
    sv_wait *w = sv__wait_new(s);
    if (!w) {
        reply_error(c, r, BP_ENOMEM, "out of memory");
        return;
    }
    memset(&w->w, 0, sizeof w->w);
    int64_t now = sv__now(s);
    w->conn = c;
    w->ext = NULL;
    w->client_heap = NULL;
    size_t client_len = strlen(r->client);
    if (client_len < sizeof w->client) {
        memcpy(w->client, r->client, client_len + 1);
        w->w.client = w->client;
    } else if ((w->client_heap = malloc(client_len + 1)) != NULL) {
        memcpy(w->client_heap, r->client, client_len + 1);
        w->w.client = w->client_heap;
    } else {
        sv__wait_free(s, w);
        reply_error(c, r, BP_ENOMEM, "out of memory");
        return;
    }
    w->w.owner = c;
    w->w.has_id = r->has_id;
    w->w.id = r->id;
    w->w.deadline_ms = r->timeout_ms >= 0 ? now + r->timeout_ms : -1;
    w->w.action = r->action;
    w->w.peer = c->peer;
    w->w.resume = r->resume;
    w->w.ticket = r->ticket;
    w->w.has_last = r->has_last;
    w->w.last_gen = r->last_generation;
    w->w.last_released = r->has_last_index;
    w->w.last_index = r->last_index;
    w->w.has_action_gen = r->has_action_generation;
    w->w.action_gen = r->action_generation;
    /* Rendezvous: the wait takes the request's decoded fields over, no copy. */
    w->ext = r->ext;
    r->ext = NULL;
    w->w.data = r->data;
    w->w.data_len = (uint32_t)r->data_len;
    w->w.member = r->member;
    w->w.member_len = (uint32_t)r->member_len;
    w->w.members = r->members;
    w->w.n_members = r->n_members;
    /* Linked first: if this arrival completes the generation, the release
     * notification finds it on the connection like every other waiter. */
    w->prev = NULL;
    w->next = c->waits;
    if (c->waits)
        c->waits->prev = w;
    c->waits = w;
    c->n_waits++;
    char msg[BP_MESSAGE_MAX];
    int rc = br_arrive(s->reg, r->barrier, r->barrier_len, r->parties, &w->w, now, msg, sizeof msg);
    if (rc < 0) {
        sv__conn_unlink_wait(c, w);
        sv__wait_free(s, w);
        reply_error(c, r, rc, msg);
    }
}

static void do_action_done(sv_conn *c, const bp_request *r)
{
    char msg[BP_MESSAGE_MAX];
    int rc = br_action_done_result(c->srv->reg, r->barrier, r->barrier_len, r->generation,
                                   r->success, r->result, r->result_len, c, sv__now(c->srv), msg,
                                   sizeof msg);
    if (rc < 0)
        reply_error(c, r, rc, msg);
    else
        reply_ok(c, r);
}

static void do_abort_reset(sv_conn *c, const bp_request *r)
{
    char by[96];
    snprintf(by, sizeof by, "%s", c->peer);
    int64_t now = sv__now(c->srv);
    int rc = r->op == BP_OP_ABORT ? br_abort(c->srv->reg, r->barrier, r->barrier_len, by, now)
                                  : br_reset(c->srv->reg, r->barrier, r->barrier_len, by, now);
    if (rc == BP_ENOTFOUND) {
        char msg[BP_NAME_MAX + 32];
        snprintf(msg, sizeof msg, "no barrier named '%s'", r->barrier);
        reply_error(c, r, rc, msg);
        return;
    }
    SV_INFO("conn %llu %s: %s barrier '%s'", (unsigned long long)c->serial, c->peer,
            r->op == BP_OP_ABORT ? "aborted" : "reset", r->barrier);
    reply_ok(c, r);
}

void sv__barrier_view(const br_barrier *bar, bp_barrier_view *v)
{
    br_info in;
    br_barrier_info(bar, &in);
    *v = (bp_barrier_view){.name = in.name,
                           .name_len = in.name_len,
                           .parties = in.parties,
                           .n_waiting = in.n_waiting,
                           .n_pending = in.n_pending,
                           .broken = in.state == BR_BROKEN,
                           .generation = in.generation,
                           .state = br_state_name(in.state),
                           .reason = in.reason};
}

static void add_name(void *ctx, const char *name)
{
    bp_buf_append(ctx, name, strlen(name) + 1);
}

/* A barrier's member list and who of it has not arrived (docs/protocol.md). */
static void status_members(sv_server *s, const br_barrier *bar, bp_buf *b)
{
    unsigned n;
    const char *names = br_barrier_members(bar, &n);
    if (!names)
        return;
    bp_enc_status_names(b, "members", names, n);
    bp_buf missing = BP_BUF_INIT;
    unsigned k = br_barrier_missing(s->reg, bar, add_name, &missing);
    bp_enc_status_names(b, "missing", missing.data, missing.oom ? 0 : k);
    bp_buf_free(&missing);
}

static void do_status(sv_conn *c, const bp_request *r)
{
    const br_barrier *bar = br_find(c->srv->reg, r->barrier, r->barrier_len);
    if (!bar) {
        char msg[BP_NAME_MAX + 32];
        snprintf(msg, sizeof msg, "no barrier named '%s'", r->barrier);
        reply_error(c, r, BP_ENOTFOUND, msg);
        return;
    }
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    sv__enc_status(c->srv, b, r->has_id, r->id, bar);
    sv__conn_send_buf(c, b);
}

void sv__enc_status(sv_server *s, bp_buf *b, int has_id, uint64_t id, const br_barrier *bar)
{
    bp_barrier_view v;
    sv__barrier_view(bar, &v);
    bp_enc_status_begin(b, has_id, id, &v);
    unsigned n;
    br_waiter *const *ws = br_barrier_waiters(bar, &n);
    int64_t now = sv__now(s);
    for (unsigned i = 0; i < n; i++)
        bp_enc_status_waiter_since(b, i, ws[i]->index, ws[i]->client, ws[i]->peer,
                                   ws[i]->member, ws[i]->member_len,
                                   now > ws[i]->arrived_ms ? (uint64_t)(now - ws[i]->arrived_ms) : 0);
    status_members(s, bar, b);
    bp_enc_status_end(b);
}

typedef struct list_ctx {
    bp_buf *b;
    unsigned n;
} list_ctx;

static void list_one(void *ctx, const br_barrier *bar)
{
    list_ctx *lc = ctx;
    bp_barrier_view v;
    sv__barrier_view(bar, &v);
    bp_enc_list_item(lc->b, lc->n++, &v);
}

static void do_list(sv_conn *c, const bp_request *r)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    sv__enc_list(c->srv, b, r->has_id, r->id);
    sv__conn_send_buf(c, b);
}

void sv__enc_list(sv_server *s, bp_buf *b, int has_id, uint64_t id)
{
    bp_enc_list_begin(b, has_id, id);
    list_ctx lc = {b, 0};
    br_foreach(s->reg, list_one, &lc);
    bp_enc_list_end(b);
}

static void do_stats(sv_conn *c, const bp_request *r)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    sv__enc_stats(c->srv, b, r->has_id, r->id);
    sv__conn_send_buf(c, b);
}

void sv__enc_stats(sv_server *s, bp_buf *b, int has_id, uint64_t id)
{
    br_stats st;
    br_get_stats(s->reg, &st);
    const sv_counters *k = &s->counters;
    bp_stats_view v = {.connections = s->n_conns,
                       .connections_total = k->connections_total,
                       .barriers = st.barriers,
                       .waiting = st.waiting,
                       .waits = st.waits,
                       .releases = st.releases,
                       .breaks = st.breaks,
                       .errors = k->errors,
                       .dropped_slow = k->dropped_slow,
                       .dropped_silent = k->dropped_silent,
                       .refused = k->refused,
                       .hello_timeouts = k->hello_timeouts,
                       .resume_proven = st.proven,
                       .resume_late = st.late,
                       .resume_guessed = st.guessed,
                       .resume_collisions = st.collisions,
                       .resume_replaced = st.replaced,
                       .log_dropped = sv_log_dropped(),
                       .uptime_s = (double)(sv__now(s) - (int64_t)s->start_ms) / 1000.0};
    sv__ha_stats(s, &v);
    bp_enc_stats(b, has_id, id, &v);
}

static void do_ping(sv_conn *c, const bp_request *r)
{
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    bp_enc_pong(b, r->has_id, r->id);
    sv__conn_send_buf(c, b);
}

void sv__dispatch(sv_conn *c, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return; /* blank lines are ignored */
    bp_request r;
    bp_decode_error err;
    sv__json_arena_begin();
    int rc = bp_request_decode(line, len, c->srv->cfg->max_parties, &r, &err);
    sv__json_arena_end(); /* the decode's cJSON tree is gone: reuse its memory */
    /* Never log a secret, right or wrong: what the decoder saw decides. */
    if (err.secret)
        SV_DEBUG("conn %llu %s: <- (%zu bytes that may hold a token, not shown)",
                 (unsigned long long)c->serial, c->peer, len);
    else
        SV_DEBUG("conn %llu %s: <- %.*s", (unsigned long long)c->serial, c->peer,
                 (int)(len > 200 ? 200 : len), line);
    if (rc < 0) {
        r.has_id = err.has_id;
        r.id = err.id;
        reply_error(c, &r, err.code, err.message);
        return;
    }
    if (c->srv->ha && !sv__ha_gate(c, &r)) {
        bp_request_free(&r);
        return; /* a standby: answered with notleader */
    }
    if (!c->authed && r.op != BP_OP_HELLO && r.op != BP_OP_PING && r.op != BP_OP_PONG) {
        bp_request_free(&r);
        reply_error(c, &r, BP_EAUTH, "say hello with the token first");
        sv__conn_close_after_flush(c, "did not authenticate");
        return;
    }
    switch (r.op) {
    case BP_OP_HELLO: do_hello(c, &r); break;
    case BP_OP_WAIT: do_wait(c, &r); break;
    case BP_OP_ACTION_DONE: do_action_done(c, &r); break;
    case BP_OP_ABORT:
    case BP_OP_RESET: do_abort_reset(c, &r); break;
    case BP_OP_STATUS: do_status(c, &r); break;
    case BP_OP_LIST: do_list(c, &r); break;
    case BP_OP_STATS: do_stats(c, &r); break;
    case BP_OP_PING: do_ping(c, &r); break;
    case BP_OP_PONG: break; /* last_rx_ms was updated on read */
    case BP_OP_WATCH: sv__watch(c, &r); break;
    default: break;
    }
    bp_request_free(&r);
    if (c->srv->out.cap > SV_SCRATCH_KEEP) /* a huge list: do not keep its memory */
        bp_buf_free(&c->srv->out);
}
