/* test_robust.c - bad input while other barriers carry on: garbage and invalid
 * requests get error replies on a connection that keeps working; oversized
 * lines close only their connection; connection churn and half-sent lines; a
 * client that never reads its replies is dropped at --max-output. */
#include "itest_fixture.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a barrier that keeps completing in the background ---- */

typedef struct background {
    int port;
    atomic_int stop;
    pthread_t th;
    atomic_int rc;           /* 0, or what went wrong */
    atomic_uint generations; /* completed */
} background;

/* One thread, two connections: both wait, both are released, again. */
static void *background_run(void *p)
{
    background *bg = p;
    it_conn *c[2] = {it_connect_tcp("127.0.0.1", bg->port, 0),
                     it_connect_tcp("127.0.0.1", bg->port, 0)};
    if (!c[0] || !c[1]) {
        bg->rc = -100;
        goto out;
    }
    int64_t deadline = ts_now_ms() + 30000;
    for (unsigned g = 0; !atomic_load(&bg->stop) && g < 1000000; g++) {
        for (int i = 0; i < 2; i++) {
            bp_request q;
            it_req_init(&q, BP_OP_WAIT, g);
            strcpy(q.barrier, "background");
            q.barrier_len = strlen(q.barrier);
            q.parties = 2;
            if (it_send_req(c[i], &q) < 0) {
                bg->rc = -200;
                goto out;
            }
        }
        for (int i = 0; i < 2; i++) {
            bp_reply r;
            int rc = it_recv_skip(c[i], IT_TIMEOUT_MS, 0, NULL, &r);
            if (rc != IT_LINE) {
                bg->rc = -300 + rc;
                goto out;
            }
            int bad = r.code != 0 || !r.has_index || r.id != g || r.generation != g;
            bp_reply_free(&r);
            if (bad) {
                bg->rc = -400;
                goto out;
            }
        }
        bg->generations = g + 1;
        if (ts_now_ms() > deadline) {
            bg->rc = -500;
            break;
        }
    }
out:
    it_close(c[0]);
    it_close(c[1]);
    return NULL;
}

static void background_start(background *bg, int port)
{
    memset(bg, 0, sizeof *bg);
    bg->port = port;
    it_assert(pthread_create(&bg->th, NULL, background_run, bg) == 0);
}

/* Stop it and check that it was releasing all along. */
static void background_check(background *bg, unsigned min_generations)
{
    /* On a loaded machine the test's own work may finish first: give the
     * background barrier (bounded) time to show that it still works. */
    int64_t deadline = ts_now_ms() + IT_TIMEOUT_MS;
    while (atomic_load(&bg->generations) < min_generations && atomic_load(&bg->rc) == 0 &&
           ts_now_ms() < deadline)
        ts_sleep_ms(5);
    atomic_store(&bg->stop, 1);
    pthread_join(bg->th, NULL);
    int rc = bg->rc;
    unsigned gens = bg->generations;
    it_assert_msg(rc == 0, "background barrier failed (%d) after %u generations", rc, gens);
    it_assert_msg(gens >= min_generations, "background barrier completed only %u generations",
                  gens);
}

/* ---- bad input ---- */

typedef struct bad_line {
    const char *what;
    const char *line; /* NULL: built by the test */
    int code;         /* the error expected */
    int64_t id;       /* the id echoed, or -1 for none */
} bad_line;

