/* test_barrierctl.c - the barrierctl tool against a real barrierd: exit
 * statuses, --json output, tables, help.
 *
 * barrierctl runs as a child process ($BARRIERCTL) with its stdout and
 * stderr captured; each run is bounded in time.
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static ts_server srv;

static void setup(void)
{
    tc_server_up(&srv, NULL);
    setenv("BARRIERD_ADDR", srv.addr, 1);
}

static void teardown(void)
{
    ts_server_cleanup(&srv);
}

/* A barrierctl run: started by ctl_start, finished by ctl_finish. */
typedef tc_ctl ctl_run;

/* Start barrierctl with the arguments (NULL-terminated). */
#define ctl_start(r, ...) tc_ctl_start((r), 0, __VA_ARGS__)

/* Wait up to limit_s for it to exit; returns its exit status. */
static int ctl_finish_within(ctl_run *r, double limit_s)
{
    return tc_ctl_finish(r, limit_s);
}

/* Wait up to 30 s for it to exit; returns its exit status. */
static int ctl_finish(ctl_run *r)
{
    return ctl_finish_within(r, 30);
}

#define CTL(r, ...) (ctl_start((r), __VA_ARGS__, (const char *)NULL), ctl_finish(r))

START_TEST(test_ping)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, "ping"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "pong"));
    ck_assert_int_eq(CTL(&r, "--json", "ping"), 0);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
    cJSON_Delete(j);
    ck_assert_int_eq(CTL(&r, "-a", srv.addr, "ping"), 0);
}
END_TEST

START_TEST(test_wait_json)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, "--json", "wait", "one", "-n", "1"), 0);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_msg(j, "not JSON: %s", r.out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "index")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "generation")->valueint, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "barrier")->valuestring, "one");
    cJSON_Delete(j);
    /* --json after the command works too; the generation moved on. */
    ck_assert_int_eq(CTL(&r, "wait", "one", "-n", "1", "--json"), 0);
    j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "generation")->valueint, 1);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_wait_two_processes)
{
    ctl_run a, b;
    ctl_start(&a, "--json", "wait", "two", "-n", "2", "--name", "first", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "two", 1, 10));
    ctl_start(&b, "--json", "wait", "two", "-n", "2", "-t", "30", (const char *)NULL);
    ck_assert_int_eq(ctl_finish(&a), 0);
    ck_assert_int_eq(ctl_finish(&b), 0);
    cJSON *ja = cJSON_Parse(a.out), *jb = cJSON_Parse(b.out);
    ck_assert_int_eq(cJSON_GetObjectItem(ja, "index")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(jb, "index")->valueint, 1);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
}
END_TEST

START_TEST(test_exit_timedout)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, "wait", "slow", "-n", "2", "-t", "0.3"), 3);
    ck_assert_ptr_nonnull(strstr(r.err, "timed out"));
    /* Now it is broken: 2, and the JSON error says so. */
    ck_assert_int_eq(CTL(&r, "--json", "wait", "slow", "-n", "2"), 2);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "error")->valuestring, "broken");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_abort_reset)
{
    ctl_run r, w;
    ck_assert_int_eq(CTL(&r, "abort", "nope"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no such barrier"));
    ctl_start(&w, "wait", "ar", "-n", "2", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "ar", 1, 10));
    ck_assert_int_eq(CTL(&r, "abort", "ar"), 0);
    ck_assert_int_eq(ctl_finish(&w), 2);
    ck_assert_int_eq(CTL(&r, "wait", "ar", "-n", "2"), 2);
    ck_assert_int_eq(CTL(&r, "reset", "ar"), 0);
    ck_assert_int_eq(CTL(&r, "wait", "ar", "-n", "2", "-t", "0"), 3);
}
END_TEST

START_TEST(test_parties_mismatch)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, "wait", "pm", "-n", "1"), 0);
    ck_assert_int_eq(CTL(&r, "wait", "pm", "-n", "2"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "parties"));
}
END_TEST

START_TEST(test_status_and_list)
{
    ctl_run r, w;
    ck_assert_int_eq(CTL(&r, "status", "nope"), 1);
    ctl_start(&w, "wait", "tbl", "-n", "3", "--name", "teller-one", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "tbl", 1, 10));
    ck_assert_int_eq(CTL(&r, "status", "tbl"), 0);
    ck_assert_msg(strstr(r.out, "parties     3") && strstr(r.out, "teller-one"), "%s", r.out);
    ck_assert_int_eq(CTL(&r, "list"), 0);
    ck_assert_msg(strstr(r.out, "BARRIER") && strstr(r.out, "tbl"), "%s", r.out);
    ck_assert_int_eq(CTL(&r, "status"), 0); /* no name: the list */
    ck_assert_ptr_nonnull(strstr(r.out, "GENERATION"));
    ck_assert_int_eq(CTL(&r, "--json", "status", "tbl"), 0);
    cJSON *j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_waiting")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "parties")->valueint, 3);
    cJSON_Delete(j);
    ck_assert_int_eq(CTL(&r, "--json", "list"), 0);
    j = cJSON_Parse(r.out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "barriers")), 1);
    cJSON_Delete(j);
    ck_assert_int_eq(CTL(&r, "stats"), 0);
    ck_assert_ptr_nonnull(strstr(r.out, "connections"));
    ck_assert_int_eq(CTL(&r, "--json", "stats"), 0);
    j = cJSON_Parse(r.out);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "waits")));
    cJSON_Delete(j);
    ck_assert_int_eq(CTL(&r, "reset", "tbl"), 0);
    ck_assert_int_eq(ctl_finish(&w), 2);
}
END_TEST

