/* test_heartbeat.c - heartbeats with --heartbeat 0.2: a hello'd waiter that goes
 * silent (SIGSTOP) is dropped and breaks its barrier; one that answers pong
 * stays; one that never said hello is never dropped for silence. */
#include "itest_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HB "0.2"
#define HB_MS 200

#define has(hay, needle) (strstr((hay), (needle)) != NULL)

START_TEST(heartbeat_pong_keeps)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", HB, NULL);
    it_conn *h = it_connect(&s), *admin = it_connect(&s);
    bp_reply r;
    it_send_op(h, BP_OP_HELLO, 1, NULL);
    it_expect_ok(h, 1, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_send_wait(h, 2, "hb", 2, -1, "ponger", 0);

    /* 1.5 s = 7.5 intervals, more than twice the 3-interval limit. */
    unsigned beats = 0;
    int rc = it_recv_skip(h, 1500, 1, &beats, &r);
    if (rc == IT_LINE)
        bp_reply_free(&r);
    it_assert_msg(rc == IT_TIMEOUT, "a pong-answering waiter got %s",
                  rc == IT_LINE ? "a message" : "closed");
    it_assert_msg(beats >= 3, "only %u heartbeats in 1.5 s at 0.2 s intervals", beats);
    it_wait_n_waiting(admin, "hb", 1, IT_TIMEOUT_MS);
    it_assert(it_stat(admin, "dropped_silent") == 0);

    it_conn *b = it_connect(&s);
    it_send_wait(b, 3, "hb", 2, -1, "second", 0);
    it_expect_release(b, 3, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(h, 2, IT_TIMEOUT_MS, NULL, NULL);
    /* Idle again (no wait outstanding): no more heartbeats. */
    beats = 0;
    rc = it_recv_skip(h, 5 * HB_MS, 0, &beats, &r);
    if (rc == IT_LINE)
        bp_reply_free(&r);
    it_assert(rc == IT_TIMEOUT);
    it_assert_msg(beats <= 1, "%u heartbeats to a connection with no wait outstanding", beats);
    it_close(b);
    it_close(h);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* The server itself stalls (SIGSTOP) for many intervals while a waiter that
 * answers heartbeats is connected. After SIGCONT its first heartbeat runs
 * before its input is read: the waiter must not be judged silent for the time
 * the server was not running. */
START_TEST(heartbeat_server_stall_keeps)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", HB, NULL);
    it_conn *h = it_connect(&s), *admin = it_connect(&s);
    bp_reply r;
    it_send_op(h, BP_OP_HELLO, 1, NULL);
    it_expect_ok(h, 1, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_send_wait(h, 2, "stall", 2, -1, "ponger", 0);
    it_wait_n_waiting(admin, "stall", 1, IT_TIMEOUT_MS);

    it_assert(kill(s.pid, SIGSTOP) == 0);
    ts_sleep_ms(8 * HB_MS); /* more than twice the 3-interval limit */
    it_assert(kill(s.pid, SIGCONT) == 0);

    unsigned beats = 0;
    int rc = it_recv_skip(h, 6 * HB_MS, 1, &beats, &r);
    if (rc == IT_LINE)
        bp_reply_free(&r);
    it_assert_msg(rc == IT_TIMEOUT, "a pong-answering waiter got %s after the server stalled",
                  rc == IT_LINE ? "a message" : "closed");
    it_assert(it_stat(admin, "dropped_silent") == 0);

    it_conn *b = it_connect(&s);
    it_send_wait(b, 3, "stall", 2, -1, "second", 0);
    it_expect_release(b, 3, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(h, 2, IT_TIMEOUT_MS, NULL, NULL);
    it_close(b);
    it_close(h);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(heartbeat_nohello_kept)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", HB, NULL);
    it_conn *q = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(q, 1, "hbq", 2, -1, "quiet", 0);
    it_wait_n_waiting(admin, "hbq", 1, IT_TIMEOUT_MS);
    ts_sleep_ms(2000); /* 10 intervals without a word from q */
    it_wait_n_waiting(admin, "hbq", 1, IT_TIMEOUT_MS);
    it_assert(it_stat(admin, "dropped_silent") == 0);
    /* It was sent heartbeats all along, and nothing else. */
    unsigned beats = 0;
    bp_reply r;
    int rc = it_recv_skip(q, 100, 0, &beats, &r);
    if (rc == IT_LINE)
        bp_reply_free(&r);
    it_assert(rc == IT_TIMEOUT);
    it_assert_msg(beats >= 3, "only %u heartbeats queued in 2 s", beats);

    it_conn *b = it_connect(&s);
    it_send_wait(b, 2, "hbq", 2, -1, "second", 0);
    unsigned iq, ib;
    it_expect_release(q, 1, IT_TIMEOUT_MS, &iq, NULL);
    it_expect_release(b, 2, IT_TIMEOUT_MS, &ib, NULL);
    it_assert(iq == 0 && ib == 1);
    it_close(b);
    it_close(q);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* A hello'd waiter in its own process that answers heartbeats until stopped. */
typedef struct sleeper_arg {
    int port;
    int ready_fd;
} sleeper_arg;

static int sleeper(void *p)
{
    sleeper_arg *a = p;
    it_conn *c = it_connect_tcp("127.0.0.1", a->port, 0);
    if (!c)
        return 2;
    bp_request q;
    it_req_init(&q, BP_OP_HELLO, 1);
    q.version = BP_PROTOCOL_VERSION;
    bp_reply r;
    if (it_send_req(c, &q) < 0 || it_recv(c, IT_TIMEOUT_MS, &r) != IT_LINE)
        return 3;
    bp_reply_free(&r);
    it_req_init(&q, BP_OP_WAIT, 2);
    strcpy(q.barrier, "hbs");
    q.barrier_len = 3;
    q.parties = 3;
    strcpy(q.client, "sleepy");
    if (it_send_req(c, &q) < 0)
        return 4;
    char one = 1;
    if (write(a->ready_fd, &one, 1) != 1)
        return 5;
    /* Answer heartbeats (bounded: the parent stops and kills us long before). */
    int rc = it_recv_skip(c, 30000, 1, NULL, &r);
    if (rc == IT_LINE)
        bp_reply_free(&r);
    return 6;
}

START_TEST(heartbeat_drop_stopped)
{
    ts_server s = {0};
    ts_server_up(&s, "--heartbeat", HB, NULL);
    it_conn *a = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "hbs", 3, -1, "watcher", 0);
    int fds[2];
    it_assert(pipe(fds) == 0);
    sleeper_arg sa = {s.port, fds[1]};
    pid_t pid = it_fork(sleeper, &sa);
    char one;
    it_assert(read(fds[0], &one, 1) == 1);
    close(fds[0]);
    close(fds[1]);
    it_wait_n_waiting(admin, "hbs", 2, IT_TIMEOUT_MS);
    /* While it answers, it stays: 1 s = 5 intervals. */
    it_expect_silence(a, 1000);
    it_wait_n_waiting(admin, "hbs", 2, IT_TIMEOUT_MS);

    int64_t t0 = ts_now_ms();
    it_assert(kill(pid, SIGSTOP) == 0);
    char m[BP_MESSAGE_MAX];
    it_expect_err(a, 1, BP_EBROKEN, 3000, m, sizeof m);
    int64_t took = ts_now_ms() - t0;
    it_assert_msg(took < 3000, "dropped %lld ms after it went silent", (long long)took);
    it_assert_msg(has(m, "party lost") && has(m, "sleepy"), "message: %s", m);
    it_assert(it_stat(admin, "dropped_silent") == 1);
    fprintf(stderr, "heartbeat_drop_stopped: dropped %lld ms after SIGSTOP (heartbeat %d ms)\n",
            (long long)took, HB_MS);

    kill(pid, SIGKILL);
    kill(pid, SIGCONT);
    int st = ts_reap(pid, 5000);
    it_assert(st >= 0 && WIFSIGNALED(st));
    it_close(a);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"heartbeat_pong_keeps", heartbeat_pong_keeps, 0},
        {"heartbeat_nohello_kept", heartbeat_nohello_kept, 0},
        {"heartbeat_server_stall_keeps", heartbeat_server_stall_keeps, 0},
        {"heartbeat_drop_stopped", heartbeat_drop_stopped, 0},
    };
    return ts_run_cases("heartbeat", cases, TS_NCASES(cases));
}
