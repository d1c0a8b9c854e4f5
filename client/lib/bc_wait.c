/* bc_wait.c - bc_wait: join a barrier, run the action if asked, get released. */
#include "bc_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Who is waiting, as the server shows it: the configured name or HOSTNAME:PID
 * (the pid read now, so a forked child names itself). */
void bc__client_name(const bc_client *c, char *dst, size_t cap)
{
    if (c->name[0]) {
        snprintf(dst, cap, "%s", c->name);
        return;
    }
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(dst, cap, "%s:%ld", host, (long)getpid());
    if (!bp_utf8_clean(dst, strlen(dst))) snprintf(dst, cap, "pid %ld", (long)getpid());
}

/* Seconds to the wire's milliseconds, rounded up: a positive timeout never
 * becomes 0, which would mean "break at once". The 1e-6 ms of slack keeps float
 * noise (0.007 * 1000 = 7.000000000000001) from adding a millisecond. */
int64_t bc__timeout_ms(double s)
{
    if (s < 0) return -1;
    double ms = s * 1000.0;
    if (ms >= (double)BP_TIMEOUT_MAX_MS) return BP_TIMEOUT_MAX_MS;
    int64_t r = (int64_t)ceil(ms - 1e-6);
    return s > 0 && r < 1 ? 1 : r;
}

/* Run the action while a pump reads for us; returns its verdict. Each run
 * starts with no result: one set by an earlier run is not this one's. */
static int run_action(bc_client *c, const bc__wait_action *a)
{
    if (a->ctx) {
        free(a->ctx->result);
        *a->ctx = (bc_action_ctx){0};
    }
    bc__pump pump;
    bc__pump_start(&pump, c);
    int ok = 1;
    if (a->fn)
        ok = a->fn(a->arg) == 0;
    else if (a->rdv_fn)
        ok = a->rdv_fn(a->arg, a->ctx) == 0;
    bc__pump_stop(&pump);
    return ok;
}

/* Unregister the ack and free what it holds (c->mu held). */
static void ack_clear(bc_client *c, bc__call *ack)
{
    if (ack->id) bc__call_remove(c, ack);
    if (ack->done) bp_reply_free(&ack->reply);
    free((char *)ack->req.result); /* its own copy (report_action) */
    *ack = (bc__call){0};
}

/* Tell the server how the action of generation gen went, as a call of its own
 * (ack), so that a reconnect re-sends it until it is answered. The answer lands
 * in ack; the wait's own reply follows. The ack owns a copy of the result: a
 * later run of the action may replace ctx's while a reconnect re-sends this
 * one. c->mu held. */
static void report_action(bc_client *c, bc__call *ack, const char *name, uint64_t gen, int ok,
                          const bc_action_ctx *ctx)
{
    ack_clear(c, ack);
    *ack = (bc__call){.kind = BC__CALL_ACK,
                      .req = {.op = BP_OP_ACTION_DONE, .generation = gen, .success = ok}};
    snprintf(ack->req.barrier, sizeof ack->req.barrier, "%s", name);
    if (ok && ctx && ctx->result) {
        char *copy = malloc(ctx->result_len + 1);
        if (copy) {
            memcpy(copy, ctx->result, ctx->result_len + 1);
            ack->req.result = copy;
            ack->req.result_len = ctx->result_len;
        } else {
            ack->req.success = 0; /* a result lost is an action failed, not a silent gap */
        }
    }
    bc__submit(c, ack); /* a failure shows in the wait's own await */
}

int bc__wait_check_args(bc_client *c, const char *name, unsigned parties, double timeout_s)
{
    if (!c) return bc__fail(BC_EINVAL, "client is NULL");
    int rc = bc__check_name(name);
    if (rc < 0) return rc;
    if (parties < 1 || parties > BP_PARTIES_MAX)
        return bc__fail(BC_EINVAL, "parties must be 1..%u", BP_PARTIES_MAX);
    if (isnan(timeout_s)) return bc__fail(BC_EINVAL, "timeout is NaN");
    return 0;
}

/* Block until the wait's reply, running the action whenever the server asks.
 * No local deadline: the server enforces the timeout (and holds it off while an
 * action runs); the liveness rule only catches a dead server. A second request
 * for a generation whose action already ran (a server that did not hear the
 * outcome) gets the same outcome again, without running it twice. c->mu held. */
static int await_release(bc_client *c, bc__call *call, bc__call *ack, const bc__wait_action *a)
{
    for (;;) {
        int rc = bc__await(c, call, c->silence_ns);
        if (rc < 0 || call->done) return rc;
        call->action_due = 0;
        uint64_t gen = call->action_gen;
        int ok = ack->req.success;
        if (!ack->id || ack->req.generation != gen) {
            pthread_mutex_unlock(&c->mu);
            ok = run_action(c, a);
            pthread_mutex_lock(&c->mu);
        }
        report_action(c, ack, call->req.barrier, gen, ok, a->ctx);
    }
}

int bc__wait_call(bc_client *c, bc__call *call, const bc__wait_action *a)
{
    bc__call ack = {0};
    /* A re-announced wait sends what is left of its timeout. Past 1e6 s there
     * is nothing to count (and no int64 room for it): it goes as it was. */
    if (call->req.timeout_ms >= 0 && call->req.timeout_ms < (int64_t)(BC__MAX_OPTION_S * 1000))
        call->deadline_ns = bc__now_ns() + call->req.timeout_ms * (BC__NS_PER_S / 1000);

    pthread_mutex_lock(&c->mu);
    /* Who this party is, across a restart: random, non-zero, exact in JSON. */
    call->req.ticket = bc__rand(c) % BP_ID_MAX + 1;
    int rc = bc__submit(c, call);
    if (rc == 0) rc = await_release(c, call, &ack, a);
    bc__call_remove(c, call);
    ack_clear(c, &ack);
    pthread_mutex_unlock(&c->mu);
    if (!call->done) return rc;

    rc = bc__reply_code(&call->reply);
    if (rc == 0 && !call->reply.has_index) rc = bc__fail(BC_EPROTO, "release without an index");
    if (rc < 0) bp_reply_free(&call->reply);
    return rc;
}

int bc_wait(bc_client *c, const char *name, unsigned parties, double timeout_s, bc_action_fn action,
            void *action_arg, bc_wait_result *out)
{
    int rc = bc__wait_check_args(c, name, parties, timeout_s);
    if (rc < 0) return rc;
    bc__call call = {.kind = BC__CALL_WAIT,
                     .req = {.op = BP_OP_WAIT,
                             .parties = parties,
                             .timeout_ms = bc__timeout_ms(timeout_s),
                             .action = action != NULL}};
    snprintf(call.req.barrier, sizeof call.req.barrier, "%s", name);
    bc__client_name(c, call.req.client, sizeof call.req.client);
    bc__wait_action a = {.fn = action, .arg = action_arg};
    rc = bc__wait_call(c, &call, &a);
    if (rc < 0) return rc;
    if (out)
        *out = (bc_wait_result){.index = call.reply.index, .generation = call.reply.generation};
    bp_reply_free(&call.reply);
    return rc;
}
