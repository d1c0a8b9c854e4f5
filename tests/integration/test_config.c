/* test_config.c - what barrierd's flags and start-up promise: a unix socket is
 * taken only from a dead server, small durations never turn a feature off,
 * the ready file lists every listener, a second signal cuts the drain short
 * with exit 0, an unauthenticated connection gets a deadline to say hello, and
 * no spelling of the token field reaches the debug log. */
#include "itest_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    it_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static int ping_unix(const char *path)
{
    it_conn *u = it_connect_unix(path);
    if (!u)
        return 0;
    int ok = it_try_ping(u, 1, IT_TIMEOUT_MS);
    it_close(u);
    return ok;
}

START_TEST(unix_live_socket_refused)
{
    ts_server a = {0}, b = {0};
    ts_server_prepare(&a);
    char listen[200];
    snprintf(listen, sizeof listen, "unix:%s/s", a.dir);
    ts_server_up(&a, "--listen", listen, NULL);
    const char *extra[] = {"--listen", listen, NULL};
    int rc = ts_server_start(&b, extra);
    it_assert_msg(rc < 0, "a second barrierd took the socket of a live one");
    it_assert_msg(WIFEXITED(b.status) && WEXITSTATUS(b.status) != 0, "status %d", b.status);
    it_assert_msg(ts_server_log_contains(&b, "another server is listening"),
                  "the refusal does not say why");
    it_assert_msg(ping_unix(listen + 5), "the first server lost its socket");
    ts_server_down(&b);
    ts_server_down(&a);
}
END_TEST

START_TEST(unix_stale_socket_replaced)
{
    ts_server s = {0};
    ts_server_prepare(&s);
    char path[180], listen[200];
    snprintf(path, sizeof path, "%s/stale", s.dir);
    snprintf(listen, sizeof listen, "unix:%s", path);
    /* A socket file nobody listens on: what a killed server leaves. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    it_assert(strlen(path) < sizeof sun.sun_path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    it_assert(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
    close(fd);
    ts_server_up(&s, "--listen", listen, NULL);
    it_assert_msg(ping_unix(path), "the stale socket was not replaced");
    ts_server_down(&s);

    /* A file that is not a socket is never removed. */
    ts_server t = {0};
    ts_server_prepare(&t);
    snprintf(path, sizeof path, "%s/plain", t.dir);
    snprintf(listen, sizeof listen, "unix:%s", path);
    write_file(path, "keep me\n");
    const char *extra[] = {"--listen", listen, NULL};
    it_assert(ts_server_start(&t, extra) < 0);
    it_assert(access(path, F_OK) == 0);
    ts_server_down(&t);
}
END_TEST

START_TEST(tiny_durations_stay_on)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", "0.0005", "--idle-ttl", "0.0005", NULL);
    it_conn *c = it_connect(&s);
    it_send_op(c, BP_OP_HELLO, 1, NULL);
    bp_reply r;
    it_expect_ok(c, 1, IT_TIMEOUT_MS, &r);
    it_assert_msg(it_jnum(&r, "heartbeat_ms") == 10, "heartbeat_ms %g: a tiny value turned "
                  "heartbeats off", it_jnum(&r, "heartbeat_ms"));
    bp_reply_free(&r);
    /* Heartbeats do arrive while a wait is outstanding. */
    it_send_wait(c, 2, "tiny", 2, -1, "c", 0);
    unsigned beats = 0;
    int rc = it_recv_skip(c, 300, 1, &beats, &r);
    it_assert_msg(rc == IT_TIMEOUT && beats >= 3, "%u heartbeats in 300 ms", beats);
    it_close(c);
    /* The broken barrier, now empty, is forgotten by the next sweep (1 s). */
    it_conn *admin = it_connect(&s);
    int64_t deadline = ts_now_ms() + 5000;
    int gone = 0;
    while (!gone && ts_now_ms() < deadline) {
        it_send_op(admin, BP_OP_STATUS, 3, "tiny");
        it_expect_reply(admin, IT_TIMEOUT_MS, &r);
        gone = r.code == BP_ENOTFOUND;
        bp_reply_free(&r);
        ts_sleep_ms(50);
    }
    it_assert_msg(gone, "--idle-ttl 0.0005 never forgot an idle barrier");
    it_close(admin);
    ts_server_down(&s);

    /* Too large or not a number: refused at start, saying which flag. */
    ts_server t = {0};
    const char *bad[] = {"--heartbeat", "-1", NULL};
    it_assert(ts_server_start(&t, bad) < 0);
    it_assert(ts_server_log_contains(&t, "--heartbeat"));
    ts_server_down(&t);
}
END_TEST