static const bad_line bad_lines[] = {
    {"garbage", "garbage", BP_EPROTO, -1},
    {"unterminated object", "{not json", BP_EPROTO, -1},
    {"array", "[1,2,3]", BP_EPROTO, -1},
    {"string", "\"just a string\"", BP_EPROTO, -1},
    {"number", "42", BP_EPROTO, -1},
    {"null", "null", BP_EPROTO, -1},
    {"trailing bytes", "{\"op\":\"ping\",\"id\":1} trailing", BP_EPROTO, -1},
    {"two objects", "{\"op\":\"ping\",\"id\":1}{\"op\":\"ping\",\"id\":2}", BP_EPROTO, -1},
    {"invalid UTF-8 outside strings", "{\"op\":\"ping\",\"id\":1}\xff", BP_EPROTO, -1},
    {"escaped NUL", "{\"op\":\"wait\",\"id\":2,\"barrier\":\"a\\u0000b\",\"parties\":1}", BP_EPROTO,
     -1},
    {"lone surrogate", "{\"op\":\"wait\",\"id\":3,\"barrier\":\"\\ud83d\",\"parties\":1}", BP_EPROTO,
     -1},
    {"empty object", "{}", BP_EINVAL, -1},
    {"op not a string", "{\"op\":42,\"id\":4}", BP_EINVAL, 4},
    {"unknown op", "{\"op\":\"fly\",\"id\":5}", BP_EINVAL, 5},
    {"parties a string", "{\"op\":\"wait\",\"id\":6,\"barrier\":\"x\",\"parties\":\"3\"}", BP_EINVAL, 6},
    {"barrier a number", "{\"op\":\"wait\",\"id\":7,\"barrier\":5,\"parties\":3}", BP_EINVAL, 7},
    {"barrier missing", "{\"op\":\"wait\",\"id\":8,\"parties\":3}", BP_EINVAL, 8},
    {"parties missing", "{\"op\":\"wait\",\"id\":9,\"barrier\":\"x\"}", BP_EINVAL, 9},
    {"empty name", "{\"op\":\"wait\",\"id\":10,\"barrier\":\"\",\"parties\":3}", BP_EINVAL, 10},
    {"name invalid UTF-8", "{\"op\":\"wait\",\"id\":11,\"barrier\":\"\xff\xfe\",\"parties\":2}",
     BP_EINVAL, 11},
    {"name overlong UTF-8", "{\"op\":\"wait\",\"id\":12,\"barrier\":\"\xc0\xaf\",\"parties\":2}",
     BP_EINVAL, 12},
    {"name UTF-8 surrogate", "{\"op\":\"wait\",\"id\":13,\"barrier\":\"\xed\xa0\x80\",\"parties\":2}",
     BP_EINVAL, 13},
    {"name control char", "{\"op\":\"wait\",\"id\":14,\"barrier\":\"a\\u0001b\",\"parties\":2}",
     BP_EINVAL, 14},
    {"name raw control char", "{\"op\":\"wait\",\"id\":15,\"barrier\":\"a\x01z\",\"parties\":2}",
     BP_EINVAL, 15},
    {"name 256 bytes", NULL, BP_EINVAL, 16},
    {"client 129 bytes", NULL, BP_EINVAL, 17},
    {"parties 0", "{\"op\":\"wait\",\"id\":18,\"barrier\":\"x\",\"parties\":0}", BP_EINVAL, 18},
    {"parties -1", "{\"op\":\"wait\",\"id\":19,\"barrier\":\"x\",\"parties\":-1}", BP_EINVAL, 19},
    {"parties 1.5", "{\"op\":\"wait\",\"id\":20,\"barrier\":\"x\",\"parties\":1.5}", BP_EINVAL, 20},
    {"parties 1e20", "{\"op\":\"wait\",\"id\":21,\"barrier\":\"x\",\"parties\":1e20}", BP_EINVAL, 21},
    {"parties 2^32+1", "{\"op\":\"wait\",\"id\":22,\"barrier\":\"x\",\"parties\":4294967297}",
     BP_EINVAL, 22},
    {"parties over --max-parties", "{\"op\":\"wait\",\"id\":23,\"barrier\":\"x\",\"parties\":1001}",
     BP_EINVAL, 23},
    {"parties true", "{\"op\":\"wait\",\"id\":24,\"barrier\":\"x\",\"parties\":true}", BP_EINVAL, 24},
    {"timeout -5", "{\"op\":\"wait\",\"id\":25,\"barrier\":\"x\",\"parties\":2,\"timeout_ms\":-5}",
     BP_EINVAL, 25},
    {"timeout 1e300",
     "{\"op\":\"wait\",\"id\":26,\"barrier\":\"x\",\"parties\":2,\"timeout_ms\":1e300}", BP_EINVAL, 26},
    {"timeout a string",
     "{\"op\":\"wait\",\"id\":27,\"barrier\":\"x\",\"parties\":2,\"timeout_ms\":\"5\"}", BP_EINVAL, 27},
    {"action a string",
     "{\"op\":\"wait\",\"id\":28,\"barrier\":\"x\",\"parties\":2,\"action\":\"yes\"}", BP_EINVAL, 28},
    {"id -1", "{\"op\":\"ping\",\"id\":-1}", BP_EINVAL, -1},
    {"id 1.5", "{\"op\":\"ping\",\"id\":1.5}", BP_EINVAL, -1},
    {"id 2^53", "{\"op\":\"ping\",\"id\":9007199254740992}", BP_EINVAL, -1},
    {"id 1e400", "{\"op\":\"ping\",\"id\":1e400}", BP_EINVAL, -1},
    {"id a string", "{\"op\":\"ping\",\"id\":\"7\"}", BP_EINVAL, -1},
    {"abort without barrier", "{\"op\":\"abort\",\"id\":29}", BP_EINVAL, 29},
    {"action_done generation -1",
     "{\"op\":\"action_done\",\"id\":30,\"barrier\":\"x\",\"generation\":-1,\"success\":true}",
     BP_EINVAL, 30},
    {"action_done without success",
     "{\"op\":\"action_done\",\"id\":31,\"barrier\":\"x\",\"generation\":0}", BP_EINVAL, 31},
    {"hello version 0", "{\"op\":\"hello\",\"id\":32,\"version\":0}", BP_EINVAL, 32},
    {"deep [ nesting", NULL, BP_EPROTO, -1},
    {"deep {} nesting", NULL, BP_EPROTO, -1},
};

