/* bc_call.c - requests in flight and the leader/follower wait for replies.
 *
 * A blocked caller either holds the reader role and reads for everyone, or
 * sleeps on c->cv until its call settles or the role is free again. See
 * bc_internal.h for the model.
 */
#include "bc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

void bc__call_add(bc_client *c, bc__call *call)
{
    call->id = ++c->next_id;
    call->next = c->calls;
    c->calls = call;
}

void bc__call_remove(bc_client *c, bc__call *call)
{
    for (bc__call **p = &c->calls; *p; p = &(*p)->next) {
        if (*p == call) {
            *p = call->next;
            return;
        }
    }
}

/* 1 if some registered call still waits for its answer. */
static int any_pending(const bc_client *c)
{
    for (const bc__call *k = c->calls; k; k = k->next)
        if (!k->done) return 1;
    return 0;
}

void bc__encode_call(bc_client *c, bc__call *call, int resume, bp_buf *b)
{
    /* The last outcome is the one known when the wait first goes out: by the
     * time it is re-announced, another thread of the handle may have seen the
     * very generation this one still waits in. */
    if (call->kind == BC__CALL_WAIT && !call->last_taken) {
        bc__last_fill(c, &call->req);
        call->last_taken = 1;
    }
    bp_request r = call->req;
    r.has_id = 1;
    r.id = call->id;
    if (call->kind == BC__CALL_WAIT) {
        r.resume = resume;
        /* The timeout counts from the original call: send what is left of it. */
        if (resume && call->deadline_ns) {
            int64_t left = call->deadline_ns - bc__now_ns();
            r.timeout_ms = left > 0 ? (left + 999999) / 1000000 : 0;
        }
        r.has_action_generation = call->action_seen;
        r.action_generation = call->action_seen ? call->action_gen : 0;
    }
    bp_request_encode(b, &r);
}

void bc__line_msg(const bc_client *c, size_t len, char *dst, size_t cap)
{
    snprintf(dst, cap,
             "request of %zu bytes is longer than the %zu bytes %s takes (its --max-line): "
             "not sent (a long member list or data?)",
             len ? len - 1 : 0, c->max_line, c->addr);
}

/* Without the '\n', as --max-line counts. */
int bc__check_line(const bc_client *c, size_t len)
{
    if (!c->max_line || len <= c->max_line + 1) return 0;
    char msg[BC__MSG_MAX];
    bc__line_msg(c, len, msg, sizeof msg);
    return bc__fail(BC_ELIMIT, "%s", msg);
}

int bc__submit(bc_client *c, bc__call *call)
{
    /* Nobody was waiting for the lost connection to come back: the window
     * starts now, for this call. */
    if (c->lost && !any_pending(c)) c->lost_ns = bc__now_ns();
    bc__call_add(c, call);
    if (c->dead) return bc__fail(c->dead_code, "%s", c->dead_msg);
    if (c->lost) return 0; /* the reconnect sends it */
    bp_buf b = BP_BUF_INIT;
    bc__encode_call(c, call, 0, &b);
    if (b.oom) {
        bp_buf_free(&b);
        return bc__fail(BC_ENOMEM, "out of memory");
    }
    /* The server would close the connection on it, and the re-send with it. */
    int rc = bc__check_line(c, b.len);
    if (rc < 0) {
        bp_buf_free(&b);
        return rc;
    }
    uint64_t epoch = call->epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    bc__send_on(c, epoch, b.data, b.len); /* a failure loses the connection */
    bp_buf_free(&b);
    pthread_mutex_lock(&c->mu);
    return 0;
}

static int settled(const bc_client *c, const bc__call *call, const int *stop)
{
    if (c->dead) return 1;
    return call ? call->done || call->action_due : *stop;
}

