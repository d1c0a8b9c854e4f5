/* test_lifecycle.c - SIGTERM with waiters, and the other listeners: unix:/path
 * and [::1]:0. */
#include "itest_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Read until the connection closes (bounded): count shutdown events, and the
 * reply to wait_id (< 0: none expected) must be a "shutdown" error. */
static void expect_shutdown(it_conn *c, int64_t wait_id, int timeout_ms, const char *who)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    int events = 0, replies = 0;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        bp_reply r;
        int rc = it_recv(c, left > 0 ? (int)left : 0, &r);
        if (rc == IT_EOF)
            break;
        it_assert_msg(rc == IT_LINE, "%s: %s before the close", who,
                      rc == IT_TIMEOUT ? "timed out" : "bad line");
        if (r.kind == BP_MSG_SHUTDOWN) {
            events++;
        } else if (r.kind == BP_MSG_REPLY) {
            int ok = wait_id >= 0 && r.has_id && r.id == (uint64_t)wait_id &&
                     r.code == BP_ESHUTDOWN && r.message[0];
            it_assert_msg(ok, "%s: unexpected reply id %llu code %s: %s", who,
                          (unsigned long long)r.id, r.code ? bp_err_name(r.code) : "ok",
                          r.message);
            replies++;
        }
        bp_reply_free(&r);
    }
    it_assert_msg(events == 1, "%s: %d shutdown events", who, events);
    it_assert_msg(replies == (wait_id >= 0), "%s: %d shutdown replies", who, replies);
}

START_TEST(sigterm_shutdown)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *c = it_connect(&s);
    it_conn *idle = it_connect(&s), *hello = it_connect(&s);
    it_send_wait(a, 1, "s1", 3, -1, "a", 0);
    it_send_wait(b, 2, "s1", 3, 60000, "b", 0);
    it_send_wait(c, 3, "s2", 2, -1, "c", 0);
    it_send_op(hello, BP_OP_HELLO, 4, NULL);
    bp_reply r;
    it_expect_ok(hello, 4, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_wait_n_waiting(idle, "s1", 2, IT_TIMEOUT_MS);
    it_wait_n_waiting(idle, "s2", 1, IT_TIMEOUT_MS);

    int64_t t0 = ts_now_ms();
    it_assert(kill(s.pid, SIGTERM) == 0);
    /* The waiters read to the close, then close like a client would. */
    expect_shutdown(a, 1, 5000, "waiter a");
    expect_shutdown(b, 2, 5000, "waiter b");
    expect_shutdown(c, 3, 5000, "waiter c");
    it_close(a);
    it_close(b);
    it_close(c);
    /* These two see the event and the close, but keep their sockets open:
     * the server must not wait for them for ever. */
    expect_shutdown(idle, -1, 5000, "idle connection");
    expect_shutdown(hello, -1, 5000, "hello'd connection");
    int64_t left = 5000 - (ts_now_ms() - t0);
    int st = ts_server_wait(&s, left > 0 ? (int)left : 0);
    int64_t took = ts_now_ms() - t0;
    it_assert_msg(st != -1, "barrierd still running %lld ms after SIGTERM", (long long)took);
    it_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "barrierd exit status %d", st);
    it_assert(ts_server_log_contains(&s, "shutting down"));
    /* Gone: nothing listens any more. */
    errno = 0;
    it_conn *late = it_connect_tcp("127.0.0.1", s.port, 0);
    it_assert_msg(late == NULL && errno == ECONNREFUSED, "connect after exit: %s",
                  late ? "accepted" : strerror(errno));
    fprintf(stderr, "sigterm_shutdown: exited 0 %lld ms after SIGTERM\n", (long long)took);
    it_close(idle);
    it_close(hello);
    ts_server_down(&s);
}
END_TEST

START_TEST(unix_listener)
{
    ts_server s = {0};
    ts_server_prepare(&s);
    char listen[200], path[sizeof s.dir + 16];
    snprintf(path, sizeof path, "%s/bd.sock", s.dir);
    snprintf(listen, sizeof listen, "unix:%s", path);
    ts_server_up(&s, "--listen", listen, NULL);
    const char *bound = ts_server_addr(&s, "unix:");
    it_assert_msg(bound && strcmp(bound + 5, path) == 0, "unix listener %s, expected %s",
                  bound ? bound : "(none)", path);
    it_conn *u = it_connect_unix(path);
    it_assert_msg(u != NULL, "connect %s: %s", path, strerror(errno));
    it_conn *t = it_connect(&s);
    it_expect_ping(u, 1);
    it_send_wait(u, 2, "ux", 2, -1, "unixy", 0);
    it_wait_n_waiting(t, "ux", 1, IT_TIMEOUT_MS);
    bp_reply r;
    it_status(t, "ux", &r);
    const cJSON *w0 = cJSON_GetArrayItem(it_jget(&r, "waiting"), 0);
    const char *peer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w0, "peer"));
    const char *client = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w0, "client"));
    it_assert_msg(peer && strcmp(peer, "unix") == 0, "peer %s", peer ? peer : "(none)");
    it_assert(client && strcmp(client, "unixy") == 0);
    bp_reply_free(&r);
    it_send_wait(t, 3, "ux", 2, -1, "tcp", 0);
    unsigned iu, itcp;
    it_expect_release(u, 2, IT_TIMEOUT_MS, &iu, NULL);
    it_expect_release(t, 3, IT_TIMEOUT_MS, &itcp, NULL);
    it_assert(iu == 0 && itcp == 1);
    it_close(u);
    it_close(t);
    int64_t took;
    int st = ts_server_stop(&s, 5000, &took);
    it_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* A socket left at the path (a crash, or a stop that keeps it) does not
     * stop the next run. */
    ts_server s2 = {0};
    memcpy(s2.dir, s.dir, sizeof s.dir);
    ts_server_up(&s2, "--listen", listen, NULL);
    u = it_connect_unix(path);
    it_assert_msg(u != NULL, "connect %s after a restart: %s", path, strerror(errno));
    it_expect_ping(u, 4);
    it_close(u);
    st = ts_server_stop(&s2, 5000, NULL);
    it_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* A path that holds something else is not clobbered: barrierd refuses to start. */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    it_assert(fd >= 0 && write(fd, "keep", 4) == 4);
    close(fd);
    ts_server s3 = {0};
    memcpy(s3.dir, s.dir, sizeof s.dir);
    const char *args[] = {"--listen", listen, NULL};
    it_assert_msg(ts_server_start(&s3, args) < 0, "barrierd listened over a regular file");
    it_assert_msg(WIFEXITED(s3.status) && WEXITSTATUS(s3.status) != 0,
                  "refusing to listen should exit non-zero (status %d)", s3.status);
    struct stat sb;
    it_assert(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 4);
    unlink(path);
    ts_server_down(&s3);
    ts_server_down(&s);
}
END_TEST

