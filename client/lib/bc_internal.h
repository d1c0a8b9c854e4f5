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
 *
 * Resuming (bc_resume.c): a lost connection makes the handle `lost`, not dead.
 * The reader role then means reconnecting: whoever holds it dials the address
 * list (one attempt per step, so the role can pass on), says hello, swaps the
 * new socket in (a new epoch) and re-sends every outstanding call from its
 * stored request. Every call remembers the epoch it was sent on, and a write
 * goes out only on the epoch it was meant for, so no request reaches one
 * connection twice. Lock order: c->wmu before c->mu.
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
#include <sys/types.h>

typedef struct ssl_st SSL;         /* OpenSSL's, without its headers */
typedef struct ssl_ctx_st SSL_CTX;

#define BC__DEFAULT_ADDR BP_DEFAULT_ADDR
#define BC__CONNECT_TIMEOUT_S 10.0
#define BC__GRACE_S 15.0
#define BC__MAX_OPTION_S 1e6       /* io_grace_s, connect_timeout_s: larger values are
                                      clamped (~11.6 days; no int64 ns overflow) */
#define BC__MAX_LINE (64u << 20)   /* replies (list) can be big; this only bounds junk */
#define BC__MSG_MAX 1024

#define BC__RESUME_S 30.0          /* bc_options.resume_s 0 */
#define BC__BACKOFF_BASE_NS (20 * 1000000ll) /* first reconnect round's delay bound */
#define BC__BACKOFF_CAP_NS (1000 * 1000000ll)
#define BC__BAD_CLOSES_MAX 3       /* then the outstanding calls get the server's error */
#define BC__LAST_MAX 1024          /* barriers remembered per handle (bc_last.c) */

/* What happens to a call whose connection is lost while resuming. */
typedef enum bc__kind {
    BC__CALL_WAIT = 1, /* re-announced first, with the resume fields */
    BC__CALL_ACK,      /* action_done: re-sent after the waits */
    BC__CALL_QUERY,    /* read-only (status, list, stats, ping): re-sent */
    BC__CALL_ONCE,     /* abort, reset: not idempotent; fails when lost in flight */
} bc__kind;

/* One request in flight; lives on its caller's stack. Guarded by c->mu. */
typedef struct bc__call {
    uint64_t id;
    struct bc__call *next;
    bc__kind kind;
    bp_request req;      /* what to (re)send; req.id is id */
    uint64_t epoch;      /* the connection it went out on; 0: not sent yet */
    int64_t deadline_ns; /* a wait's timeout as a monotonic time; 0: none */
    int done; /* reply holds the answer (its json is ours to free) */
    bp_reply reply;
    int action_due;      /* a run_action event arrived for this wait */
    uint64_t action_gen; /* its generation */
    int action_seen;     /* some run_action arrived: re-announce action_gen */
    int last_taken;      /* req holds the barrier's last outcome as of the first send */
} bc__call;

/* The last outcome this handle saw for a wait on one barrier (bc_last.c). */
typedef struct bc__last {
    struct bc__last *next; /* hash chain */
    uint64_t stamp;        /* when it was last written: the oldest goes first */
    uint64_t generation;
    int released;          /* index is valid */
    unsigned index;
    char name[];
} bc__last;

#define BC__LAST_BUCKETS 256

