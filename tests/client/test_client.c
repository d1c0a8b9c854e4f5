/* test_client.c - libbarrierclient against a real barrierd.
 *
 * Every test gets a fresh server (--heartbeat 0.2) on a free loopback port.
 * Loops are bounded in count and time; time limits are generous (seconds), so
 * a busy machine slows the tests down without failing them.
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static ts_server srv;

static void setup(void)
{
    tc_server_up(&srv, NULL);
}

static void teardown(void)
{
    ts_server_cleanup(&srv);
}

/* Connect with resuming off (resume_s < 0): a lost connection fails the calls
 * at once, as before resuming existed. For the tests of that behaviour. */
static bc_client *connect_noresume(const char *addr)
{
    bc_options o = {.resume_s = -1};
    bc_client *c = NULL;
    int rc = bc_connect(addr, &o, &c);
    ck_assert_msg(rc == 0, "connect %s: %s (%s)", addr, bc_strerror(rc), bc_last_error_message());
    return c;
}

/* ---- connecting ---- */

START_TEST(test_connect_and_ping)
{
    bc_client *c = tc_connect(srv.addr);
    double rtt = -1;
    ck_assert_int_eq(bc_ping(c, &rtt), BC_OK);
    ck_assert(rtt >= 0 && rtt < 5);
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
    bc_close(c);
    bc_close(NULL); /* allowed */

    /* NULL address: $BARRIERD_ADDR */
    setenv("BARRIERD_ADDR", srv.addr, 1);
    ck_assert_int_eq(bc_connect(NULL, NULL, &c), BC_OK);
    bc_close(c);
    unsetenv("BARRIERD_ADDR");
}
END_TEST

static const struct {
    const char *addr;
    int code;
} bad_addrs[] = {
    {"127.0.0.1", BC_EINVAL},   {"127.0.0.1:", BC_EINVAL},
    {"127.0.0.1:0", BC_EINVAL}, {"127.0.0.1:70000", BC_EINVAL},
    {"::1:7411", BC_EINVAL},    {"[::1]7411", BC_EINVAL},
    {":7411", BC_EINVAL},       {"unix:", BC_EINVAL},
    {"127.0.0.1:1", BC_ECONN},  {"unix:/nonexistent/barrierd.sock", BC_ECONN},
    {"[::1]:1", BC_ECONN},
};

START_TEST(test_connect_errors)
{
    bc_client *c = (bc_client *)&srv; /* must stay untouched on failure */
    bc_options o = {.connect_timeout_s = 5};
    int rc = bc_connect(bad_addrs[_i].addr, &o, &c);
    ck_assert_msg(rc == bad_addrs[_i].code, "%s: got %s", bad_addrs[_i].addr, bc_strerror(rc));
    ck_assert_ptr_eq(c, (bc_client *)&srv);
    ck_assert_str_ne(bc_last_error_message(), "");
}
END_TEST

/* Numeric addresses are parsed without a resolver; host names still resolve
 * (the fallback when the numeric parse says "not a number"). */
