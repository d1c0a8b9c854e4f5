/* test_break.c - how barriers break and recover: timeouts, abort, reset, a parties
 * mismatch, unknown names, a waiting process killed with -9, and actions. */
#include "itest_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define has(hay, needle) (strstr((hay), (needle)) != NULL)

/* n connections waiting on name (parties), with clients "<prefix><i>". */
static void arrive_all(it_conn **c, unsigned n, const char *name, unsigned parties,
                       uint64_t id0, const char *prefix)
{
    for (unsigned i = 0; i < n; i++) {
        char client[32];
        snprintf(client, sizeof client, "%s%u", prefix, i);
        it_send_wait(c[i], id0 + i, name, parties, -1, client, 0);
    }
}

/* The barrier is usable: parties fresh connections meet at it. */
static void expect_usable(const ts_server *s, const char *name, unsigned parties,
                          uint64_t expect_gen)
{
    it_conn *c[8];
    it_assert(parties <= 8);
    for (unsigned i = 0; i < parties; i++)
        c[i] = it_connect(s);
    arrive_all(c, parties, name, parties, 500, "again");
    unsigned seen = 0;
    for (unsigned i = 0; i < parties; i++) {
        unsigned idx;
        uint64_t gen;
        it_expect_release(c[i], 500 + i, IT_TIMEOUT_MS, &idx, &gen);
        it_assert_msg(gen == expect_gen, "released generation %llu, expected %llu",
                      (unsigned long long)gen, (unsigned long long)expect_gen);
        it_assert(idx < parties);
        seen |= 1u << idx;
    }
    it_assert(seen == (1u << parties) - 1);
    for (unsigned i = 0; i < parties; i++)
        it_close(c[i]);
}

