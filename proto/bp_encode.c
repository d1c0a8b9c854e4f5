/* bp_encode.c - write requests, replies and events as JSON lines; see bp_msg.h.
 *
 * Written by hand rather than through a cJSON tree: these run once per reply,
 * and the release path shares its bytes among all waiters of a generation.
 */
#include "bp_msg.h"

#include "bp_error.h"

#include <stdio.h>
#include <string.h>

/* ,"key": (keys are our own literals: nothing to escape; no printf, it is on
 * the release path) */
static void key_start(bp_buf *b, const char *key)
{
    bp_buf_puts(b, ",\"");
    bp_buf_puts(b, key);
    bp_buf_puts(b, "\":");
}

static void key_str(bp_buf *b, const char *key, const char *s, size_t len)
{
    key_start(b, key);
    bp_buf_json_str(b, s, len);
}

static void key_u64(bp_buf *b, const char *key, uint64_t v)
{
    key_start(b, key);
    bp_buf_u64(b, v);
}

void bp_request_encode(bp_buf *b, const bp_request *r)
{
    const char *op = bp_op_name(r->op);
    bp_buf_puts(b, "{\"op\":");
    bp_buf_json_str(b, op ? op : "", op ? strlen(op) : 0);
    if (r->has_id)
        key_u64(b, "id", r->id);
    switch (r->op) {
    case BP_OP_WAIT:
        key_str(b, "barrier", r->barrier, strlen(r->barrier));
        if (r->parties || !r->n_members) /* a member list may stand for it */
            key_u64(b, "parties", r->parties);
        if (r->timeout_ms >= 0)
            key_u64(b, "timeout_ms", (uint64_t)r->timeout_ms);
        if (r->action)
            bp_buf_puts(b, ",\"action\":true");
        if (r->client[0])
            key_str(b, "client", r->client, strlen(r->client));
        if (r->resume)
            bp_buf_puts(b, ",\"resume\":true");
        if (r->ticket)
            key_u64(b, "ticket", r->ticket);
        if (r->has_last)
            key_u64(b, "last_generation", r->last_generation);
        if (r->has_last && r->has_last_index)
            key_u64(b, "last_index", r->last_index);
        if (r->has_action_generation)
            key_u64(b, "action_generation", r->action_generation);
        if (r->data)
            key_str(b, "data", r->data, r->data_len);
        if (r->member)
            key_str(b, "member", r->member, r->member_len);
        if (r->n_members) {
            bp_buf_puts(b, ",\"members\":[");
            bp_buf_json_names(b, r->members, r->n_members);
            bp_buf_puts(b, "]");
        }
        break;
    case BP_OP_ACTION_DONE:
        key_str(b, "barrier", r->barrier, strlen(r->barrier));
        key_u64(b, "generation", r->generation);
        bp_buf_puts(b, r->success ? ",\"success\":true" : ",\"success\":false");
        if (r->result)
            key_str(b, "result", r->result, r->result_len);
        break;
    case BP_OP_ABORT:
    case BP_OP_RESET:
    case BP_OP_STATUS:
        key_str(b, "barrier", r->barrier, strlen(r->barrier));
        break;
    case BP_OP_WATCH:
        if (r->barrier[0])
            key_str(b, "barrier", r->barrier, strlen(r->barrier));
        break;
    case BP_OP_HELLO:
        if (r->version)
            key_u64(b, "version", r->version);
        if (r->has_token)
            key_str(b, "token", r->token, strlen(r->token));
        break;
    default:
        break;
    }
    bp_buf_puts(b, "}\n");
}

void bp_enc_reply_start(bp_buf *b, int has_id, uint64_t id)
{
    if (!has_id) {
        bp_buf_puts(b, "{");
        return;
    }
    bp_buf_puts(b, "{\"id\":");
    bp_buf_u64(b, id);
    bp_buf_puts(b, ",");
}

void bp_enc_release_prefix(bp_buf *b, int has_id, uint64_t id, unsigned index)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"index\":");
    bp_buf_u64(b, index);
    bp_buf_puts(b, ",");
}

void bp_enc_release_shared(bp_buf *b, const char *barrier, size_t barrier_len,
                           uint64_t generation)
{
    bp_buf_puts(b, "\"ok\":true,\"barrier\":");
    bp_buf_json_str(b, barrier, barrier_len);
    key_u64(b, "generation", generation);
    bp_buf_puts(b, "}\n");
}

