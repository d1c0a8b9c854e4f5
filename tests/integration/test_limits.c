/* test_limits.c - --max-connections, --max-barriers and --idle-ttl over real
 * sockets. */
#include "itest_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(max_connections)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-connections", "5", NULL);
    it_conn *c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = it_connect(&s);
        it_expect_ping(c[i], 1);
    }
    /* The 6th: a limit error, then closed. */
    it_conn *x = it_connect(&s);
    char m[BP_MESSAGE_MAX];
    it_expect_err(x, -1, BP_ELIMIT, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(strstr(m, "connections"), "limit message: %s", m);
    it_expect_eof(x, IT_TIMEOUT_MS);
    it_close(x);
    /* The others are fine, and one of them can still meet another at a barrier. */
    for (int i = 0; i < 5; i++)
        it_expect_ping(c[i], 2);
    it_send_wait(c[0], 3, "mc", 2, -1, NULL, 0);
    it_send_wait(c[1], 3, "mc", 2, -1, NULL, 0);
    it_expect_release(c[0], 3, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(c[1], 3, IT_TIMEOUT_MS, NULL, NULL);
    it_assert(it_stat(c[2], "refused") == 1);

    /* After one closes, a new one is accepted (the close is noticed
     * asynchronously: retry, bounded). */
    it_close(c[4]);
    int64_t deadline = ts_now_ms() + 5000;
    int tries = 0;
    for (;;) {
        it_conn *n = it_connect(&s);
        tries++;
        bp_request q;
        it_req_init(&q, BP_OP_PING, 9);
        (void)it_send_req(n, &q); /* may fail if refused: then the reply says so */
        bp_reply r;
        int rc = it_recv_skip(n, IT_TIMEOUT_MS, 0, NULL, &r);
        int accepted = rc == IT_LINE && r.code == 0 && r.has_id && r.id == 9;
        if (rc == IT_LINE)
            bp_reply_free(&r);
        if (accepted) {
            c[4] = n;
            break;
        }
        it_close(n);
        it_assert_msg(ts_now_ms() < deadline, "no connection accepted after one closed (%d tries)",
                      tries);
        ts_sleep_ms(50);
    }
    for (int i = 0; i < 5; i++)
        it_expect_ping(c[i], 10);
    for (int i = 0; i < 5; i++)
        it_close(c[i]);
    ts_server_down(&s);
}
END_TEST

/* A reply larger than --max-output (a long list) is sent whole: the limit is
 * for replies piling up unread, not for one big answer. */
START_TEST(big_list_reply)
{
    enum { NB = 3000 };
    ts_server s = {0};
    ts_server_up(&s, "--max-output", "65536", NULL);
    /* A small receive buffer, so most of the reply must wait in the server's queue. */
    it_conn *x = it_connect_tcp("127.0.0.1", s.port, 4096);
    char name[32];
    for (int i = 0; i < NB; i++) { /* each breaks at once: timeout 0, 2 parties */
        snprintf(name, sizeof name, "big-list-barrier-%05d", i);
        it_send_wait(x, (uint64_t)i, name, 2, 0, NULL, 0);
        it_expect_err(x, i, BP_ETIMEDOUT, IT_TIMEOUT_MS, NULL, 0);
    }
    bp_reply r;
    it_send_op(x, BP_OP_LIST, 99999, NULL);
    it_expect_ok(x, 99999, IT_TIMEOUT_MS, &r);
    const cJSON *arr = it_jget(&r, "barriers");
    it_assert_msg(cJSON_GetArraySize(arr) == NB, "listed %d of %d barriers",
                  cJSON_GetArraySize(arr), NB);
    bp_reply_free(&r);
    it_expect_ping(x, 100000); /* still connected */
    it_assert(it_stat(x, "dropped_slow") == 0);
    it_close(x);
    ts_server_down(&s);
}
END_TEST

START_TEST(max_barriers)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-barriers", "3", NULL);
    it_conn *w[3], *x = it_connect(&s);
    const char *names[3] = {"b1", "b2", "b3"};
    for (int i = 0; i < 3; i++) {
        w[i] = it_connect(&s);
        it_send_wait(w[i], 1, names[i], 2, -1, NULL, 0);
        it_wait_n_waiting(x, names[i], 1, IT_TIMEOUT_MS);
    }
    char m[BP_MESSAGE_MAX];
    it_send_wait(x, 2, "b4", 2, -1, NULL, 0);
    it_expect_err(x, 2, BP_ELIMIT, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(strstr(m, "barriers"), "limit message: %s", m);
    it_send_op(x, BP_OP_STATUS, 3, "b4");
    it_expect_err(x, 3, BP_ENOTFOUND, IT_TIMEOUT_MS, NULL, 0);
    /* The existing ones still work. */
    it_send_wait(x, 4, "b1", 2, -1, NULL, 0);
    it_expect_release(w[0], 1, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(x, 4, IT_TIMEOUT_MS, NULL, NULL);
    it_assert(it_stat(x, "barriers") == 3);
    it_expect_silence(w[1], 20);
    for (int i = 0; i < 3; i++)
        it_close(w[i]);
    it_close(x);
    ts_server_down(&s);
}
END_TEST

/* The names in a list reply: bit i set when names[i] is listed. */
static unsigned listed(it_conn *admin, const char *const *names, unsigned n)
{
    static uint64_t id = 100;
    it_send_op(admin, BP_OP_LIST, ++id, NULL);
    bp_reply r;
    it_expect_ok(admin, id, IT_TIMEOUT_MS, &r);
    unsigned bits = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, it_jget(&r, "barriers"))
    {
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "barrier"));
        for (unsigned i = 0; nm && i < n; i++)
            if (strcmp(nm, names[i]) == 0)
                bits |= 1u << i;
    }
    bp_reply_free(&r);
    return bits;
}

