/* test_faults_peer.c - lost parties, over real processes and the real
 * libbarrierclient: a waiter killed with SIGKILL (with the kill-to-return
 * latency measured), a waiter frozen with SIGSTOP, a network path cut without
 * a FIN inside network namespaces made by the test, and an action runner that
 * exits in the middle of its action. In each, the other parties get
 * BC_EBROKEN with a message naming the party that was lost. */
#include "faults_common.h"
#include "tc_helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- SIGKILL ---- */

#define K9_RUNS 5
#define K9_OBSERVERS 2

START_TEST(kill9_latency)
{
    ts_server s = {0};
    ts_server_up(&s, NULL); /* default heartbeat (5 s): the close itself must do it */
    const char *addr = s.addr;
    double worst[K9_RUNS];
    for (int run = 0; run < K9_RUNS; run++) {
        char barrier[32], victim_name[64], obs_name[K9_OBSERVERS][32];
        snprintf(barrier, sizeof barrier, "k9-%d", run);
        snprintf(victim_name, sizeof victim_name, "victim-%d-%ld", run, (long)getpid());
        fx_party obs[K9_OBSERVERS], victim;
        for (int i = 0; i < K9_OBSERVERS; i++) {
            snprintf(obs_name[i], sizeof obs_name[i], "observer-%d", i);
            fx_party_spec sp = {.addr = addr, .barrier = barrier, .parties = K9_OBSERVERS + 2,
                                .timeout_s = -1, .client_name = obs_name[i]};
            fx_party_start(&obs[i], &sp);
        }
        it_assert(tc_await_waiting(addr, barrier, K9_OBSERVERS, 10 * ts_slow()));
        fx_party_spec vs = {.addr = addr, .barrier = barrier, .parties = K9_OBSERVERS + 2,
                            .timeout_s = -1, .client_name = victim_name};
        fx_party_start(&victim, &vs);
        it_assert(tc_await_waiting(addr, barrier, K9_OBSERVERS + 1, 10 * ts_slow()));

        double t0 = ts_now_s();
        it_assert(kill(victim.pid, SIGKILL) == 0);
        worst[run] = 0;
        for (int i = 0; i < K9_OBSERVERS; i++) {
            fx_result r;
            it_assert_msg(fx_party_result(&obs[i], 10 * ts_slow(), &r),
                          "run %d: observer %d did not return within %g s of the kill", run, i,
                          10 * ts_slow());
            it_assert_msg(r.connected == BC_OK && r.rc == BC_EBROKEN, "run %d: observer %d: %s: %s",
                          run, i, bc_strerror(r.rc), r.msg);
            it_assert_msg(has(r.msg, victim_name) && has(r.msg, "party lost"),
                          "run %d: the message does not name the lost party '%s': %s", run,
                          victim_name, r.msg);
            double lat = r.t_return - t0;
            if (lat > worst[run])
                worst[run] = lat;
            if (run == 0 && i == 0)
                fprintf(stderr, "kill9_latency: message: %s\n", r.msg);
        }
        int st = fx_party_reap(&victim, 5);
        it_assert(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        for (int i = 0; i < K9_OBSERVERS; i++)
            fx_party_reap(&obs[i], 5);
    }
    double sorted[K9_RUNS];
    memcpy(sorted, worst, sizeof sorted);
    qsort(sorted, K9_RUNS, sizeof sorted[0], cmp_double);
    double median = sorted[K9_RUNS / 2];
    fprintf(stderr, "kill9_latency: kill -> BC_EBROKEN in the other processes (worst of %d) ms:",
            K9_OBSERVERS);
    for (int i = 0; i < K9_RUNS; i++)
        fprintf(stderr, " %.2f", worst[i] * 1e3);
    fprintf(stderr, "; median %.2f ms, max %.2f ms (slow factor %g)\n", median * 1e3,
            sorted[K9_RUNS - 1] * 1e3, ts_slow());
    it_assert_msg(median <= 0.100 * ts_slow(), "median kill->broken latency %.1f ms > %.0f ms",
                  median * 1e3, 100 * ts_slow());
    it_assert_msg(sorted[K9_RUNS - 1] <= 1.0 * ts_slow(), "a kill->broken latency of %.1f ms",
                  sorted[K9_RUNS - 1] * 1e3);
    it_conn *admin = it_connect(&s);
    it_assert(it_stat(admin, "breaks") == K9_RUNS);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- barrierd itself killed ---- */

#define SK_PARTIES 3

/* tests/client has this with threads of one process (bounded at 60 s); here
 * the waiters are separate processes and the bound is "at once". */
START_TEST(server_kill9_latency)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    const char *addr = s.addr;
    fx_party p[SK_PARTIES];
    for (int i = 0; i < SK_PARTIES; i++) {
        /* forever, a long timeout, a short one: none of them matters */
        fx_party_spec sp = {.addr = addr, .barrier = "sk", .parties = SK_PARTIES + 1,
                            .timeout_s = i == 0 ? -1 : i == 1 ? 3600 : 30};
        fx_party_start(&p[i], &sp);
    }
    it_assert(tc_await_waiting(addr, "sk", SK_PARTIES, 10 * ts_slow()));
    double t0 = ts_now_s();
    it_assert(kill(s.pid, SIGKILL) == 0);
    double worst = 0;
    fprintf(stderr, "server_kill9_latency: barrierd SIGKILL -> BC_ECONN in ms:");
    for (int i = 0; i < SK_PARTIES; i++) {
        fx_result r;
        it_assert_msg(fx_party_result(&p[i], 10 * ts_slow(), &r), "party %d did not return", i);
        it_assert_msg(r.rc == BC_ECONN, "party %d: %s: %s", i, bc_strerror(r.rc), r.msg);
        double lat = r.t_return - t0;
        fprintf(stderr, " %.2f", lat * 1e3);
        if (lat > worst)
            worst = lat;
        fx_party_reap(&p[i], 5);
    }
    fprintf(stderr, "\n");
    it_assert_msg(worst <= 1.0 * ts_slow(), "a waiter returned %.0f ms after the kill",
                  worst * 1e3);
    it_assert(ts_server_wait(&s, 5000) >= 0);
    ts_server_down(&s);
}
END_TEST

/* ---- SIGSTOP ---- */

/* The heartbeat interval: short, so the cases are quick; longer when
 * everything runs slower (sanitizers), so that live parties keep up. */
#define HB_S (ts_slow() > 1 ? 0.5 : 0.2)
#define HB_ARG (ts_slow() > 1 ? "0.5" : "0.2")

START_TEST(sigstop_heartbeat)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", HB_ARG, NULL);
    const char *addr = s.addr;
    char frozen_name[64];
    snprintf(frozen_name, sizeof frozen_name, "frozen-%ld", (long)getpid());
    fx_party obs, frozen;
    fx_party_spec os = {.addr = addr, .barrier = "stop", .parties = 3, .timeout_s = -1,
                        .client_name = "observer"};
    fx_party_start(&obs, &os);
    it_assert(tc_await_waiting(addr, "stop", 1, 10 * ts_slow()));
    /* A long io grace: the frozen party must not give up on its own meanwhile. */
    fx_party_spec fs = {.addr = addr, .barrier = "stop", .parties = 3, .timeout_s = -1,
                        .client_name = frozen_name, .io_grace_s = 60};
    fx_party_start(&frozen, &fs);
    it_assert(tc_await_waiting(addr, "stop", 2, 10 * ts_slow()));

    /* While the library answers heartbeats, nobody is dropped: 5 intervals. */
    fx_result r;
    it_assert_msg(!fx_party_result(&obs, 5 * HB_S, &r),
                  "the barrier broke while everyone answered: %s", r.msg);
    it_assert(tc_await_waiting(addr, "stop", 2, 1));

    double t0 = ts_now_s();
    it_assert(kill(frozen.pid, SIGSTOP) == 0);
    double bound = (4 * HB_S + 0.5) * ts_slow();
    it_assert_msg(fx_party_result(&obs, bound + 5, &r), "no break within %g s of SIGSTOP",
                  bound + 5);
    double took = r.t_return - t0;
    fprintf(stderr, "sigstop_heartbeat: broken %.0f ms after SIGSTOP (heartbeat %.0f ms): %s\n",
            took * 1e3, HB_S * 1e3, r.msg);
    it_assert_msg(r.rc == BC_EBROKEN, "observer: %s: %s", bc_strerror(r.rc), r.msg);
    it_assert_msg(has(r.msg, frozen_name) && has(r.msg, "stopped answering heartbeats"),
                  "message: %s", r.msg);
    /* Caught by the heartbeat: not before about two intervals of silence (the
     * last pong may have come one interval before the stop), and within three
     * intervals of silence plus one tick and some slack. */
    it_assert_msg(took >= 1.5 * HB_S, "broken after only %.0f ms: not the heartbeat?", took * 1e3);
    it_assert_msg(took <= bound, "broken %.0f ms after SIGSTOP, bound %.0f ms", took * 1e3,
                  bound * 1e3);
    it_conn *admin = it_connect(&s);
    it_assert(it_stat(admin, "dropped_silent") == 1);
    it_assert(ts_server_log_contains(&s, "silent for"));

    /* Thawed, the dropped party learns that its connection is gone: it is not
     * told it was released. */
    it_assert(kill(frozen.pid, SIGCONT) == 0);
    fx_result fr;
    it_assert_msg(fx_party_result(&frozen, 30, &fr), "the thawed party did not return");
    fprintf(stderr, "sigstop_heartbeat: the thawed party got %s: %s\n", bc_error_name(fr.rc),
            fr.msg);
    it_assert_msg(fr.rc == BC_ECONN || fr.rc == BC_EBROKEN, "thawed party: %s: %s",
                  bc_strerror(fr.rc), fr.msg);
    fx_party_reap(&frozen, 5);
    fx_party_reap(&obs, 5);
    /* The barrier stays broken until a reset; then it works again. */
    it_send_op(admin, BP_OP_RESET, 7, "stop");
    bp_reply rep;
    it_expect_ok(admin, 7, IT_TIMEOUT_MS, &rep);
    bp_reply_free(&rep);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- a network path cut without a FIN ---- */

/* Set in main (the runner process) so that its cleanup knows them too. */
static char ns_srv[32], ns_cli[32], veth_srv[16], veth_cli[16];

/* Run argv (PATH lookup, 10 s at most), its output shown when verbose: the
 * exit status, or -1. */
static int cmd(int verbose, const char *const *argv)
{
    const char *out = verbose ? "-" : NULL;
    int st = ts_run_cmd(argv, out, out, 10000);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ip ARGS... (NULL-terminated); its exit status. */
static int ip(int verbose, ...) __attribute__((sentinel));
static int ip(int verbose, ...)
{
    const char *argv[24] = {"ip"};
    int n = 1;
    va_list ap;
    va_start(ap, verbose);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 23;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return cmd(verbose, argv);
}

/* Namespaces of earlier runs whose process is gone (killed by a ctest
 * timeout before it could clean up). */
static void netns_sweep_stale(void)
{
    DIR *d = opendir("/run/netns");
    if (!d)
        return;
    struct dirent *e;
    char names[64][64];
    int n = 0;
    while ((e = readdir(d)) != NULL && n < 64) {
        long pid;
        char side;
        if (sscanf(e->d_name, "bdfault-%c-%ld", &side, &pid) == 2 && pid > 0 &&
            kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            snprintf(names[n++], sizeof names[0], "%.60s", e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        const char *argv[] = {"ip", "netns", "del", names[i], NULL};
        cmd(0, argv);
    }
}

static void netns_cleanup(void)
{
    /* Deleting a namespace deletes the veth end inside it, and with it the
     * pair. Harmless when they do not exist. */
    if (ns_srv[0]) {
        ip(0, "netns", "del", ns_srv, (const char *)NULL);
        ip(0, "netns", "del", ns_cli, (const char *)NULL);
    }
}

/* 0 when both namespaces and the veth pair between them are ready; else the
 * reason to skip, already cleaned up. */
static const char *netns_setup(void)
{
    if (geteuid() != 0)
        return "not root: cannot create network namespaces";
    const char *v[] = {"ip", "-V", NULL};
    if (cmd(0, v) != 0)
        return "no 'ip' command (iproute2)";
    netns_sweep_stale();
    if (ip(1, "netns", "add", ns_srv, (const char *)NULL) != 0)
        return "'ip netns add' failed: network namespaces not permitted here";
    if (ip(1, "netns", "add", ns_cli, (const char *)NULL) != 0) {
        netns_cleanup();
        return "'ip netns add' failed for the second namespace";
    }
    /* The pair is created inside the namespaces: nothing touches the root one. */
    const char *add[] = {"ip",   "-n",  ns_srv, "link",   "add",    veth_srv, "type",
                         "veth", "peer", "name", veth_cli, "netns", ns_cli,   NULL};
    if (cmd(1, add) != 0) {
        netns_cleanup();
        return "cannot create a veth pair between the namespaces";
    }
    int rc = 0;
    rc |= ip(1, "-n", ns_srv, "addr", "add", "10.250.0.1/30", "dev", veth_srv, (const char *)NULL);
    rc |= ip(1, "-n", ns_cli, "addr", "add", "10.250.0.2/30", "dev", veth_cli, (const char *)NULL);
    rc |= ip(1, "-n", ns_srv, "link", "set", "lo", "up", (const char *)NULL);
    rc |= ip(1, "-n", ns_cli, "link", "set", "lo", "up", (const char *)NULL);
    rc |= ip(1, "-n", ns_srv, "link", "set", veth_srv, "up", (const char *)NULL);
    rc |= ip(1, "-n", ns_cli, "link", "set", veth_cli, "up", (const char *)NULL);
    if (rc) {
        netns_cleanup();
        return "cannot configure the veth pair";
    }
    return NULL;
}

START_TEST(netns_cut)
{
    const char *why = netns_setup();
    if (why) {
        ts_skip("netns_cut: %s", why);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", ns_srv);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        int e = errno;
        netns_cleanup();
        ts_skip("netns_cut: cannot enter %s: %s", path, strerror(e));
        return;
    }
    close(fd);
    /* From here on this process (and what it forks: barrierd, the loopback
     * party) lives in the server's namespace. */
    ts_server s = {0};
    ts_server_up(&s, "--listen", "10.250.0.1:0", "--heartbeat", HB_ARG, NULL);
    int vport = ts_server_port(&s, "10.250.0.1:");
    it_assert_msg(vport > 0, "no 10.250.0.1 address in barrierd's ready file");
    char raddr[64], remote_name[64], cli_path[64];
    const char *addr = s.addr;
    snprintf(raddr, sizeof raddr, "10.250.0.1:%d", vport);
    snprintf(remote_name, sizeof remote_name, "remote-%ld", (long)getpid());
    snprintf(cli_path, sizeof cli_path, "/run/netns/%s", ns_cli);

    fx_party local, remote;
    fx_party_spec ls = {.addr = addr, .barrier = "cut", .parties = 3, .timeout_s = -1,
                        .client_name = "loopback"};
    fx_party_start(&local, &ls);
    it_assert(tc_await_waiting(addr, "cut", 1, 10 * ts_slow()));
    fx_party_spec rs = {.addr = raddr, .barrier = "cut", .parties = 3, .timeout_s = -1,
                        .client_name = remote_name, .netns = cli_path, .io_grace_s = 60};
    fx_party_start(&remote, &rs);
    if (!tc_await_waiting(addr, "cut", 2, 10 * ts_slow())) {
        fx_result rr;
        if (fx_party_result(&remote, 0.1, &rr))
            fprintf(stderr, "remote party: connect %s: %s\n", bc_strerror(rr.connected), rr.msg);
        it_assert_msg(0, "the party in the other namespace did not arrive");
    }
    /* While the path works, the remote party answers heartbeats and stays. */
    fx_result r;
    it_assert_msg(!fx_party_result(&local, 5 * HB_S, &r), "broke while the path was up: %s",
                  r.msg);

    /* Cut: the client's end goes down. No FIN, no RST reaches barrierd; its
     * heartbeats go into a link without carrier. */
    double t0 = ts_now_s();
    it_assert(ip(1, "-n", ns_cli, "link", "set", veth_cli, "down", (const char *)NULL) == 0);
    double bound = (4 * HB_S + 0.5) * ts_slow();
    it_assert_msg(fx_party_result(&local, bound + 5, &r), "no break within %g s of the cut",
                  bound + 5);
    double took = r.t_return - t0;
    fprintf(stderr, "netns_cut: broken %.0f ms after the link went down (heartbeat %.0f ms): %s\n",
            took * 1e3, HB_S * 1e3, r.msg);
    it_assert_msg(r.rc == BC_EBROKEN, "loopback party: %s: %s", bc_strerror(r.rc), r.msg);
    it_assert_msg(has(r.msg, remote_name) && has(r.msg, "stopped answering heartbeats"),
                  "message: %s", r.msg);
    it_assert_msg(took <= bound, "broken %.0f ms after the cut, bound %.0f ms", took * 1e3,
                  bound * 1e3);
    /* The remote process is alive and still blocked: nothing told it. */
    it_assert(!fx_party_result(&remote, 0.05, &r));
    it_assert(kill(remote.pid, 0) == 0);
    it_conn *admin = it_connect(&s);
    it_assert(it_stat(admin, "dropped_silent") == 1);
    it_close(admin);
    fx_party_kill(&remote);
    fx_party_reap(&local, 5);
    ts_server_down(&s);
    netns_cleanup();
}
END_TEST

/* ---- the action runner exits mid-action ---- */

static void runner_lost(ts_server *s, int mode, const char *barrier)
{
    char runner_name[64];
    const char *addr = s->addr;
    snprintf(runner_name, sizeof runner_name, "runner-%s-%ld", barrier, (long)getpid());
    fx_party obs[2], runner;
    for (int i = 0; i < 2; i++) {
        fx_party_spec sp = {.addr = addr, .barrier = barrier, .parties = 3, .timeout_s = -1,
                            .client_name = i ? "observer-1" : "observer-0"};
        fx_party_start(&obs[i], &sp);
    }
    it_assert(tc_await_waiting(addr, barrier, 2, 10 * ts_slow()));
    fx_party_spec rs = {.addr = addr, .barrier = barrier, .parties = 3, .timeout_s = -1,
                        .client_name = runner_name, .action = mode};
    fx_party_start(&runner, &rs);
    double t0;
    if (mode == FX_ACTION_HANG) {
        /* Inside the action: the server says so; then the process is killed. */
        it_assert_msg(fx_party_in_action(&runner, 10 * ts_slow()), "the action did not start");
        bc_client *c = NULL;
        it_assert(bc_connect(addr, NULL, &c) == BC_OK);
        bc_status st;
        it_assert(bc_status_get(c, barrier, &st) == BC_OK);
        it_assert_msg(strcmp(st.state, "running_action") == 0, "state %s", st.state);
        bc_close(c);
        t0 = ts_now_s();
        it_assert(kill(runner.pid, SIGKILL) == 0);
    } else {
        t0 = ts_now_s(); /* the runner exits by itself, as soon as its action starts */
    }
    for (int i = 0; i < 2; i++) {
        fx_result r;
        it_assert_msg(fx_party_result(&obs[i], 10 * ts_slow(), &r), "observer %d did not return",
                      i);
        it_assert_msg(r.rc == BC_EBROKEN, "observer %d: %s: %s", i, bc_strerror(r.rc), r.msg);
        it_assert_msg(has(r.msg, runner_name), "the message does not name the runner: %s", r.msg);
        if (i == 0)
            fprintf(stderr, "action_runner_lost (%s): broken after %.1f ms: %s\n",
                    mode == FX_ACTION_HANG ? "killed" : "_exit", (r.t_return - t0) * 1e3, r.msg);
    }
    int st = fx_party_reap(&runner, 5);
    if (mode == FX_ACTION_EXIT)
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 42,
                      "runner did not exit inside its action (status %d)", st);
    else
        it_assert(st >= 0 && WIFSIGNALED(st));
    for (int i = 0; i < 2; i++)
        fx_party_reap(&obs[i], 5);
}

static int ok_action_runs;
static int ok_action(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&ok_action_runs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(action_runner_exit)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    runner_lost(&s, FX_ACTION_EXIT, "act-exit");
    runner_lost(&s, FX_ACTION_HANG, "act-kill");
    /* After a reset the barrier works again, with an action that succeeds. */
    bc_client *c = NULL;
    it_assert(bc_connect(s.addr, NULL, &c) == BC_OK);
    it_assert(bc_wait(c, "act-exit", 3, 0, NULL, NULL, NULL) == BC_EBROKEN);
    it_assert(bc_reset(c, "act-exit") == BC_OK);
    tc_waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (tc_waiter){.c = c, .name = "act-exit", .parties = 3, .timeout_s = 30,
                           .action = ok_action};
        tc_waiter_start(&w[i]);
    }
    unsigned seen = 0;
    for (int i = 0; i < 3; i++) {
        tc_waiter_join(&w[i]);
        it_assert_msg(w[i].rc == BC_OK, "after reset: %s: %s", bc_strerror(w[i].rc), w[i].msg);
        it_assert(w[i].res.index < 3 && !(seen & (1u << w[i].res.index)));
        seen |= 1u << w[i].res.index;
    }
    it_assert(ok_action_runs == 1);
    bc_close(c);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    long id = (long)getpid();
    snprintf(ns_srv, sizeof ns_srv, "bdfault-s-%ld", id);
    snprintf(ns_cli, sizeof ns_cli, "bdfault-c-%ld", id);
    snprintf(veth_srv, sizeof veth_srv, "bdfs%ld", id);
    snprintf(veth_cli, sizeof veth_cli, "bdfc%ld", id);
    const ts_case cases[] = {
        {"kill9_latency", kill9_latency, 0},
        {"server_kill9_latency", server_kill9_latency, 0},
        {"sigstop_heartbeat", sigstop_heartbeat, 0},
        {"netns_cut", netns_cut, 0},
        {"action_runner_exit", action_runner_exit, 0},
    };
    return ts_run(&(const ts_suite){.name = "faults_peer", .cases = cases, .n = TS_NCASES(cases), .cleanup = netns_cleanup});
}