START_TEST(test_connect_host_name)
{
    char addr[80];
    snprintf(addr, sizeof addr, "localhost:%s", strrchr(srv.addr, ':') + 1);
    bc_options o = {.connect_timeout_s = 10};
    bc_client *c = NULL;
    int rc = bc_connect(addr, &o, &c); /* every address localhost has is tried */
    ck_assert_msg(rc == BC_OK, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
    bc_close(c);
    ck_assert_int_eq(bc_connect("[::ffff:127.0.0.1]:1", &o, &c), BC_ECONN);
    ck_assert_msg(strstr(bc_last_error_message(), "resolve") == NULL, "%s",
                  bc_last_error_message());
}
END_TEST

START_TEST(test_bad_options)
{
    bc_client *c;
    bc_options o = {.connect_timeout_s = -1};
    ck_assert_int_eq(bc_connect(srv.addr, &o, &c), BC_EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o = (bc_options){.client_name = longname};
    ck_assert_int_eq(bc_connect(srv.addr, &o, &c), BC_EINVAL);
    ck_assert_int_eq(bc_connect(srv.addr, NULL, NULL), BC_EINVAL);
}
END_TEST

/* Huge option values are clamped, not overflowed into deadlines in the past
 * (which failed the connect, or every request, at once). */
START_TEST(test_huge_options)
{
    static const double huge[] = {1e7, 1e12, 1e300};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        bc_options o = {.connect_timeout_s = huge[i], .io_grace_s = huge[i]};
        bc_client *c = NULL;
        int rc = bc_connect(srv.addr, &o, &c);
        ck_assert_msg(rc == BC_OK, "%g: %s: %s", huge[i], bc_strerror(rc),
                      bc_last_error_message());
        ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
        ck_assert_int_eq(bc_wait(c, "huge", 1, 5, NULL, NULL, NULL), BC_OK);
        bc_status st;
        ck_assert_int_eq(bc_status_get(c, "huge", &st), BC_OK);
        bc_close(c);
    }
}
END_TEST

START_TEST(test_invalid_args)
{
    bc_client *c = tc_connect(srv.addr);
    ck_assert_int_eq(bc_wait(c, "b", 0, 1, NULL, NULL, NULL), BC_EINVAL);
    ck_assert_int_eq(bc_wait(c, "", 1, 1, NULL, NULL, NULL), BC_EINVAL);
    ck_assert_int_eq(bc_wait(c, NULL, 1, 1, NULL, NULL, NULL), BC_EINVAL);
    ck_assert_int_eq(bc_wait(c, "a\nb", 1, 1, NULL, NULL, NULL), BC_EINVAL);
    ck_assert_int_eq(bc_wait(NULL, "b", 1, 1, NULL, NULL, NULL), BC_EINVAL);
    char big[300];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(bc_wait(c, big, 1, 1, NULL, NULL, NULL), BC_EINVAL);
    ck_assert_int_eq(bc_abort(c, ""), BC_EINVAL);
    ck_assert_int_eq(bc_query_json(c, "wait", "b", &(char *){NULL}), BC_EINVAL);
    /* The handle still works. */
    ck_assert_int_eq(bc_wait(c, "b", 1, 1, NULL, NULL, NULL), BC_OK);
    bc_close(c);
}
END_TEST

/* ---- cyclic waits from many threads ---- */

#define CYC_THREADS 8
#define CYC_GENS 25

typedef struct cyc_thread {
    pthread_t t;
    bc_client *c;
    const char *addr; /* set: the thread connects on its own */
    int rc;
    bc_wait_result r[CYC_GENS];
} cyc_thread;

static void *cyc_main(void *arg)
{
    cyc_thread *t = arg;
    bc_client *c = t->c;
    if (t->addr && (t->rc = bc_connect(t->addr, NULL, &c)) < 0) return NULL;
    for (int g = 0; g < CYC_GENS && t->rc == 0; g++)
        t->rc = bc_wait(c, "cyc", CYC_THREADS, 60, NULL, NULL, &t->r[g]);
    if (t->addr) bc_close(c);
    return NULL;
}

/* Each generation released everyone with the same number and distinct indexes. */
static void check_cycles(cyc_thread *ts)
{
    for (int g = 0; g < CYC_GENS; g++) {
        unsigned seen = 0;
        for (int i = 0; i < CYC_THREADS; i++) {
            ck_assert_uint_eq(ts[i].r[g].generation, (uint64_t)g);
            ck_assert_uint_lt(ts[i].r[g].index, CYC_THREADS);
            seen |= 1u << ts[i].r[g].index;
        }
        ck_assert_uint_eq(seen, (1u << CYC_THREADS) - 1);
    }
}

static void run_cycles(int shared)
{
    bc_client *c = shared ? tc_connect(srv.addr) : NULL;
    cyc_thread ts[CYC_THREADS];
    memset(ts, 0, sizeof ts);
    for (int i = 0; i < CYC_THREADS; i++) {
        ts[i].c = c;
        ts[i].addr = shared ? NULL : srv.addr;
        pthread_create(&ts[i].t, NULL, cyc_main, &ts[i]);
    }
    for (int i = 0; i < CYC_THREADS; i++)
        pthread_join(ts[i].t, NULL);
    for (int i = 0; i < CYC_THREADS; i++)
        ck_assert_msg(ts[i].rc == 0, "thread %d: %s", i, bc_strerror(ts[i].rc));
    check_cycles(ts);
    bc_close(c);
}

START_TEST(test_threads_one_handle)
{
    run_cycles(1);
}
END_TEST

START_TEST(test_threads_separate_handles)
{
    run_cycles(0);
}
END_TEST

/* Two parties over many generations: the last to arrive gets index 1. */
START_TEST(test_cyclic_many_generations)
{
    bc_client *a = tc_connect(srv.addr), *b = tc_connect(srv.addr);
    for (unsigned g = 0; g < 200; g++) {
        tc_waiter w = {.c = a, .name = "many", .parties = 2, .timeout_s = 30};
        tc_waiter_start(&w);
        bc_wait_result r;
        ck_assert_int_eq(bc_wait(b, "many", 2, 30, NULL, NULL, &r), BC_OK);
        tc_waiter_join(&w);
        ck_assert_int_eq(w.rc, BC_OK);
        ck_assert_uint_eq(r.generation, g);
        ck_assert_uint_eq(w.res.generation, g);
        ck_assert_uint_eq(r.index + w.res.index, 1);
    }
    bc_status st;
    ck_assert_int_eq(bc_status_get(a, "many", &st), BC_OK);
    ck_assert_uint_eq(st.generation, 200);
    bc_close(a);
    bc_close(b);
}
END_TEST

/* A waiter blocked for many heartbeat intervals (0.2 s) answers them, so the
 * server keeps it; then the barrier releases normally. */
START_TEST(test_blocked_answers_heartbeats)
{
    bc_client *a = tc_connect(srv.addr), *b = tc_connect(srv.addr);
    tc_waiter w = {.c = a, .name = "hb", .parties = 2, .timeout_s = -1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "hb", 1, 10));
    ts_sleep_s(1.5);
    bc_status st;
    ck_assert_int_eq(bc_status_get(b, "hb", &st), BC_OK);
    ck_assert_uint_eq(st.n_waiting, 1);
    ck_assert_int_eq(st.broken, 0);
    ck_assert_int_eq(bc_wait(b, "hb", 2, 30, NULL, NULL, NULL), BC_OK);
    tc_waiter_join(&w);
    ck_assert_msg(w.rc == BC_OK, "%s: %s", bc_strerror(w.rc), w.msg);
    bc_close(a);
    bc_close(b);
}
END_TEST

/* ---- actions ---- */

typedef struct action_log {
    atomic_int runs;
    atomic_int fail;  /* return this */
    double sleep_s;   /* take this long */
    pthread_t runner; /* the thread that ran it last */
} action_log;

