/* bp_msg.h - the barrierd wire messages: requests, replies and server events.
 *
 * One JSON object per line. bp_request_decode validates a request line into a
 * plain struct (the server's only JSON parse of it); bp_request_encode writes
 * one (the client's side). Replies and events are written by the bp_enc_*
 * functions and read back by bp_reply_decode. docs/protocol.md is the reference.
 */
#ifndef BP_MSG_H
#define BP_MSG_H

#include "bp_buf.h"
#include "bp_version.h"

#include <stddef.h>
#include <stdint.h>

#define BP_PROTOCOL_VERSION 1
#define BP_NAME_MAX 255           /* barrier name, bytes of UTF-8 */
#define BP_CLIENT_MAX 128         /* client name, bytes */
#define BP_TOKEN_MAX 256          /* auth token, bytes */
#define BP_PARTIES_MAX 1000000u   /* hard ceiling; barrierd may set a lower one */
#define BP_ID_MAX 9007199254740991ull /* 2^53-1: exact in every JSON reader */
#define BP_TIMEOUT_MAX_MS 31536000000000ll /* 1000 years: "no timeout" in practice */
#define BP_MESSAGE_MAX 1024       /* error and event messages, bytes */

/* X(NAME, wire name): every op, in one table that generates the enum and the
 * name lookups both ways. PONG answers a heartbeat event and is never replied to. */
#define BP_OPS(X)                                                                         \
    X(HELLO, "hello")                                                                     \
    X(WAIT, "wait")                                                                       \
    X(ACTION_DONE, "action_done")                                                         \
    X(ABORT, "abort")                                                                     \
    X(RESET, "reset")                                                                     \
    X(STATUS, "status")                                                                   \
    X(LIST, "list")                                                                       \
    X(STATS, "stats")                                                                     \
    X(PING, "ping")                                                                       \
    X(PONG, "pong")                                                                       \
    X(WATCH, "watch")

typedef enum bp_op {
    BP_OP_NONE = 0,
#define BP__OP_ENUM(name, wire) BP_OP_##name,
    BP_OPS(BP__OP_ENUM)
#undef BP__OP_ENUM
} bp_op;

/* Wire name of an op ("wait"), or NULL. */
const char *bp_op_name(bp_op op);
/* The op of a wire name ("wait"), or BP_OP_NONE. */
bp_op bp_op_from_name(const char *name);

typedef struct bp_request {
    bp_op op;
    int has_id;
    uint64_t id;                    /* echoed in the reply; 0..BP_ID_MAX */
    char barrier[BP_NAME_MAX + 1];  /* wait, action_done, abort, reset, status; watch
                                       (optional: "" watches every barrier) */
    size_t barrier_len;
    unsigned parties;               /* wait */
    int64_t timeout_ms;             /* wait: -1 = none */
    int action;                     /* wait: the caller will run an action if last */
    char client[BP_CLIENT_MAX + 1]; /* wait: who the caller says it is; may be "" */
    /* wait, resuming after a lost server (docs/ha.md); all optional: */
    int resume;                     /* sent before, to a server that may be gone */
    uint64_t ticket;                /* the party's own id for this wait; 0 = none */
    int has_last;                   /* the party's last outcome on this barrier: */
    uint64_t last_generation;       /*   its generation */
    int has_last_index;             /*   released, at last_index (else it failed) */
    unsigned last_index;
    int has_action_generation;      /* it was asked to run this generation's action */
    uint64_t action_generation;
    uint64_t generation;            /* action_done */
    int success;                    /* action_done: the action's outcome */
    unsigned version;               /* hello: 0 = not given */
    char token[BP_TOKEN_MAX + 1];   /* hello: may be "" */
    int has_token;
    /* Rendezvous (docs/protocol.md), all optional; NULL/0 when absent. A
     * decoded request points them into `ext`, which it owns (bp_request_free);
     * a request built for bp_request_encode points them at the caller's memory
     * and leaves ext NULL. Strings are UTF-8 without NUL bytes. */
    const char *data;       /* wait: this party's data, data_len bytes */
    size_t data_len;
    const char *member;     /* wait: this party's name in its generation */
    size_t member_len;
    const char *members;    /* wait: n_members names, each NUL-terminated, back to back */
    size_t members_len;     /*   bytes, NULs included */
    unsigned n_members;     /*   0: no list */
    const char *result;     /* action_done: the action's result, result_len bytes */
    size_t result_len;
    char *ext;              /* owned storage of a decoded request, or NULL */
} bp_request;