/* "ok":false,"error":"...","message":"..." without the closing brace. */
static void bp_enc_error_body(bp_buf *b, int code, const char *message)
{
    bp_buf_puts(b, "\"ok\":false,\"error\":\"");
    bp_buf_puts(b, bp_err_name(code));
    bp_buf_puts(b, "\"");
    key_str(b, "message", message, strlen(message));
}

void bp_enc_error_shared(bp_buf *b, int code, const char *message)
{
    bp_enc_error_body(b, code, message);
    bp_buf_puts(b, "}\n");
}

void bp_enc_wait_error_shared(bp_buf *b, int code, const char *message, const char *barrier,
                              size_t barrier_len, uint64_t generation)
{
    bp_enc_error_body(b, code, message);
    key_str(b, "barrier", barrier, barrier_len);
    key_u64(b, "generation", generation);
    bp_buf_puts(b, "}\n");
}

void bp_enc_notleader(bp_buf *b, int has_id, uint64_t id, const char *leader)
{
    char msg[BP_NAME_MAX + 64];
    if (leader[0])
        snprintf(msg, sizeof msg, "this server is a standby; the leader is %.255s", leader);
    else
        snprintf(msg, sizeof msg, "this server is a standby; no leader is known yet");
    bp_enc_reply_start(b, has_id, id);
    bp_enc_error_body(b, BP_ENOTLEADER, msg);
    key_str(b, "leader", leader, strlen(leader));
    bp_buf_puts(b, "}\n");
}

void bp_enc_error(bp_buf *b, int has_id, uint64_t id, int code, const char *message)
{
    bp_enc_reply_start(b, has_id, id);
    bp_enc_error_shared(b, code, message);
}

void bp_enc_ok(bp_buf *b, int has_id, uint64_t id)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true}\n");
}

void bp_enc_event_run_action(bp_buf *b, int has_id, uint64_t id, const char *barrier,
                             size_t barrier_len, uint64_t generation)
{
    bp_buf_puts(b, "{\"event\":\"run_action\"");
    if (has_id)
        key_u64(b, "id", id);
    key_str(b, "barrier", barrier, barrier_len);
    key_u64(b, "generation", generation);
    bp_buf_puts(b, "}\n");
}

void bp_enc_event_heartbeat(bp_buf *b)
{
    bp_buf_puts(b, "{\"event\":\"heartbeat\"}\n");
}

void bp_enc_event_shutdown(bp_buf *b, const char *message)
{
    bp_buf_puts(b, "{\"event\":\"shutdown\"");
    key_str(b, "message", message, strlen(message));
    bp_buf_puts(b, "}\n");
}

void bp_enc_hello(bp_buf *b, int has_id, uint64_t id, uint64_t heartbeat_ms, uint64_t max_line)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true");
    key_u64(b, "version", BP_PROTOCOL_VERSION);
    key_str(b, "server", "barrierd " BP_VERSION, strlen("barrierd " BP_VERSION));
    key_u64(b, "heartbeat_ms", heartbeat_ms);
    if (max_line) key_u64(b, "max_line", max_line);
    bp_buf_puts(b, "}\n");
}

void bp_enc_pong(bp_buf *b, int has_id, uint64_t id)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true,\"pong\":true}\n");
}

/* "barrier":..,"parties":..,... shared by status and list entries. */
static void barrier_fields(bp_buf *b, const bp_barrier_view *v)
{
    bp_buf_puts(b, "\"barrier\":");
    bp_buf_json_str(b, v->name, v->name_len);
    key_u64(b, "parties", v->parties);
    key_u64(b, "n_waiting", v->n_waiting);
    bp_buf_puts(b, v->broken ? ",\"broken\":true" : ",\"broken\":false");
    key_u64(b, "generation", v->generation);
    key_str(b, "state", v->state, strlen(v->state));
    key_u64(b, "n_pending", v->n_pending);
}

void bp_enc_status_begin(bp_buf *b, int has_id, uint64_t id, const bp_barrier_view *v)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true,");
    barrier_fields(b, v);
    key_str(b, "reason", v->reason, strlen(v->reason));
    bp_buf_puts(b, ",\"waiting\":[");
}

void bp_enc_status_waiter(bp_buf *b, unsigned nth, unsigned index, const char *client,
                          const char *peer)
{
    bp_buf_puts(b, nth ? ",{\"index\":" : "{\"index\":");
    bp_buf_u64(b, index);
    key_str(b, "client", client, strlen(client));
    key_str(b, "peer", peer, strlen(peer));
    bp_buf_puts(b, "}");
}

