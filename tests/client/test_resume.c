/* test_resume.c - issue 9: a party blocked in bc_wait never sees barrierd die
 * and come back. Against real servers, restarted on the same port:
 *
 *   kill9_restart       two threads on one handle and another handle; kill -9
 *                       while they wait, restart: all released, indexes {0,1,2},
 *                       the generation the one it would have been
 *   sigterm_restart     the same across a graceful (SIGTERM) restart
 *   give_up             resume_s 0.5, no server back: BC_ECONN in ~0.5 s
 *   give_up_shutdown    the same after SIGTERM: BC_ESHUTDOWN
 *   resume_off          resume_s < 0: the old behaviour, BC_ECONN at once
 *   addr_list           a list connects to the first server that answers;
 *                       failover to the second when the first dies
 *   in_flight           a reset in flight at a kill fails (outcome unknown);
 *                       a status in flight is sent again and answered
 *   remaining_timeout   a 2 s wait re-announced after 1 s of outage times out
 *                       2 s after the call, not 3
 *   action_once         the server dies while the last party runs its action:
 *                       it runs once, everyone is released
 *   barrierctl_list     barrierctl -a LIST wait survives kill -9 + restart;
 *                       --resume -1 gives exit 4 at once
 *
 * Generation continuity across a restart (the generation keeps counting, the
 * server's re-announce rules: server/br_resume.c, docs/ha.md) is asserted
 * where marked SERVER-RULES.
 *
 * The servers are tests/support's (ts_launch.h, ts_check.h): killed with
 * ts_server_kill9 or stopped with SIGTERM (ts_server_stop, exit 0 asserted),
 * then started again on the same port with ts_server_restart_up. One ctest
 * per case (ts_run, CK_RUN_CASE); $BARRIERD and $BARRIERCTL name the
 * binaries.
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- servers ---- */

/* A barrierd for these tests (--heartbeat 0.2) on a free loopback port. */
static void srv_start(ts_server *s)
{
    tc_server_up(s, NULL);
}

/* kill -9 it: the wait status. */
static int srv_kill9(ts_server *s)
{
    ck_assert_int_gt(s->pid, 0);
    return ts_server_kill9(s);
}

/* SIGTERM it; it must exit 0 within 10 s. */
static void srv_sigterm(ts_server *s)
{
    int st = ts_server_stop(s, 10000, NULL);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        ts_server_dump_log(s);
        ck_abort_msg("barrierd did not exit 0 on SIGTERM (wait status %d)", st);
    }
}

/* Start it again on the same 127.0.0.1 port (it is not running). */
static void srv_restart(ts_server *s)
{
    ck_assert_int_eq(s->pid, 0);
    ts_server_restart_up(s);
}

/* The last call of a passing case: one still running must exit 0 on SIGTERM. */
static void srv_done(ts_server *s)
{
    ts_server_down(s);
}

/* A loopback port nothing listens on (bound, then released). */
static unsigned dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bc_client *connect_opts(const char *addr, double resume_s)
{
    bc_options o = {.resume_s = resume_s, .connect_timeout_s = 2};
    bc_client *c = NULL;
    int rc = bc_connect(addr, &o, &c);
    ck_assert_msg(rc == BC_OK, "connect %s: %s", addr, bc_last_error_message());
    return c;
}

/* n threads of c wait at name; returns once the server at addr shows them. */
static void wait_there(tc_waiter *w, int n, bc_client *c, const char *addr, const char *name,
                       unsigned parties, double timeout_s)
{
    for (int i = 0; i < n; i++) {
        w[i] = (tc_waiter){.c = c, .name = name, .parties = parties, .timeout_s = timeout_s};
        tc_waiter_start(&w[i]);
    }
    ck_assert_msg(tc_await_waiting(addr, name, (unsigned)n, 10), "%s: not waiting", name);
}

static void join_ok(tc_waiter *w)
{
    tc_waiter_join(w);
    ck_assert_msg(w->rc == BC_OK, "%s: %s: %s", w->name, bc_strerror(w->rc), w->msg);
}

/* The missing party: a handle of its own on addr arrives, and is released. */
static void arrive(const char *addr, const char *name, unsigned parties)
{
    bc_client *b = connect_opts(addr, 0);
    int rc = bc_wait(b, name, parties, 10, NULL, NULL, NULL);
    ck_assert_msg(rc == BC_OK, "last party: %s: %s", bc_strerror(rc), bc_last_error_message());
    bc_close(b);
}

/* ---- restarts ---- */

/* sig (SIGKILL or SIGTERM) to s, asserting how it ended. */
static void srv_lose(ts_server *s, int sig)
{
    if (sig == SIGKILL) {
        int st = srv_kill9(s);
        ck_assert(WIFSIGNALED(st));
    } else {
        srv_sigterm(s);
    }
}

