/* itest_fixture.c - see itest_fixture.h. */
#include "itest_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define IT_CLIENT_MAX_LINE (16u << 20)

/* ---- processes ---- */

pid_t it_fork(int (*fn)(void *), void *arg)
{
    pid_t pid = ts_fork();
    it_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(fn(arg)); /* failures in here are reported by the exit status */
    return pid;
}

/* ---- connections ---- */

static it_conn *conn_new(int fd)
{
    it_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    bp_framer_init(&c->fr, IT_CLIENT_MAX_LINE);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return c;
}

it_conn *it_connect_tcp(const char *host, int port, int rcvbuf)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
    } else {
        errno = EINVAL;
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    while (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    it_conn *c = conn_new(fd);
    if (c) {
        struct sockaddr_storage me;
        socklen_t ml = sizeof me;
        if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
            c->local_port = ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
                                                          : ((struct sockaddr_in6 *)&me)->sin6_port);
    }
    return c;
}

it_conn *it_connect_unix(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    return conn_new(fd);
}

it_conn *it_connect(const ts_server *s)
{
    it_conn *c = it_connect_tcp("127.0.0.1", s->port, 0);
    it_assert_msg(c != NULL, "connect to 127.0.0.1:%d: %s", s->port, strerror(errno));
    return c;
}

void it_close(it_conn *c)
{
    if (!c)
        return;
    close(c->fd);
    bp_framer_free(&c->fr);
    free(c);
}

int it_send_raw(it_conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int it_sendf(it_conn *c, const char *fmt, ...)
{
    bp_buf b = BP_BUF_INIT;
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof tmp) { /* long: format again into a buffer of the right size */
        char *big = malloc((size_t)n + 1);
        if (!big)
            return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        bp_buf_append(&b, big, (size_t)n);
        free(big);
    } else {
        bp_buf_append(&b, tmp, (size_t)n);
    }
    bp_buf_puts(&b, "\n");
    int rc = b.oom ? -ENOMEM : it_send_raw(c, b.data, b.len);
    bp_buf_free(&b);
    return rc;
}

int it_send_req(it_conn *c, const bp_request *r)
{
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, r);
    int rc = b.oom ? -ENOMEM : it_send_raw(c, b.data, b.len);
    bp_buf_free(&b);
    return rc;
}

int it_read_line(it_conn *c, int timeout_ms, const char **line, size_t *len)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int rc = bp_framer_next(&c->fr, line, len);
        if (rc == 1)
            return IT_LINE;
        if (rc < 0)
            return IT_BAD;
        if (c->eof)
            return IT_EOF;
        int64_t left = deadline - ts_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {c->fd, POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            c->eof = 1;
            continue;
        }
        if (n == 0)
            return IT_TIMEOUT;
        /* The framer borrows fed bytes until it has handed out every line in
         * them, so they live in the connection, and we only read again once
         * bp_framer_next has said 0. */
        char *buf = c->rbuf;
        ssize_t r = recv(c->fd, buf, sizeof c->rbuf, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            c->eof = 1;
            c->reset = errno == ECONNRESET;
            continue;
        }
        if (r == 0) {
            c->eof = 1;
            continue;
        }
        bp_framer_feed(&c->fr, buf, (size_t)r);
    }
}

int it_recv(it_conn *c, int timeout_ms, bp_reply *out)
{
    const char *line;
    size_t len;
    memset(out, 0, sizeof *out);
    for (;;) {
        int rc = it_read_line(c, timeout_ms, &line, &len);
        if (rc != IT_LINE)
            return rc;
        if (len == 0 || (len == 1 && line[0] == '\r'))
            continue;
        if (bp_reply_decode(line, len, out) < 0) {
            fprintf(stderr, "itest: undecodable line from server: %.*s\n", (int)(len > 300 ? 300 : len),
                    line);
            return IT_BAD;
        }
        return IT_LINE;
    }
}

int it_recv_skip(it_conn *c, int timeout_ms, int pong, unsigned *n_heartbeats, bp_reply *out)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        int rc = it_recv(c, left > 0 ? (int)left : 0, out);
        if (rc != IT_LINE || out->kind != BP_MSG_HEARTBEAT)
            return rc;
        bp_reply_free(out);
        if (n_heartbeats)
            (*n_heartbeats)++;
        if (pong)
            it_send_raw(c, "{\"op\":\"pong\"}\n", 14);
    }
}

/* ---- requests ---- */

void it_req_init(bp_request *r, bp_op op, uint64_t id)
{
    memset(r, 0, sizeof *r);
    r->op = op;
    r->has_id = 1;
    r->id = id;
    r->timeout_ms = -1;
}