void bp_enc_status_waiter_since(bp_buf *b, unsigned nth, unsigned index, const char *client,
                                const char *peer, const char *member, size_t member_len,
                                uint64_t waited_ms)
{
    bp_buf_puts(b, nth ? ",{\"index\":" : "{\"index\":");
    bp_buf_u64(b, index);
    key_str(b, "client", client, strlen(client));
    key_str(b, "peer", peer, strlen(peer));
    if (member)
        key_str(b, "member", member, member_len);
    key_u64(b, "waited_ms", waited_ms);
    bp_buf_puts(b, "}");
}

void bp_enc_status_end(bp_buf *b)
{
    bp_buf_puts(b, "]}\n");
}

void bp_enc_list_begin(bp_buf *b, int has_id, uint64_t id)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true,\"barriers\":[");
}

void bp_enc_list_item(bp_buf *b, unsigned nth, const bp_barrier_view *v)
{
    bp_buf_puts(b, nth ? ",{" : "{");
    barrier_fields(b, v);
    bp_buf_puts(b, "}");
}

void bp_enc_list_end(bp_buf *b)
{
    bp_buf_puts(b, "]}\n");
}

void bp_enc_stats(bp_buf *b, int has_id, uint64_t id, const bp_stats_view *v)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true");
    key_u64(b, "connections", v->connections);
    key_u64(b, "connections_total", v->connections_total);
    key_u64(b, "barriers", v->barriers);
    key_u64(b, "waiting", v->waiting);
    key_u64(b, "waits", v->waits);
    key_u64(b, "releases", v->releases);
    key_u64(b, "breaks", v->breaks);
    key_u64(b, "errors", v->errors);
    key_u64(b, "dropped_slow", v->dropped_slow);
    key_u64(b, "dropped_silent", v->dropped_silent);
    key_u64(b, "refused", v->refused);
    key_u64(b, "hello_timeouts", v->hello_timeouts);
    key_u64(b, "resume_proven", v->resume_proven);
    key_u64(b, "resume_late", v->resume_late);
    key_u64(b, "resume_guessed", v->resume_guessed);
    key_u64(b, "resume_collisions", v->resume_collisions);
    key_u64(b, "resume_replaced", v->resume_replaced);
    key_u64(b, "log_dropped", v->log_dropped);
    key_str(b, "role", v->role, strlen(v->role));
    key_str(b, "leader", v->leader, strlen(v->leader));
    key_u64(b, "term", v->term);
    bp_buf_printf(b, ",\"uptime_s\":%.3f}\n", v->uptime_s);
}

/* ---- rendezvous ---- */

void bp_enc_release_shared_rdv(bp_buf *b, const char *barrier, size_t barrier_len,
                               uint64_t generation, const char *gathered_json,
                               size_t gathered_len, const char *action_result,
                               size_t action_result_len)
{
    bp_buf_puts(b, "\"ok\":true,\"barrier\":");
    bp_buf_json_str(b, barrier, barrier_len);
    key_u64(b, "generation", generation);
    if (gathered_json) {
        bp_buf_puts(b, ",\"gathered\":");
        bp_buf_append(b, gathered_json, gathered_len);
    }
    if (action_result)
        key_str(b, "action_result", action_result, action_result_len);
    bp_buf_puts(b, "}\n");
}

void bp_enc_gathered_begin(bp_buf *b)
{
    bp_buf_puts(b, "[");
}

void bp_enc_gathered_item(bp_buf *b, unsigned nth, const char *s, size_t len)
{
    if (nth)
        bp_buf_puts(b, ",");
    if (s)
        bp_buf_json_str(b, s, len);
    else
        bp_buf_puts(b, "null");
}

void bp_enc_gathered_end(bp_buf *b)
{
    bp_buf_puts(b, "]");
}

void bp_enc_status_names(bp_buf *b, const char *key, const char *names, unsigned n)
{
    bp_buf_printf(b, "],\"%s\":[", key);
    bp_buf_json_names(b, names, n);
}

void bp_enc_watch_ok(bp_buf *b, int has_id, uint64_t id, const bp_barrier_view *v)
{
    bp_enc_reply_start(b, has_id, id);
    bp_buf_puts(b, "\"ok\":true");
    if (v) {
        bp_buf_puts(b, ",");
        barrier_fields(b, v);
        key_str(b, "reason", v->reason, strlen(v->reason));
    }
    bp_buf_puts(b, "}\n");
}