START_TEST(timeout_breaks)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "t", 3, -1, "alpha", 0);
    it_wait_n_waiting(admin, "t", 1, IT_TIMEOUT_MS);
    int64_t t0 = ts_now_ms();
    it_send_wait(b, 2, "t", 3, 300, "beta", 0);

    char mb[BP_MESSAGE_MAX], ma[BP_MESSAGE_MAX];
    it_expect_err(b, 2, BP_ETIMEDOUT, IT_TIMEOUT_MS, mb, sizeof mb);
    int64_t took = ts_now_ms() - t0;
    it_assert_msg(took >= 250, "timed out after %lld ms, before its 300 ms", (long long)took);
    it_assert_msg(took < 3000, "a 300 ms timeout took %lld ms", (long long)took);
    it_expect_err(a, 1, BP_EBROKEN, IT_TIMEOUT_MS, ma, sizeof ma);
    it_assert_msg(has(mb, "timed out") && has(mb, "2/3 arrived") && has(mb, "alpha") &&
                      has(mb, "beta"),
                  "timeout message: %s", mb);
    it_assert_msg(has(ma, "timed out") && has(ma, "2/3 arrived") && has(ma, "alpha") &&
                      has(ma, "beta"),
                  "broken message: %s", ma);

    /* Broken until reset: a later wait fails at once. */
    it_conn *c = it_connect(&s);
    it_send_wait(c, 3, "t", 3, -1, "gamma", 0);
    char mc[BP_MESSAGE_MAX];
    it_expect_err(c, 3, BP_EBROKEN, 2000, mc, sizeof mc);
    it_assert_msg(has(mc, "broken"), "late wait message: %s", mc);
    bp_reply r;
    it_status(admin, "t", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    it_assert(strcmp(it_jstr(&r, "state"), "broken") == 0);
    it_assert(it_jnum(&r, "n_waiting") == 0);
    it_assert_msg(has(it_jstr(&r, "reason"), "timed out"), "reason: %s", it_jstr(&r, "reason"));
    uint64_t gen = (uint64_t)it_jnum(&r, "generation");
    bp_reply_free(&r);

    it_send_op(admin, BP_OP_RESET, 9, "t");
    it_expect_ok(admin, 9, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_status(admin, "t", &r);
    it_assert(it_jbool(&r, "broken") == 0);
    it_assert(it_jnum(&r, "generation") == (double)(gen + 1)); /* a reset ends a generation */
    bp_reply_free(&r);
    expect_usable(&s, "t", 3, gen + 1);

    it_close(a);
    it_close(b);
    it_close(c);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(timeout_zero)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    char m[BP_MESSAGE_MAX];

    /* A non-last party with timeout 0 breaks at once, alone... */
    int64_t t0 = ts_now_ms();
    it_send_wait(a, 1, "z1", 2, 0, "alone", 0);
    it_expect_err(a, 1, BP_ETIMEDOUT, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(ts_now_ms() - t0 < 1000, "timeout 0 took %lld ms", (long long)(ts_now_ms() - t0));
    it_assert_msg(has(m, "timed out") && has(m, "1/2 arrived") && has(m, "alone"), "message: %s",
                  m);

    /* ... or with others waiting, who get broken. */
    it_send_wait(a, 2, "z3", 3, -1, "first", 0);
    it_wait_n_waiting(admin, "z3", 1, IT_TIMEOUT_MS);
    t0 = ts_now_ms();
    it_send_wait(b, 3, "z3", 3, 0, "impatient", 0);
    it_expect_err(b, 3, BP_ETIMEDOUT, IT_TIMEOUT_MS, m, sizeof m);
    it_expect_err(a, 2, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(ts_now_ms() - t0 < 1000, "timeout 0 took %lld ms", (long long)(ts_now_ms() - t0));
    it_assert_msg(has(m, "2/3 arrived") && has(m, "first") && has(m, "impatient"), "message: %s",
                  m);

    /* The last to arrive with timeout 0 releases everyone. */
    it_send_wait(a, 4, "z2", 2, -1, "patient", 0);
    it_wait_n_waiting(admin, "z2", 1, IT_TIMEOUT_MS);
    it_send_wait(b, 5, "z2", 2, 0, "last", 0);
    unsigned ia, ib;
    uint64_t ga, gb;
    it_expect_release(a, 4, IT_TIMEOUT_MS, &ia, &ga);
    it_expect_release(b, 5, IT_TIMEOUT_MS, &ib, &gb);
    it_assert(ia == 0 && ib == 1 && ga == 0 && gb == 0);

    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(abort_reset)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *c[2] = {it_connect(&s), it_connect(&s)};
    it_conn *admin = it_connect(&s);
    char m[BP_MESSAGE_MAX];
    bp_reply r;

    arrive_all(c, 2, "ab", 3, 1, "w");
    it_wait_n_waiting(admin, "ab", 2, IT_TIMEOUT_MS);
    it_send_op(admin, BP_OP_ABORT, 10, "ab");
    it_expect_ok(admin, 10, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    for (unsigned i = 0; i < 2; i++) {
        it_expect_err(c[i], 1 + i, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
        it_assert_msg(has(m, "aborted") && has(m, "2/3 arrived") && has(m, "w0") && has(m, "w1"),
                      "abort message: %s", m);
    }
    /* Future waits fail until reset; a second abort is harmless. */
    it_send_wait(c[0], 3, "ab", 3, -1, "late", 0);
    it_expect_err(c[0], 3, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
    it_send_op(admin, BP_OP_ABORT, 11, "ab");
    it_expect_ok(admin, 11, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_status(admin, "ab", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    it_assert(strcmp(it_jstr(&r, "state"), "broken") == 0);
    it_assert_msg(has(it_jstr(&r, "reason"), "aborted"), "reason: %s", it_jstr(&r, "reason"));
    it_assert(it_jnum(&r, "generation") == 0);
    bp_reply_free(&r);

    it_send_op(admin, BP_OP_RESET, 12, "ab");
    it_expect_ok(admin, 12, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_status(admin, "ab", &r);
    it_assert(it_jbool(&r, "broken") == 0);
    it_assert(strcmp(it_jstr(&r, "state"), "filling") == 0);
    it_assert(it_jnum(&r, "generation") == 1);
    bp_reply_free(&r);
    expect_usable(&s, "ab", 3, 1);

    /* A reset with waiters: they get broken, and the barrier is usable at once. */
    arrive_all(c, 2, "ab", 3, 20, "v");
    it_wait_n_waiting(admin, "ab", 2, IT_TIMEOUT_MS);
    it_send_op(admin, BP_OP_RESET, 13, "ab");
    it_expect_ok(admin, 13, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    for (unsigned i = 0; i < 2; i++) {
        it_expect_err(c[i], 20 + i, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
        it_assert_msg(has(m, "reset") && has(m, "2/3 arrived"), "reset message: %s", m);
    }
    expect_usable(&s, "ab", 3, 3);

    it_close(c[0]);
    it_close(c[1]);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(parties_notfound)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *c = it_connect(&s);
    char m[BP_MESSAGE_MAX];

    it_send_wait(a, 1, "pm", 2, -1, "a", 0);
    it_wait_n_waiting(c, "pm", 1, IT_TIMEOUT_MS);
    it_send_wait(b, 2, "pm", 3, -1, "b", 0);
    it_expect_err(b, 2, BP_EPARTIES, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(has(m, "2") && has(m, "3"), "parties message: %s", m);
    /* It did not join: still one waiting, and the next arrival gets index 1. */
    it_wait_n_waiting(c, "pm", 1, IT_TIMEOUT_MS);
    it_send_wait(b, 3, "pm", 2, -1, "b", 0);
    unsigned ia, ib;
    it_expect_release(a, 1, IT_TIMEOUT_MS, &ia, NULL);
    it_expect_release(b, 3, IT_TIMEOUT_MS, &ib, NULL);
    it_assert(ia == 0 && ib == 1);

    const bp_op ops[] = {BP_OP_ABORT, BP_OP_RESET, BP_OP_STATUS};
    for (unsigned i = 0; i < 3; i++) {
        it_send_op(c, ops[i], 40 + i, "nosuch");
        it_expect_err(c, 40 + i, BP_ENOTFOUND, IT_TIMEOUT_MS, m, sizeof m);
        it_assert_msg(has(m, "nosuch"), "notfound message: %s", m);
    }
    /* Nothing was created by those. */
    bp_reply r;
    it_send_op(c, BP_OP_LIST, 50, NULL);
    it_expect_ok(c, 50, IT_TIMEOUT_MS, &r);
    it_assert(cJSON_GetArraySize(it_jget(&r, "barriers")) == 1);
    bp_reply_free(&r);

    it_close(a);
    it_close(b);
    it_close(c);
    ts_server_down(&s);
}
END_TEST

/* ---- kill -9 of a waiting process ---- */

typedef struct victim_arg {
    int port;
    int ready_fd;
} victim_arg;

static int victim(void *p)
{
    victim_arg *v = p;
    it_conn *c = it_connect_tcp("127.0.0.1", v->port, 0);
    if (!c)
        return 2;
    bp_request q;
    it_req_init(&q, BP_OP_WAIT, 1);
    strcpy(q.barrier, "k9");
    q.barrier_len = 2;
    q.parties = 4;
    strcpy(q.client, "victim");
    if (it_send_req(c, &q) < 0)
        return 3;
    char one = 1;
    if (write(v->ready_fd, &one, 1) != 1)
        return 4;
    for (;;) /* until killed */
        pause();
}

START_TEST(kill9_breaks)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "k9", 4, -1, "survivorA", 0);
    it_send_wait(b, 2, "k9", 4, -1, "survivorB", 0);
    int fds[2];
    it_assert(pipe(fds) == 0);
    victim_arg va = {s.port, fds[1]};
    pid_t pid = it_fork(victim, &va);
    char one;
    it_assert(read(fds[0], &one, 1) == 1);
    close(fds[0]);
    close(fds[1]);
    it_wait_n_waiting(admin, "k9", 3, IT_TIMEOUT_MS);
    it_expect_silence(a, 200);

    int64_t t0 = ts_now_ms();
    it_assert(kill(pid, SIGKILL) == 0);
    char m[BP_MESSAGE_MAX];
    it_expect_err(a, 1, BP_EBROKEN, 1000, m, sizeof m);
    it_expect_err(b, 2, BP_EBROKEN, 1000, NULL, 0);
    int64_t took = ts_now_ms() - t0;
    it_assert_msg(took < 1000, "broken %lld ms after kill -9", (long long)took);
    it_assert_msg(has(m, "party lost") && has(m, "victim"), "message: %s", m);
    int st = ts_reap(pid, 5000);
    it_assert(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    bp_reply r;
    it_status(admin, "k9", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    it_assert_msg(has(it_jstr(&r, "reason"), "victim"), "reason: %s", it_jstr(&r, "reason"));
    bp_reply_free(&r);
    fprintf(stderr, "kill9_breaks: others told %lld ms after kill -9\n", (long long)took);

    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- actions ---- */

/* Three parties on name: a and b plain, runner last with an action. Returns the
 * run_action event's generation. a waits with a_timeout_ms. */
static uint64_t start_action(it_conn *a, it_conn *b, it_conn *runner, it_conn *admin,
                             const char *name, int64_t a_timeout_ms)
{
    it_send_wait(a, 1, name, 3, a_timeout_ms, "plainA", 0);
    it_send_wait(b, 2, name, 3, -1, "plainB", 0);
    it_wait_n_waiting(admin, name, 2, IT_TIMEOUT_MS);
    it_send_wait(runner, 77, name, 3, -1, "runner", 1);
    bp_reply ev;
    int rc = it_recv_skip(runner, IT_TIMEOUT_MS, 0, NULL, &ev);
    it_assert_msg(rc == IT_LINE, "no run_action event (%d)", rc);
    it_assert_msg(ev.kind == BP_MSG_RUN_ACTION, "expected run_action, got kind %d", ev.kind);
    it_assert(ev.has_id && ev.id == 77);
    it_assert(strcmp(ev.barrier, name) == 0);
    uint64_t gen = ev.generation;
    bp_reply_free(&ev);
    return gen;
}

/* The two replies the runner gets after action_done: the action_done's ok and
 * its wait's outcome, in any order. Returns the wait's reply (caller frees). */
static void runner_replies(it_conn *runner, uint64_t done_id, uint64_t wait_id, bp_reply *wait)
{
    int got_done = 0, got_wait = 0;
    for (int i = 0; i < 2; i++) {
        bp_reply r;
        it_expect_reply(runner, IT_TIMEOUT_MS, &r);
        it_assert(r.has_id);
        if (r.id == done_id && !got_done) {
            it_assert_msg(r.code == 0, "action_done failed: %s", r.message);
            got_done = 1;
            bp_reply_free(&r);
        } else if (r.id == wait_id && !got_wait) {
            got_wait = 1;
            *wait = r;
        } else {
            bp_reply_free(&r);
            it_assert_msg(0, "unexpected reply id %llu", (unsigned long long)r.id);
        }
    }
}

START_TEST(action_success)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *run = it_connect(&s);
    it_conn *admin = it_connect(&s), *late = it_connect(&s);
    /* a's timeout (1 s) falls due while the action runs: it must not fire. */
    uint64_t gen = start_action(a, b, run, admin, "act", 1000);
    it_assert(gen == 0);
    bp_reply r;
    it_status(admin, "act", &r);
    it_assert(strcmp(it_jstr(&r, "state"), "running_action") == 0);
    bp_reply_free(&r);
    /* A wait arriving during the action joins the next generation. */
    it_send_wait(late, 5, "act", 3, -1, "late", 0);
    /* Nobody is released while the action runs (longer than a's timeout). */
    it_expect_silence(a, 1500);
    it_expect_silence(b, 10);
    it_expect_silence(late, 10);

    it_send_action_done(run, 78, "act", gen, 1);
    bp_reply w;
    runner_replies(run, 78, 77, &w);
    it_assert_msg(w.code == 0 && w.has_index && w.index == 2 && w.generation == 0,
                  "runner's wait: code %d index %u gen %llu", w.code, w.index,
                  (unsigned long long)w.generation);
    bp_reply_free(&w);
    unsigned ia, ib;
    uint64_t ga, gb;
    it_expect_release(a, 1, IT_TIMEOUT_MS, &ia, &ga);
    it_expect_release(b, 2, IT_TIMEOUT_MS, &ib, &gb);
    it_assert(ga == 0 && gb == 0 && ((ia == 0 && ib == 1) || (ia == 1 && ib == 0)));
    it_expect_silence(late, 200);
    it_status(admin, "act", &r);
    it_assert(it_jnum(&r, "generation") == 1);
    it_assert(it_jnum(&r, "n_waiting") == 1);
    it_assert(strcmp(it_jstr(&r, "state"), "filling") == 0);
    bp_reply_free(&r);
    /* An action_done that matches nothing is refused. */
    it_send_action_done(run, 79, "act", gen, 1);
    it_expect_err(run, 79, BP_EINVAL, IT_TIMEOUT_MS, NULL, 0);

    it_close(a);
    it_close(b);
    it_close(run);
    it_close(late);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(action_failure)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *run = it_connect(&s);
    it_conn *admin = it_connect(&s);
    uint64_t gen = start_action(a, b, run, admin, "actf", -1);
    /* The wrong generation, or from another connection: inval, still running. */
    it_send_action_done(run, 80, "actf", gen + 5, 1);
    it_expect_err(run, 80, BP_EINVAL, IT_TIMEOUT_MS, NULL, 0);
    it_send_action_done(admin, 81, "actf", gen, 1);
    it_expect_err(admin, 81, BP_EINVAL, IT_TIMEOUT_MS, NULL, 0);
    it_expect_silence(a, 100);

    it_send_action_done(run, 78, "actf", gen, 0);
    bp_reply w;
    runner_replies(run, 78, 77, &w);
    it_assert_msg(w.code == BP_EACTION, "runner got %s, expected action", bp_err_name(w.code));
    it_assert_msg(has(w.message, "action failed") && has(w.message, "runner"), "message: %s",
                  w.message);
    bp_reply_free(&w);
    char m[BP_MESSAGE_MAX];
    it_expect_err(a, 1, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(has(m, "action failed"), "message: %s", m);
    it_expect_err(b, 2, BP_EBROKEN, IT_TIMEOUT_MS, NULL, 0);
    bp_reply r;
    it_status(admin, "actf", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    bp_reply_free(&r);

    it_close(a);
    it_close(b);
    it_close(run);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(action_runner_lost)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *run = it_connect(&s);
    it_conn *admin = it_connect(&s);
    start_action(a, b, run, admin, "actl", -1);
    it_expect_silence(a, 100);
    int64_t t0 = ts_now_ms();
    it_close(run);
    char m[BP_MESSAGE_MAX];
    it_expect_err(a, 1, BP_EBROKEN, 1000, m, sizeof m);
    it_expect_err(b, 2, BP_EBROKEN, 1000, NULL, 0);
    it_assert(ts_now_ms() - t0 < 1000);
    it_assert_msg(has(m, "party lost") && has(m, "runner"), "message: %s", m);
    bp_reply r;
    it_status(admin, "actl", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    bp_reply_free(&r);

    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* A release and a timeout falling due together: whatever wins, the outcome is
 * consistent (both released in one generation, or the timed-out one gets
 * timedout and the other broken), never a mix. */
START_TEST(timeout_release_race)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s);
    int released = 0, timedout = 0;
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "race%d", i);
        it_send_wait(a, 1, name, 2, 100, "timer", 0);
        ts_sleep_ms(94 + i); /* around the deadline */
        it_send_wait(b, 2, name, 2, -1, "arriver", 0);
        bp_reply ra, rb;
        it_expect_reply(a, IT_TIMEOUT_MS, &ra);
        it_expect_reply(b, IT_TIMEOUT_MS, &rb);
        int ca = ra.code, cb = rb.code;
        uint64_t ga = ra.generation, gb = rb.generation;
        unsigned ia = ra.index, ib = rb.index;
        bp_reply_free(&ra);
        bp_reply_free(&rb);
        if (ca == 0) {
            it_assert_msg(cb == 0 && ga == 0 && gb == 0 && ia == 0 && ib == 1,
                          "%s: timer released but arriver got %s", name, bp_err_name(cb));
            released++;
        } else {
            it_assert_msg(ca == BP_ETIMEDOUT && cb == BP_EBROKEN,
                          "%s: timer got %s, arriver %s", name, bp_err_name(ca),
                          cb ? bp_err_name(cb) : "ok");
            timedout++;
        }
    }
    fprintf(stderr, "timeout_release_race: %d released, %d timed out\n", released, timedout);
    it_close(a);
    it_close(b);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"timeout_breaks", timeout_breaks, 0},
        {"timeout_zero", timeout_zero, 0},
        {"timeout_release_race", timeout_release_race, 0},
        {"abort_reset", abort_reset, 0},
        {"parties_notfound", parties_notfound, 0},
        {"kill9_breaks", kill9_breaks, 0},
        {"action_success", action_success, 0},
        {"action_failure", action_failure, 0},
        {"action_runner_lost", action_runner_lost, 0},
    };
    return ts_run_cases("break", cases, TS_NCASES(cases));
}
