/* test_closing.c - how connections end: a client that half-closes after its
 * request still gets the whole reply, a client that closes with output queued
 * and an oversized line does not hurt the server, and connections being
 * refused or drained stop holding slots of --max-connections. */
#include "itest_fixture.h"

#include <cjson/cJSON.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Barriers held (it_hold_barriers) so that a list reply (about 7 MB) is larger
 * than what the kernel buffers for one socket pair (tcp_wmem's 4 MB at most):
 * some of it must queue in barrierd. */
#define N_BARRIERS 20000

/* Read everything until the server closes (bounded in time). */
static char *read_to_eof(int fd, size_t *len)
{
    size_t cap = 16 << 20, n = 0;
    char *buf = malloc(cap);
    int64_t deadline = ts_now_ms() + 20000;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - ts_now_ms();
        it_assert_msg(left > 0, "no end of the reply after %zu bytes", n);
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

START_TEST(half_close_gets_whole_reply)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-waits", "30000", NULL);
    it_conn *holder = it_connect(&s);
    it_hold_barriers(&s, holder, N_BARRIERS);
    /* What `nc -N` does: the request, then FIN, then read until EOF. */
    it_conn *script = it_connect_tcp("127.0.0.1", s.port, 4096);
    it_assert(script != NULL);
    it_sendf(script, "{\"op\":\"list\",\"id\":1}");
    it_assert(shutdown(script->fd, SHUT_WR) == 0);
    size_t len;
    char *reply = read_to_eof(script->fd, &len);
    it_assert_msg(len > (5u << 20) && reply[len - 1] == '\n', "%zu bytes, cut short", len);
    cJSON *j = cJSON_ParseWithLength(reply, len);
    it_assert_msg(j != NULL, "the reply is not whole JSON (%zu bytes)", len);
    it_assert(cJSON_GetArraySize(cJSON_GetObjectItem(j, "barriers")) == N_BARRIERS);
    cJSON_Delete(j);
    free(reply);
    it_close(script);
    /* A half-closed waiter still leaves its barrier, breaking it for the others. */
    it_conn *w = it_connect(&s), *other = it_connect(&s);
    it_send_wait(other, 1, "hc", 2, -1, "other", 0);
    it_conn *admin = it_connect(&s);
    it_wait_n_waiting(admin, "hc", 1, IT_TIMEOUT_MS);
    it_send_wait(w, 1, "hc2", 2, -1, "w", 0);
    it_wait_n_waiting(admin, "hc2", 1, IT_TIMEOUT_MS);
    it_assert(shutdown(w->fd, SHUT_WR) == 0);
    it_wait_n_waiting(admin, "hc2", 0, IT_TIMEOUT_MS);
    bp_reply r;
    it_status(admin, "hc2", &r);
    it_assert(it_jbool(&r, "broken") == 1);
    bp_reply_free(&r);
    it_close(w);
    it_close(other);
    it_close(admin);
    it_close(holder);
    ts_server_down(&s);
}
END_TEST

START_TEST(queued_output_oversized_line_close)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-line", "1024", "--max-waits", "30000", NULL);
    it_conn *holder = it_connect(&s);
    it_hold_barriers(&s, holder, N_BARRIERS);
    for (int round = 0; round < 4; round++) {
        /* A reader that does not read: the list reply queues up. */
        it_conn *c = it_connect_tcp("127.0.0.1", s.port, 4096);
        it_assert(c != NULL);
        it_sendf(c, "{\"op\":\"list\",\"id\":1}");
        ts_sleep_ms(5);
        char big[4096];
        memset(big, 'x', sizeof big);
        it_send_raw(c, big, sizeof big); /* over --max-line, and no newline */
        it_close(c);
    }
    ts_sleep_ms(200);
    it_assert_msg(ts_server_alive(&s), "barrierd died");
    it_conn *admin = it_connect(&s);
    it_expect_ping(admin, 1);
    it_assert(it_stat(admin, "waiting") == N_BARRIERS);
    it_close(admin);
    it_close(holder);
    ts_server_down(&s);
}
END_TEST

START_TEST(refused_and_draining_free_slots)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-connections", "2", NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s);
    it_expect_ping(a, 1);
    it_expect_ping(b, 1);
    /* Over the limit: refused, and then left open by a client that ignores it. */
    it_conn *refused = it_connect(&s);
    it_expect_err(refused, -1, BP_ELIMIT, IT_TIMEOUT_MS, NULL, 0);
    /* One of the two leaves: its slot is free at once, although the refused
     * connection is still draining. */
    it_close(a);
    ts_sleep_ms(50);
    it_conn *c = it_connect(&s);
    it_assert_msg(it_try_ping(c, 2, IT_TIMEOUT_MS), "a free slot was not given out");
    /* A connection closing after an error (an oversized line) frees its slot too. */
    it_conn *d = it_connect(&s);
    it_expect_err(d, -1, BP_ELIMIT, IT_TIMEOUT_MS, NULL, 0);
    it_close(d);
    it_close(refused);
    it_close(b);
    it_close(c);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"half_close_gets_whole_reply", half_close_gets_whole_reply, 0},
        {"queued_output_oversized_line_close", queued_output_oversized_line_close, 0},
        {"refused_and_draining_free_slots", refused_and_draining_free_slots, 0},
    };
    return ts_run_cases("closing", cases, TS_NCASES(cases));
}