static void set_name(bp_request *r, const char *barrier)
{
    if (!barrier)
        return;
    snprintf(r->barrier, sizeof r->barrier, "%s", barrier);
    r->barrier_len = strlen(r->barrier);
}

void it_send_op(it_conn *c, bp_op op, uint64_t id, const char *barrier)
{
    bp_request r;
    it_req_init(&r, op, id);
    set_name(&r, barrier);
    if (op == BP_OP_HELLO)
        r.version = BP_PROTOCOL_VERSION;
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send %s: %s", bp_op_name(op), strerror(-rc));
}

void it_send_wait(it_conn *c, uint64_t id, const char *barrier, unsigned parties,
                  int64_t timeout_ms, const char *client, int action)
{
    bp_request r;
    it_req_init(&r, BP_OP_WAIT, id);
    set_name(&r, barrier);
    r.parties = parties;
    r.timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    r.action = action;
    if (client)
        snprintf(r.client, sizeof r.client, "%s", client);
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send wait: %s", strerror(-rc));
}

void it_send_action_done(it_conn *c, uint64_t id, const char *barrier, uint64_t generation,
                         int success)
{
    bp_request r;
    it_req_init(&r, BP_OP_ACTION_DONE, id);
    set_name(&r, barrier);
    r.generation = generation;
    r.success = success;
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send action_done: %s", strerror(-rc));
}

/* ---- expectations ---- */

static const char *recv_what(int rc)
{
    switch (rc) {
    case IT_TIMEOUT: return "timed out";
    case IT_EOF: return "connection closed";
    case IT_BAD: return "bad line";
    default: return "?";
    }
}

void it_expect_reply(it_conn *c, int timeout_ms, bp_reply *out)
{
    int rc = it_recv_skip(c, timeout_ms, 0, NULL, out);
    it_assert_msg(rc == IT_LINE, "expected a reply: %s after %d ms", recv_what(rc), timeout_ms);
    if (out->kind != BP_MSG_REPLY) {
        int kind = out->kind;
        char *txt = cJSON_PrintUnformatted(out->json);
        fprintf(stderr, "itest: unexpected event: %s\n", txt ? txt : "?");
        free(txt);
        bp_reply_free(out);
        it_assert_msg(0, "expected a reply, got event kind %d", kind);
    }
}

static void show(const char *what, const bp_reply *r)
{
    char *txt = cJSON_PrintUnformatted(r->json);
    fprintf(stderr, "itest: %s: %s\n", what, txt ? txt : "?");
    free(txt);
}

void it_expect_ok(it_conn *c, uint64_t id, int timeout_ms, bp_reply *out)
{
    it_expect_reply(c, timeout_ms, out);
    if (out->code != 0 || !out->has_id || out->id != id) {
        show("unexpected reply", out);
        it_assert_msg(0, "expected ok for id %llu, got code %s id %llu: %s",
                      (unsigned long long)id, bp_err_name(out->code),
                      (unsigned long long)out->id, out->message);
    }
}

void it_expect_err(it_conn *c, int64_t id, int code, int timeout_ms, char *msg, size_t cap)
{
    bp_reply r;
    it_expect_reply(c, timeout_ms, &r);
    int id_ok = id < 0 ? !r.has_id : (r.has_id && r.id == (uint64_t)id);
    if (r.code != code || !id_ok) {
        show("unexpected reply", &r);
        bp_reply_free(&r);
        it_assert_msg(0, "expected error %s for id %lld, got %s", bp_err_name(code), (long long)id,
                      r.code ? bp_err_name(r.code) : "ok");
    }
    if (msg && cap)
        snprintf(msg, cap, "%s", r.message);
    it_assert_msg(r.message[0] != '\0', "error reply without a message");
    bp_reply_free(&r);
}

void it_expect_release(it_conn *c, uint64_t id, int timeout_ms, unsigned *index,
                       uint64_t *generation)
{
    bp_reply r;
    it_expect_ok(c, id, timeout_ms, &r);
    if (!r.has_index) {
        show("release without index", &r);
        bp_reply_free(&r);
        it_assert_msg(0, "wait %llu: reply has no index", (unsigned long long)id);
    }
    if (index)
        *index = r.index;
    if (generation)
        *generation = r.generation;
    bp_reply_free(&r);
}

