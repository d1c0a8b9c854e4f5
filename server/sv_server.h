/* sv_server.h - barrierd's event loop state: the server, its connections and
 * their outstanding waits. One thread; everything here belongs to the loop. */
#ifndef SV_SERVER_H
#define SV_SERVER_H

#include "bp_frame.h"
#include "bp_msg.h"
#include "br_registry.h"
#include "sv_config.h"
#include "sv_ha.h"
#include "sv_obs.h"

#include <uv.h>

typedef struct sv_server sv_server;
typedef struct sv_conn sv_conn;
typedef struct sv_wait sv_wait;
typedef struct sv_wreq sv_wreq;
typedef struct sv_uring sv_uring;

/* Bytes shared by many writes (a release's common part): freed with the last ref. */
typedef struct sv_shared {
    unsigned refs;
    size_t len;
    char data[];
} sv_shared;

#define SV_CLIENT_INLINE 40 /* client name bytes kept in the wait itself */

/* One outstanding wait of a connection. The registry's waiter comes first so
 * the sink can turn a br_waiter back into its sv_wait. */
struct sv_wait {
    br_waiter w;
    sv_conn *conn;
    sv_wait *prev, *next;             /* the connection's waits */
    char *ext;                        /* owned: the request's rendezvous fields (data,
                                         member) that w points into, or NULL */
    char *client_heap;                /* owned: a client name too long for client[] */
    char client[SV_CLIENT_INLINE];    /* the client name, when it fits (most do) */
};

/* A connection's life. Only sv__conn_set_state moves it, asserting the move:
 *   OPEN -> DRAINING -> CLOSING, or OPEN -> CLOSING. */
typedef enum sv_conn_state {
    SV_CONN_OPEN = 0, /* reads requests, writes replies; counts against --max-connections */
    SV_CONN_DRAINING, /* no more requests or replies: what is queued is flushed, then FIN;
                         closed when the peer closes too, or at drain_until_ms */
    SV_CONN_CLOSING,  /* uv_close issued; freed in its close callback */
} sv_conn_state;

struct sv_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;                     /* h.handle.data points back here */
    /* Hot: read by every request and every reply, so kept in the cache lines
     * right after the handle's (docs/performance.md). */
    sv_server *srv;
    sv_wait *waits;          /* outstanding waits */
    unsigned n_waits;
    sv_conn_state state;     /* see sv_conn_state; set by sv__conn_set_state only */
    uint32_t batch_first;    /* sv_batch: its first and last entry + 1 while an outcome */
    uint32_t batch_last;     /*   is being told; 0 otherwise */
    uint64_t last_rx_ms;     /* when a byte last arrived */
    size_t out_cost;         /* memory held by queued output: bytes and request overhead */
    struct tl_conn *tls;     /* TLS state (tl_server.h); NULL: plain */
    unsigned unanswered;     /* heartbeats sent since a byte last arrived */
    int authed;              /* may use every op */
    bp_framer framer;        /* partial request line */
    /* Cold: connect, close, heartbeats, logs. */
    sv_conn *prev, *next;    /* every open connection */
    uint64_t serial;         /* for log lines */
    int said_hello;          /* promised to answer heartbeats */
    int peer_eof;            /* the peer closed its side (it may still read) */
    int shutdown_done;       /* DRAINING: our FIN went out after the queued output */
    int token_warned;        /* warned about a token sent in the clear */
    const char *close_why;   /* static text: why it closed, for logs and break messages */
    int64_t drain_until_ms;  /* DRAINING: closed by then at the latest */
    int64_t hello_by_ms;     /* with a token: closed unless authenticated by then; 0 = no limit */
    sv_watcher *watch;       /* it asked to watch barriers (sv_obs.c); NULL: it did not */
    uv_shutdown_t shutdown_req;
    char peer[64];           /* "127.0.0.1:40112", "[::1]:40112", "unix" */
};

typedef struct sv_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    sv_server *srv;
    char addr[128];
    int tls;                    /* tls:// listener: connections speak TLS */
} sv_listener;

/* A reply this small goes out as one write() of a copy, not a writev() of its
 * pieces, and fits a slot of the io_uring submission (sv_uring.c). */
#define SV_SMALL_WRITE 512
/* Replies in one io_uring submission. */
#define SV_URING_N 256