typedef struct bp_decode_error {
    int code;          /* BP_EPROTO (not a JSON object) or BP_EINVAL (a bad field) */
    int secret;        /* the line may carry a secret (a "token" field, however its
                          key was spelled, or JSON too broken to tell): never log it */
    int has_id;        /* the id, when it could be read, so the reply can echo it */
    uint64_t id;
    char message[160]; /* e.g. "field 'parties': must be an integer in 1..1000000" */
} bp_decode_error;

/* Decode one request line (without its '\n'). Returns 0, or BP_EPROTO/BP_EINVAL
 * with *err filled in. max_parties caps "parties" (0 = BP_PARTIES_MAX). */
int bp_request_decode(const char *line, size_t len, unsigned max_parties, bp_request *out,
                      bp_decode_error *err);

/* Free what a decoded request owns (its rendezvous fields); the struct stays
 * usable with those fields cleared. Safe on a request that owns nothing. */
void bp_request_free(bp_request *r);

/* Append the request as one line, '\n' included. Fields that do not belong to
 * the op are left out. */
void bp_request_encode(bp_buf *b, const bp_request *r);

/* ---- replies and events, as the server writes them ---- */

/* `{"id":N,` or `{` when the request had no id: the start of every reply. */
void bp_enc_reply_start(bp_buf *b, int has_id, uint64_t id);
/* A release is one shared part and a per-waiter prefix, so the shared bytes are
 * encoded once per generation and written to every waiter:
 *   prefix:  {"id":7,"index":2,
 *   shared:  "ok":true,"barrier":"b","generation":4}\n                        */
void bp_enc_release_prefix(bp_buf *b, int has_id, uint64_t id, unsigned index);
void bp_enc_release_shared(bp_buf *b, const char *barrier, size_t barrier_len,
                           uint64_t generation);
/* A release that delivers rendezvous results (docs/protocol.md): the shared
 * part gains "gathered" (gathered_json: the array as encoded by the
 * bp_enc_gathered_* functions below; NULL = no field) and "action_result"
 * (NULL = no field). With neither it is bp_enc_release_shared's exactly:
 *   shared:  "ok":true,"barrier":"b","generation":4,"gathered":["x",null]}\n */
void bp_enc_release_shared_rdv(bp_buf *b, const char *barrier, size_t barrier_len,
                               uint64_t generation, const char *gathered_json,
                               size_t gathered_len, const char *action_result,
                               size_t action_result_len);
/* The gathered array, once per generation: begin, one item per index
 * (s NULL: the party sent no data, encoded null), end. */
void bp_enc_gathered_begin(bp_buf *b);
void bp_enc_gathered_item(bp_buf *b, unsigned nth, const char *s, size_t len);
void bp_enc_gathered_end(bp_buf *b);
/* A failure, shared the same way: prefix is bp_enc_reply_start, and
 *   shared:  "ok":false,"error":"broken","message":"..."}\n                   */
void bp_enc_error_shared(bp_buf *b, int code, const char *message);
/* A failed wait names its barrier and generation too, so that a party knows
 * which generation ended for it:
 *   shared:  "ok":false,"error":"broken","message":"...","barrier":"b","generation":4}\n */