/* Two threads of one handle wait; the server dies (sig) and comes back on its
 * port; a third party on another handle, connected before the death and idle
 * since, arrives. Nobody sees an error. */
static void restart_case(int sig)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *a = connect_opts(s.addr, 0), *b = connect_opts(s.addr, 0);
    tc_waiter w[2];
    /* SERVER-RULES: generations 0 and 1 are released before the death, so the
     * generation in progress at the restart is 2; the new server must go on
     * from there, not start again at 0. */
    enum { BEFORE = 2 };
    for (unsigned g = 0; g < BEFORE; g++) {
        wait_there(w, 2, a, s.addr, "rs", 3, 10);
        bc_wait_result r0;
        int rc = bc_wait(b, "rs", 3, 10, NULL, NULL, &r0);
        ck_assert_msg(rc == BC_OK, "round %u: %s: %s", g, bc_strerror(rc), bc_last_error_message());
        ck_assert_uint_eq(r0.generation, g);
        for (int i = 0; i < 2; i++) {
            join_ok(&w[i]);
            ck_assert_uint_eq(w[i].res.generation, g);
        }
    }
    wait_there(w, 2, a, s.addr, "rs", 3, -1);
    srv_lose(&s, sig);
    ts_sleep_s(0.3);
    srv_restart(&s);
    /* The two waits are re-announced to the new server by themselves. */
    ck_assert_msg(tc_await_waiting(s.addr, "rs", 2, 10), "waits not re-announced");
    bc_wait_result r;
    int rc = bc_wait(b, "rs", 3, 10, NULL, NULL, &r);
    ck_assert_msg(rc == BC_OK, "third party: %s: %s", bc_strerror(rc), bc_last_error_message());
    unsigned seen = 1u << r.index;
    for (int i = 0; i < 2; i++) {
        join_ok(&w[i]);
        ck_assert_uint_eq(w[i].res.generation, r.generation);
        seen |= 1u << w[i].res.index;
    }
    ck_assert_uint_eq(seen, 7u); /* indexes 0, 1, 2 */
    /* SERVER-RULES: the generation continues across the restart: released as
     * the number it would have had without the restart. */
    ck_assert_uint_ge(r.generation, BEFORE);
    ck_assert_msg(r.generation == BEFORE, "generation %llu after the restart, %d expected",
                  (unsigned long long)r.generation, BEFORE);
    /* And it goes on counting from there. */
    wait_there(w, 2, a, s.addr, "rs", 3, 10);
    rc = bc_wait(b, "rs", 3, 10, NULL, NULL, &r);
    ck_assert_msg(rc == BC_OK, "next round: %s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_uint_eq(r.generation, BEFORE + 1);
    for (int i = 0; i < 2; i++)
        join_ok(&w[i]);
    ck_assert_int_eq(bc_ping(a, NULL), BC_OK);
    bc_close(a);
    bc_close(b);
    srv_done(&s);
}

START_TEST(kill9_restart)
{
    restart_case(SIGKILL);
}
END_TEST

START_TEST(sigterm_restart)
{
    restart_case(SIGTERM);
}
END_TEST

/* No server comes back within resume_s: the blocked calls fail, with the code
 * the loss deserves, about resume_s after it; the handle stays dead. */
static void give_up_case(int sig, int code)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *c = connect_opts(s.addr, 0.5);
    tc_waiter w[2];
    wait_there(w, 2, c, s.addr, "gu", 3, -1);
    double t0 = ts_now_s();
    srv_lose(&s, sig);
    for (int i = 0; i < 2; i++) {
        tc_waiter_join(&w[i]);
        double took = ts_now_s() - t0;
        ck_assert_msg(w[i].rc == code, "waiter %d: %s: %s", i, bc_strerror(w[i].rc), w[i].msg);
        ck_assert_msg(took >= 0.4 && took < 0.5 + 2 + 1, "gave up after %.2f s", took);
        ck_assert_msg(strstr(w[i].msg, "no server took the connection back"), "%s", w[i].msg);
    }
    double t1 = ts_now_s();
    ck_assert_int_eq(bc_ping(c, NULL), code);
    ck_assert(ts_now_s() - t1 < 0.2);
    bc_close(c);
    srv_done(&s);
}

START_TEST(give_up)
{
    give_up_case(SIGKILL, BC_ECONN);
}
END_TEST

START_TEST(give_up_shutdown)
{
    give_up_case(SIGTERM, BC_ESHUTDOWN);
}
END_TEST