static int action_fn(void *arg)
{
    action_log *l = arg;
    atomic_fetch_add(&l->runs, 1);
    l->runner = pthread_self();
    if (l->sleep_s > 0) ts_sleep_s(l->sleep_s);
    return atomic_load(&l->fail);
}

START_TEST(test_action_success)
{
    enum { N = 3, GENS = 10 };
    action_log log = {0};
    bc_client *c[N];
    for (int i = 0; i < N; i++)
        c[i] = tc_connect(srv.addr);
    for (int g = 0; g < GENS; g++) {
        tc_waiter w[N];
        for (int i = 0; i < N; i++) {
            w[i] = (tc_waiter){.c = c[i],
                               .name = "act",
                               .parties = N,
                               .timeout_s = 30,
                               .action = action_fn,
                               .action_arg = &log};
            tc_waiter_start(&w[i]);
        }
        int ran_by_last = 0;
        for (int i = 0; i < N; i++) {
            tc_waiter_join(&w[i]);
            ck_assert_msg(w[i].rc == BC_OK, "%s: %s", bc_strerror(w[i].rc), w[i].msg);
            ck_assert_uint_eq(w[i].res.generation, (uint64_t)g);
            if (pthread_equal(w[i].thread, log.runner)) ran_by_last = w[i].res.index == N - 1;
        }
        ck_assert_msg(ran_by_last, "the action must run in the last arriver's thread");
        ck_assert_int_eq(atomic_load(&log.runs), g + 1);
    }
    for (int i = 0; i < N; i++)
        bc_close(c[i]);
}
END_TEST

/* One thread, one handle, an action far longer than 3 heartbeat intervals:
 * the library must keep answering heartbeats or the server drops it. */
START_TEST(test_action_long_single_thread)
{
    action_log log = {.sleep_s = 1.5};
    bc_client *c = tc_connect(srv.addr);
    bc_wait_result r;
    int rc = bc_wait(c, "solo", 1, 5, action_fn, &log, &r);
    ck_assert_msg(rc == BC_OK, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_int_eq(atomic_load(&log.runs), 1);
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
    bc_close(c);
}
END_TEST

/* While another party's long action runs, a waiter's timeout does not fire,
 * and both its handle and the runner's stay alive. */
START_TEST(test_action_long_with_waiter)
{
    action_log log = {.sleep_s = 1.5};
    bc_client *a = tc_connect(srv.addr), *b = tc_connect(srv.addr);
    tc_waiter w = {.c = a, .name = "slow", .parties = 2, .timeout_s = 1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "slow", 1, 10));
    ck_assert_int_eq(bc_wait(b, "slow", 2, 30, action_fn, &log, NULL), BC_OK);
    tc_waiter_join(&w);
    ck_assert_msg(w.rc == BC_OK, "%s: %s", bc_strerror(w.rc), w.msg);
    bc_close(a);
    bc_close(b);
}
END_TEST

START_TEST(test_action_failure)
{
    enum { N = 3 };
    action_log log = {.fail = 1};
    bc_client *c[N];
    tc_waiter w[N];
    for (int i = 0; i < N; i++) {
        c[i] = tc_connect(srv.addr);
        w[i] = (tc_waiter){.c = c[i],
                           .name = "fail",
                           .parties = N,
                           .timeout_s = 30,
                           .action = action_fn,
                           .action_arg = &log};
        tc_waiter_start(&w[i]);
    }
    int n_action = 0, n_broken = 0;
    for (int i = 0; i < N; i++) {
        tc_waiter_join(&w[i]);
        n_action += w[i].rc == BC_EACTION;
        n_broken += w[i].rc == BC_EBROKEN;
    }
    ck_assert_int_eq(n_action, 1);
    ck_assert_int_eq(n_broken, N - 1);
    ck_assert_int_eq(atomic_load(&log.runs), 1);
    bc_status st;
    ck_assert_int_eq(bc_status_get(c[0], "fail", &st), BC_OK);
    ck_assert_int_eq(st.broken, 1);
    ck_assert_str_eq(st.state, "broken");
    for (int i = 0; i < N; i++)
        bc_close(c[i]);
}
END_TEST

/* ---- timeouts ---- */

START_TEST(test_timeout)
{
    bc_client *c = tc_connect(srv.addr);
    tc_waiter patient = {.c = c, .name = "t", .parties = 3, .timeout_s = -1};
    tc_waiter_start(&patient);
    ck_assert(tc_await_waiting(srv.addr, "t", 1, 10));
    tc_waiter hasty = {.c = c, .name = "t", .parties = 3, .timeout_s = 0.5};
    tc_waiter_start(&hasty);
    tc_waiter_join(&hasty);
    tc_waiter_join(&patient);
    ck_assert_int_eq(hasty.rc, BC_ETIMEDOUT);
    ck_assert_int_eq(patient.rc, BC_EBROKEN);
    ck_assert(hasty.elapsed_s >= 0.4 && hasty.elapsed_s < 10);
    /* The detail says what happened, in each thread. */
    ck_assert_msg(strstr(patient.msg, "timed out") && strstr(patient.msg, "2/3"), "%s",
                  patient.msg);
    ck_assert_msg(strstr(hasty.msg, "timed out"), "%s", hasty.msg);
    bc_close(c);
}
END_TEST

/* Timeouts go on the wire in whole milliseconds, rounded up: a positive
 * timeout under 0.5 ms must not become 0 ("break at once"). The debug log of
 * the server shows each request line as it arrived. */
