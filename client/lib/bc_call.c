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

/* Wait as leader or follower until settled or deadline_ns (0 = none). */
static void wait_role(bc_client *c, const bc__call *call, const int *stop, int64_t deadline_ns)
{
    if (c->reading) {
        sleep_until(c, deadline_ns);
        return;
    }
    c->reading = 1;
    while (!settled(c, call, stop) && (!deadline_ns || bc__now_ns() < deadline_ns))
        bc__read_step(c, deadline_ns);
    c->reading = 0;
    pthread_cond_broadcast(&c->cv); /* hand the role on */
}

/* The liveness rule. The server's own timeouts decide BC_ETIMEDOUT; this only
 * tells a dead or hung server (crashed host, SIGSTOP, a wedged loop) from a live
 * one that has nothing to say yet (a long action elsewhere, heartbeats off).
 * When the server has been silent for limit_ns (counted from `since`, the start
 * of this wait, if that is later), send a ping and allow grace_ns more: any
 * byte from the server in that time proves it alive and restarts the clock;
 * none means it is gone, and the connection with it: every caller gets
 * BC_ECONN. Returns when to check next, or 0 if the connection was killed.
 * c->mu held; dropped while the probe is sent. */
static int64_t check_alive(bc_client *c, int64_t since, int64_t limit_ns)
{
    int64_t now = bc__now_ns();
    if (c->probe_ns && c->last_heard_ns >= c->probe_ns) c->probe_ns = 0; /* answered */
    if (c->probe_ns) {
        if (now - c->probe_ns < c->grace_ns) return c->probe_ns + c->grace_ns;
        bc__kill(c, BC_ECONN,
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
    pthread_mutex_unlock(&c->mu);
    if (!b.oom) bc__send_quiet(c, b.data, b.len); /* a failure kills the connection */
    bp_buf_free(&b);
    pthread_mutex_lock(&c->mu);
    return now + c->grace_ns;
}

/* deadline_ns > 0: a hard deadline (hello); else the liveness rule. */
static int await(bc_client *c, bc__call *call, const int *stop, int64_t deadline_ns,
                 int64_t limit_ns)
{
    int64_t since = bc__now_ns();
    while (!settled(c, call, stop)) {
        int64_t next = deadline_ns;
        if (!deadline_ns)
            next = check_alive(c, since, limit_ns);
        else if (bc__now_ns() >= deadline_ns)
            bc__kill(c, BC_ECONN, "no reply from %s in time", c->addr);
        if (next && !settled(c, call, stop)) wait_role(c, call, stop, next);
    }
    if (call && (call->done || call->action_due)) return 0;
    return c->dead ? bc__fail(c->dead_code, "%s", c->dead_msg) : 0;
}

int bc__await(bc_client *c, bc__call *call, int64_t silence_ns)
{
    return await(c, call, NULL, 0, silence_ns);
}

void bc__read_until(bc_client *c, const int *stop)
{
    await(c, NULL, stop, 0, c->silence_ns);
}

int bc__reply_code(const bp_reply *reply)
{
    if (reply->code == 0) return 0;
    return bc__fail(reply->code, "%s",
                    reply->message[0] ? reply->message : bc_strerror(reply->code));
}

int bc__roundtrip(bc_client *c, bp_request *r, bp_reply *reply, int64_t deadline_ns)
{
    bc__call call = {0};
    bp_buf b = BP_BUF_INIT;
    pthread_mutex_lock(&c->mu);
    bc__call_add(c, &call);
    r->has_id = 1;
    r->id = call.id;
    pthread_mutex_unlock(&c->mu);

    bp_request_encode(&b, r);
    int rc = b.oom ? bc__fail(BC_ENOMEM, "out of memory") : bc__send(c, b.data, b.len);
    bp_buf_free(&b);

    pthread_mutex_lock(&c->mu);
    if (rc == 0)
        rc = await(c, &call, NULL, deadline_ns, c->grace_ns);
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
