/* test_faults_input.c - abusive clients while a barrier driven by the real
 * library in another process keeps completing generations:
 *
 *   non_reader_rss     clients that never read (tiny SO_RCVBUF, pipelined
 *                      pings) are dropped at --max-output, barrierd's RSS stays
 *                      bounded, a bystander waiting in the library notices
 *                      nothing.
 *   churn_and_garbage  2,000 connect/disconnect cycles of ten kinds, half-sent
 *                      lines, a megabyte without a newline, deep JSON nesting,
 *                      invalid UTF-8, numbers out of range: each gets an error
 *                      or a close, and the server stays up.
 *   fd_exhaustion      barrierd with RLIMIT_NOFILE 64: connections beyond its
 *                      descriptors are closed cleanly, existing ones keep
 *                      working, service resumes after some close.
 *   max_connections_library  --max-connections through the library: BC_ELIMIT
 *                      and recovery.
 */
#include "faults_common.h"
#include "ts_proc.h"
#include "tc_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>


/* ---- small raw-socket helpers ---- */

/* The next reply (heartbeats skipped): 1 with code and id set, 0 on EOF/reset,
 * -1 on a timeout, -2 on a line that is not a reply. */
static int next_reply(it_conn *c, int timeout_ms, int *code, int64_t *id)
{
    bp_reply r;
    int rc = it_recv_skip(c, timeout_ms, 0, NULL, &r);
    if (rc == IT_EOF)
        return 0;
    if (rc == IT_TIMEOUT)
        return -1;
    if (rc != IT_LINE)
        return -2;
    int kind = r.kind;
    *code = r.code;
    *id = r.has_id ? (int64_t)r.id : -1;
    bp_reply_free(&r);
    if (kind == BP_MSG_SHUTDOWN)
        return 0;
    return kind == BP_MSG_REPLY ? 1 : -2;
}

/* The connection still answers a ping. */
static int still_answers(it_conn *c, uint64_t id)
{
    return it_try_ping(c, id, (int)(IT_TIMEOUT_MS * ts_slow()));
}

/* ---- a client that never reads ---- */

/* Four non-readers at the default --max-output (4 MiB). The limit counts the
 * memory queued replies hold (bytes and bookkeeping), so barrierd's growth
 * should stay near NR x --max-output; the ratio is printed. */
#define NR_CONNS_MAX 64
static int nr_conns(void) /* $FAULTS_NR_CONNS overrides, to explore */
{
    const char *e = getenv("FAULTS_NR_CONNS");
    int n = e ? atoi(e) : 4;
    return n >= 1 && n <= NR_CONNS_MAX ? n : 4;
}
static const char *nr_max_output(void) /* $FAULTS_NR_MAX_OUTPUT overrides */
{
    const char *e = getenv("FAULTS_NR_MAX_OUTPUT");
    return e && atol(e) > 0 ? e : "4194304";
}