START_TEST(test_timeout_rounds_up)
{
    ts_server s = {0};
    const char *extra[] = {"--log-level", "debug", NULL};
    tc_server_up(&s, extra);
    bc_client *c = tc_connect(s.addr);
    static const struct {
        const char *name;
        double timeout_s;
        const char *wire;
    } cases[] = {
        {"r-tiny", 0.0004, "\"timeout_ms\":1,"},   {"r-denormal", 1e-300, "\"timeout_ms\":1,"},
        {"r-exact", 0.007, "\"timeout_ms\":7,"},   {"r-frac", 0.0021, "\"timeout_ms\":3,"},
        {"r-zero", 0, "\"timeout_ms\":0,"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Alone at a 2-party barrier: the timeout breaks it either way. */
        int rc = bc_wait(c, cases[i].name, 2, cases[i].timeout_s, NULL, NULL, NULL);
        ck_assert_int_eq(rc, BC_ETIMEDOUT);
        char line[128];
        snprintf(line, sizeof line, "\"barrier\":\"%s\",\"parties\":2,%s", cases[i].name,
                 cases[i].wire);
        ck_assert_msg(ts_server_log_contains(&s, line), "%g s: no %s in the server log",
                      cases[i].timeout_s, line);
    }
    bc_close(c);
    ts_server_cleanup(&s);
}
END_TEST

START_TEST(test_timeout_zero)
{
    bc_client *c = tc_connect(srv.addr);
    ck_assert_int_eq(bc_wait(c, "z1", 1, 0, NULL, NULL, NULL), BC_OK); /* last: released */
    ck_assert_int_eq(bc_wait(c, "z2", 2, 0, NULL, NULL, NULL), BC_ETIMEDOUT);
    ck_assert_int_eq(bc_wait(c, "z2", 2, 0, NULL, NULL, NULL), BC_EBROKEN); /* stays broken */
    /* Huge timeouts are fine (capped on the wire, no overflow locally). */
    ck_assert_int_eq(bc_wait(c, "z3", 1, 1e300, NULL, NULL, NULL), BC_OK);
    ck_assert_int_eq(bc_wait(c, "z3", 1, 1e9, NULL, NULL, NULL), BC_OK);
    bc_close(c);
}
END_TEST

/* ---- abort, reset, parties ---- */

START_TEST(test_abort)
{
    bc_client *c = tc_connect(srv.addr);
    ck_assert_int_eq(bc_abort(c, "nope"), BC_ENOTFOUND);
    ck_assert_int_eq(bc_reset(c, "nope"), BC_ENOTFOUND);
    ck_assert_int_eq(bc_status_get(c, "nope", &(bc_status){0}), BC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "nope"));

    tc_waiter w = {.c = c, .name = "ab", .parties = 2, .timeout_s = -1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "ab", 1, 10));
    ck_assert_int_eq(bc_abort(c, "ab"), BC_OK);
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_EBROKEN);
    /* Broken until reset: later waits fail at once. */
    ck_assert_int_eq(bc_wait(c, "ab", 2, -1, NULL, NULL, NULL), BC_EBROKEN);
    ck_assert_int_eq(bc_reset(c, "ab"), BC_OK);
    bc_status st;
    ck_assert_int_eq(bc_status_get(c, "ab", &st), BC_OK);
    ck_assert_int_eq(st.broken, 0);
    ck_assert_uint_eq(st.n_waiting, 0);
    ck_assert_uint_eq(st.parties, 2);
    w = (tc_waiter){.c = c, .name = "ab", .parties = 2, .timeout_s = 30};
    tc_waiter_start(&w);
    ck_assert_int_eq(bc_wait(c, "ab", 2, 30, NULL, NULL, NULL), BC_OK);
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_OK);
    bc_close(c);
}
END_TEST

START_TEST(test_reset)
{
    bc_client *c = tc_connect(srv.addr);
    tc_waiter w = {.c = c, .name = "rs", .parties = 3, .timeout_s = -1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "rs", 1, 10));
    bc_status before;
    ck_assert_int_eq(bc_status_get(c, "rs", &before), BC_OK);
    ck_assert_int_eq(bc_reset(c, "rs"), BC_OK);
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_EBROKEN);
    bc_status st;
    ck_assert_int_eq(bc_status_get(c, "rs", &st), BC_OK);
    ck_assert_int_eq(st.broken, 0);
    ck_assert_uint_eq(st.n_waiting, 0);
    ck_assert_uint_gt(st.generation, before.generation); /* a reset ends a generation */
    bc_close(c);
}
END_TEST

START_TEST(test_parties_mismatch)
{
    bc_client *c = tc_connect(srv.addr);
    tc_waiter w = {.c = c, .name = "pm", .parties = 2, .timeout_s = 30};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "pm", 1, 10));
    ck_assert_int_eq(bc_wait(c, "pm", 3, 30, NULL, NULL, NULL), BC_EPARTIES);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "parties"));
    ck_assert(tc_await_waiting(srv.addr, "pm", 1, 10)); /* it did not join */
    ck_assert_int_eq(bc_wait(c, "pm", 2, 30, NULL, NULL, NULL), BC_OK);
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_OK);
    bc_close(c);
}
END_TEST

/* ---- lost peers and servers ---- */

START_TEST(test_peer_kill9)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        bc_client *c;
        if (bc_connect(srv.addr, NULL, &c) == 0) bc_wait(c, "pk", 3, -1, NULL, NULL, NULL);
        _exit(0);
    }
    bc_client *c = tc_connect(srv.addr);
    tc_waiter w = {.c = c, .name = "pk", .parties = 3, .timeout_s = -1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "pk", 2, 10));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double t0 = ts_now_s();
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_EBROKEN);
    ck_assert(ts_now_s() - t0 < 10);
    ck_assert_str_ne(w.msg, "");
    bc_close(c);
}
END_TEST