struct bc_client {
    int fd;                       /* nonblocking socket; replaced only by the reader
                                     holding c->wmu and c->mu (bc_resume.c) */
    SSL *ssl;                     /* TLS over fd (a tls:// address), else NULL;
                                     replaced with fd */
    SSL_CTX *tls_ctx;             /* when some address is tls:// (bc_tls.c) */
    char tls_name[BP_HOST_MAX + 1]; /* bc_options.tls_server_name; "": the host */
    pthread_mutex_t smu;          /* held for every call on ssl (bc_tls.c) */
    int wake[2];                  /* self-pipe: interrupts the reader's poll() */
    char addr[300];               /* the current address, for messages */
    char name[BP_CLIENT_MAX + 1]; /* client name for waits; "" = hostname:pid */
    char token[BP_TOKEN_MAX + 1]; /* for every hello; wiped by bc_close */
    bp_addr addrs[BP_ADDR_LIST_MAX]; /* the servers, as given */
    size_t n_addrs;
    int64_t grace_ns;             /* see bc_options.io_grace_s */
    int64_t connect_ns;           /* see bc_options.connect_timeout_s */
    int64_t resume_ns;            /* see bc_options.resume_s; < 0: off */
    int64_t silence_ns;           /* how long a wait tolerates a silent server before
                                     it probes with a ping: 3 heartbeat intervals (as
                                     hello said; 0 if off) + grace_ns */
    size_t max_line;              /* the server's longest request line, as hello said
                                     (0: not said, no local check); with silence_ns */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* broadcast when a call settles, the reader leaves,
                           or the connection dies, is lost or comes back */
    uint64_t next_id;
    bc__call *calls;       /* outstanding requests */
    int reading;           /* some thread is the reader */
    bp_framer framer;      /* only the reader touches it */
    bp_buf outbox;         /* lines queued during dispatch (pong), sent by the reader */
    int64_t last_heard_ns; /* monotonic time of the last bytes from the server */
    int64_t probe_ns;      /* when the liveness ping went out; 0: none pending */
    uint64_t epoch;        /* the connection's number: 1, then +1 per reconnect */
    size_t cur;            /* index in addrs of the connected server */
    int dead;              /* the connection is lost for good: every call fails */
    int dead_code;
    char dead_msg[BC__MSG_MAX];
    int close_code; /* a reason heard before the close (shutdown event, an
                       error reply without id), used as dead_code */
    char close_msg[BC__MSG_MAX];

    /* Resuming (bc_resume.c); meaningful while lost. */
    int lost;              /* the connection is gone; the reader reconnects */
    int drained;           /* lost: what the old connection still held was read */
    int64_t lost_ns;       /* when: the resume window counts from here */
    int lost_code;         /* BC_ECONN, or BC_ESHUTDOWN if the server said so */
    char lost_msg[BC__MSG_MAX];
    char attempt_msg[BC__MSG_MAX]; /* why the last reconnect attempt failed */
    size_t next_addr;      /* the address the next attempt dials */
    size_t round_tries;    /* attempts in this round (a round tries every address) */
    unsigned round;        /* rounds that failed: the backoff's exponent */
    int64_t retry_ns;      /* no attempt before this time (the backoff) */
    int reannounced;       /* the current connection got the outstanding calls re-sent */
    unsigned bad_closes;   /* connections in a row closed with an error without id
                              right after the re-send (a line too long for the server) */

    uint64_t rng;               /* splitmix64 state: tickets, jitter */
    bc__last *last[BC__LAST_BUCKETS]; /* bc_last.c */
    size_t n_last;
    uint64_t last_stamp;

    pthread_mutex_t wmu; /* serializes writes; taken before c->mu, never after */

    /* A watch handle's events, oldest first (bc_watch.c); guarded by c->mu. */
    int watching;                  /* keep watch events (else they are dropped) */
    struct bc__event *ev_head, *ev_tail;
};

typedef struct bc__event {
    struct bc__event *next;
    void *json; /* owned cJSON object */
} bc__event;

/* ---- bc_error.c ---- */
/* Set this thread's last error message (printf-style) and return code. */
int bc__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- bc_time.c ---- */
int64_t bc__now_ns(void); /* CLOCK_MONOTONIC */
#define BC__NS_PER_S 1000000000ll
/* Milliseconds for poll() until deadline_ns, rounded up, at most 1000 (callers
 * loop), 0 if it has passed. */
int bc__poll_ms(int64_t deadline_ns);

/* ---- bc_time.c ---- */
/* Seed the handle's generator (from getrandom, else the clock and pid). */
void bc__rand_seed(bc_client *c);
/* 64 random bits (c->mu held): tickets and backoff jitter, not secrets. */
uint64_t bc__rand(bc_client *c);

/* ---- bc_dial.c ---- */
/* Open a connected nonblocking socket to a by deadline_ns (for a tls://
 * address, the TCP part: bc__tls_connect follows) (text names it in
 * messages). Returns the fd or a negative BC_E* code with the thread's message
 * set. */
int bc__dial(const bp_addr *a, const char *text, int64_t deadline_ns);