/* Buffers in one write: 256 waits' prefix and body, under IOV_MAX. */
#define SV_SENDV_MAX 512

/* Everything one outcome owes each connection, gathered so that each gets one
 * write however many of its waits the outcome ends (sv_batch.c). */
typedef struct sv_batch_ent {
    sv_conn *conn;
    uint32_t off, len;  /* the waiter's prefix in sv_batch.prefixes */
    uint32_t next;      /* the connection's next entry + 1, or 0 */
} sv_batch_ent;

typedef struct sv_batch {
    bp_buf prefixes;    /* every waiter's prefix, back to back */
    sv_batch_ent *ents;
    size_t n_ents, cap_ents;
    sv_conn **conns;    /* connections with entries, in first-entry order */
    size_t n_conns, cap_conns;
    uv_buf_t iov[SV_SENDV_MAX]; /* one connection's write: prefix, body, prefix, ... */
} sv_batch;

typedef struct sv_counters {
    uint64_t connections_total;
    uint64_t errors;            /* error replies sent */
    uint64_t dropped_slow;      /* connections over --max-output */
    uint64_t dropped_silent;    /* connections that missed heartbeats */
    uint64_t refused;           /* connections over --max-connections */
    uint64_t hello_timeouts;    /* connections that did not authenticate in --hello-timeout */
} sv_counters;

struct sv_server {
    uv_loop_t *loop;
    sv_config *cfg;
    br_registry *reg;
    sv_listener listeners[SV_MAX_LISTEN];
    size_t n_listeners;
    sv_conn *conns;
    size_t n_conns;             /* every connection not yet freed */
    size_t n_open;              /* those in SV_CONN_OPEN: what --max-connections bounds */
    uint64_t next_serial;
    uv_timer_t deadline_timer;  /* fires at the registry's earliest deadline */
    int64_t armed_deadline;     /* what deadline_timer is set for, or -1 */
    uv_idle_t expire_idle;      /* keeps poll from blocking while an expiry is due */
    uv_check_t expire_check;    /* expires deadlines after the loop has read input */
    uv_timer_t heartbeat_timer;
    uv_timer_t sweep_timer;
    uv_timer_t stop_timer;      /* bounds a graceful shutdown */
    uv_signal_t sigterm, sigint;
    int shutting_down;          /* 1 after the first signal, 2 after the second */
    uint64_t start_ms;
    sv_counters counters;
    struct sv_ha *ha;           /* HA group membership, NULL without --ha-etcd */
    struct tl_server *tls;      /* TLS context and SIGHUP reload; NULL without tls:// */
    bp_buf out;                 /* encoding scratch for replies, reused */
    bp_buf prefix;              /* encoding scratch for per-waiter prefixes */
    sv_batch batch;             /* the outcome being told, per connection */
    sv_uring *uring;            /* a release's writes in one submission; NULL: plain */
    sv_wreq *free_wreqs;        /* recycled write requests */
    size_t n_free_wreqs;
    sv_wait *free_waits;        /* recycled waits */
    size_t n_free_waits;
    char read_buf[65536];       /* one read buffer for every connection */
    sv_obs *obs;                /* metrics, watchers, HTTP (sv_obs.c) */
};

/* sv_server.c */
int sv_server_init(sv_server *s, uv_loop_t *loop, sv_config *cfg);
int sv_server_listen(sv_server *s);
void sv_server_shutdown(sv_server *s, const char *why);
void sv_server_free(sv_server *s);
/* Forget every barrier and close every connection at once, telling nobody
 * anything: a fenced leader must not answer even with an error (its parties
 * resume with the next leader). */
void sv__drop_everything(sv_server *s, const char *why);
int64_t sv__now(const sv_server *s);
void sv__arm_deadline(sv_server *s);

/* sv_conn.c */
void sv__conn_accept(sv_listener *l);
/* Plaintext from the peer: frame and dispatch its lines (OPEN only). */
void sv__conn_input(sv_conn *c, const char *data, size_t n);
void sv__conn_set_state(sv_conn *c, sv_conn_state to);
/* Close now: waits leave the registry (breaking their barriers), queued output
 * is dropped. `why` is logged and used in break messages. */
void sv__conn_close(sv_conn *c, const char *why);
/* Send an error line without id (counted, logged) and close after it: the
 * connection is over (`why`, for logs and break messages). */