START_TEST(ipv6_listener)
{
    if (!ts_have_ipv6_loopback()) {
        ts_skip("ipv6_listener: cannot bind [::1] on this host");
        return;
    }
    ts_server s = {0};
    ts_server_up(&s, "--listen", "[::1]:0", NULL);
    int port6 = ts_server_port(&s, "[::1]:");
    it_assert_msg(port6 > 0, "no [::1] address in the ready file");
    it_conn *v6 = it_connect_tcp("::1", port6, 0);
    it_assert_msg(v6 != NULL, "connect [::1]:%d: %s", port6, strerror(errno));
    it_conn *v4 = it_connect(&s);
    it_expect_ping(v6, 1);
    it_send_wait(v6, 2, "six", 2, -1, "v6", 0);
    it_wait_n_waiting(v4, "six", 1, IT_TIMEOUT_MS);
    bp_reply r;
    it_status(v4, "six", &r);
    const cJSON *w0 = cJSON_GetArrayItem(it_jget(&r, "waiting"), 0);
    const char *peer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w0, "peer"));
    char want[64];
    snprintf(want, sizeof want, "[::1]:%d", v6->local_port);
    it_assert_msg(peer && strcmp(peer, want) == 0, "peer %s, expected %s", peer ? peer : "(none)",
                  want);
    bp_reply_free(&r);
    it_send_wait(v4, 3, "six", 2, -1, "v4", 0);
    it_expect_release(v6, 2, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(v4, 3, IT_TIMEOUT_MS, NULL, NULL);
    it_close(v6);
    it_close(v4);
    ts_server_down(&s);
}
END_TEST

START_TEST(sigint_shutdown)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "si", 2, -1, "a", 0);
    it_wait_n_waiting(admin, "si", 1, IT_TIMEOUT_MS);
    int64_t t0 = ts_now_ms();
    it_assert(kill(s.pid, SIGINT) == 0);
    expect_shutdown(a, 1, 5000, "waiter");
    expect_shutdown(admin, -1, 5000, "admin");
    it_close(a);
    it_close(admin);
    int st = ts_server_wait(&s, 5000);
    it_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "barrierd after SIGINT: status %d", st);
    it_assert(ts_now_ms() - t0 < 5000);
    ts_server_down(&s);
}
END_TEST

/* The launcher's restart: the same arguments on the same 127.0.0.1 port, so a
 * client can come back to the address it knew. Barriers do not survive. */
START_TEST(restart_same_port)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-barriers", "5", NULL);
    int port = s.port;
    it_conn *a = it_connect(&s);
    it_send_wait(a, 1, "before", 1, -1, "a", 0);
    it_expect_release(a, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_assert(it_stat(a, "barriers") == 1);
    it_close(a);
    ts_server_restart_up(&s);
    it_assert_msg(s.port == port, "restarted on port %d, not %d", s.port, port);
    it_conn *b = it_connect(&s);
    it_expect_ping(b, 2);
    it_send_op(b, BP_OP_STATUS, 3, "before");
    it_expect_err(b, 3, BP_ENOTFOUND, IT_TIMEOUT_MS, NULL, 0);
    it_assert(it_stat(b, "barriers") == 0);
    it_close(b);
    /* The log holds both runs; the second one with the same extra arguments. */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "--listen 127.0.0.1:%d --ready-file %s --max-barriers 5", port,
             s.ready_path);
    it_assert_msg(ts_server_log_contains(&s, cmd), "no '%s' in the log", cmd);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"sigterm_shutdown", sigterm_shutdown, 0},
        {"sigint_shutdown", sigint_shutdown, 0},
        {"unix_listener", unix_listener, 0},
        {"ipv6_listener", ipv6_listener, 0},
        {"restart_same_port", restart_same_port, 0},
    };
    return ts_run_cases("lifecycle", cases, TS_NCASES(cases));
}