START_TEST(non_reader_rss)
{
    ts_server s = {0};
    const int NR_CONNS = nr_conns();
    const char *NR_MAX_OUTPUT = nr_max_output();
    ts_server_up(&s, "--max-output", NR_MAX_OUTPUT, NULL);
    const char *addr = s.addr;
    fx_bg bg;
    fx_bg_start(&bg, addr, "bg-nr");
    fx_party by;
    fx_party_spec bs = {.addr = addr, .barrier = "bystander", .parties = 2, .timeout_s = -1,
                        .client_name = "bystander"};
    fx_party_start(&by, &bs);
    it_assert(tc_await_waiting(addr, "bystander", 1, 10 * ts_slow()));
    for (double end = ts_now_s() + 10 * ts_slow(); fx_bg_generations(&bg) < 20 && ts_now_s() < end;)
        ts_sleep_ms(5);
    it_conn *admin = it_connect(&s);
    long base = ts_proc_kb(s.pid, 0);
    it_assert(base > 0);

    it_conn *x[NR_CONNS_MAX];
    int gone[NR_CONNS_MAX] = {0};
    size_t sent[NR_CONNS_MAX] = {0}, off[NR_CONNS_MAX] = {0};
    for (int i = 0; i < NR_CONNS; i++) {
        x[i] = it_connect_tcp("127.0.0.1", s.port, 4096);
        it_assert(x[i] != NULL);
        fcntl(x[i]->fd, F_SETFL, fcntl(x[i]->fd, F_GETFL) | O_NONBLOCK);
    }
    bp_buf chunk = BP_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        bp_buf_printf(&chunk, "{\"op\":\"ping\",\"id\":%d}\n", i);
    long peak = base;
    int n_gone = 0;
    double t0 = ts_now_s(), deadline = t0 + 40 * ts_slow(), next_sample = 0, next_stat = 0;
    double dropped = 0;
    for (unsigned iter = 0; dropped < NR_CONNS && ts_now_s() < deadline && iter < 10000000; iter++) {
        struct pollfd pf[NR_CONNS_MAX];
        for (int i = 0; i < NR_CONNS; i++) {
            pf[i] = (struct pollfd){gone[i] ? -1 : x[i]->fd, POLLOUT, 0};
            while (!gone[i]) {
                ssize_t w = send(x[i]->fd, chunk.data + off[i], chunk.len - off[i],
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) {
                    sent[i] += (size_t)w;
                    off[i] = (off[i] + (size_t)w) % chunk.len;
                    continue;
                }
                if (w < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                gone[i] = 1; /* EPIPE / ECONNRESET: the server dropped it */
                n_gone++;
            }
        }
        poll(pf, (nfds_t)NR_CONNS, 20);
        double now = ts_now_s();
        if (now >= next_sample) {
            long rss = ts_proc_kb(s.pid, 0);
            if (rss > peak)
                peak = rss;
            next_sample = now + 0.01;
        }
        if (now >= next_stat) {
            dropped = it_stat(admin, "dropped_slow");
            next_stat = now + 0.1;
        }
    }
    bp_buf_free(&chunk);
    double took = ts_now_s() - t0;
    long after = ts_proc_kb(s.pid, 0), hwm = ts_proc_kb(s.pid, 1);
    if (hwm > peak) /* the exact high-water mark; sampling may miss the top */
        peak = hwm;
    size_t total = 0;
    for (int i = 0; i < NR_CONNS; i++)
        total += sent[i];
    fprintf(stderr,
            "non_reader_rss: %d non-readers (--max-output %s) dropped in %.2f s after %.1f MB of "
            "pings (%d saw the drop on send); barrierd VmRSS %ld kB before, peak %ld kB "
            "(+%.1f MB), %ld kB after; VmHWM %ld kB\n",
            NR_CONNS, NR_MAX_OUTPUT, took, (double)total / 1e6, n_gone, base, peak,
            (double)(peak - base) / 1024, after, hwm);
    it_assert_msg(dropped == NR_CONNS, "dropped_slow %g of %d after %.1f s", dropped, NR_CONNS,
                  took);
    it_assert(ts_server_log_contains(&s, "unread output"));
    fprintf(stderr, "non_reader_rss: %.1f bytes of RSS growth per byte of --max-output queued\n",
            (double)(peak - base) * 1024 / (NR_CONNS * atof(NR_MAX_OUTPUT)));
    /* Bounded: at most twice what the limits allow, plus 16 MiB of slack, and
     * 64 MiB in all. ASan keeps freed memory in quarantine: a loose bound. */
    long bound_kb = (long)(2 * NR_CONNS * (atof(NR_MAX_OUTPUT) / 1024)) + 16 * 1024;
    if (bound_kb > 64 * 1024)
        bound_kb = 64 * 1024;
    if (ts_asan())
        bound_kb = 512 * 1024;
    it_assert_msg(peak - base < bound_kb, "barrierd grew by %ld kB (bound %ld kB)", peak - base,
                  bound_kb);
    for (int i = 0; i < NR_CONNS; i++)
        it_close(x[i]);

    /* Others unaffected: the bystander is still waiting, and is released. */
    fx_result r;
    it_assert_msg(!fx_party_result(&by, 0.05, &r), "bystander returned: %s: %s",
                  bc_strerror(r.rc), r.msg);
    fx_party late;
    fx_party_spec ls = bs;
    ls.client_name = "late";
    fx_party_start(&late, &ls);
    it_assert(fx_party_result(&by, 10 * ts_slow(), &r));
    it_assert_msg(r.rc == BC_OK, "bystander: %s: %s", bc_strerror(r.rc), r.msg);
    fx_result lr;
    it_assert(fx_party_result(&late, 10 * ts_slow(), &lr) && lr.rc == BC_OK);
    it_assert(r.index != lr.index && r.generation == 0 && lr.generation == 0);
    fx_party_reap(&by, 5);
    fx_party_reap(&late, 5);
    fx_bg_check(&bg, 30, 5 * ts_slow(), "non_reader_rss");
    it_assert(still_answers(admin, 99));
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- churn and garbage ---- */

#define CHURN_CYCLES 2000

/* Lines that must each get an error reply (any code) on a connection that
 * then still answers a ping. */
static const struct {
    const char *what;
    const char *line;
} bad_lines[] = {
    {"invalid UTF-8 in the name", "{\"op\":\"wait\",\"id\":1,\"barrier\":\"\xc3\x28\",\"parties\":2}"},
    {"truncated UTF-8 at the end of the name",
     "{\"op\":\"wait\",\"id\":2,\"barrier\":\"ab\xe2\x82\",\"parties\":2}"},
    {"invalid UTF-8 in the client", "{\"op\":\"wait\",\"id\":3,\"barrier\":\"u\",\"parties\":2,"
                                    "\"client\":\"\xfe\xff\"}"},
    {"invalid UTF-8 in the op", "{\"op\":\"pi\xf0\x28ng\",\"id\":4}"},
    {"5-byte UTF-8 form", "{\"op\":\"wait\",\"id\":6,\"barrier\":\"\xf8\x88\x80\x80\x80\",\"parties\":2}"},
    {"code point above U+10FFFF",
     "{\"op\":\"wait\",\"id\":7,\"barrier\":\"\xf4\x90\x80\x80\",\"parties\":2}"},
    {"parties 1e309", "{\"op\":\"wait\",\"id\":10,\"barrier\":\"n\",\"parties\":1e309}"},
    {"parties -1e309", "{\"op\":\"wait\",\"id\":11,\"barrier\":\"n\",\"parties\":-1e309}"},
    {"parties 2^32", "{\"op\":\"wait\",\"id\":12,\"barrier\":\"n\",\"parties\":4294967296}"},
    {"parties 2^64", "{\"op\":\"wait\",\"id\":13,\"barrier\":\"n\",\"parties\":18446744073709551616}"},
    {"parties NaN-ish", "{\"op\":\"wait\",\"id\":14,\"barrier\":\"n\",\"parties\":NaN}"},
    {"timeout 2^63", "{\"op\":\"wait\",\"id\":15,\"barrier\":\"n\",\"parties\":2,"
                     "\"timeout_ms\":9223372036854775808}"},
    {"timeout 1e19", "{\"op\":\"wait\",\"id\":16,\"barrier\":\"n\",\"parties\":2,\"timeout_ms\":1e19}"},
    {"timeout -1e309", "{\"op\":\"wait\",\"id\":17,\"barrier\":\"n\",\"parties\":2,"
                       "\"timeout_ms\":-1e309}"},
    {"id 2^64", "{\"op\":\"ping\",\"id\":18446744073709551616}"},
    {"id -1e309", "{\"op\":\"ping\",\"id\":-1e309}"},
    {"generation 2^64", "{\"op\":\"action_done\",\"id\":19,\"barrier\":\"n\","
                        "\"generation\":18446744073709551616,\"success\":true}"},
    {"generation 1e400", "{\"op\":\"action_done\",\"id\":20,\"barrier\":\"n\","
                         "\"generation\":1e400,\"success\":true}"},
    {"version 2^63", "{\"op\":\"hello\",\"id\":21,\"version\":9223372036854775808}"},
    {"a 1000-digit number", NULL},
    {"deep [ nesting", NULL},
    {"deep {\"a\": nesting", NULL},
    {"deep nesting in an unknown field", NULL},
};

/* Lines whose oddity is in a field the server does not use ("unknown fields
 * are ignored"): a reply of either kind, and the connection lives. */
static const struct {
    const char *what;
    const char *line;
} odd_lines[] = {
    {"invalid UTF-8 in an unknown key", "{\"op\":\"ping\",\"id\":40,\"\x80\x80\":1}"},
    {"invalid UTF-8 in an unknown value", "{\"op\":\"ping\",\"id\":41,\"x\":\"\xc3\x28\"}"},
    {"1e999 in an unknown field", "{\"op\":\"ping\",\"id\":42,\"x\":1e999}"},
    {"-0 as id", "{\"op\":\"ping\",\"id\":-0}"},
    {"id 2^53-1", "{\"op\":\"ping\",\"id\":9007199254740991}"},
};

static char *build_bad(const char *what)
{
    bp_buf b = BP_BUF_INIT;
    if (strcmp(what, "a 1000-digit number") == 0) {
        bp_buf_puts(&b, "{\"op\":\"wait\",\"id\":30,\"barrier\":\"n\",\"parties\":");
        for (int i = 0; i < 1000; i++)
            bp_buf_puts(&b, "9");
        bp_buf_puts(&b, "}");
    } else if (strcmp(what, "deep [ nesting") == 0) {
        for (int i = 0; i < 30000; i++)
            bp_buf_puts(&b, "[");
        for (int i = 0; i < 30000; i++)
            bp_buf_puts(&b, "]");
    } else if (strcmp(what, "deep {\"a\": nesting") == 0) {
        for (int i = 0; i < 10000; i++)
            bp_buf_puts(&b, "{\"a\":");
        bp_buf_puts(&b, "0");
        for (int i = 0; i < 10000; i++)
            bp_buf_puts(&b, "}");
    } else if (strcmp(what, "deep nesting in an unknown field") == 0) {
        bp_buf_puts(&b, "{\"op\":\"wait\",\"id\":31,\"barrier\":\"n\",\"parties\":0,\"x\":");
        for (int i = 0; i < 20000; i++)
            bp_buf_puts(&b, "[");
        for (int i = 0; i < 20000; i++)
            bp_buf_puts(&b, "]");
        bp_buf_puts(&b, "}");
    }
    return bp_buf_take(&b, NULL);
}

/* Send a ping and read past error replies to its pong: 1 when it came, 0 if
 * the connection closed, -1 on a timeout, -2 on something else. */
static int ping_through(it_conn *c, uint64_t want, int timeout_ms)
{
    if (it_sendf(c, "{\"op\":\"ping\",\"id\":%llu}", (unsigned long long)want) < 0 && c->eof)
        return 0;
    for (int i = 0; i < 1024; i++) {
        int code = 0;
        int64_t id;
        int rc = next_reply(c, timeout_ms, &code, &id);
        if (rc != 1)
            return rc;
        if (code == 0 && id == (int64_t)want)
            return 1;
        if (code == 0)
            return -2;
    }
    return -2;
}

/* A connection that was sent something fatal closes within timeout; an error
 * reply may come first. 1 if closed; *saw_error set if a reply came first. */
static int closes(it_conn *c, int timeout_ms, int *saw_error, int *err_code)
{
    *saw_error = 0;
    for (int i = 0; i < 8; i++) {
        int code = 0;
        int64_t id;
        int rc = next_reply(c, timeout_ms, &code, &id);
        if (rc == 0)
            return 1;
        if (rc == 1 && code != 0) {
            *saw_error = 1;
            *err_code = code;
            continue;
        }
        return 0;
    }
    return 0;
}

START_TEST(churn_and_garbage)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    const char *addr = s.addr;
    fx_bg bg;
    fx_bg_start(&bg, addr, "bg-churn");
    it_conn *admin = it_connect(&s);
    int tmo = (int)(IT_TIMEOUT_MS * ts_slow());
    unsigned seed = 12345;
    unsigned kinds[10] = {0};
    double t0 = ts_now_s();
    for (int i = 0; i < CHURN_CYCLES; i++) {
        it_conn *c = it_connect(&s);
        const char *half = "{\"op\":\"wait\",\"id\":1,\"barrier\":\"half\",\"par";
        int kind = i % 10, code = 0;
        int64_t id = 0;
        kinds[kind]++;
        switch (kind) {
        case 0: /* connect, close */
            break;
        case 1: /* half a line, close */
            it_assert(it_send_raw(c, half, strlen(half)) == 0);
            break;
        case 2: { /* half a line, then a reset */
            it_assert(it_send_raw(c, half, strlen(half)) == 0);
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        case 3: /* a ping, read the pong */
            it_assert_msg(still_answers(c, (uint64_t)i), "cycle %d: no pong", i);
            break;
        case 4: /* hello, read the reply */
            it_assert(it_sendf(c, "{\"op\":\"hello\",\"id\":%d,\"version\":1}", i) == 0);
            it_assert_msg(next_reply(c, tmo, &code, &id) == 1 && code == 0 && id == i,
                          "cycle %d: hello", i);
            break;
        case 5: /* a wait released at once, read */
            it_assert(it_sendf(c, "{\"op\":\"wait\",\"id\":%d,\"barrier\":\"solo\",\"parties\":1}",
                               i) == 0);
            it_assert_msg(next_reply(c, tmo, &code, &id) == 1 && code == 0 && id == i,
                          "cycle %d: solo wait", i);
            break;
        case 6: { /* join a barrier of 2 of its own, then vanish: it breaks */
            it_assert(it_sendf(c, "{\"op\":\"wait\",\"id\":%d,\"barrier\":\"lone-%d\","
                                  "\"parties\":2,\"client\":\"churner\"}",
                               i, i) == 0);
            break;
        }
        case 7: { /* half a line, a pause, the rest: one request */
            const char *line = "{\"op\":\"ping\",\"id\":77}\n";
            size_t cut = 1 + (size_t)(rand_r(&seed) % (strlen(line) - 2));
            it_assert(it_send_raw(c, line, cut) == 0);
            if (i % 100 == 7)
                ts_sleep_ms(20);
            it_assert(it_send_raw(c, line + cut, strlen(line) - cut) == 0);
            it_assert_msg(next_reply(c, tmo, &code, &id) == 1 && code == 0 && id == 77,
                          "cycle %d: ping sent in two parts", i);
            break;
        }
        case 8: { /* a bad line: an error reply, and the connection lives */
            size_t k = (size_t)(i / 10) % (sizeof bad_lines / sizeof bad_lines[0]);
            char *built = bad_lines[k].line ? NULL : build_bad(bad_lines[k].what);
            const char *line = built ? built : bad_lines[k].line;
            it_assert(it_sendf(c, "%s", line) == 0);
            int rc = next_reply(c, tmo, &code, &id);
            it_assert_msg(rc == 1 && code != 0, "cycle %d: %s: no error reply (rc %d, code %d)", i,
                          bad_lines[k].what, rc, code);
            it_assert_msg(still_answers(c, 1000000 + (uint64_t)i),
                          "cycle %d: connection dead after %s", i, bad_lines[k].what);
            free(built);
            break;
        }
        case 9: { /* random bytes and a newline: errors, or a close */
            unsigned char junk[257];
            size_t n = 1 + (size_t)(rand_r(&seed) % 255);
            for (size_t j = 0; j < n; j++)
                junk[j] = (unsigned char)rand_r(&seed);
            junk[n] = '\n';
            (void)it_send_raw(c, junk, n + 1);
            /* Whatever it made of it (error replies), it answers us or closed. */
            int rc = ping_through(c, 2000000 + (uint64_t)i, tmo);
            it_assert_msg(rc == 1 || rc == 0, "cycle %d: junk left us hanging (%d)", i, rc);
            break;
        }
        }
        it_close(c);
        if (i % 200 == 199)
            it_assert_msg(ts_server_alive(&s), "barrierd died at cycle %d", i);
        it_assert_msg(ts_now_s() - t0 < 60 * ts_slow(), "churn too slow (%d cycles)", i);
    }
    double churn_s = ts_now_s() - t0;

    /* A megabyte without a newline: a limit error (no id), then a close. */
    {
        it_conn *c = it_connect(&s);
        size_t len = 1 << 20;
        char *mb = malloc(len);
        it_assert(mb != NULL);
        memset(mb, 'x', len);
        int src = it_send_raw(c, mb, len);
        free(mb);
        int saw = 0, ec = 0;
        it_assert_msg(closes(c, tmo, &saw, &ec), "a megabyte without newline: not closed");
        fprintf(stderr, "churn_and_garbage: 1 MiB without newline: %s, then closed (send %s)\n",
                saw ? bc_error_name(ec) : "no error reply", src == 0 ? "complete" : "cut short");
        it_assert_msg(!saw || ec == BP_ELIMIT, "error %d for an oversized line", ec);
        it_close(c);
    }
    /* Every bad line, one after another on one connection: an error each. */
    {
        it_conn *c = it_connect(&s);
        for (size_t k = 0; k < sizeof bad_lines / sizeof bad_lines[0]; k++) {
            char *built = bad_lines[k].line ? NULL : build_bad(bad_lines[k].what);
            it_assert(it_sendf(c, "%s", built ? built : bad_lines[k].line) == 0);
            int code = 0;
            int64_t id;
            int rc = next_reply(c, tmo, &code, &id);
            it_assert_msg(rc == 1 && code != 0, "%s: no error reply (rc %d code %d)",
                          bad_lines[k].what, rc, code);
            free(built);
        }
        for (size_t k = 0; k < sizeof odd_lines / sizeof odd_lines[0]; k++) {
            it_assert(it_sendf(c, "%s", odd_lines[k].line) == 0);
            int code = 0;
            int64_t id;
            int rc = next_reply(c, tmo, &code, &id);
            it_assert_msg(rc == 1, "%s: no reply (rc %d)", odd_lines[k].what, rc);
            fprintf(stderr, "churn_and_garbage: %s: %s\n", odd_lines[k].what,
                    code ? bc_error_name(code) : "accepted");
        }
        it_assert(still_answers(c, 5));
        it_close(c);
    }

    /* Everything settles: only admin and the two background handles remain. */
    double deadline = ts_now_s() + 10 * ts_slow();
    while (it_stat(admin, "connections") != 3) {
        it_assert_msg(ts_now_s() < deadline, "connections: %g, expected 3",
                      it_stat(admin, "connections"));
        ts_sleep_ms(20);
    }
    it_assert(ts_server_alive(&s));
    it_assert(it_stat(admin, "connections_total") >= CHURN_CYCLES + 3);
    fprintf(stderr, "churn_and_garbage: %d cycles in %.2f s; errors answered %g; barrierd VmRSS %ld kB\n",
            CHURN_CYCLES, churn_s, it_stat(admin, "errors"), ts_proc_kb(s.pid, 0));
    fx_bg_check(&bg, 50, 3 * ts_slow(), "churn_and_garbage");
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- descriptors exhausted ---- */

#define FD_LIMIT 64
#define FD_TRY 200

START_TEST(fd_exhaustion)
{
    struct rlimit old, low;
    it_assert(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = FD_LIMIT;
    ts_server s = {0};
    /* The server inherits the low limit: as `ulimit -n 64; barrierd ...`. */
    it_assert(setrlimit(RLIMIT_NOFILE, &low) == 0);
    ts_server_up(&s, "--max-connections", "1000", NULL);
    it_assert(setrlimit(RLIMIT_NOFILE, &old) == 0);
    const char *addr = s.addr;
    int base_fds = (int)ts_proc_fd_count(s.pid);
    int tmo = (int)(2000 * ts_slow());

    it_conn *c[FD_TRY];
    int n = 0, refused = 0;
    const char *how = "?";
    double t0 = ts_now_s();
    for (int i = 0; i < FD_TRY && !refused; i++) {
        it_conn *x = it_connect_tcp("127.0.0.1", s.port, 0);
        it_assert_msg(x != NULL, "connect %d: %s", i, strerror(errno));
        (void)it_sendf(x, "{\"op\":\"ping\",\"id\":%d}", i);
        int code = 0;
        int64_t id;
        int rc = next_reply(x, tmo, &code, &id);
        if (rc == 1 && code == 0 && id == i) {
            c[n++] = x;
            continue;
        }
        refused = 1;
        how = rc == 0 ? (x->reset ? "reset" : "closed") : rc == 1 ? bc_error_name(code) : "no answer";
        it_assert_msg(rc == 0 || (rc == 1 && code == BP_ELIMIT),
                      "connection %d beyond the descriptors: %s (rc %d code %d)", i, how, rc, code);
        if (rc == 1)
            it_assert(next_reply(x, tmo, &code, &id) == 0);
        it_close(x);
    }
    fprintf(stderr,
            "fd_exhaustion: RLIMIT_NOFILE %d (barrierd had %d fds open at start): %d connections "
            "served, the next one %s (%.2f s)\n",
            FD_LIMIT, base_fds, n, how, ts_now_s() - t0);
    it_assert_msg(refused, "no connection refused with %d fds", FD_LIMIT);
    it_assert_msg(n >= FD_LIMIT - base_fds - 4 && n < FD_LIMIT, "%d connections served", n);
    it_assert(ts_server_alive(&s));

    /* More attempts: each is closed promptly, none hangs. */
    for (int i = 0; i < 5; i++) {
        it_conn *x = it_connect_tcp("127.0.0.1", s.port, 0);
        it_assert(x != NULL);
        (void)it_sendf(x, "{\"op\":\"wait\",\"id\":1,\"barrier\":\"never\",\"parties\":2}");
        int code = 0;
        int64_t id;
        int rc = next_reply(x, tmo, &code, &id);
        it_assert_msg(rc == 0 || (rc == 1 && code == BP_ELIMIT), "extra attempt %d: rc %d code %d",
                      i, rc, code);
        it_close(x);
    }
    /* Existing connections keep working: pings, and a barrier among three. */
    for (int i = 0; i < n; i++)
        it_assert_msg(still_answers(c[i], 1000 + (uint64_t)i), "existing connection %d dead", i);
    for (int i = 0; i < 3; i++)
        it_send_wait(c[i], 50, "fdx", 3, -1, NULL, 0);
    unsigned seen = 0;
    for (int i = 0; i < 3; i++) {
        unsigned idx;
        it_expect_release(c[i], 50, tmo, &idx, NULL);
        it_assert(idx < 3 && !(seen & (1u << idx)));
        seen |= 1u << idx;
    }

    /* Service resumes once some close: a library client connects and meets an
     * old connection at a barrier. */
    for (int i = n - 10; i < n; i++)
        it_close(c[i]);
    n -= 10;
    it_send_wait(c[0], 60, "resume", 2, -1, NULL, 0);
    bc_client *lib = NULL;
    int rc = BC_ECONN, tries = 0;
    for (double end = ts_now_s() + 10 * ts_slow(); ts_now_s() < end;) {
        tries++;
        bc_options o = {.connect_timeout_s = 2};
        if ((rc = bc_connect(addr, &o, &lib)) == BC_OK)
            break;
        ts_sleep_ms(50);
    }
    it_assert_msg(rc == BC_OK, "no library connection after some closed: %s: %s", bc_strerror(rc),
                  bc_last_error_message());
    bc_wait_result res;
    it_assert(bc_wait(lib, "resume", 2, 10 * ts_slow(), NULL, NULL, &res) == BC_OK);
    it_expect_release(c[0], 60, tmo, NULL, NULL);
    bc_close(lib);
    fprintf(stderr, "fd_exhaustion: service resumed after 10 closed (library connect: %d tries)\n",
            tries);
    for (int i = 0; i < n; i++)
        it_close(c[i]);
    ts_server_down(&s);
}
END_TEST

/* ---- --max-connections through the library ---- */

START_TEST(max_connections_library)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-connections", "3", NULL);
    const char *addr = s.addr;
    bc_client *c[3];
    for (int i = 0; i < 3; i++)
        it_assert(bc_connect(addr, NULL, &c[i]) == BC_OK);
    bc_client *x = NULL;
    int rc = bc_connect(addr, NULL, &x);
    it_assert_msg(rc == BC_ELIMIT, "4th connection: %s: %s", bc_strerror(rc),
                  bc_last_error_message());
    it_assert_msg(strstr(bc_last_error_message(), "connections"), "message: %s",
                  bc_last_error_message());
    /* The three work: two meet at a barrier, the third watches. */
    tc_waiter w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (tc_waiter){.c = c[i], .name = "mcl", .parties = 2, .timeout_s = 10};
        tc_waiter_start(&w[i]);
    }
    for (int i = 0; i < 2; i++) {
        tc_waiter_join(&w[i]);
        it_assert_msg(w[i].rc == BC_OK, "%s: %s", bc_strerror(w[i].rc), w[i].msg);
    }
    it_assert(bc_ping(c[2], NULL) == BC_OK);
    bc_close(c[2]);
    c[2] = NULL;
    for (double end = ts_now_s() + 10 * ts_slow(); ts_now_s() < end;) {
        if ((rc = bc_connect(addr, NULL, &c[2])) == BC_OK)
            break;
        it_assert_msg(rc == BC_ELIMIT, "reconnect: %s", bc_strerror(rc));
        ts_sleep_ms(20);
    }
    it_assert_msg(rc == BC_OK, "no connection after one closed");
    it_assert(bc_ping(c[2], NULL) == BC_OK);
    for (int i = 0; i < 3; i++)
        bc_close(c[i]);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"non_reader_rss", non_reader_rss, 0},
        {"churn_and_garbage", churn_and_garbage, 0},
        {"fd_exhaustion", fd_exhaustion, 0},
        {"max_connections_library", max_connections_library, 0},
    };
    return ts_run_cases("faults_input", cases, TS_NCASES(cases));
}