/* Lines holding NUL bytes, so with a length. A raw NUL inside a string must
 * not cut the name short (to barrier "a"). */
#define NUL_LINE(s) s, sizeof(s) - 1
static const struct {
    const char *what;
    const char *line;
    size_t len;
} nul_lines[] = {
    {"raw NUL in name", NUL_LINE("{\"op\":\"wait\",\"id\":33,\"barrier\":\"a\0b\",\"parties\":1}")},
    {"raw NUL after the object", NUL_LINE("{\"op\":\"ping\",\"id\":34}\0")},
};

static char *build_line(const char *what)
{
    bp_buf b = BP_BUF_INIT;
    if (strcmp(what, "name 256 bytes") == 0) {
        bp_buf_puts(&b, "{\"op\":\"wait\",\"id\":16,\"barrier\":\"");
        for (int i = 0; i < 256; i++)
            bp_buf_puts(&b, "n");
        bp_buf_puts(&b, "\",\"parties\":2}");
    } else if (strcmp(what, "client 129 bytes") == 0) {
        bp_buf_puts(&b, "{\"op\":\"wait\",\"id\":17,\"barrier\":\"x\",\"parties\":2,\"client\":\"");
        for (int i = 0; i < 129; i++)
            bp_buf_puts(&b, "c");
        bp_buf_puts(&b, "\"}");
    } else if (strcmp(what, "deep [ nesting") == 0) {
        for (int i = 0; i < 10000; i++)
            bp_buf_puts(&b, "[");
    } else if (strcmp(what, "deep {} nesting") == 0) {
        for (int i = 0; i < 5000; i++)
            bp_buf_puts(&b, "{\"a\":");
        bp_buf_puts(&b, "1");
        for (int i = 0; i < 5000; i++)
            bp_buf_puts(&b, "}");
    }
    return bp_buf_take(&b, NULL);
}