static void sleep_until(bc_client *c, int64_t deadline_ns)
{
    int64_t t = bc__now_ns() + BC__NS_PER_S;
    if (deadline_ns && deadline_ns < t) t = deadline_ns;
    struct timespec ts = {.tv_sec = t / BC__NS_PER_S, .tv_nsec = t % BC__NS_PER_S};
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

/* Wait as leader or follower until settled, deadline_ns (0 = none) or a
 * reconnect. The reader of a lost connection reconnects instead of reading. */
static void wait_role(bc_client *c, const bc__call *call, const int *stop, int64_t deadline_ns)
{
    if (c->reading) {
        sleep_until(c, deadline_ns);
        return;
    }
    c->reading = 1;
    uint64_t epoch = c->epoch;
    while (!settled(c, call, stop) && c->epoch == epoch &&
           (!deadline_ns || bc__now_ns() < deadline_ns)) {
        if (c->lost)
            bc__resume_step(c);
        else
            bc__read_step(c, deadline_ns);
    }
    c->reading = 0;
    pthread_cond_broadcast(&c->cv); /* hand the role on */
}

/* The liveness rule. The server's own timeouts decide BC_ETIMEDOUT; this only
 * tells a dead or hung server (crashed host, SIGSTOP, a wedged loop) from a live
 * one that has nothing to say yet (a long action elsewhere, heartbeats off).
 * When the server has been silent for limit_ns (counted from `since`, the start
 * of this wait, if that is later), send a ping and allow grace_ns more: any
 * byte from the server in that time proves it alive and restarts the clock;
 * none means it is gone, and the connection with it (bc__lose: a reconnect, or
 * BC_ECONN for every caller). Returns when to check next, or 0 if the
 * connection was lost. A new connection starts with no probe pending.
 * c->mu held; dropped while the probe is sent. */
int64_t bc__check_alive(bc_client *c, int64_t since, int64_t limit_ns)
{
    int64_t now = bc__now_ns();
    if (c->probe_ns && c->last_heard_ns >= c->probe_ns) c->probe_ns = 0; /* answered */
    if (c->probe_ns) {
        if (now - c->probe_ns < c->grace_ns) return c->probe_ns + c->grace_ns;
        bc__lose(c, BC_ECONN,
                 "%s has said nothing for %.1f s and did not answer a ping within %.1f s; "
                 "giving the connection up",
                 c->addr, (double)(now - c->last_heard_ns) / BC__NS_PER_S,
                 (double)c->grace_ns / BC__NS_PER_S);
        return 0;
    }
    int64_t quiet = c->last_heard_ns > since ? c->last_heard_ns : since;
    if (now - quiet < limit_ns) return quiet + limit_ns;
    c->probe_ns = now;
    bp_request ping = {.op = BP_OP_PING}; /* no id: its reply is ignored */
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &ping);
    uint64_t epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    if (!b.oom) bc__send_on(c, epoch, b.data, b.len); /* a failure loses the connection */
    bp_buf_free(&b);
    pthread_mutex_lock(&c->mu);
    return now + c->grace_ns;
}

/* Under the liveness rule; a lost connection is the reader's to take back. */
static int await(bc_client *c, bc__call *call, const int *stop, int64_t limit_ns)
{
    int64_t since = bc__now_ns();
    while (!settled(c, call, stop)) {
        int64_t next = c->lost ? 0 : bc__check_alive(c, since, limit_ns);
        if (!settled(c, call, stop)) wait_role(c, call, stop, next);
    }
    if (call && (call->done || call->action_due)) return 0;
    return c->dead ? bc__fail(c->dead_code, "%s", c->dead_msg) : 0;
}

int bc__await(bc_client *c, bc__call *call, int64_t silence_ns)
{
    return await(c, call, NULL, silence_ns);
}

void bc__read_until(bc_client *c, const int *stop)
{
    await(c, NULL, stop, c->silence_ns);
}

int bc__reply_code(const bp_reply *reply)
{
    if (reply->code == 0) return 0;
    return bc__fail(reply->code, "%s",
                    reply->message[0] ? reply->message : bc_strerror(reply->code));
}

int bc__roundtrip(bc_client *c, bc__kind kind, const bp_request *r, bp_reply *reply)
{
    bc__call call = {.kind = kind, .req = *r};
    pthread_mutex_lock(&c->mu);
    int rc = bc__submit(c, &call);
    if (rc == 0) rc = bc__await(c, &call, c->grace_ns);
    bc__call_remove(c, &call);
    pthread_mutex_unlock(&c->mu);
    if (rc < 0) {
        if (call.done) bp_reply_free(&call.reply);
        return rc;
    }
    *reply = call.reply;
    rc = bc__reply_code(reply);
    if (rc < 0) bp_reply_free(reply);
    return rc;
}