START_TEST(test_unreachable)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, "-a", "127.0.0.1:1", "ping"), 4);
    ck_assert_ptr_nonnull(strstr(r.err, "refused"));
    ck_assert_int_eq(CTL(&r, "-a", "127.0.0.1:1", "wait", "x", "-n", "2"), 4);
}
END_TEST

START_TEST(test_server_gone)
{
    ctl_run a, b;
    /* Resuming off: the shutdown fails the waits at once (exit 4). */
    ctl_start(&a, "--resume", "-1", "wait", "g", "-n", "3", (const char *)NULL);
    ctl_start(&b, "--resume", "-1", "wait", "g", "-n", "3", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "g", 2, 10));
    kill(srv.pid, SIGTERM);
    ck_assert_int_eq(ctl_finish(&a), 4);
    ck_assert_ptr_nonnull(strstr(a.err, "shutting down"));
    ck_assert_int_eq(ctl_finish(&b), 4);
}
END_TEST

/* A wait without -t on a server that stops (SIGSTOP) or hangs ends, exit 4
 * with resuming off, once the server has been silent past 3 heartbeats + the
 * 15 s grace and then left a ping unanswered for 15 s more: about 31 s with the
 * fixture's 0.2 s heartbeats. Before, it blocked forever. */
START_TEST(test_server_stopped)
{
    ctl_run a;
    ctl_start(&a, "--resume", "-1", "wait", "stuck", "-n", "2", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "stuck", 1, 10));
    kill(srv.pid, SIGSTOP);
    double t0 = ts_now_s();
    int st = ctl_finish_within(&a, 120);
    double took = ts_now_s() - t0;
    kill(srv.pid, SIGCONT);
    ck_assert_msg(st == 4, "exit %d after %.1f s: %s", st, took, a.err);
    ck_assert_msg(took > 25, "gave up after only %.1f s", took);
    ck_assert_msg(strstr(a.err, "ping"), "%s", a.err);
}
END_TEST

START_TEST(test_peer_killed)
{
    ctl_run a, b;
    ctl_start(&a, "wait", "pk", "-n", "3", (const char *)NULL);
    ctl_start(&b, "wait", "pk", "-n", "3", (const char *)NULL);
    ck_assert(tc_await_waiting(srv.addr, "pk", 2, 10));
    kill(a.pid, SIGKILL);
    ctl_finish(&a);
    ck_assert_int_eq(ctl_finish(&b), 2);
}
END_TEST

START_TEST(test_token_file)
{
    char path[] = "/tmp/bctl-token-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_eq(write(fd, "letmein\n", 8), 8);
    close(fd);
    ts_server s = {0};
    const char *extra[] = {"--auth-token-file", path, NULL};
    tc_server_up(&s, extra);
    ctl_run r;
    unsetenv("BARRIERD_TOKEN");
    ck_assert_int_eq(CTL(&r, "-a", s.addr, "ping"), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "auth"));
    ck_assert_int_eq(CTL(&r, "-a", s.addr, "--token-file", path, "ping"), 0);
    ck_assert_int_eq(CTL(&r, "-a", s.addr, "--token-file", "/nonexistent", "ping"), 1);
    ts_server_cleanup(&s);
    unlink(path);
}
END_TEST

static const char *const usage_cases[][6] = {
    {NULL},
    {"bogus"},
    {"--bogus", "ping"},
    {"wait"},
    {"wait", "x"},
    {"wait", "x", "-n", "0"},
    {"wait", "x", "-n", "2", "-t", "soon"},
    {"wait", "x", "y", "-n", "2"},
    {"abort"},
    {"reset", "a", "b"},
    {"list", "extra"},
    {"status", "a", "b"},
};

START_TEST(test_usage)
{
    const char *const *a = usage_cases[_i];
    ctl_run r;
    ctl_start(&r, a[0], a[1], a[2], a[3], a[4], a[5], (const char *)NULL);
    ck_assert_msg(ctl_finish(&r) == 64, "case %d: exit %d", _i, r.status);
    ck_assert_str_ne(r.err, "");
}
END_TEST

static const char *const help_cases[] = {"wait",  "status", "list", "abort",
                                         "reset", "stats",  "ping"};

START_TEST(test_help)
{
    ctl_run r;
    ck_assert_int_eq(CTL(&r, help_cases[_i], "--help"), 0);
    ck_assert_msg(strstr(r.out, "usage: barrierctl") && strstr(r.out, help_cases[_i]), "%s", r.out);
    if (_i == 0) {
        ck_assert_int_eq(CTL(&r, "--help"), 0);
        ck_assert_ptr_nonnull(strstr(r.out, "exit status"));
        ck_assert_int_eq(CTL(&r, "-h"), 0);
    }
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"ping", test_ping, 0},
        {"wait_json", test_wait_json, 0},
        {"wait_two_processes", test_wait_two_processes, 0},
        {"exit_timedout", test_exit_timedout, 0},
        {"abort_reset", test_abort_reset, 0},
        {"parties_mismatch", test_parties_mismatch, 0},
        {"status_and_list", test_status_and_list, 0},
        {"unreachable", test_unreachable, 0},
        {"server_gone", test_server_gone, 0},
        {"server_stopped", test_server_stopped, 0},
        {"peer_killed", test_peer_killed, 0},
        {"token_file", test_token_file, 0},
        {"usage", test_usage, TS_NCASES(usage_cases)},
        {"help", test_help, TS_NCASES(help_cases)},
    };
    const ts_suite suite = {.name = "barrierctl", .cases = cases, .n = TS_NCASES(cases),
                            .setup = setup, .teardown = teardown, .timeout_s = 120};
    unsetenv("BARRIERD_TOKEN");
    unsetenv("BARRIERD_RESUME");
    return ts_run(&suite);
}