void it_expect_silence(it_conn *c, int ms)
{
    bp_reply r;
    int rc = it_recv_skip(c, ms, 0, NULL, &r);
    if (rc == IT_LINE) {
        show("expected nothing, got", &r);
        bp_reply_free(&r);
    }
    it_assert_msg(rc == IT_TIMEOUT, "expected nothing for %d ms, got: %s", ms,
                  rc == IT_LINE ? "a message" : recv_what(rc));
}

void it_expect_eof(it_conn *c, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        bp_reply r;
        int rc = it_recv(c, left > 0 ? (int)left : 0, &r);
        if (rc == IT_EOF)
            return;
        if (rc == IT_LINE && (r.kind == BP_MSG_HEARTBEAT || r.kind == BP_MSG_SHUTDOWN)) {
            bp_reply_free(&r);
            continue;
        }
        if (rc == IT_LINE) {
            show("expected the connection to close, got", &r);
            bp_reply_free(&r);
        }
        it_assert_msg(0, "expected the connection to close within %d ms: %s", timeout_ms,
                      rc == IT_LINE ? "got a message" : recv_what(rc));
    }
}

int it_try_ping(it_conn *c, uint64_t id, int timeout_ms)
{
    bp_request q;
    it_req_init(&q, BP_OP_PING, id);
    if (it_send_req(c, &q) < 0)
        return 0;
    bp_reply r;
    if (it_recv_skip(c, timeout_ms, 0, NULL, &r) != IT_LINE)
        return 0;
    int ok = r.kind == BP_MSG_REPLY && r.code == 0 && r.has_id && r.id == id &&
             it_jbool(&r, "pong") == 1;
    bp_reply_free(&r);
    return ok;
}

void it_expect_ping(it_conn *c, uint64_t id)
{
    it_send_op(c, BP_OP_PING, id, NULL);
    bp_reply r;
    it_expect_ok(c, id, IT_TIMEOUT_MS, &r);
    int pong = it_jbool(&r, "pong");
    bp_reply_free(&r);
    it_assert_msg(pong == 1, "ping reply without \"pong\":true");
}

static uint64_t admin_id = 1u << 30; /* ids for the helpers' own requests */

void it_status(it_conn *admin, const char *name, bp_reply *out)
{
    uint64_t id = admin_id++;
    it_send_op(admin, BP_OP_STATUS, id, name);
    it_expect_ok(admin, id, IT_TIMEOUT_MS, out);
}

void it_wait_n_waiting(it_conn *admin, const char *name, unsigned n, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    double got = NAN;
    for (;;) {
        /* Requests on other connections may not have been read yet: until the
         * first one is, the barrier does not exist (notfound counts as 0). */
        uint64_t id = admin_id++;
        it_send_op(admin, BP_OP_STATUS, id, name);
        bp_reply r;
        it_expect_reply(admin, IT_TIMEOUT_MS, &r);
        it_assert_msg(r.has_id && r.id == id && (r.code == 0 || r.code == BP_ENOTFOUND),
                      "status '%s': %s %s", name, bp_err_name(r.code), r.message);
        got = r.code == 0 ? it_jnum(&r, "n_waiting") : 0;
        bp_reply_free(&r);
        if (got == (double)n)
            return;
        it_assert_msg(ts_now_ms() < deadline, "barrier '%s': n_waiting %g, expected %u within %d ms",
                      name, got, n, timeout_ms);
        ts_sleep_ms(10);
    }
}

void it_hold_barriers(const ts_server *s, it_conn *holder, unsigned n)
{
    char name[250];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, 12, "%05u-", i);
        name[6] = 'n';
        it_send_wait(holder, (uint64_t)i + 1, name, 2, -1, "holder", 0);
    }
    it_conn *admin = it_connect(s);
    int64_t deadline = ts_now_ms() + 20000;
    while (it_stat(admin, "waiting") < n && ts_now_ms() < deadline)
        ts_sleep_ms(20);
    it_assert(it_stat(admin, "waiting") == n);
    it_close(admin);
}

double it_stat(it_conn *admin, const char *field)
{
    uint64_t id = admin_id++;
    it_send_op(admin, BP_OP_STATS, id, NULL);
    bp_reply r;
    it_expect_ok(admin, id, IT_TIMEOUT_MS, &r);
    double v = it_jnum(&r, field);
    bp_reply_free(&r);
    it_assert_msg(!isnan(v), "stats has no number '%s'", field);
    return v;
}

/* ---- JSON fields ---- */

const cJSON *it_jget(const bp_reply *r, const char *key)
{
    return r->json ? cJSON_GetObjectItemCaseSensitive((const cJSON *)r->json, key) : NULL;
}

double it_jnum(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

const char *it_jstr(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int it_jbool(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : -1;
}