void bp_enc_wait_error_shared(bp_buf *b, int code, const char *message, const char *barrier,
                              size_t barrier_len, uint64_t generation);
/* A standby's answer to any request: a notleader error naming the leader's
 * address ("" when it does not know one yet). */
void bp_enc_notleader(bp_buf *b, int has_id, uint64_t id, const char *leader);
/* A whole error reply line. */
void bp_enc_error(bp_buf *b, int has_id, uint64_t id, int code, const char *message);
/* A whole {"id":N,"ok":true} line. */
void bp_enc_ok(bp_buf *b, int has_id, uint64_t id);
/* hello's reply: the protocol version, "barrierd VERSION", the heartbeat
 * interval (0: none), which tells the client how long the server may be silent,
 * and the longest request line it reads (0: not said), so that a client can
 * refuse an over-long request itself instead of being closed on. */
void bp_enc_hello(bp_buf *b, int has_id, uint64_t id, uint64_t heartbeat_ms, uint64_t max_line);
/* ping's reply: {"id":N,"ok":true,"pong":true} */
void bp_enc_pong(bp_buf *b, int has_id, uint64_t id);

/* A barrier as status and list show it. */
typedef struct bp_barrier_view {
    const char *name;
    size_t name_len;
    unsigned parties;
    unsigned n_waiting;
    unsigned n_pending;  /* arrived for the next generation while an action runs */
    int broken;
    uint64_t generation;
    const char *state;   /* "filling", "running_action", "broken" */
    const char *reason;  /* why it is broken, "" when it is not */
} bp_barrier_view;

/* status: bp_enc_status_begin, one bp_enc_status_waiter per waiting party (in
 * index order), bp_enc_status_end. */
void bp_enc_status_begin(bp_buf *b, int has_id, uint64_t id, const bp_barrier_view *v);
void bp_enc_status_waiter(bp_buf *b, unsigned nth, unsigned index, const char *client,
                          const char *peer);
/* The same, with the party's member name (NULL: it gave none) and how long it
 * has waited ("waited_ms"). */
void bp_enc_status_waiter_since(bp_buf *b, unsigned nth, unsigned index, const char *client,
                                const char *peer, const char *member, size_t member_len,
                                uint64_t waited_ms);
void bp_enc_status_end(bp_buf *b);
/* Rendezvous status fields: after the waiters (bp_enc_status_waiter_since names
 * a party's member), for a barrier with a member list, bp_enc_status_names("members", ...) and
 * ("missing", ...) before bp_enc_status_end. Each closes the array before it
 * and opens its own, which the next one or bp_enc_status_end closes. names: n
 * names, each NUL-terminated, back to back. */
void bp_enc_status_names(bp_buf *b, const char *key, const char *names, unsigned n);
/* list: bp_enc_list_begin, bp_enc_list_item for each barrier, bp_enc_list_end. */
void bp_enc_list_begin(bp_buf *b, int has_id, uint64_t id);
void bp_enc_list_item(bp_buf *b, unsigned nth, const bp_barrier_view *v);
void bp_enc_list_end(bp_buf *b);

/* The server's counters, as stats shows them. */
typedef struct bp_stats_view {
    uint64_t connections;       /* open now */
    uint64_t connections_total; /* accepted since start */
    uint64_t barriers;          /* that exist now */
    uint64_t waiting;           /* parties waiting now */
    uint64_t waits;             /* arrivals accepted since start */
    uint64_t releases;          /* generations released */
    uint64_t breaks;            /* times a barrier broke */
    uint64_t errors;            /* error replies sent, failed waits included */
    uint64_t dropped_slow;      /* connections over --max-output */
    uint64_t dropped_silent;    /* connections that missed heartbeats */
    uint64_t refused;           /* connections over --max-connections */
    uint64_t hello_timeouts;    /* connections closed for not authenticating in time */
    uint64_t resume_proven;     /* generations a re-announcing party proved ended */
    uint64_t resume_late;       /* re-announced waits told an ended generation's outcome */
    uint64_t resume_guessed;    /* indexes handed out from the top after a lost server */
    uint64_t resume_collisions; /* of those, ones a party later reported as its own */
    uint64_t resume_replaced;   /* re-announced waits that replaced their stale copy */
    uint64_t log_dropped;       /* log lines dropped: stderr was not read fast enough */
    const char *role;           /* "single" (no HA group), "leader", "standby" */
    const char *leader;         /* HA: the leader's address, "" when unknown */
    uint64_t term;              /* HA: the leader key's revision while leading, else 0 */
    double uptime_s;
} bp_stats_view;
void bp_enc_stats(bp_buf *b, int has_id, uint64_t id, const bp_stats_view *v);

