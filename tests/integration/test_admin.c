/* test_admin.c - the inspection ops over real sockets: status (with the waiting
 * members' names and peers), list, stats counters, ping, hello. */
#include "itest_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(status_list_stats)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    bp_reply r;

    it_send_wait(a, 1, "st", 3, -1, "alpha", 0);
    it_wait_n_waiting(admin, "st", 1, IT_TIMEOUT_MS);
    it_send_wait(b, 2, "st", 3, -1, "beta", 0);
    it_wait_n_waiting(admin, "st", 2, IT_TIMEOUT_MS);

    it_send_op(admin, BP_OP_STATUS, 5, "st");
    it_expect_ok(admin, 5, IT_TIMEOUT_MS, &r);
    it_assert(strcmp(it_jstr(&r, "barrier"), "st") == 0);
    it_assert(it_jnum(&r, "parties") == 3);
    it_assert(it_jnum(&r, "n_waiting") == 2);
    it_assert(it_jbool(&r, "broken") == 0);
    it_assert(it_jnum(&r, "generation") == 0);
    it_assert(strcmp(it_jstr(&r, "state"), "filling") == 0);
    it_assert(it_jstr(&r, "reason") != NULL);
    const cJSON *waiting = it_jget(&r, "waiting");
    it_assert(cJSON_IsArray(waiting) && cJSON_GetArraySize(waiting) == 2);
    const char *names[2] = {"alpha", "beta"};
    int ports[2] = {a->local_port, b->local_port};
    for (int i = 0; i < 2; i++) {
        const cJSON *w = cJSON_GetArrayItem(waiting, i);
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(w, "index");
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(w, "client");
        const cJSON *peer = cJSON_GetObjectItemCaseSensitive(w, "peer");
        it_assert(cJSON_IsNumber(idx) && idx->valuedouble == i);
        it_assert(cJSON_IsString(cl) && strcmp(cl->valuestring, names[i]) == 0);
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%d", ports[i]);
        it_assert_msg(cJSON_IsString(peer) && strcmp(peer->valuestring, want) == 0,
                      "peer %s, expected %s", cJSON_IsString(peer) ? peer->valuestring : "?",
                      want);
    }
    bp_reply_free(&r);

    /* A second barrier, released once. */
    it_conn *c = it_connect(&s);
    it_send_wait(c, 3, "st2", 1, -1, "solo", 0);
    unsigned idx;
    uint64_t gen;
    it_expect_release(c, 3, IT_TIMEOUT_MS, &idx, &gen);
    it_assert(idx == 0 && gen == 0);

    it_send_op(admin, BP_OP_LIST, 6, NULL);
    it_expect_ok(admin, 6, IT_TIMEOUT_MS, &r);
    const cJSON *list = it_jget(&r, "barriers");
    it_assert(cJSON_IsArray(list) && cJSON_GetArraySize(list) == 2);
    int seen = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "barrier");
        it_assert(cJSON_IsString(nm));
        double parties = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "parties"));
        double nw = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "n_waiting"));
        double g = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "generation"));
        const cJSON *br = cJSON_GetObjectItemCaseSensitive(e, "broken");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(e, "state");
        it_assert(cJSON_IsFalse(br) && cJSON_IsString(state));
        if (strcmp(nm->valuestring, "st") == 0) {
            it_assert(parties == 3 && nw == 2 && g == 0);
            seen |= 1;
        } else if (strcmp(nm->valuestring, "st2") == 0) {
            it_assert(parties == 1 && nw == 0 && g == 1);
            seen |= 2;
        }
    }
    it_assert(seen == 3);
    bp_reply_free(&r);

    it_send_op(admin, BP_OP_STATS, 7, NULL);
    it_expect_ok(admin, 7, IT_TIMEOUT_MS, &r);
    it_assert_msg(it_jnum(&r, "connections") == 4, "connections %g", it_jnum(&r, "connections"));
    it_assert(it_jnum(&r, "barriers") == 2);
    it_assert(it_jnum(&r, "waiting") == 2);
    it_assert(it_jnum(&r, "waits") == 3);
    it_assert(it_jnum(&r, "releases") == 1);
    it_assert(it_jnum(&r, "breaks") == 0);
    double errors0 = it_jnum(&r, "errors");
    it_assert(errors0 == 0);
    it_assert(it_jnum(&r, "uptime_s") >= 0);
    bp_reply_free(&r);

    /* Counters move: an error reply, a break. */
    it_sendf(admin, "{\"op\":\"status\",\"id\":8}");
    it_expect_err(admin, 8, BP_EINVAL, IT_TIMEOUT_MS, NULL, 0);
    it_send_op(admin, BP_OP_ABORT, 9, "st");
    it_expect_ok(admin, 9, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_expect_err(a, 1, BP_EBROKEN, IT_TIMEOUT_MS, NULL, 0);
    it_expect_err(b, 2, BP_EBROKEN, IT_TIMEOUT_MS, NULL, 0);
    /* One error reply for the bad request, one for each of the two failed waits. */
    it_assert(it_stat(admin, "errors") == errors0 + 3);
    it_assert(it_stat(admin, "breaks") == 1);
    it_assert(it_stat(admin, "waiting") == 0);
    it_close(c);
    it_close(b);
    /* Closed connections leave the count (asynchronously: poll, bounded). */
    int64_t deadline = ts_now_ms() + 3000;
    while (it_stat(admin, "connections") != 2) {
        it_assert_msg(ts_now_ms() < deadline, "connections did not drop to 2");
        ts_sleep_ms(20);
    }
    it_close(a);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(ping_hello)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *c = it_connect(&s);
    bp_reply r;

    it_send_op(c, BP_OP_HELLO, 1, NULL);
    it_expect_ok(c, 1, IT_TIMEOUT_MS, &r);
    it_assert(it_jnum(&r, "version") == BP_PROTOCOL_VERSION);
    const char *server = it_jstr(&r, "server");
    it_assert_msg(server && strncmp(server, "barrierd ", 9) == 0, "server: %s",
                  server ? server : "(none)");
    bp_reply_free(&r);
    /* hello without a version is fine too (optional fields). */
    it_sendf(c, "{\"op\":\"hello\",\"id\":2}");
    it_expect_ok(c, 2, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);

    it_expect_ping(c, 3);
    it_expect_ping(c, 9007199254740991ull); /* the largest id */
    /* Without an id, the reply has none. */
    it_sendf(c, "{\"op\":\"ping\"}");
    it_expect_reply(c, IT_TIMEOUT_MS, &r);
    it_assert(r.code == 0 && !r.has_id && it_jget(&r, "id") == NULL && it_jbool(&r, "pong") == 1);
    bp_reply_free(&r);
    /* Unknown fields are ignored; \r\n endings and blank lines are tolerated. */
    it_sendf(c, "{\"op\":\"ping\",\"id\":4,\"future\":{\"x\":[1,2]}}");
    it_expect_ok(c, 4, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    const char *blank = "\n\r\n{\"op\":\"ping\",\"id\":6}\r\n";
    it_assert(it_send_raw(c, blank, strlen(blank)) == 0);
    it_expect_ok(c, 6, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    /* Several requests in one packet are answered in order. */
    const char *three = "{\"op\":\"ping\",\"id\":10}\n{\"op\":\"ping\",\"id\":11}\n"
                        "{\"op\":\"ping\",\"id\":12}\n";
    it_assert(it_send_raw(c, three, strlen(three)) == 0);
    for (uint64_t id = 10; id <= 12; id++) {
        it_expect_ok(c, id, IT_TIMEOUT_MS, &r);
        bp_reply_free(&r);
    }
    it_close(c);
    ts_server_down(&s);
}
END_TEST

/* Read one raw line and check it is valid UTF-8 (replies escape control
 * characters, so bp_utf8_clean applies), then decode it. */
static void expect_clean_reply(it_conn *c, bp_reply *out, const char *what)
{
    const char *line;
    size_t len;
    int rc;
    for (;;) {
        rc = it_read_line(c, IT_TIMEOUT_MS, &line, &len);
        it_assert_msg(rc == IT_LINE, "%s: no reply (%d)", what, rc);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        it_assert_msg(bp_utf8_clean(line, len), "%s: reply is not valid UTF-8 (%zu bytes)", what,
                      len);
        it_assert(bp_reply_decode(line, len, out) == 0);
        if (out->kind != BP_MSG_HEARTBEAT)
            return;
        bp_reply_free(out);
    }
}

/* The longest names: a 255-byte barrier name and 128-byte client names of
 * multibyte UTF-8, in status, list and break messages (which name at most a
 * few waiters, then "and N more"). */
START_TEST(long_names)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    char name[256], client[129];
    /* 85 x "\xe2\x82\xac" (the euro sign, 3 bytes) = 255 bytes */
    for (int i = 0; i < 85; i++)
        memcpy(name + 3 * i, "\xe2\x82\xac", 3);
    name[255] = '\0';
    /* 64 x "\xc3\xa9" = 128 bytes */
    for (int i = 0; i < 64; i++)
        memcpy(client + 2 * i, "\xc3\xa9", 2);
    client[128] = '\0';
    enum { N = 12 };
    it_conn *w[N], *admin = it_connect(&s);
    for (int i = 0; i < N; i++) {
        w[i] = it_connect(&s);
        it_send_wait(w[i], (uint64_t)i, name, N + 1, -1, client, 0);
    }
    it_wait_n_waiting(admin, name, N, IT_TIMEOUT_MS);
    bp_reply r;
    it_send_op(admin, BP_OP_STATUS, 100, name);
    expect_clean_reply(admin, &r, "status");
    it_assert(r.code == 0 && strcmp(it_jstr(&r, "barrier"), name) == 0);
    const cJSON *waiting = it_jget(&r, "waiting");
    it_assert(cJSON_GetArraySize(waiting) == N);
    it_assert(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetArrayItem(waiting, N - 1), "client")),
                     client) == 0);
    bp_reply_free(&r);
    it_send_op(admin, BP_OP_LIST, 101, NULL);
    expect_clean_reply(admin, &r, "list");
    it_assert(r.code == 0);
    bp_reply_free(&r);

    it_send_op(admin, BP_OP_ABORT, 102, name);
    expect_clean_reply(admin, &r, "abort");
    it_assert(r.code == 0);
    bp_reply_free(&r);
    for (int i = 0; i < N; i++) {
        expect_clean_reply(w[i], &r, "broken reply");
        it_assert(r.code == BP_EBROKEN && r.has_id && r.id == (uint64_t)i);
        const char *msg = it_jstr(&r, "message"); /* whole: r.message is cut at 1 KiB */
        it_assert_msg(msg && strstr(msg, "12/13 arrived") && strstr(msg, client) &&
                          strstr(msg, "more"),
                      "message: %.200s", msg ? msg : "(none)");
        bp_reply_free(&r);
    }
    /* A later wait on the broken barrier gets the reason, cut to fit its reply
     * without splitting a character (regression: it once ended mid-character). */
    it_send_wait(admin, 103, name, N + 1, -1, client, 0);
    expect_clean_reply(admin, &r, "late wait");
    it_assert(r.code == BP_EBROKEN);
    bp_reply_free(&r);
    it_send_op(admin, BP_OP_RESET, 104, name);
    expect_clean_reply(admin, &r, "reset");
    it_assert(r.code == 0);
    bp_reply_free(&r);
    it_send_op(admin, BP_OP_STATUS, 105, name);
    expect_clean_reply(admin, &r, "status");
    it_assert(r.code == 0 && it_jbool(&r, "broken") == 0 && it_jnum(&r, "generation") == 1);
    bp_reply_free(&r);
    for (int i = 0; i < N; i++)
        it_close(w[i]);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"status_list_stats", status_list_stats, 0},
        {"ping_hello", ping_hello, 0},
        {"long_names", long_names, 0},
    };
    return ts_run_cases("admin", cases, TS_NCASES(cases));
}