START_TEST(ready_file_lists_listeners)
{
    ts_server s = {0};
    ts_server_prepare(&s);
    char ready[200], listen[200];
    snprintf(ready, sizeof ready, "%s/ready", s.dir);
    snprintf(listen, sizeof listen, "unix:%s/r", s.dir);
    ts_server_up(&s, "--listen", listen, "--ready-file", ready, NULL);
    FILE *f = fopen(ready, "r");
    it_assert_msg(f != NULL, "no ready file");
    char line[256], want[256];
    snprintf(want, sizeof want, "127.0.0.1:%d\n", s.port);
    it_assert(fgets(line, sizeof line, f) && strcmp(line, want) == 0);
    snprintf(want, sizeof want, "%s\n", listen);
    it_assert(fgets(line, sizeof line, f) && strcmp(line, want) == 0);
    it_assert(fgets(line, sizeof line, f) == NULL);
    fclose(f);
    ts_server_down(&s);
}
END_TEST

START_TEST(second_signal_exits_zero)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-waits", "5000", "--max-output", "67108864", NULL);
    /* A waiter that never reads nor closes, with more output owed to it than the
     * kernel buffers hold (long lists of 3,000 long-named barriers), keeps the
     * drain going for its grace: its output cannot be flushed. */
    it_conn *admin = it_connect(&s);
    it_conn *holder = it_connect(&s);
    it_hold_barriers(&s, holder, 3000);
    it_conn *stubborn = it_connect_tcp("127.0.0.1", s.port, 4096);
    it_assert(stubborn != NULL);
    it_send_wait(stubborn, 1, "sig", 2, -1, "stubborn", 0);
    it_wait_n_waiting(admin, "sig", 1, IT_TIMEOUT_MS);
    for (int i = 0; i < 8; i++) /* about 1 MB each, never read */
        it_sendf(stubborn, "{\"op\":\"list\",\"id\":%d}", 100 + i);
    ts_sleep_ms(300);
    int64_t t0 = ts_now_ms();
    it_assert(kill(s.pid, SIGTERM) == 0);
    ts_sleep_ms(100);
    it_assert_msg(ts_server_alive(&s), "gone before the grace time");
    it_assert(kill(s.pid, SIGTERM) == 0);
    int st = ts_server_wait(&s, 5000);
    it_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "after a second SIGTERM: status %d (signal %d)", st,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    /* The grace is 3 s: well under it, with room for a loaded machine. */
    it_assert_msg(ts_now_ms() - t0 < 2500, "the second signal did not cut the grace short");
    it_close(stubborn);
    it_close(holder);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(hello_timeout_frees_slot)
{
    ts_server s = {0};
    ts_server_prepare(&s);
    char tok[200];
    snprintf(tok, sizeof tok, "%s/token", s.dir);
    write_file(tok, "sekrit\n");
    ts_server_up(&s, "--auth-token-file", tok, "--hello-timeout", "0.2", "--max-connections",
                    "2", NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s);
    /* Neither says hello: each is told why and closed. */
    char msg[256];
    it_expect_err(a, -1, BP_EAUTH, 3000, msg, sizeof msg);
    it_assert_msg(strstr(msg, "hello"), "message: %s", msg);
    it_expect_eof(a, 3000);
    it_expect_err(b, -1, BP_EAUTH, 3000, NULL, 0);
    it_close(a);
    it_close(b);
    /* Their slots are free again for a client that knows the token. */
    it_conn *c = it_connect(&s);
    it_sendf(c, "{\"op\":\"hello\",\"id\":1,\"token\":\"sekrit\"}");
    bp_reply r;
    it_expect_ok(c, 1, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_assert(it_stat(c, "hello_timeouts") == 2);
    /* An authenticated connection has no such deadline. */
    ts_sleep_ms(1500);
    it_expect_ping(c, 2);
    it_close(c);
    ts_server_down(&s);
}
END_TEST

START_TEST(escaped_token_not_logged)
{
    ts_server s = {0};
    ts_server_prepare(&s);
    char tok[200];
    snprintf(tok, sizeof tok, "%s/token", s.dir);
    write_file(tok, "sekrit-7f3a\n");
    ts_server_up(&s, "--auth-token-file", tok, "--log-level", "debug", NULL);
    it_conn *c = it_connect(&s);
    /* The key spelled with an escape; then a line too broken to read. */
    it_sendf(c, "{\"op\":\"hello\",\"id\":1,\"tok\\u0065n\":\"sekrit-7f3a\"}");
    bp_reply r;
    it_expect_ok(c, 1, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_sendf(c, "{\"op\":\"hello\",\"id\":2,\"t\\u006fken\":\"sekrit-7f3a\"");
    it_expect_err(c, -1, BP_EPROTO, IT_TIMEOUT_MS, NULL, 0);
    it_sendf(c, "{\"op\":\"ping\",\"id\":3,\"note\":\"visible-marker\"}");
    it_expect_ping(c, 3);
    it_close(c);
    ts_server_stop(&s, 5000, NULL);
    it_assert_msg(ts_server_log_contains(&s, "visible-marker"), "debug logging is off");
    it_assert_msg(!ts_server_log_contains(&s, "sekrit-7f3a"), "the token reached the log");
    ts_server_down(&s);
}
END_TEST

/* The hello reply says --max-line; --max-data must be below it (a wait's data
 * travels inside its line), and a small --max-line alone lowers the default. */
START_TEST(max_data_below_max_line)
{
    ts_server t = {0};
    const char *bad[] = {"--max-line", "1000", "--max-data", "1000", NULL};
    it_assert_msg(ts_server_start(&t, bad) < 0, "--max-data 1000 --max-line 1000 was taken");
    it_assert_msg(ts_server_log_contains(&t, "--max-data 1000 must be below --max-line 1000"),
                  "the refusal does not say why");
    ts_server_down(&t);

    ts_server s = {0};
    ts_server_up(&s, "--max-line", "1000", NULL);
    it_conn *c = it_connect(&s);
    it_send_op(c, BP_OP_HELLO, 1, NULL);
    bp_reply r;
    it_expect_ok(c, 1, IT_TIMEOUT_MS, &r);
    it_assert_msg(it_jnum(&r, "max_line") == 1000, "hello says max_line %g",
                  it_jnum(&r, "max_line"));
    bp_reply_free(&r);
    it_close(c);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"unix_live_socket_refused", unix_live_socket_refused, 0},
        {"unix_stale_socket_replaced", unix_stale_socket_replaced, 0},
        {"tiny_durations_stay_on", tiny_durations_stay_on, 0},
        {"ready_file_lists_listeners", ready_file_lists_listeners, 0},
        {"second_signal_exits_zero", second_signal_exits_zero, 0},
        {"hello_timeout_frees_slot", hello_timeout_frees_slot, 0},
        {"escaped_token_not_logged", escaped_token_not_logged, 0},
        {"max_data_below_max_line", max_data_below_max_line, 0},
    };
    return ts_run_cases("config", cases, TS_NCASES(cases));
}
