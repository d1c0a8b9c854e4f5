/* bc_wait.c - bc_wait: join a barrier, run the action if asked, get released. */
#include "bc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Who is waiting, as the server shows it: the configured name or HOSTNAME:PID
 * (the pid read now, so a forked child names itself). */
static void client_name(const bc_client *c, char *dst, size_t cap)
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
static int64_t timeout_ms(double s)
{
    if (s < 0) return -1;
    double ms = s * 1000.0;
    if (ms >= (double)BP_TIMEOUT_MAX_MS) return BP_TIMEOUT_MAX_MS;
    int64_t r = (int64_t)ceil(ms - 1e-6);
    return s > 0 && r < 1 ? 1 : r;
}

/* Run the action while a pump reads for us, then tell the server how it went
 * (the answer to action_done lands in ack; the wait's own reply follows). */
static void run_action(bc_client *c, const char *name, uint64_t gen, uint64_t ack_id,
                       bc_action_fn fn, void *arg)
{
    bc__pump pump;
    bc__pump_start(&pump, c);
    int ok = fn ? fn(arg) == 0 : 1;
    bp_request r = {
        .op = BP_OP_ACTION_DONE, .has_id = 1, .id = ack_id, .generation = gen, .success = ok};
    snprintf(r.barrier, sizeof r.barrier, "%s", name);
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    if (!b.oom) bc__send_quiet(c, b.data, b.len); /* a failure kills the connection */
    bp_buf_free(&b);
    bc__pump_stop(&pump);
}

static int check_args(bc_client *c, const char *name, unsigned parties, double timeout_s)
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
 * action runs); the liveness rule only catches a dead server. c->mu held. */
static int await_release(bc_client *c, bc__call *call, bc__call *ack, const char *name,
                         bc_action_fn fn, void *arg)
{
    for (;;) {
        int rc = bc__await(c, call, c->silence_ns);
        if (rc < 0 || call->done) return rc;
        call->action_due = 0;
        if (!ack->id) bc__call_add(c, ack);
        pthread_mutex_unlock(&c->mu);
        run_action(c, name, call->action_gen, ack->id, fn, arg);
        pthread_mutex_lock(&c->mu);
    }
}

int bc_wait(bc_client *c, const char *name, unsigned parties, double timeout_s, bc_action_fn action,
            void *action_arg, bc_wait_result *out)
{
    int rc = check_args(c, name, parties, timeout_s);
    if (rc < 0) return rc;
    bp_request r = {.op = BP_OP_WAIT,
                    .parties = parties,
                    .timeout_ms = timeout_ms(timeout_s),
                    .action = action != NULL,
                    .has_id = 1};
    snprintf(r.barrier, sizeof r.barrier, "%s", name);
    client_name(c, r.client, sizeof r.client);

    bc__call call = {0}, ack = {0};
    pthread_mutex_lock(&c->mu);
    bc__call_add(c, &call);
    r.id = call.id;
    pthread_mutex_unlock(&c->mu);

    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    rc = b.oom ? bc__fail(BC_ENOMEM, "out of memory") : bc__send(c, b.data, b.len);
    bp_buf_free(&b);

    pthread_mutex_lock(&c->mu);
    if (rc == 0) rc = await_release(c, &call, &ack, name, action, action_arg);
    bc__call_remove(c, &call);
    if (ack.id) bc__call_remove(c, &ack);
    pthread_mutex_unlock(&c->mu);
    if (ack.done) bp_reply_free(&ack.reply);
    if (!call.done) return rc;

    rc = bc__reply_code(&call.reply);
    if (rc == 0 && !call.reply.has_index) rc = bc__fail(BC_EPROTO, "release without an index");
    if (rc == 0 && out)
        *out = (bc_wait_result){.index = call.reply.index, .generation = call.reply.generation};
    bp_reply_free(&call.reply);
    return rc;
}