/* ---- bc_io.c ---- */
/* Write all of data to fd by deadline_ns. Returns NULL, or why it failed. */
const char *bc__write_fd(int fd, const char *data, size_t len, int64_t deadline_ns);
/* Write a whole line on connection `epoch`, quietly (the thread's message is
 * left alone): only if that connection is still the current one and not lost
 * (else the line belongs to a connection that is gone, and the reconnect
 * re-sends what still matters). A failure loses the connection. Takes c->wmu,
 * then c->mu briefly; must be called without either held. */
void bc__send_on(bc_client *c, uint64_t epoch, const char *data, size_t len);
/* The connection is lost for good (c->mu held): every call fails with code. */
void bc__kill(bc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Shut the socket down and wake the reader from poll() and every caller from
 * the condvar (c->mu held): the connection is over for them. */
void bc__wake_all(bc_client *c);

/* ---- bc_tls.c ---- */
/* The TLS context from the options when some address is tls:// (c->addrs
 * parsed). 0, or BC_EINVAL / BC_ENOMEM with the message set. */
int bc__tls_setup(bc_client *c, const bc_options *o);
void bc__tls_free(bc_client *c);
/* For a tls:// address: the handshake on the connected fd by deadline_ns,
 * the server verified; *ssl gets the session (NULL for a plain address).
 * 0, or BC_ECONN with the reason in the message. */
int bc__tls_connect(bc_client *c, int fd, const bp_addr *a, const char *text, int64_t deadline_ns,
                    SSL **ssl);
/* 1 if ssl holds decrypted bytes not yet read: no poll() before reading them. */
int bc__tls_pending(bc_client *c, SSL *ssl);
/* recv() on the connection (fd, ssl), never blocking: bytes, 0 at the end,
 * -1 with errno (EAGAIN: nothing yet; EPROTO: a TLS error). peek: MSG_PEEK. */
ssize_t bc__recv(bc_client *c, int fd, SSL *ssl, char *buf, size_t cap, int peek);
/* The text for a bc__recv errno (a TLS error's reason for EPROTO). */
const char *bc__recv_error(int err);
/* bc__write_fd on the connection (fd, ssl). */
const char *bc__write_conn(bc_client *c, int fd, SSL *ssl, const char *data, size_t len,
                           int64_t deadline_ns);

/* ---- bc_resume.c ---- */
/* The connection is gone (c->mu held). With resuming off this is bc__kill;
 * else the handle turns lost: abort and reset in flight fail (BC_ECONN,
 * outcome unknown), everything else waits for the reader to reconnect.
 * BC_ESHUTDOWN as code (or heard before) is what the callers get if no server
 * comes back in time. Wakes every caller. */
void bc__lose(bc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One step of reconnecting, for the reader while c->lost (c->mu held, dropped
 * while dialing): give up when the resume window is over, else wait out the
 * backoff (at most a second) or try the next address once. */
void bc__resume_step(bc_client *c);
/* What a server's hello reply tells the handle. */
typedef struct bc__hello {
    int64_t silence_ns; /* its silence limit (see bc_client.silence_ns) */
    size_t max_line;    /* its longest request line; 0: not said */
} bc__hello;
/* Dial addrs[*i] and say hello by deadline_ns (c->mu not held). Returns the
 * socket, or a negative BC_E* code with the thread's message set; *h gets
 * what the new server's hello said. A standby that names its leader sends
 * it there: *i becomes the leader's index, added to addrs if it was not in the
 * list (addrs and n_addrs change only here, and only the thread connecting or
 * reconnecting runs it). */
int bc__open(bc_client *c, size_t *i, int64_t deadline_ns, bc__hello *h, SSL **ssl);
/* A request line of len bytes (with its '\n') is longer than the server
 * takes: BC_ELIMIT with the message set, else 0 (c->mu held). */
int bc__check_line(const bc_client *c, size_t len);
/* That check's message, for a call the reader settles (c->mu held). */
void bc__line_msg(const bc_client *c, size_t len, char *dst, size_t cap);

/* ---- bc_last.c ---- */
/* Remember the outcome of a wait on name: a reply with a generation, as the
 * reader routes it, so the latest to arrive wins (c->mu held). */
void bc__last_note(bc_client *c, const char *name, const bp_reply *reply);
/* Put the last outcome of r->barrier into r's last_* fields (c->mu held). */
void bc__last_fill(bc_client *c, bp_request *r);
void bc__last_free(bc_client *c);

/* ---- bc_call.c ---- */
/* Register a call under a fresh id (c->mu held). */
void bc__call_add(bc_client *c, bc__call *call);
void bc__call_remove(bc_client *c, bc__call *call);
/* Register call (kind and req filled in) and send it (c->mu held; dropped
 * while writing). While the handle is lost it is only registered: the
 * reconnect sends it. Returns 0, or BC_ENOMEM / the dead handle's code with the
 * message set (the call is registered either way). */
int bc__submit(bc_client *c, bc__call *call);
/* Append call's request to b (c->mu held): a wait's resume fields (its
 * ticket, last outcome, action generation) and, when resume is set, its
 * remaining timeout and "resume":true. */
void bc__encode_call(bc_client *c, bc__call *call, int resume, bp_buf *b);
/* Block until `call` is done or has an action due, or the connection dies.
 * c->mu held on entry and exit. The liveness rule applies (bc_call.c): when the
 * server has been silent for silence_ns, a ping probes it, and if nothing at
 * all arrives within grace_ns more the connection is lost (BC_ECONN, or a
 * reconnect when resuming). Returns 0 when the call is settled, else the
 * handle's error code. */
int bc__await(bc_client *c, bc__call *call, int64_t silence_ns);
/* The liveness rule's step (c->mu held): probe a server silent for limit_ns
 * since `since`; returns when to check next, or 0 when the connection was lost. */
int64_t bc__check_alive(bc_client *c, int64_t since, int64_t limit_ns);
/* Send r as a call of this kind (no actions involved) and wait for the reply,
 * under the liveness rule with grace_ns as the silence limit (these requests
 * are answered at once, no heartbeats expected). On BC_OK *reply holds it
 * (free with bp_reply_free); an error reply is returned as its code with the
 * message set. */
int bc__roundtrip(bc_client *c, bc__kind kind, const bp_request *r, bp_reply *reply);
/* The reply's error code, setting the thread's message to the server's. */
int bc__reply_code(const bp_reply *reply);

/* ---- bc_read.c ---- */
/* One round of reading and routing, until input or deadline_ns (0 = none, but
 * at most a second). c->mu held; the caller holds the reader role. */
void bc__read_step(bc_client *c, int64_t deadline_ns);
/* Frame and route bytes from the server (c->mu held; the reader role). */
void bc__consume(bc_client *c, const char *data, size_t n);

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

/* ---- bc_wait.c ---- */
/* Where a rendezvous action's result lands (bc_action_set_result). */
struct bc_action_ctx {
    char *result; /* owned; NULL: none */
    size_t result_len;
};
/* The action of a wait: bc_wait's (fn) or bc_wait_ex's (rdv_fn with ctx). */
typedef struct bc__wait_action {
    bc_action_fn fn;
    bc_rdv_action_fn rdv_fn;
    void *arg;
    bc_action_ctx *ctx;
} bc__wait_action;
int bc__wait_check_args(bc_client *c, const char *name, unsigned parties, double timeout_s);
void bc__client_name(const bc_client *c, char *dst, size_t cap);
int64_t bc__timeout_ms(double s);
/* Send the wait (call->req filled in, its pointers valid until this returns),
 * run the action when asked, and wait for the release: BC_OK with
 * call->reply held (the caller frees it), or the failure's code. */
int bc__wait_call(bc_client *c, bc__call *call, const bc__wait_action *a);

/* ---- bc_watch.c ---- */
/* Queue a watch event (c->mu held); takes json on success. 0 or BC_ENOMEM. */
int bc__event_push(bc_client *c, void *json);

/* ---- bc_check.c ---- */
/* 0 if name is a valid barrier name, else BC_EINVAL with the message set. */
int bc__check_name(const char *name);
/* 0 if every reserved word of a caller's struct is zero, else BC_EINVAL with
 * the message set (what names the struct). */
int bc__check_reserved(const uint64_t *words, size_t size, const char *what);

#endif