START_TEST(test_server_kill9)
{
    enum { N = 3 };
    bc_client *a = connect_noresume(srv.addr), *b = connect_noresume(srv.addr);
    tc_waiter w[N + 1];
    for (int i = 0; i < N; i++) {
        w[i] = (tc_waiter){.c = a, .name = "sk", .parties = 5, .timeout_s = -1};
        tc_waiter_start(&w[i]);
    }
    w[N] = (tc_waiter){.c = b, .name = "sk", .parties = 5, .timeout_s = 60};
    tc_waiter_start(&w[N]);
    ck_assert(tc_await_waiting(srv.addr, "sk", N + 1, 10));
    kill(srv.pid, SIGKILL);
    ts_server_wait(&srv, 10000);
    for (int i = 0; i <= N; i++) {
        tc_waiter_join(&w[i]);
        ck_assert_msg(w[i].rc == BC_ECONN, "waiter %d: %s", i, bc_strerror(w[i].rc));
        ck_assert(w[i].elapsed_s < 60);
    }
    /* The handle stays dead, and writing to it raises no SIGPIPE. */
    ck_assert_int_eq(bc_wait(a, "sk", 5, 1, NULL, NULL, NULL), BC_ECONN);
    ck_assert_int_eq(bc_ping(b, NULL), BC_ECONN);
    bc_close(a);
    bc_close(b);
}
END_TEST

START_TEST(test_server_sigterm)
{
    bc_client *c = connect_noresume(srv.addr);
    tc_waiter w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (tc_waiter){.c = c, .name = "st", .parties = 3, .timeout_s = -1};
        tc_waiter_start(&w[i]);
    }
    ck_assert(tc_await_waiting(srv.addr, "st", 2, 10));
    kill(srv.pid, SIGTERM);
    for (int i = 0; i < 2; i++) {
        tc_waiter_join(&w[i]);
        ck_assert_msg(w[i].rc == BC_ESHUTDOWN, "%s: %s", bc_strerror(w[i].rc), w[i].msg);
    }
    int st = ts_server_wait(&srv, 10000);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int rc = bc_ping(c, NULL);
    ck_assert(rc == BC_ESHUTDOWN || rc == BC_ECONN);
    bc_close(c);
}
END_TEST

/* A server that stops answering (SIGSTOP: the host vanished, in effect) never
 * leaves a caller stuck: the liveness rule gives the connection up. */
START_TEST(test_server_vanished)
{
    bc_options o = {.io_grace_s = 1, .resume_s = -1};
    bc_client *c;
    ck_assert_int_eq(bc_connect(srv.addr, &o, &c), BC_OK);
    kill(srv.pid, SIGSTOP);
    double t0 = ts_now_s();
    int rc = bc_wait(c, "gone", 2, 0.5, NULL, NULL, NULL);
    ck_assert_int_eq(rc, BC_ECONN);
    ck_assert(ts_now_s() - t0 < 20);
    ck_assert_int_eq(bc_ping(c, NULL), BC_ECONN);
    kill(srv.pid, SIGCONT);
    bc_close(c);
}
END_TEST

/* Heartbeats on (the fixture's 0.2 s) and off. */
static const char *const hb_args[][3] = {{NULL}, {"--heartbeat", "0", NULL}};

/* A wait without timeout, and every other call blocked on a server that stops
 * (SIGSTOP) or hangs, returns BC_ECONN: silence past the limit sends a ping,
 * and an unanswered ping gives the connection up. Before, timeout_s < 0 had no
 * local deadline at all and blocked forever. */
START_TEST(test_server_stopped_wait_forever)
{
    ts_server s = {0};
    tc_server_up(&s, hb_args[_i][0] ? hb_args[_i] : NULL);
    bc_options o = {.io_grace_s = 1, .resume_s = -1};
    bc_client *a, *b;
    ck_assert_int_eq(bc_connect(s.addr, &o, &a), BC_OK);
    ck_assert_int_eq(bc_connect(s.addr, &o, &b), BC_OK);
    enum { N = 3 };
    tc_waiter w[N] = {
        {.c = a, .name = "stuck", .parties = 5, .timeout_s = -1},
        {.c = a, .name = "stuck", .parties = 5, .timeout_s = -1},
        {.c = b, .name = "stuck", .parties = 5, .timeout_s = 1e9},
    };
    for (int i = 0; i < N; i++)
        tc_waiter_start(&w[i]);
    ck_assert(tc_await_waiting(s.addr, "stuck", N, 10));
    ts_sleep_s(0.5); /* some heartbeats go by first */
    kill(s.pid, SIGSTOP);
    double t0 = ts_now_s();
    for (int i = 0; i < N; i++) {
        tc_waiter_join(&w[i]);
        ck_assert_msg(w[i].rc == BC_ECONN, "waiter %d: %s: %s", i, bc_strerror(w[i].rc), w[i].msg);
        ck_assert_msg(strstr(w[i].msg, "ping"), "waiter %d: %s", i, w[i].msg);
    }
    ck_assert(ts_now_s() - t0 < 60);
    ck_assert_int_eq(bc_ping(a, NULL), BC_ECONN);
    ck_assert_int_eq(bc_ping(b, NULL), BC_ECONN);
    /* A status request on a fresh handle to the stopped server fails too (the
     * kernel still accepts the connection; hello gets no answer). */
    bc_options q = {.io_grace_s = 1, .connect_timeout_s = 1, .resume_s = -1};
    bc_client *c = NULL;
    ck_assert_int_eq(bc_connect(s.addr, &q, &c), BC_ECONN);
    kill(s.pid, SIGCONT);
    bc_close(a);
    bc_close(b);
    ts_server_cleanup(&s);
}
END_TEST