START_TEST(bad_input)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-parties", "1000", NULL);
    background bg;
    background_start(&bg, s.port);
    it_conn *c = it_connect(&s), *admin = it_connect(&s);
    const size_t n = sizeof bad_lines / sizeof bad_lines[0];
    for (size_t i = 0; i < n; i++) {
        const bad_line *bl = &bad_lines[i];
        char *built = bl->line ? NULL : build_line(bl->what);
        const char *line = bl->line ? bl->line : built;
        it_assert(it_send_raw(c, line, strlen(line)) == 0 && it_send_raw(c, "\n", 1) == 0);
        free(built);
        bp_reply r;
        int rc = it_recv_skip(c, IT_TIMEOUT_MS, 0, NULL, &r);
        it_assert_msg(rc == IT_LINE, "%s: no reply (%d)", bl->what, rc);
        int id_ok = bl->id < 0 ? !r.has_id : (r.has_id && r.id == (uint64_t)bl->id);
        it_assert_msg(r.kind == BP_MSG_REPLY && r.code == bl->code && id_ok && r.message[0],
                      "%s: expected %s (id %lld), got %s id %s%llu: %s", bl->what,
                      bp_err_name(bl->code), (long long)bl->id, r.code ? bp_err_name(r.code) : "ok",
                      r.has_id ? "" : "none ", (unsigned long long)r.id, r.message);
        bp_reply_free(&r);
        /* The connection lives on. */
        it_assert_msg(it_try_ping(c, 1000 + i, IT_TIMEOUT_MS), "%s: no pong after it", bl->what);
    }
    const size_t n_nul = sizeof nul_lines / sizeof nul_lines[0];
    for (size_t i = 0; i < n_nul; i++) {
        it_assert(it_send_raw(c, nul_lines[i].line, nul_lines[i].len) == 0);
        it_assert(it_send_raw(c, "\n", 1) == 0);
        char m[BP_MESSAGE_MAX];
        it_expect_err(c, -1, BP_EPROTO, IT_TIMEOUT_MS, m, sizeof m);
        it_assert_msg(it_try_ping(c, 2000 + i, IT_TIMEOUT_MS), "%s: no pong after it",
                      nul_lines[i].what);
    }
    /* Not bad: an escaped backslash followed by the text u0000. */
    it_assert(it_sendf(c, "{\"op\":\"ping\",\"id\":4999,\"x\":\"\\\\u0000\"}") == 0);
    bp_reply ok;
    it_expect_ok(c, 4999, IT_TIMEOUT_MS, &ok);
    bp_reply_free(&ok);
    /* Half a line, then the rest: still one request. */
    it_assert(it_send_raw(c, "{\"op\":\"pi", 9) == 0);
    ts_sleep_ms(50);
    it_assert(it_send_raw(c, "ng\",\"id\":5000}\n", 15) == 0);
    bp_reply r;
    it_expect_ok(c, 5000, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    /* None of that created a barrier; the errors were counted. */
    it_send_op(admin, BP_OP_LIST, 1, NULL);
    it_expect_ok(admin, 1, IT_TIMEOUT_MS, &r);
    it_assert_msg(cJSON_GetArraySize(it_jget(&r, "barriers")) == 1, "bad requests made barriers");
    bp_reply_free(&r);
    it_assert(it_stat(admin, "errors") == (double)(n + n_nul));
    background_check(&bg, 10);
    fprintf(stderr, "bad_input: %zu bad lines; background barrier released %u generations meanwhile\n",
            n + n_nul, (unsigned)bg.generations);
    it_close(c);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- oversized lines ---- */

/* Send a line (terminated or not) that is too long; expect one "limit" error
 * without id, then the close. Writes may fail once the server has closed. */
static void expect_oversized(const ts_server *s, size_t len, int terminated)
{
    it_conn *x = it_connect(s);
    char *big = malloc(len + 1);
    it_assert(big);
    memset(big, 'x', len);
    if (terminated)
        big[len - 1] = '\n';
    int rc = it_send_raw(x, big, len);
    free(big);
    it_assert_msg(rc == 0 || rc == -EPIPE || rc == -ECONNRESET, "send: %s", strerror(-rc));
    char m[BP_MESSAGE_MAX];
    it_expect_err(x, -1, BP_ELIMIT, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(strstr(m, "line"), "limit message: %s", m);
    it_expect_eof(x, IT_TIMEOUT_MS);
    it_close(x);
}

START_TEST(oversized_line)
{
    ts_server s = {0};
    ts_server_up(&s, NULL); /* default --max-line 65536 */
    background bg;
    background_start(&bg, s.port);
    it_conn *a = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "ov", 2, -1, "bystander", 0);
    it_wait_n_waiting(admin, "ov", 1, IT_TIMEOUT_MS);

    expect_oversized(&s, 1 << 20, 0);      /* 1 MB, no newline */
    expect_oversized(&s, 65536 + 2, 1);     /* 65537 bytes, then '\n' */

    /* Exactly 65536 bytes is fine. */
    it_conn *y = it_connect(&s);
    bp_buf b = BP_BUF_INIT;
    bp_buf_puts(&b, "{\"op\":\"ping\",\"id\":77,\"pad\":\"");
    while (b.len < 65536 - 2)
        bp_buf_puts(&b, "p");
    bp_buf_puts(&b, "\"}");
    it_assert(b.len == 65536);
    bp_buf_puts(&b, "\n");
    it_assert(it_send_raw(y, b.data, b.len) == 0);
    bp_buf_free(&b);
    bp_reply r;
    it_expect_ok(y, 77, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_close(y);

    /* The others did not notice. */
    it_expect_silence(a, 50);
    it_conn *b2 = it_connect(&s);
    it_send_wait(b2, 2, "ov", 2, -1, "second", 0);
    it_expect_release(a, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(b2, 2, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_ping(admin, 3);
    background_check(&bg, 10);
    it_close(a);
    it_close(b2);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* Same with a small --max-line, and a waiter's own oversized line: its wait
 * leaves (breaking the barrier for the others). */
START_TEST(oversized_line_small_limit)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-line", "1000", NULL);
    it_conn *a = it_connect(&s), *admin = it_connect(&s), *x = it_connect(&s);
    it_send_wait(a, 1, "ovs", 3, -1, "bystander", 0);
    it_send_wait(x, 2, "ovs", 3, -1, "framing-lost", 0);
    it_wait_n_waiting(admin, "ovs", 2, IT_TIMEOUT_MS);
    char line[1100];
    memset(line, ' ', sizeof line);
    line[sizeof line - 1] = '\n';
    it_assert(it_send_raw(x, line, sizeof line) == 0);
    it_expect_err(x, -1, BP_ELIMIT, IT_TIMEOUT_MS, NULL, 0);
    it_expect_eof(x, IT_TIMEOUT_MS);
    char m[BP_MESSAGE_MAX];
    it_expect_err(a, 1, BP_EBROKEN, IT_TIMEOUT_MS, m, sizeof m);
    it_assert_msg(strstr(m, "party lost") && strstr(m, "framing-lost"), "message: %s", m);
    it_expect_ping(admin, 3);
    it_close(x);
    it_close(a);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- churn ---- */

START_TEST(connect_churn)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "churn", 2, -1, "steady", 0);
    it_wait_n_waiting(admin, "churn", 1, IT_TIMEOUT_MS);
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < 200; i++) {
        it_conn *c = it_connect(&s);
        const char *half = "{\"op\":\"wait\",\"id\":1,\"barr";
        switch (i % 5) {
        case 0: /* connect, close */
            break;
        case 1: /* half a line, close */
            it_assert(it_send_raw(c, half, strlen(half)) == 0);
            break;
        case 2: /* a ping, close without reading */
            it_assert(it_sendf(c, "{\"op\":\"ping\",\"id\":%d}", i) == 0);
            break;
        case 3: /* a wait that is released at once, close without reading */
            it_assert(it_sendf(c, "{\"op\":\"wait\",\"id\":%d,\"barrier\":\"solo\",\"parties\":1}",
                               i) == 0);
            break;
        case 4: { /* half a line, then a reset (SO_LINGER 0) */
            it_assert(it_send_raw(c, half, strlen(half)) == 0);
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        }
        it_close(c);
        it_assert_msg(ts_now_ms() - t0 < 20000, "churn is too slow (%d cycles)", i);
    }
    int64_t took = ts_now_ms() - t0;
    /* The steady waiter is still waiting, nothing else is, and closes were seen. */
    it_expect_silence(a, 50);
    it_wait_n_waiting(admin, "churn", 1, IT_TIMEOUT_MS);
    int64_t deadline = ts_now_ms() + 5000;
    while (it_stat(admin, "connections") != 2) {
        it_assert_msg(ts_now_ms() < deadline, "connections: %g, expected 2",
                      it_stat(admin, "connections"));
        ts_sleep_ms(20);
    }
    it_assert(it_stat(admin, "waiting") == 1);
    it_assert(it_stat(admin, "connections_total") == 202);
    it_conn *b = it_connect(&s);
    it_send_wait(b, 2, "churn", 2, -1, "late", 0);
    it_expect_release(a, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(b, 2, IT_TIMEOUT_MS, NULL, NULL);
    fprintf(stderr, "connect_churn: 200 cycles in %lld ms\n", (long long)took);
    it_close(b);
    it_close(a);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- a client that never reads ---- */

/* Regression: once a reply had to be queued, the server passed a NULL prefix
 * to memcpy, which killed a -DBARRIERD_SANITIZE=ON build here. */

START_TEST(slow_reader_dropped)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-output", "65536", NULL);
    background bg;
    background_start(&bg, s.port);
    it_conn *a = it_connect(&s), *admin = it_connect(&s);
    it_send_wait(a, 1, "slow", 2, -1, "bystander", 0);
    it_wait_n_waiting(admin, "slow", 1, IT_TIMEOUT_MS);

    it_conn *x = it_connect_tcp("127.0.0.1", s.port, 4096);
    it_assert(x != NULL);
    /* Pipelined pings, never reading the pongs; until the server drops us. */
    bp_buf chunk = BP_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        bp_buf_printf(&chunk, "{\"op\":\"ping\",\"id\":%d}\n", i);
    size_t sent = 0;
    int dropped = 0;
    int64_t t0 = ts_now_ms(), deadline = t0 + 20000;
    while (!dropped && ts_now_ms() < deadline && sent < (256u << 20)) {
        size_t off = 0;
        while (off < chunk.len) {
            ssize_t w = send(x->fd, chunk.data + off, chunk.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                off += (size_t)w;
                sent += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
                struct pollfd p = {x->fd, POLLOUT, 0};
                poll(&p, 1, 100);
                if (ts_now_ms() > deadline)
                    break;
                continue;
            }
            dropped = 1; /* EPIPE / ECONNRESET */
            break;
        }
    }
    bp_buf_free(&chunk);
    int64_t took = ts_now_ms() - t0;
    /* The server noticed (poll: the drop is counted as it happens). */
    double slow = 0;
    while ((slow = it_stat(admin, "dropped_slow")) < 1 && ts_now_ms() < deadline)
        ts_sleep_ms(20);
    it_assert_msg(slow == 1, "dropped_slow %g after sending %zu bytes in %lld ms", slow, sent,
                  (long long)took);
    it_assert_msg(ts_server_log_contains(&s, "unread output"), "no log line for the drop");
    fprintf(stderr, "slow_reader_dropped: dropped after %zu bytes of pings, %lld ms (%s)\n", sent,
            (long long)took, dropped ? "our send failed" : "send still open");
    it_close(x);

    /* Nobody else noticed. */
    it_expect_ping(admin, 2);
    it_expect_silence(a, 50);
    it_conn *b = it_connect(&s);
    it_send_wait(b, 2, "slow", 2, -1, "second", 0);
    it_expect_release(a, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(b, 2, IT_TIMEOUT_MS, NULL, NULL);
    background_check(&bg, 10);
    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"bad_input", bad_input, 0},
        {"oversized_line", oversized_line, 0},
        {"oversized_line_small_limit", oversized_line_small_limit, 0},
        {"connect_churn", connect_churn, 0},
        {"slow_reader_dropped", slow_reader_dropped, 0},
    };
    return ts_run_cases("robust", cases, TS_NCASES(cases));
}