START_TEST(resume_off)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *c = connect_opts(s.addr, -1);
    tc_waiter w;
    wait_there(&w, 1, c, s.addr, "off", 2, -1);
    double t0 = ts_now_s();
    srv_kill9(&s);
    tc_waiter_join(&w);
    ck_assert_msg(w.rc == BC_ECONN, "%s: %s", bc_strerror(w.rc), w.msg);
    ck_assert(ts_now_s() - t0 < 2);
    /* Even with a server back, the handle stays dead. */
    srv_restart(&s);
    ck_assert_int_eq(bc_ping(c, NULL), BC_ECONN);
    bc_close(c);
    srv_done(&s);
}
END_TEST

/* ---- address lists ---- */

START_TEST(addr_list)
{
    ts_server s1 = {0}, s2 = {0};
    srv_start(&s1);
    srv_start(&s2);
    unsigned d = dead_port();
    char list[256], dead2[128];
    /* Only the second address answers: connect works. */
    snprintf(list, sizeof list, "127.0.0.1:%u,%s", d, s1.addr);
    bc_client *c = connect_opts(list, 0);
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
    bc_close(c);
    /* None answers: BC_ECONN naming both; a bad entry: BC_EINVAL. */
    snprintf(dead2, sizeof dead2, "127.0.0.1:%u,unix:/nonexistent/bd.sock", d);
    bc_options o = {0};
    ck_assert_int_eq(bc_connect(dead2, &o, &c), BC_ECONN);
    ck_assert_msg(strstr(bc_last_error_message(), "; connect unix:/nonexistent/bd.sock"), "%s",
                  bc_last_error_message());
    ck_assert_int_eq(bc_connect("127.0.0.1:1,nope", &o, &c), BC_EINVAL);
    /* $BARRIERD_ADDR takes a list too. */
    setenv("BARRIERD_ADDR", list, 1);
    ck_assert_int_eq(bc_connect(NULL, &o, &c), BC_OK);
    unsetenv("BARRIERD_ADDR");
    bc_close(c);

    /* Failover: s1 dies while a party waits; it is re-announced to s2. */
    snprintf(list, sizeof list, "%s,%s", s1.addr, s2.addr);
    c = connect_opts(list, 0);
    tc_waiter w;
    wait_there(&w, 1, c, s1.addr, "fo", 2, 20);
    srv_kill9(&s1);
    ck_assert_msg(tc_await_waiting(s2.addr, "fo", 1, 10), "wait not re-announced to s2");
    arrive(s2.addr, "fo", 2);
    join_ok(&w);
    bc_close(c);
    srv_done(&s1);
    srv_done(&s2);
}
END_TEST

/* ---- what is retried ---- */

typedef struct call_thread {
    bc_client *c;
    int reset; /* 1: bc_reset, 0: bc_status_get */
    int rc;
    bc_status st;
    char msg[1024];
    pthread_t t;
} call_thread;

static void *call_main(void *arg)
{
    call_thread *k = arg;
    k->rc = k->reset ? bc_reset(k->c, "e") : bc_status_get(k->c, "e", &k->st);
    snprintf(k->msg, sizeof k->msg, "%s", k->rc < 0 ? bc_last_error_message() : "");
    return NULL;
}

START_TEST(in_flight)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *c = connect_opts(s.addr, 0);
    tc_waiter w;
    wait_there(&w, 1, c, s.addr, "e", 2, -1);
    /* A stopped server reads nothing: both requests are in flight when it dies. */
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    call_thread reset = {.c = c, .reset = 1}, status = {.c = c};
    ck_assert_int_eq(pthread_create(&reset.t, NULL, call_main, &reset), 0);
    ck_assert_int_eq(pthread_create(&status.t, NULL, call_main, &status), 0);
    ts_sleep_s(0.3);
    srv_kill9(&s);
    pthread_join(reset.t, NULL);
    ck_assert_msg(reset.rc == BC_ECONN, "reset: %s: %s", bc_strerror(reset.rc), reset.msg);
    ck_assert_msg(strstr(reset.msg, "unknown"), "%s", reset.msg);
    srv_restart(&s);
    pthread_join(status.t, NULL);
    ck_assert_msg(status.rc == BC_OK, "status: %s: %s", bc_strerror(status.rc), status.msg);
    /* The re-announced wait went first, so the new server knows the barrier. */
    ck_assert_uint_eq(status.st.parties, 2);
    ck_assert_uint_eq(status.st.n_waiting, 1);
    arrive(s.addr, "e", 2);
    join_ok(&w);
    bc_close(c);
    srv_done(&s);
}
END_TEST