/* The action's helper thread applies the rule too: a server stopped while the
 * action runs is given up during the action, so a call the action makes on the
 * handle fails at once, and the wait returns BC_ECONN. */
typedef struct stop_during {
    pid_t pid;
    bc_client *c;
    int ping_rc;
    double ping_s;
} stop_during;

static int stop_server_action(void *arg)
{
    stop_during *d = arg;
    kill(d->pid, SIGSTOP);
    ts_sleep_s(6); /* the helper thread gives up after ~0.6 + 1 + 1 s */
    double t0 = ts_now_s();
    d->ping_rc = bc_ping(d->c, NULL);
    d->ping_s = ts_now_s() - t0;
    return 0;
}

START_TEST(test_server_stopped_during_action)
{
    bc_options o = {.io_grace_s = 1, .resume_s = -1};
    stop_during d = {.pid = srv.pid};
    ck_assert_int_eq(bc_connect(srv.addr, &o, &d.c), BC_OK);
    int rc = bc_wait(d.c, "solo-stop", 1, -1, stop_server_action, &d, NULL);
    kill(srv.pid, SIGCONT);
    ck_assert_msg(rc == BC_ECONN, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_int_eq(d.ping_rc, BC_ECONN);
    ck_assert_msg(d.ping_s < 0.5, "the connection was not given up during the action (%.2f s)",
                  d.ping_s);
    bc_close(d.c);
}
END_TEST

/* A long action elsewhere on a live server that sends no heartbeats (off, or
 * slower than io_grace_s) does not cut the other waiters off: their silence
 * check pings, the server answers, they keep waiting; the release comes.
 * Before, a waiter with a timeout gave up after timeout + io_grace_s with
 * BC_ECONN, which dropped its connection and broke the barrier for everyone. */
static const char *const slow_hb_args[][3] = {{"--heartbeat", "0", NULL},
                                              {"--heartbeat", "30", NULL}};

START_TEST(test_long_action_without_heartbeats)
{
    ts_server s = {0};
    tc_server_up(&s, slow_hb_args[_i]);
    bc_options o = {.io_grace_s = 1};
    bc_client *a, *b;
    ck_assert_int_eq(bc_connect(s.addr, &o, &a), BC_OK);
    ck_assert_int_eq(bc_connect(s.addr, &o, &b), BC_OK);
    tc_waiter w = {.c = a, .name = "slow-nohb", .parties = 2, .timeout_s = 1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(s.addr, "slow-nohb", 1, 10));
    action_log log = {.sleep_s = 4};
    bc_wait_result r;
    int rc = bc_wait(b, "slow-nohb", 2, 1, action_fn, &log, &r);
    tc_waiter_join(&w);
    ck_assert_msg(rc == BC_OK, "runner: %s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_msg(w.rc == BC_OK, "waiter: %s: %s", bc_strerror(w.rc), w.msg);
    ck_assert_int_eq(atomic_load(&log.runs), 1);
    ck_assert(w.elapsed_s >= 3.5);
    ck_assert_int_eq(bc_ping(a, NULL), BC_OK);
    ck_assert_int_eq(bc_ping(b, NULL), BC_OK);
    bc_close(a);
    bc_close(b);
    ts_server_cleanup(&s);
}
END_TEST

/* ---- details ---- */

/* A one-connection TCP relay between the library and barrierd. When a wait's
 * release passes from the server to the client, the relay appends a heartbeat
 * to that chunk, sends both in one write and resets the connection (RST). The
 * client reads the release and the heartbeat together, and the pong it then
 * owes cannot be sent. */
typedef struct rst_proxy {
    int lfd;
    int port;        /* the real server's */
    char addr[64];   /* the relay's */
    pthread_t t;
} rst_proxy;

static void *rst_proxy_main(void *arg)
{
    rst_proxy *p = arg;
    int cfd = accept(p->lfd, NULL, NULL);
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (cfd < 0 || sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof sa) < 0) goto out;
    static const char hb[] = "{\"event\":\"heartbeat\"}\n";
    char buf[65536];
    for (;;) {
        struct pollfd f[2] = {{.fd = cfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(f, 2, 30000) <= 0) break;
        if (f[0].revents) {
            ssize_t n = recv(cfd, buf, sizeof buf, 0);
            if (n <= 0 || send(sfd, buf, (size_t)n, MSG_NOSIGNAL) != n) break;
        }
        if (f[1].revents) {
            ssize_t n = recv(sfd, buf, sizeof buf - sizeof hb, 0);
            if (n <= 0) break;
            int release = memmem(buf, (size_t)n, "\"index\":", 8) != NULL;
            if (release) {
                memcpy(buf + n, hb, sizeof hb - 1);
                n += (ssize_t)sizeof hb - 1;
            }
            if (send(cfd, buf, (size_t)n, MSG_NOSIGNAL) != n) break;
            if (release) {
                struct linger lg = {.l_onoff = 1, .l_linger = 0};
                setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                break;
            }
        }
    }
out:
    if (cfd >= 0) close(cfd);
    if (sfd >= 0) close(sfd);
    return NULL;
}

static void rst_proxy_start(rst_proxy *p, const char *server_addr)
{
    p->port = atoi(strrchr(server_addr, ':') + 1);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(p->lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(p->lfd, 4), 0);
    ck_assert_int_eq(getsockname(p->lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    ck_assert_int_eq(pthread_create(&p->t, NULL, rst_proxy_main, p), 0);
}

static void rst_proxy_stop(rst_proxy *p)
{
    pthread_join(p->t, NULL);
    close(p->lfd);
}

/* A call that succeeds leaves the thread's last error message alone, even when
 * the reader thread's pong flush fails on the way out (the connection reset
 * right after the release). Before, that flush overwrote it. */
START_TEST(test_success_keeps_error_message)
{
    for (int round = 0; round < 5; round++) {
        rst_proxy p;
        rst_proxy_start(&p, srv.addr);
        bc_client *c = connect_noresume(p.addr); /* the relay takes one connection */
        ck_assert_int_eq(bc_abort(c, "p5-none"), BC_ENOTFOUND);
        char before[1024];
        snprintf(before, sizeof before, "%s", bc_last_error_message());
        ck_assert_ptr_nonnull(strstr(before, "p5-none"));
        int rc = bc_wait(c, "p5", 1, 5, NULL, NULL, NULL);
        ck_assert_msg(rc == BC_OK, "round %d: %s: %s", round, bc_strerror(rc),
                      bc_last_error_message());
        ck_assert_str_eq(bc_last_error_message(), before);
        /* The reset is noticed by the next call, which says so. */
        ck_assert_int_eq(bc_ping(c, NULL), BC_ECONN);
        ck_assert_str_ne(bc_last_error_message(), before);
        bc_close(c);
        rst_proxy_stop(&p);
    }
}
END_TEST

static void *fail_in_thread(void *arg)
{
    bc_client *c = arg;
    bc_abort(c, "other-thread-barrier");
    return strdup(bc_last_error_message());
}

START_TEST(test_last_error_message_per_thread)
{
    bc_client *c = tc_connect(srv.addr);
    ck_assert_int_eq(bc_abort(c, "mine"), BC_ENOTFOUND);
    char mine[1024];
    snprintf(mine, sizeof mine, "%s", bc_last_error_message());
    ck_assert_ptr_nonnull(strstr(mine, "mine"));
    pthread_t t;
    void *theirs;
    pthread_create(&t, NULL, fail_in_thread, c);
    pthread_join(t, &theirs);
    ck_assert_ptr_nonnull(strstr(theirs, "other-thread-barrier"));
    free(theirs);
    ck_assert_str_eq(bc_last_error_message(), mine);
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK); /* success leaves it alone */
    ck_assert_str_eq(bc_last_error_message(), mine);
    bc_close(c);
}
END_TEST

START_TEST(test_client_name_shown)
{
    bc_options o = {.client_name = "teller-seven"};
    bc_client *c, *d = tc_connect(srv.addr);
    ck_assert_int_eq(bc_connect(srv.addr, &o, &c), BC_OK);
    tc_waiter w = {.c = c, .name = "who", .parties = 2, .timeout_s = -1};
    tc_waiter_start(&w);
    ck_assert(tc_await_waiting(srv.addr, "who", 1, 10));
    char *json;
    ck_assert_int_eq(bc_query_json(d, "status", "who", &json), BC_OK);
    ck_assert_msg(strstr(json, "teller-seven") && !strstr(json, "\"id\""), "%s", json);
    free(json);
    ck_assert_int_eq(bc_abort(d, "who"), BC_OK);
    tc_waiter_join(&w);
    ck_assert_int_eq(w.rc, BC_EBROKEN);
    bc_close(c);
    bc_close(d);
}
END_TEST

START_TEST(test_list_and_stats)
{
    bc_client *c = tc_connect(srv.addr);
    bc_barrier_info *list = (bc_barrier_info *)1;
    size_t n = 99;
    ck_assert_int_eq(bc_list(c, &list, &n), BC_OK);
    ck_assert_uint_eq(n, 0);
    bc_list_free(list);
    ck_assert_int_eq(bc_wait(c, "l1", 1, 5, NULL, NULL, NULL), BC_OK);
    ck_assert_int_eq(bc_wait(c, "l2", 2, 0, NULL, NULL, NULL), BC_ETIMEDOUT);
    ck_assert_int_eq(bc_list(c, &list, &n), BC_OK);
    ck_assert_uint_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, "l1") == 0) {
            ck_assert_uint_eq(list[i].status.parties, 1);
            ck_assert_uint_eq(list[i].status.generation, 1);
            ck_assert_int_eq(list[i].status.broken, 0);
        } else {
            ck_assert_str_eq(list[i].name, "l2");
            ck_assert_int_eq(list[i].status.broken, 1);
        }
    }
    bc_list_free(list);
    bc_stats s;
    ck_assert_int_eq(bc_stats_get(c, &s), BC_OK);
    ck_assert_uint_ge(s.connections, 1);
    ck_assert_uint_eq(s.barriers, 2);
    ck_assert_uint_ge(s.waits, 2);
    ck_assert_uint_ge(s.releases, 1);
    ck_assert_uint_ge(s.breaks, 1);
    char *json;
    ck_assert_int_eq(bc_query_json(c, "list", NULL, &json), BC_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"barriers\""));
    free(json);
    bc_close(c);
}
END_TEST

