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

typedef enum bp_op {
    BP_OP_NONE = 0,
    BP_OP_HELLO,
    BP_OP_WAIT,
    BP_OP_ACTION_DONE,
    BP_OP_ABORT,
    BP_OP_RESET,
    BP_OP_STATUS,
    BP_OP_LIST,
    BP_OP_STATS,
    BP_OP_PING,
    BP_OP_PONG, /* answer to a heartbeat event; never replied to */
} bp_op;

/* Wire name of an op ("wait"), or NULL. */
const char *bp_op_name(bp_op op);

typedef struct bp_request {
    bp_op op;
    int has_id;
    uint64_t id;                    /* echoed in the reply; 0..BP_ID_MAX */
    char barrier[BP_NAME_MAX + 1];  /* wait, action_done, abort, reset, status */
    size_t barrier_len;
    unsigned parties;               /* wait */
    int64_t timeout_ms;             /* wait: -1 = none */
    int action;                     /* wait: the caller will run an action if last */
    char client[BP_CLIENT_MAX + 1]; /* wait: who the caller says it is; may be "" */
    uint64_t generation;            /* action_done */
    int success;                    /* action_done: the action's outcome */
    unsigned version;               /* hello: 0 = not given */
    char token[BP_TOKEN_MAX + 1];   /* hello: may be "" */
    int has_token;
} bp_request;

typedef struct bp_decode_error {
    int code;          /* BP_EPROTO (not a JSON object) or BP_EINVAL (a bad field) */
    int has_id;        /* the id, when it could be read, so the reply can echo it */
    uint64_t id;
    char message[160]; /* e.g. "field 'parties': must be an integer in 1..1000000" */
} bp_decode_error;

/* Decode one request line (without its '\n'). Returns 0, or BP_EPROTO/BP_EINVAL
 * with *err filled in. max_parties caps "parties" (0 = BP_PARTIES_MAX). */
int bp_request_decode(const char *line, size_t len, unsigned max_parties, bp_request *out,
                      bp_decode_error *err);

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
/* A failure, shared the same way: prefix is bp_enc_reply_start, and
 *   shared:  "ok":false,"error":"broken","message":"..."}\n                   */
void bp_enc_error_shared(bp_buf *b, int code, const char *message);
/* A whole error reply line. */
void bp_enc_error(bp_buf *b, int has_id, uint64_t id, int code, const char *message);
/* A whole {"id":N,"ok":true} line. */
void bp_enc_ok(bp_buf *b, int has_id, uint64_t id);
/* Events: lines with "event" and no "ok", so a reader can tell them from replies. */
void bp_enc_event_run_action(bp_buf *b, int has_id, uint64_t id, const char *barrier,
                             size_t barrier_len, uint64_t generation);
void bp_enc_event_heartbeat(bp_buf *b);
void bp_enc_event_shutdown(bp_buf *b, const char *message);

/* ---- replies and events, as the client reads them ---- */

typedef enum bp_msg_kind {
    BP_MSG_REPLY = 1,      /* has "ok" */
    BP_MSG_RUN_ACTION,     /* event: the waiter with this id must run its action */
    BP_MSG_HEARTBEAT,      /* event: answer with {"op":"pong"} */
    BP_MSG_SHUTDOWN,       /* event: the server is going away */
} bp_msg_kind;

typedef struct bp_reply {
    bp_msg_kind kind;
    int has_id;
    uint64_t id;
    int code;                        /* reply: 0 if "ok" is true, else the error code */
    char message[BP_MESSAGE_MAX];    /* error or shutdown text, may be "" */
    int has_index;
    unsigned index;                  /* wait release */
    uint64_t generation;             /* wait release, run_action */
    char barrier[BP_NAME_MAX + 1];   /* wait release, run_action, when given */
    void *json;                      /* owned cJSON object: the whole message, for
                                        status/list/stats fields; free with bp_reply_free */
} bp_reply;

/* Decode one reply or event line. Returns 0, or BP_EPROTO for a line that is not
 * a well-formed reply or event. On success the caller owns out->json. */
int bp_reply_decode(const char *line, size_t len, bp_reply *out);
void bp_reply_free(bp_reply *r);

#endif