/* Events: lines with "event" and no "ok", so a reader can tell them from replies. */
void bp_enc_event_run_action(bp_buf *b, int has_id, uint64_t id, const char *barrier,
                             size_t barrier_len, uint64_t generation);
void bp_enc_event_heartbeat(bp_buf *b);
void bp_enc_event_shutdown(bp_buf *b, const char *message);

/* watch's reply: ok, and when it watches one barrier that exists, that
 * barrier's fields as list gives them (v may be NULL). */
void bp_enc_watch_ok(bp_buf *b, int has_id, uint64_t id, const bp_barrier_view *v);

/* One event of a watch (bp_event.c; docs/protocol.md, "watch"). Strings that
 * are NULL are left out. */
typedef struct bp_watch_event {
    const char *event;       /* "arrive", "leave", "release", "break", "reset" */
    const char *barrier;
    size_t barrier_len;
    uint64_t generation;
    unsigned n_waiting;
    unsigned parties;
    int has_index;           /* arrive: the party's arrival index */
    unsigned index;
    const char *client;      /* arrive, leave */
    const char *peer;        /* arrive, leave */
    const char *member;      /* arrive, leave: when the party gave one (NULL: none) */
    size_t member_len;
    const char *cause;       /* break, reset: "timeout", "abort", ... */
    const char *reason;      /* break, reset: the message the waits got */
} bp_watch_event;
void bp_enc_watch_event(bp_buf *b, const bp_watch_event *e);
/* 1 if name is the name of a watch event. */
int bp_watch_event_name(const char *name);

/* ---- replies and events, as the client reads them ---- */

typedef enum bp_msg_kind {
    BP_MSG_REPLY = 1,      /* has "ok" */
    BP_MSG_RUN_ACTION,     /* event: the waiter with this id must run its action */
    BP_MSG_HEARTBEAT,      /* event: answer with {"op":"pong"} */
    BP_MSG_SHUTDOWN,       /* event: the server is going away */
    BP_MSG_WATCH,          /* event for a watch: arrive, leave, release, break, reset;
                              barrier and generation filled, the rest in json */
} bp_msg_kind;

typedef struct bp_reply {
    bp_msg_kind kind;
    int has_id;
    uint64_t id;
    int code;                        /* reply: 0 if "ok" is true, else the error code */
    char message[BP_MESSAGE_MAX];    /* error or shutdown text, may be "" */
    int has_index;
    unsigned index;                  /* wait release */
    int has_generation;
    uint64_t generation;             /* wait release or failure, run_action */
    char barrier[BP_NAME_MAX + 1];   /* wait release, run_action, when given */
    char leader[BP_NAME_MAX + 1];    /* notleader error: the leader's address, or "" */
    void *json;                      /* owned cJSON object: the whole message, for
                                        status/list/stats fields; free with bp_reply_free */
} bp_reply;

/* Decode one reply or event line. Returns 0, or BP_EPROTO for a line that is not
 * a well-formed reply or event. On success the caller owns out->json. */
int bp_reply_decode(const char *line, size_t len, bp_reply *out);
void bp_reply_free(bp_reply *r);

#endif
