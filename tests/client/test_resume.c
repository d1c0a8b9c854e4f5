/* test_resume.c - issue 9: a party blocked in bc_wait never sees barrierd die
 * and come back. Against real servers, restarted on the same port:
 *
 *   kill9_restart       two threads on one handle and another handle; kill -9
 *                       while they wait, restart: all released, indexes {0,1,2}
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
 * Generation continuity across a restart (the generation keeps counting) is
 * the server's part (its re-announce rules); the assertions that need it are
 * marked SERVER-RULES and stay off until that lands.
 *
 * One ctest per case (CK_RUN_CASE); $BARRIERD and $BARRIERCTL name the
 * binaries (argv[1] and argv[2] otherwise).
 */
#include "barrierclient.h"
#include "bd_fixture.h"
#include "tc_helpers.h"

#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a barrierd that can be restarted on its address ---- */

typedef struct srv {
    pid_t pid;
    char addr[64];  /* "127.0.0.1:PORT", from --ready-file */
    char ready[64]; /* the ready file's path */
    char log[64];   /* its stderr */
} srv;

static void srv_exec(const srv *s, const char *listen)
{
    const char *argv[] = {"barrierd", "--listen", listen,  "--heartbeat", "0.2",
                          "--ready-file", s->ready, NULL};
    int fd = open(s->log, O_WRONLY | O_TRUNC);
    if (fd >= 0) dup2(fd, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(getenv("BARRIERD"), (char *const *)argv);
    _exit(127);
}

/* Read the first address of the ready file into s->addr. 0 once there. */
static int srv_read_ready(srv *s)
{
    FILE *f = fopen(s->ready, "r");
    if (!f) return -1;
    char line[64] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || !line[0]) return -1;
    snprintf(s->addr, sizeof s->addr, "%s", line);
    return 0;
}

/* One try at starting on `listen`: 0 when it is ready, -1 if it exited. */
static int srv_try(srv *s, const char *listen)
{
    unlink(s->ready);
    fflush(NULL);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) srv_exec(s, listen);
    for (double end = bd_now() + 20; bd_now() < end; bd_sleep(0.01)) {
        if (srv_read_ready(s) == 0) return 0;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
    }
    ck_abort_msg("barrierd did not get ready on %s", listen);
    return -1;
}

/* Start on listen ("127.0.0.1:0" for a free port, or the address of an
 * earlier run: a restart). A few tries, for a port still being released. */