START_TEST(test_error_strings)
{
    for (int code = BC_ENOMEM; code <= 0; code++) {
        ck_assert_str_ne(bc_strerror(code), "unknown error");
        ck_assert_str_ne(bc_error_name(code), "unknown");
    }
    ck_assert_str_eq(bc_error_name(BC_EBROKEN), "broken");
    ck_assert_str_eq(bc_strerror(-1000), "unknown error");
}
END_TEST

/* ---- servers with other options ---- */

START_TEST(test_auth)
{
    char path[] = "/tmp/bd-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "s3cret\n", 7), 7);
    close(fd);
    ts_server s = {0};
    const char *extra[] = {"--auth-token-file", path, NULL};
    tc_server_up(&s, extra);
    bc_client *c;
    unsetenv("BARRIERD_TOKEN");
    ck_assert_int_eq(bc_connect(s.addr, NULL, &c), BC_EAUTH);
    bc_options o = {.auth_token = "wrong"};
    ck_assert_int_eq(bc_connect(s.addr, &o, &c), BC_EAUTH);
    o.auth_token = "s3cret";
    ck_assert_int_eq(bc_connect(s.addr, &o, &c), BC_OK);
    ck_assert_int_eq(bc_wait(c, "auth", 1, 5, NULL, NULL, NULL), BC_OK);
    bc_close(c);
    setenv("BARRIERD_TOKEN", "s3cret", 1);
    ck_assert_int_eq(bc_connect(s.addr, NULL, &c), BC_OK);
    bc_close(c);
    unsetenv("BARRIERD_TOKEN");
    ts_server_cleanup(&s);
    unlink(path);
}
END_TEST