void sv__conn_fail(sv_conn *c, int code, const char *msg, const char *why);
/* Stop taking requests and close once the queued output has been sent (after
 * an error reply, or when the peer half-closed): waits leave now. */
void sv__conn_close_after_flush(sv_conn *c, const char *why);
/* The peer sends no more (a TCP EOF, or TLS's close_notify): close once the
 * output owed is flushed; a peer that half-closed may still read it. */
void sv__conn_peer_eof(sv_conn *c);
void sv__conn_unlink_wait(sv_conn *c, sv_wait *w);
sv_wait *sv__wait_new(sv_server *s);
void sv__wait_free(sv_server *s, sv_wait *w);
void sv__wait_pool_free(sv_server *s);

/* sv_write.c */
sv_shared *sv__shared_new(const char *data, size_t len);
void sv__shared_unref(sv_shared *sh);
/* Send prefix then body, straight to the socket when it takes them. What must
 * be queued is copied, except a body with a share slot: it is wrapped once in a
 * sv_shared stored in *share (the caller unrefs it when done) and referenced by
 * every queued write. Drops the connection if its queued output passes
 * --max-output. */
void sv__conn_send(sv_conn *c, const char *prefix, size_t plen, const char *body, size_t blen,
                   sv_shared **share);
/* The same with n buffers (at most SV_SENDV_MAX) in one write, those whose
 * base is body being the body: what one outcome owes a connection holding
 * several of its waits, each prefix followed by the body. Only while open. */
void sv__conn_sendv(sv_conn *c, const uv_buf_t *bufs, unsigned n, const char *body, size_t blen,
                    sv_shared **share);
void sv__conn_send_buf(sv_conn *c, const bp_buf *b);
/* Past --max-output with what is already queued: drop c (it is not reading),
 * count it and return 1; else 0. For the plain and the TLS queue alike. */
int sv__conn_drop_if_slow(sv_conn *c);
/* bufs[0..n) back to back into dst (room enough: the caller checked); their
 * length. */
size_t sv__bufs_copy(char *dst, const uv_buf_t *bufs, unsigned n);
void sv__wreq_pool_free(sv_server *s);

/* sv_uring.c: a release's small replies sent in one io_uring submission.
 * init leaves s->uring NULL with --no-io-uring or where the kernel refuses it
 * (logged; -1 only out of memory). add takes c's reply (n buffers, total
 * bytes) for the next submission, copied, or returns -1 when c must be
 * written the plain way (TLS, output queued, not open, too big). flush
 * submits, waits for every send, and sends what a socket did not take
 * through sv__conn_send; nothing is in flight after it. */
int sv__uring_init(sv_server *s);
int sv__uring_add(sv_server *s, sv_conn *c, const uv_buf_t *bufs, unsigned n, size_t total);
void sv__uring_flush(sv_server *s);
void sv__uring_free(sv_server *s);

/* sv_batch.c: a waiter's prefix is added for its connection; the flush writes
 * each connection's prefixes, each followed by the shared body, at once. An
 * entry's connection must stay allocated until the flush (it may close: a
 * closed connection is skipped). */
/* The waiter's prefix is its id and, with_index, its arrival index; encoded
 * here, straight into the batch. 0, or -1 out of memory (nothing added). */
int sv__batch_add(sv_server *s, sv_conn *c, const br_waiter *w, int with_index);
/* That prefix, appended to b (the batch's, or a reply sent on its own). */
void sv__batch_prefix(bp_buf *b, const br_waiter *w, int with_index);
void sv__batch_flush(sv_server *s, const char *body, size_t blen);
void sv__batch_free(sv_server *s);

/* sv_dispatch.c */
void sv__dispatch(sv_conn *c, const char *line, size_t len);
/* The replies of status (bar), list and stats into b: the protocol's and the
 * HTTP API's (with has_id 0). */
void sv__barrier_view(const br_barrier *bar, bp_barrier_view *v);
void sv__enc_status(sv_server *s, bp_buf *b, int has_id, uint64_t id, const br_barrier *bar);
void sv__enc_list(sv_server *s, bp_buf *b, int has_id, uint64_t id);
void sv__enc_stats(sv_server *s, bp_buf *b, int has_id, uint64_t id);

/* sv_notify.c: the registry's sink */
void sv__notify(void *ctx, const br_outcome *o);

#endif
