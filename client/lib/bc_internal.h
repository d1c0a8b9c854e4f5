/* bc_internal.h - what the files of libbarrierclient share. Not installed.
 *
 * Concurrency model: one connection per handle, many callers. Each request is a
 * bc__call on its caller's stack, listed in the handle by id. Exactly one thread
 * at a time is the reader (c->reading): a blocked caller takes the role when no
 * one holds it, reads and dispatches replies to whichever calls they belong to,
 * and hands the role on (broadcast on c->cv) once its own call is settled. Thus
 * nobody reads unless someone is blocked, and heartbeats get answered by
 * whichever blocked thread is reading. The action runner is not blocked, so it
 * starts a helper thread that stands in for it (bc__pump_*).
 */
#ifndef BC_INTERNAL_H
#define BC_INTERNAL_H

#include "barrierclient.h"
#include "bp_addr.h"
#include "bp_buf.h"
#include "bp_frame.h"
#include "bp_msg.h"

#include <pthread.h>
#include <stdint.h>

#define BC__DEFAULT_ADDR BP_DEFAULT_ADDR
#define BC__CONNECT_TIMEOUT_S 10.0
#define BC__GRACE_S 15.0
#define BC__MAX_OPTION_S 1e6       /* io_grace_s, connect_timeout_s: larger values are
                                      clamped (~11.6 days; no int64 ns overflow) */
#define BC__MAX_LINE (64u << 20)   /* replies (list) can be big; this only bounds junk */
#define BC__MSG_MAX 1024

/* One request in flight; lives on its caller's stack. Guarded by c->mu. */
typedef struct bc__call {
    uint64_t id;
    struct bc__call *next;
    int done; /* reply holds the answer (its json is ours to free) */
    bp_reply reply;
    int action_due;      /* a run_action event arrived for this wait */
    uint64_t action_gen; /* its generation */
} bc__call;

struct bc_client {
    int fd;                       /* nonblocking socket, closed by bc_close only */
    int wake[2];                  /* self-pipe: interrupts the reader's poll() */
    char addr[300];               /* as given, for messages */
    char name[BP_CLIENT_MAX + 1]; /* client name for waits; "" = hostname:pid */
    int64_t grace_ns;             /* see bc_options.io_grace_s */
    int64_t silence_ns;           /* how long a wait tolerates a silent server before
                                     it probes with a ping: 3 heartbeat intervals (as
                                     hello said; 0 if off) + grace_ns */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* broadcast when a call settles, the reader leaves,
                           or the connection dies */
    uint64_t next_id;
    bc__call *calls;       /* outstanding requests */
    int reading;           /* some thread is the reader */
    bp_framer framer;      /* only the reader touches it */
    bp_buf outbox;         /* lines queued during dispatch (pong), sent by the reader */
    int64_t last_heard_ns; /* monotonic time of the last bytes from the server */
    int64_t probe_ns;      /* when the liveness ping went out; 0: none pending */
    int dead;              /* the connection is lost: every call fails with dead_code */
    int dead_code;
    char dead_msg[BC__MSG_MAX];
    int close_code; /* a reason heard before the close (shutdown event, an
                       error reply without id), used as dead_code */
    char close_msg[BC__MSG_MAX];

    pthread_mutex_t wmu; /* serializes writes; taken without mu held */
};

/* ---- bc_error.c ---- */
/* Set this thread's last error message (printf-style) and return code. */
int bc__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- bc_time.c ---- */
int64_t bc__now_ns(void); /* CLOCK_MONOTONIC */
#define BC__NS_PER_S 1000000000ll
/* Milliseconds for poll() until deadline_ns, rounded up, at most 1000 (callers
 * loop), 0 if it has passed. */
int bc__poll_ms(int64_t deadline_ns);

/* ---- bc_dial.c ---- */
/* Open a connected nonblocking socket to addr within timeout_ns. Returns the fd
 * or a negative BC_E* code with the thread's message set. */
int bc__dial(const char *addr, int64_t timeout_ns);

/* ---- bc_io.c ---- */
/* Write a whole line; the connection is marked dead on failure. Takes c->wmu;
 * must be called without c->mu held. */
int bc__send(bc_client *c, const char *data, size_t len);
/* The same without touching the thread's last error message: for writes that
 * are not the calling thread's own request (pongs, pings, action_done), whose
 * failure must not overwrite the message of a call that succeeds. */
int bc__send_quiet(bc_client *c, const char *data, size_t len);
/* Mark the connection lost (c->mu held): wakes every caller. */
void bc__kill(bc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- bc_call.c ---- */
/* Register a call under a fresh id (c->mu held). */
void bc__call_add(bc_client *c, bc__call *call);
void bc__call_remove(bc_client *c, bc__call *call);
/* Block until `call` is done or has an action due, or the connection dies.
 * c->mu held on entry and exit. The liveness rule applies (bc_call.c): when the
 * server has been silent for silence_ns, a ping probes it, and if nothing at
 * all arrives within grace_ns more the connection is killed as dead (BC_ECONN).
 * Returns 0 when the call is settled, else the connection's error code. */
int bc__await(bc_client *c, bc__call *call, int64_t silence_ns);
/* Encode r with a fresh id, send it, and wait for the reply (no actions
 * involved). deadline_ns > 0 is a hard deadline (hello, within the connect
 * timeout); 0 means the liveness rule with grace_ns as the silence limit (these
 * requests are answered at once, no heartbeats expected). On BC_OK *reply
 * holds it (free with bp_reply_free); an error reply is returned as its code
 * with the message set. */
int bc__roundtrip(bc_client *c, bp_request *r, bp_reply *reply, int64_t deadline_ns);
/* The reply's error code, setting the thread's message to the server's. */
int bc__reply_code(const bp_reply *reply);

/* ---- bc_read.c ---- */
/* One round of reading and routing, until input or deadline_ns (0 = none, but
 * at most a second). c->mu held; the caller holds the reader role. */
void bc__read_step(bc_client *c, int64_t deadline_ns);

/* ---- bc_pump.c ---- */
/* A helper thread that reads for the handle while the action runs. */
typedef struct bc__pump {
    bc_client *c;
    pthread_t thread;
    int started;
    int stop; /* guarded by c->mu */
} bc__pump;
void bc__pump_start(bc__pump *p, bc_client *c);
void bc__pump_stop(bc__pump *p);
/* Block as leader or follower until *stop or the connection dies (c->mu held),
 * under the liveness rule with silence_ns. */
void bc__read_until(bc_client *c, const int *stop);

/* ---- bc_check.c ---- */
/* 0 if name is a valid barrier name, else BC_EINVAL with the message set. */
int bc__check_name(const char *name);
/* 0 if every reserved word of a caller's struct is zero, else BC_EINVAL with
 * the message set (what names the struct). */
int bc__check_reserved(const uint64_t *words, size_t size, const char *what);

#endif