START_TEST(test_unix_socket)
{
    char dir[] = "/tmp/bd-unix-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char listen[128], addr[128];
    snprintf(listen, sizeof listen, "unix:%s/sock", dir);
    snprintf(addr, sizeof addr, "unix:%s/sock", dir);
    ts_server s = {0};
    const char *extra[] = {"--listen", listen, NULL};
    tc_server_up(&s, extra);
    bc_client *c = NULL;
    for (double end = ts_now_s() + 10; !c && ts_now_s() < end;)
        if (bc_connect(addr, NULL, &c) < 0) ts_sleep_s(0.05);
    ck_assert_msg(c != NULL, "%s", bc_last_error_message());
    ck_assert_int_eq(bc_wait(c, "ux", 1, 5, NULL, NULL, NULL), BC_OK);
    bc_close(c);
    ts_server_cleanup(&s);
    char sock[160];
    snprintf(sock, sizeof sock, "%s/sock", dir);
    unlink(sock);
    rmdir(dir);
}
END_TEST

START_TEST(test_ipv6)
{
    ts_server s = {0};
    const char *extra[] = {"--listen", "[::1]:0", NULL};
    if (!ts_have_ipv6_loopback()) {
        ts_skip("ipv6: cannot bind [::1] on this host");
        return;
    }
    tc_server_up(&s, extra);
    const char *addr = ts_server_addr(&s, "[::1]:");
    ck_assert_msg(addr != NULL, "no [::1] address in the ready file");
    bc_client *c = tc_connect(addr);
    ck_assert_int_eq(bc_wait(c, "v6", 1, 5, NULL, NULL, NULL), BC_OK);
    bc_close(c);
    ts_server_cleanup(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"connect_and_ping", test_connect_and_ping, 0},
        {"connect_errors", test_connect_errors, TS_NCASES(bad_addrs)},
        {"connect_host_name", test_connect_host_name, 0},
        {"bad_options", test_bad_options, 0},
        {"huge_options", test_huge_options, 0},
        {"invalid_args", test_invalid_args, 0},
        {"threads_one_handle", test_threads_one_handle, 0},
        {"threads_separate_handles", test_threads_separate_handles, 0},
        {"cyclic_many_generations", test_cyclic_many_generations, 0},
        {"blocked_answers_heartbeats", test_blocked_answers_heartbeats, 0},
        {"action_success", test_action_success, 0},
        {"action_long_single_thread", test_action_long_single_thread, 0},
        {"action_long_with_waiter", test_action_long_with_waiter, 0},
        {"action_failure", test_action_failure, 0},
        {"timeout", test_timeout, 0},
        {"timeout_zero", test_timeout_zero, 0},
        {"timeout_rounds_up", test_timeout_rounds_up, 0},
        {"abort", test_abort, 0},
        {"reset", test_reset, 0},
        {"parties_mismatch", test_parties_mismatch, 0},
        {"peer_kill9", test_peer_kill9, 0},
        {"server_kill9", test_server_kill9, 0},
        {"server_sigterm", test_server_sigterm, 0},
        {"server_vanished", test_server_vanished, 0},
        {"server_stopped_wait_forever", test_server_stopped_wait_forever, TS_NCASES(hb_args)},
        {"server_stopped_during_action", test_server_stopped_during_action, 0},
        {"long_action_without_heartbeats", test_long_action_without_heartbeats, TS_NCASES(slow_hb_args)},
        {"last_error_message_per_thread", test_last_error_message_per_thread, 0},
        {"success_keeps_error_message", test_success_keeps_error_message, 0},
        {"client_name_shown", test_client_name_shown, 0},
        {"list_and_stats", test_list_and_stats, 0},
        {"error_strings", test_error_strings, 0},
        {"auth", test_auth, 0},
        {"unix_socket", test_unix_socket, 0},
        {"ipv6", test_ipv6, 0},
    };
    const ts_suite suite = {.name = "client", .cases = cases, .n = TS_NCASES(cases),
                            .setup = setup, .teardown = teardown, .timeout_s = 120};
    unsetenv("BARRIERD_ADDR");
    return ts_run(&suite);
}
