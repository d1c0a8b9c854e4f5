/* itest_fixture.h - a real barrierd for integration tests, and a small blocking
 * client to drive it over real sockets.
 *
 * it_server_start forks and execs barrierd (path from $BARRIERD) with
 * --listen 127.0.0.1:0 plus the given arguments, its stderr going to a log file
 * in a private temp directory; it waits for "barrierd ready" and reads the
 * chosen addresses from the "listening on ..." lines. it_server_stop sends
 * SIGTERM and collects the exit status; it_server_done removes the files.
 *
 * Assertions: use it_assert / it_assert_msg (not ck_assert) in the test process:
 * on failure they dump the server's log to stderr and kill the server before
 * Check ends the test. The server and forked party processes get
 * PR_SET_PDEATHSIG, so nothing outlives a test that dies.
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

#include <check.h>
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IT_TIMEOUT_MS 10000 /* default bound for anything that should just happen */

/* ---- assertions that dump the server log first ---- */

void it__fail_hook(void);

#define it_assert(expr)                                                                       \
    do {                                                                                      \
        if (!(expr)) {                                                                        \
            it__fail_hook();                                                                  \
            ck_assert_msg(0, "Assertion '%s' failed", #expr);                                 \
        }                                                                                     \
    } while (0)

#define it_assert_msg(expr, ...)                                                              \
    do {                                                                                      \
        if (!(expr)) {                                                                        \
            it__fail_hook();                                                                  \
            ck_assert_msg(0, __VA_ARGS__);                                                    \
        }                                                                                     \
    } while (0)

/* ---- time ---- */

int64_t it_now_ms(void);
void it_sleep_ms(int ms);

/* ---- the server ---- */

typedef struct it_server {
    pid_t pid;            /* 0 once reaped */
    pid_t owner;          /* the process that started it */
    int port;             /* the 127.0.0.1 listener */
    int port6;            /* a [::1] listener, or 0 */
    char unix_path[108];  /* a unix: listener, or "" */
    char dir[128];        /* private temp directory (log, unix sockets) */
    char log_path[192];
    int status;           /* wait status once reaped */
} it_server;

/* Path of barrierd: $BARRIERD. */
const char *it_barrierd_path(void);

/* Make s->dir (called by it_server_start when needed; call it first to build a
 * unix socket path inside the directory). */
void it_server_prepare(it_server *s);

/* Start barrierd with --listen 127.0.0.1:0 and the extra arguments (a
 * NULL-terminated list); asserts that it comes up within 5 s. */
void it_server_start(it_server *s, ...) __attribute__((sentinel));

/* Start it with the extra arguments; returns 0 when it came up, else -1 with the
 * server reaped (e.g. a listener that cannot be bound). Does not assert. */
int it_server_try_start(it_server *s, const char *const *extra);

/* SIGTERM, then wait up to timeout_ms; SIGKILL after that. Returns the wait
 * status, or -1 when it had to be killed. *elapsed_ms (may be NULL) gets the
 * time from the signal to the exit. */
int it_server_stop(it_server *s, int timeout_ms, int64_t *elapsed_ms);

/* Wait up to timeout_ms for it to exit by itself: the wait status, or -1. */
int it_server_wait(it_server *s, int timeout_ms);

/* 1 while the process has not exited. */
int it_server_alive(it_server *s);

/* Stop it if needed and remove its files: the last call of a passing test. */
void it_server_done(it_server *s);

void it_server_dump_log(const it_server *s);
int it_server_log_contains(const it_server *s, const char *needle);

/* ---- processes ---- */

/* fork; the child (which dies with its parent) runs fn(arg) and _exits with
 * its return value. Do not use it_assert in fn. */
pid_t it_fork(int (*fn)(void *), void *arg);
/* waitpid with a bound; returns the status or -1 (the child is then killed). */
int it_reap(pid_t pid, int timeout_ms);

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
it_conn *it_connect(const it_server *s);
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

/* ---- reading JSON fields of a reply ---- */

/* A number field, or NAN when missing or not a number. */
double it_jnum(const bp_reply *r, const char *key);
/* A string field, or NULL. */
const char *it_jstr(const bp_reply *r, const char *key);
/* 1/0 for a bool field, -1 when missing. */
int it_jbool(const bp_reply *r, const char *key);
const cJSON *it_jget(const bp_reply *r, const char *key);

/* ---- running a suite ---- */

typedef struct it_case {
    const char *name; /* the TCase name; ctest selects it with CK_RUN_CASE */
    const TTest *test;
} it_case;

/* One TCase per case (timeout 60 s), run with CK_ENV; returns the exit status:
 * 0, 1, or IT_SKIP_CODE (ctest SKIP_RETURN_CODE) when the only case run called
 * it_skip. cleanup, if not NULL, runs after the cases (in the runner process). */
#define IT_SKIP_CODE 77
int it_run(const char *suite, const it_case *cases, size_t n, int argc, char **argv);
int it_run_cleanup(const char *suite, const it_case *cases, size_t n, int argc, char **argv,
                   void (*cleanup)(void));
/* Say why this case cannot run here (a case then returns without failing). */
void it_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
