/* itest_fixture.h - a small blocking client to drive a real barrierd over real
 * sockets, for the integration and fault suites.
 *
 * The server itself comes from tests/support: ts_server_up / ts_server_down
 * (ts_check.h) start it on a free loopback port and stop it; the suite runs
 * with ts_run (ts_run.h); time is ts_clock.h's.
 *
 * Assertions: use it_assert / it_assert_msg (not ck_assert) in the test process:
 * on failure they kill the test's servers and dump their logs to stderr
 * (ts_servers_fail) before Check ends the test. The server and forked party
 * processes die with the test (ts_fork), so nothing outlives a test that dies.
 *
 * Connections are blocking sockets read through proto's line framer with a
 * poll timeout; replies are decoded with bp_reply_decode. Every wait in here is
 * bounded in time.
 */
#ifndef ITEST_FIXTURE_H
#define ITEST_FIXTURE_H

#include "bp_error.h"
#include "bp_frame.h"
#include "bp_msg.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_fork.h"
#include "ts_launch.h"
#include "ts_run.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IT_TIMEOUT_MS 10000 /* default bound for anything that should just happen */

/* ---- assertions that dump the server log first ---- */

#define it_assert(expr)                                                                       \
    do {                                                                                      \
        if (!(expr)) {                                                                        \
            ts_servers_fail();                                                                \
            ck_assert_msg(0, "Assertion '%s' failed", #expr);                                 \
        }                                                                                     \
    } while (0)

#define it_assert_msg(expr, ...)                                                              \
    do {                                                                                      \
        if (!(expr)) {                                                                        \
            ts_servers_fail();                                                                \
            ck_assert_msg(0, __VA_ARGS__);                                                    \
        }                                                                                     \
    } while (0)

/* ---- processes ---- */

/* fork (ts_fork: the child dies with its parent); the child runs fn(arg) and
 * _exits with its return value. Do not use it_assert in fn. Reap it with
 * ts_reap. */
pid_t it_fork(int (*fn)(void *), void *arg);

/* ---- connections ---- */

typedef struct it_conn {
    int fd;
    bp_framer fr;
    int eof;        /* the peer closed (or reset) the connection */
    int reset;      /* ... by a reset */
    int local_port; /* our port, for matching "peer" in status */
    char rbuf[65536]; /* the last bytes read: the framer borrows them */
} it_conn;

enum { IT_LINE = 1, IT_TIMEOUT = 0, IT_EOF = -1, IT_BAD = -2 };

/* NULL with errno on failure. rcvbuf > 0 sets SO_RCVBUF before connecting. */
it_conn *it_connect_tcp(const char *host, int port, int rcvbuf);
it_conn *it_connect_unix(const char *path);
/* it_connect_tcp("127.0.0.1", s->port, 0), asserted. */
it_conn *it_connect(const ts_server *s);
void it_close(it_conn *c);

/* 0, or -errno. Writes everything (sockets have a 10 s send timeout). */
int it_send_raw(it_conn *c, const void *data, size_t len);
/* printf a line; the '\n' is added. */
int it_sendf(it_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int it_send_req(it_conn *c, const bp_request *r);

/* The next line: IT_LINE with line and len set (valid until the next read),
 * IT_TIMEOUT, IT_EOF, or IT_BAD (framing lost). */
int it_read_line(it_conn *c, int timeout_ms, const char **line, size_t *len);
/* The next message of any kind, decoded: IT_LINE (caller frees out),
 * IT_TIMEOUT, IT_EOF, or IT_BAD (a line bp_reply_decode refuses). */
int it_recv(it_conn *c, int timeout_ms, bp_reply *out);
/* Like it_recv but skips heartbeat events (answering them with a pong when
 * pong is set). *n_heartbeats (may be NULL) counts the ones skipped. */
int it_recv_skip(it_conn *c, int timeout_ms, int pong, unsigned *n_heartbeats, bp_reply *out);

/* ---- requests (asserted sends) ---- */

void it_req_init(bp_request *r, bp_op op, uint64_t id);
/* hello, abort, reset, status, list, stats, ping: barrier may be NULL. */
void it_send_op(it_conn *c, bp_op op, uint64_t id, const char *barrier);
/* timeout_ms < 0: none. client may be NULL. */
void it_send_wait(it_conn *c, uint64_t id, const char *barrier, unsigned parties,
                  int64_t timeout_ms, const char *client, int action);
void it_send_action_done(it_conn *c, uint64_t id, const char *barrier, uint64_t generation,
                         int success);

/* ---- expectations (asserted; heartbeat events are skipped) ---- */

/* A reply (not an event) within timeout_ms. The caller frees it. */
void it_expect_reply(it_conn *c, int timeout_ms, bp_reply *out);
/* A successful reply with this id. The caller frees it. */
void it_expect_ok(it_conn *c, uint64_t id, int timeout_ms, bp_reply *out);
/* An error reply with this id (id < 0: no id) and code; message copied to msg
 * (may be NULL, cap bytes). */
void it_expect_err(it_conn *c, int64_t id, int code, int timeout_ms, char *msg, size_t cap);
/* A wait release with this id; index and generation returned (may be NULL). */
void it_expect_release(it_conn *c, uint64_t id, int timeout_ms, unsigned *index,
                       uint64_t *generation);
/* Nothing but heartbeat events for ms milliseconds. */
void it_expect_silence(it_conn *c, int ms);
/* The connection closes within timeout_ms, after only heartbeat/shutdown events. */
void it_expect_eof(it_conn *c, int timeout_ms);
/* ping with this id answered with pong. */
void it_expect_ping(it_conn *c, uint64_t id);
/* 1 if a ping gets its pong within timeout_ms (no assertion). */
int it_try_ping(it_conn *c, uint64_t id, int timeout_ms);

/* A status reply for name (asserted ok); the caller frees it. */
void it_status(it_conn *admin, const char *name, bp_reply *out);
/* Poll status until n_waiting == n (up to timeout_ms; a barrier not created
 * yet counts as 0); asserted. */
void it_wait_n_waiting(it_conn *admin, const char *name, unsigned n, int timeout_ms);
/* stats reply field (asserted present). */
double it_stat(it_conn *admin, const char *field);
/* n barriers of 2 parties with long names (about 250 bytes), each held by one
 * waiter on holder, so that a list reply is about n x 330 bytes; returns once
 * the server shows them all waiting (asserted, 20 s at most). */
void it_hold_barriers(const ts_server *s, it_conn *holder, unsigned n);

/* ---- reading JSON fields of a reply ---- */

/* A number field, or NAN when missing or not a number. */
double it_jnum(const bp_reply *r, const char *key);
/* A string field, or NULL. */
const char *it_jstr(const bp_reply *r, const char *key);
/* 1/0 for a bool field, -1 when missing. */
int it_jbool(const bp_reply *r, const char *key);
const cJSON *it_jget(const bp_reply *r, const char *key);

#endif