START_TEST(idle_ttl)
{
    ts_server s = {0};
    ts_server_up(&s, "--idle-ttl", "1", NULL);
    it_conn *e = it_connect(&s), *w = it_connect(&s), *k = it_connect(&s);
    it_conn *admin = it_connect(&s);
    const char *names[3] = {"empty", "broken", "busy"};
    /* empty: released, nobody left. broken: aborted, nobody left. busy: one waiting. */
    it_send_wait(e, 1, "empty", 1, -1, NULL, 0);
    it_expect_release(e, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_send_wait(k, 2, "broken", 2, -1, NULL, 0);
    it_wait_n_waiting(admin, "broken", 1, IT_TIMEOUT_MS);
    it_send_op(admin, BP_OP_ABORT, 3, "broken");
    bp_reply r;
    it_expect_ok(admin, 3, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_expect_err(k, 2, BP_EBROKEN, IT_TIMEOUT_MS, NULL, 0);
    it_send_wait(w, 4, "busy", 2, -1, "stays", 0);
    it_wait_n_waiting(admin, "busy", 1, IT_TIMEOUT_MS);
    it_assert(listed(admin, names, 3) == 7);

    int64_t t0 = ts_now_ms();
    unsigned bits;
    while ((bits = listed(admin, names, 3)) != 4) {
        it_assert_msg(bits & 4, "the barrier with a waiter was forgotten");
        it_assert_msg(ts_now_ms() - t0 < 5000,
                      "empty barriers still listed %lld ms later (ttl 1 s): bits %u",
                      (long long)(ts_now_ms() - t0), bits);
        ts_sleep_ms(100);
    }
    int64_t took = ts_now_ms() - t0;
    /* The busy one stays, however long. */
    ts_sleep_ms(1500);
    it_assert(listed(admin, names, 3) == 4);
    it_wait_n_waiting(admin, "busy", 1, IT_TIMEOUT_MS);
    /* A forgotten name starts afresh: another parties count, generation 0. */
    it_send_wait(e, 5, "empty", 2, -1, NULL, 0);
    it_send_wait(k, 6, "empty", 2, -1, NULL, 0);
    uint64_t gen;
    it_expect_release(e, 5, IT_TIMEOUT_MS, NULL, &gen);
    it_expect_release(k, 6, IT_TIMEOUT_MS, NULL, NULL);
    it_assert(gen == 0);
    it_conn *w2 = it_connect(&s);
    it_send_wait(w2, 7, "busy", 2, -1, NULL, 0);
    it_expect_release(w, 4, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(w2, 7, IT_TIMEOUT_MS, NULL, NULL);
    fprintf(stderr, "idle_ttl: empty barriers forgotten %lld ms after they were seen (ttl 1 s)\n",
            (long long)took);
    it_close(e);
    it_close(w);
    it_close(w2);
    it_close(k);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"max_connections", max_connections, 0},
        {"max_barriers", max_barriers, 0},
        {"big_list_reply", big_list_reply, 0},
        {"idle_ttl", idle_ttl, 0},
    };
    return ts_run_cases("limits", cases, TS_NCASES(cases));
}