static void srv_start(srv *s, const char *listen)
{
    if (!s->ready[0]) {
        snprintf(s->ready, sizeof s->ready, "/tmp/bc-resume-rdy-%ld-%p", (long)getpid(), (void *)s);
        snprintf(s->log, sizeof s->log, "/tmp/bc-resume-XXXXXX");
        int fd = mkstemp(s->log);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    char where[64];
    snprintf(where, sizeof where, "%s", listen);
    for (int i = 0; i < 20; i++, bd_sleep(0.1))
        if (srv_try(s, where) == 0) return;
    ck_abort_msg("barrierd cannot listen on %s", where);
}

static void srv_restart(srv *s)
{
    srv_start(s, s->addr);
}

/* Send sig and wait (10 s at most) for the exit; returns the wait status. */
static int srv_signal(srv *s, int sig)
{
    if (!s->pid) return -1;
    if (sig != SIGKILL) kill(s->pid, SIGCONT); /* SIGKILL takes a stopped one as it is */
    kill(s->pid, sig);
    int st = -1;
    for (double end = bd_now() + 10; bd_now() < end; bd_sleep(0.005)) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return st;
        }
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

static void srv_done(srv *s)
{
    srv_signal(s, SIGKILL);
    unlink(s->ready);
    unlink(s->log);
}

/* A loopback port nothing listens on (bound, then released). */
static unsigned dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
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

/* Two threads of one handle wait; the server dies (sig) and comes back on its
 * port; a third party on another handle, connected before the death and idle
 * since, arrives. Nobody sees an error. */
static void restart_case(int sig)
{
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    bc_client *a = connect_opts(s.addr, 0), *b = connect_opts(s.addr, 0);
    tc_waiter w[2];
    wait_there(w, 2, a, s.addr, "rs", 3, -1);
    int st = srv_signal(&s, sig);
    ck_assert(sig == SIGKILL ? WIFSIGNALED(st) : WIFEXITED(st) && WEXITSTATUS(st) == 0);
    bd_sleep(0.3);
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
    /* SERVER-RULES: the generation continues across the restart. The waits
     * were of generation 0 and none was released, so 0 either way today; a
     * barrier that had been released before the restart would go on counting:
     *   ck_assert_uint_ge(r.generation, generation before the restart); */
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
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    bc_client *c = connect_opts(s.addr, 0.5);
    tc_waiter w[2];
    wait_there(w, 2, c, s.addr, "gu", 3, -1);
    double t0 = bd_now();
    srv_signal(&s, sig);
    for (int i = 0; i < 2; i++) {
        tc_waiter_join(&w[i]);
        double took = bd_now() - t0;
        ck_assert_msg(w[i].rc == code, "waiter %d: %s: %s", i, bc_strerror(w[i].rc), w[i].msg);
        ck_assert_msg(took >= 0.4 && took < 0.5 + 2 + 1, "gave up after %.2f s", took);
        ck_assert_msg(strstr(w[i].msg, "no server took the connection back"), "%s", w[i].msg);
    }
    double t1 = bd_now();
    ck_assert_int_eq(bc_ping(c, NULL), code);
    ck_assert(bd_now() - t1 < 0.2);
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
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    bc_client *c = connect_opts(s.addr, -1);
    tc_waiter w;
    wait_there(&w, 1, c, s.addr, "off", 2, -1);
    double t0 = bd_now();
    srv_signal(&s, SIGKILL);
    tc_waiter_join(&w);
    ck_assert_msg(w.rc == BC_ECONN, "%s: %s", bc_strerror(w.rc), w.msg);
    ck_assert(bd_now() - t0 < 2);
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
    srv s1 = {0}, s2 = {0};
    srv_start(&s1, "127.0.0.1:0");
    srv_start(&s2, "127.0.0.1:0");
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
    srv_signal(&s1, SIGKILL);
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
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    bc_client *c = connect_opts(s.addr, 0);
    tc_waiter w;
    wait_there(&w, 1, c, s.addr, "e", 2, -1);
    /* A stopped server reads nothing: both requests are in flight when it dies. */
    kill(s.pid, SIGSTOP);
    call_thread reset = {.c = c, .reset = 1}, status = {.c = c};
    ck_assert_int_eq(pthread_create(&reset.t, NULL, call_main, &reset), 0);
    ck_assert_int_eq(pthread_create(&status.t, NULL, call_main, &status), 0);
    bd_sleep(0.3);
    srv_signal(&s, SIGKILL);
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
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    bc_client *c = connect_opts(s.addr, 0);
    tc_waiter w;
    double t0 = bd_now();
    wait_there(&w, 1, c, s.addr, "rt", 2, 2.0);
    srv_signal(&s, SIGKILL);
    bd_sleep(1.0 - (bd_now() - t0)); /* about 1 s after the call */
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
    srv *s; /* killed while the action runs */
} slow_action;

static int slow_action_fn(void *arg)
{
    slow_action *a = arg;
    if (__atomic_add_fetch(&a->runs, 1, __ATOMIC_SEQ_CST) == 1) {
        srv_signal(a->s, SIGKILL);
        bd_sleep(0.2);
        srv_restart(a->s);
    }
    return 0;
}

START_TEST(action_once)
{
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
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
    srv s = {0};
    srv_start(&s, "127.0.0.1:0");
    char list[160];
    snprintf(list, sizeof list, "127.0.0.1:%u,%s", dead_port(), s.addr);
    const char *argv[] = {"barrierctl", "-a", list, "--json", "wait", "g", "-n", "2", NULL};
    tc_ctl r;
    ck_assert_int_eq(tc_ctl_start(&r, getenv("BARRIERCTL"), argv, 1), 0);
    ck_assert(tc_await_waiting(s.addr, "g", 1, 10));
    srv_signal(&s, SIGKILL);
    bd_sleep(0.3);
    srv_restart(&s);
    ck_assert_msg(tc_await_waiting(s.addr, "g", 1, 10), "barrierctl's wait not re-announced");
    arrive(s.addr, "g", 2);
    int st = tc_ctl_finish(&r, 20);
    ck_assert_msg(st == 0, "exit %d: %s", st, r.err);
    ck_assert_msg(strstr(r.out, "\"index\""), "%s", r.out);

    /* --resume -1: the old way, exit 4 at once. */
    const char *argv2[] = {"barrierctl", "-a", s.addr, "--resume", "-1", "wait", "g2", "-n", "2",
                           NULL};
    ck_assert_int_eq(tc_ctl_start(&r, getenv("BARRIERCTL"), argv2, 1), 0);
    ck_assert(tc_await_waiting(s.addr, "g2", 1, 10));
    double t0 = bd_now();
    srv_signal(&s, SIGKILL);
    st = tc_ctl_finish(&r, 20);
    ck_assert_msg(st == 4, "exit %d: %s", st, r.err);
    ck_assert(bd_now() - t0 < 3);
    /* A bad --resume is a usage error. */
    const char *argv3[] = {"barrierctl", "--resume", "soon", "ping", NULL};
    ck_assert_int_eq(tc_ctl_start(&r, getenv("BARRIERCTL"), argv3, 1), 0);
    ck_assert_int_eq(tc_ctl_finish(&r, 20), 64);
    srv_done(&s);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && !getenv("BARRIERD")) setenv("BARRIERD", argv[1], 1);
    if (argc > 2 && !getenv("BARRIERCTL")) setenv("BARRIERCTL", argv[2], 1);
    if (!getenv("BARRIERD") || !getenv("BARRIERCTL")) {
        fprintf(stderr, "SKIP: set $BARRIERD and $BARRIERCTL (or pass them as arguments)\n");
        return 77;
    }
    setenv("BARRIERD_BIN", getenv("BARRIERD"), 1); /* bd_fixture's name for it */
    unsetenv("BARRIERD_ADDR");
    unsetenv("BARRIERD_TOKEN");
    unsetenv("BARRIERD_RESUME");
    signal(SIGPIPE, SIG_IGN);
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"kill9_restart", kill9_restart},
        {"sigterm_restart", sigterm_restart},
        {"give_up", give_up},
        {"give_up_shutdown", give_up_shutdown},
        {"resume_off", resume_off},
        {"addr_list", addr_list},
        {"in_flight", in_flight},
        {"remaining_timeout", remaining_timeout},
        {"action_once", action_once},
        {"barrierctl_list", barrierctl_list},
    };
    const char *only = getenv("CK_RUN_CASE");
    int found = !only || !*only;
    Suite *s = suite_create("client_resume");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
        found |= only && strcmp(only, cases[i].name) == 0;
    }
    if (!found) {
        fprintf(stderr, "client_resume: no case named '%s'\n", only);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr), run = srunner_ntests_run(sr);
    srunner_free(sr);
    return failed || run == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