START_TEST(remaining_timeout)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *c = connect_opts(s.addr, 0);
    tc_waiter w;
    double t0 = ts_now_s();
    wait_there(&w, 1, c, s.addr, "rt", 2, 2.0);
    srv_kill9(&s);
    ts_sleep_s(1.0 - (ts_now_s() - t0)); /* about 1 s after the call */
    srv_restart(&s);
    tc_waiter_join(&w);
    ck_assert_msg(w.rc == BC_ETIMEDOUT, "%s: %s", bc_strerror(w.rc), w.msg);
    /* 2 s after the call, plus at most the backoff's 1 s cap; 3 s and more
     * would mean the timeout started again at the re-announcement. */
    ck_assert_msg(w.elapsed_s >= 1.9 && w.elapsed_s < 2.9, "timed out after %.2f s", w.elapsed_s);
    bc_close(c);
    srv_done(&s);
}
END_TEST

typedef struct slow_action {
    int runs;
    ts_server *s; /* killed while the action runs */
} slow_action;

static int slow_action_fn(void *arg)
{
    slow_action *a = arg;
    if (__atomic_add_fetch(&a->runs, 1, __ATOMIC_SEQ_CST) == 1) {
        srv_kill9(a->s);
        ts_sleep_s(0.2);
        srv_restart(a->s);
    }
    return 0;
}

START_TEST(action_once)
{
    ts_server s = {0};
    srv_start(&s);
    bc_client *a = connect_opts(s.addr, 0), *b = connect_opts(s.addr, 0);
    tc_waiter w;
    wait_there(&w, 1, b, s.addr, "ac", 2, 20);
    slow_action act = {.s = &s};
    bc_wait_result r;
    int rc = bc_wait(a, "ac", 2, 20, slow_action_fn, &act, &r);
    ck_assert_msg(rc == BC_OK, "%s: %s", bc_strerror(rc), bc_last_error_message());
    join_ok(&w);
    /* Whichever party the new server saw last, the action ran once: the
     * re-announced wait says action_generation, and a second run_action for
     * the same generation gets the first outcome again. */
    ck_assert_int_eq(act.runs, 1);
    ck_assert_uint_ne(r.index, w.res.index);
    bc_close(a);
    bc_close(b);
    srv_done(&s);
}
END_TEST

/* ---- barrierctl ---- */

START_TEST(barrierctl_list)
{
    ts_server s = {0};
    srv_start(&s);
    char list[160];
    snprintf(list, sizeof list, "127.0.0.1:%u,%s", dead_port(), s.addr);
    tc_ctl r;
    tc_ctl_start(&r, 1, "-a", list, "--json", "wait", "g", "-n", "2", (const char *)NULL);
    ck_assert(tc_await_waiting(s.addr, "g", 1, 10));
    srv_kill9(&s);
    ts_sleep_s(0.3);
    srv_restart(&s);
    ck_assert_msg(tc_await_waiting(s.addr, "g", 1, 10), "barrierctl's wait not re-announced");
    arrive(s.addr, "g", 2);
    int st = tc_ctl_finish(&r, 20);
    ck_assert_msg(st == 0, "exit %d: %s", st, r.err);
    ck_assert_msg(strstr(r.out, "\"index\""), "%s", r.out);

    /* --resume -1: the old way, exit 4 at once. */
    tc_ctl_start(&r, 1, "-a", s.addr, "--resume", "-1", "wait", "g2", "-n", "2",
                 (const char *)NULL);
    ck_assert(tc_await_waiting(s.addr, "g2", 1, 10));
    double t0 = ts_now_s();
    srv_kill9(&s);
    st = tc_ctl_finish(&r, 20);
    ck_assert_msg(st == 4, "exit %d: %s", st, r.err);
    ck_assert(ts_now_s() - t0 < 3);
    /* A bad --resume is a usage error. */
    tc_ctl_start(&r, 1, "--resume", "soon", "ping", (const char *)NULL);
    ck_assert_int_eq(tc_ctl_finish(&r, 20), 64);
    srv_done(&s);
}
END_TEST

/* ---- running ---- */

int main(void)
{
    unsetenv("BARRIERD_ADDR");
    unsetenv("BARRIERD_TOKEN");
    unsetenv("BARRIERD_RESUME");
    const ts_case cases[] = {
        {"kill9_restart", kill9_restart, 0},
        {"sigterm_restart", sigterm_restart, 0},
        {"give_up", give_up, 0},
        {"give_up_shutdown", give_up_shutdown, 0},
        {"resume_off", resume_off, 0},
        {"addr_list", addr_list, 0},
        {"in_flight", in_flight, 0},
        {"remaining_timeout", remaining_timeout, 0},
        {"action_once", action_once, 0},
        {"barrierctl_list", barrierctl_list, 0},
    };
    return ts_run_cases("client_resume", cases, TS_NCASES(cases));
}
