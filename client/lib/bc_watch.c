/* bc_watch.c - a watch: a handle of its own whose connection asked for events.
 *
 * The reader (bc_read.c) queues each watch event on the handle; bc_watch_next
 * takes the reader role itself until one is queued, under the same liveness
 * rule as a wait (the server heartbeats watchers). A watch does not resume: a
 * new connection would miss what happened meanwhile, which a watcher would
 * not know. */
#include "bc_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bc_watch {
    bc_client *c;
    int has_status;
    bc_status status;  /* the barrier when the watch began */
    cJSON *last;       /* the last event */
    char *last_text;   /* its JSON, cJSON-allocated */
};

int bc__event_push(bc_client *c, void *json)
{
    bc__event *e = malloc(sizeof *e);
    if (!e) return BC_ENOMEM;
    e->next = NULL;
    e->json = json;
    if (c->ev_tail)
        c->ev_tail->next = e;
    else
        c->ev_head = e;
    c->ev_tail = e;
    return 0;
}

static uint64_t u64_of(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble : 0;
}

static void str_of(const cJSON *o, const char *key, char *dst, size_t cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, cap, "%s", cJSON_IsString(it) ? it->valuestring : "");
}

int bc_watch_open(const char *addr, const bc_options *opts, const char *name, bc_watch **out)
{
    if (!out) return bc__fail(BC_EINVAL, "out is NULL");
    if (name) {
        int rc = bc__check_name(name);
        if (rc < 0) return rc;
    }
    bc_options o = {0};
    if (opts) o = *opts;
    o.resume_s = -1;
    bc_watch *w = calloc(1, sizeof *w);
    if (!w) return bc__fail(BC_ENOMEM, "out of memory");
    int rc = bc_connect(addr, &o, &w->c);
    if (rc < 0) {
        free(w);
        return rc;
    }
    pthread_mutex_lock(&w->c->mu);
    w->c->watching = 1; /* before the request: events may follow its reply at once */
    pthread_mutex_unlock(&w->c->mu);
    bp_request r = {.op = BP_OP_WATCH};
    if (name) snprintf(r.barrier, sizeof r.barrier, "%s", name);
    bp_reply reply;
    rc = bc__roundtrip(w->c, BC__CALL_QUERY, &r, &reply);
    if (rc < 0) {
        bc_watch_close(w);
        return rc;
    }
    const cJSON *j = reply.json;
    if (cJSON_GetObjectItemCaseSensitive(j, "parties")) {
        w->has_status = 1;
        w->status.parties = (unsigned)u64_of(j, "parties");
        w->status.n_waiting = (unsigned)u64_of(j, "n_waiting");
        w->status.broken = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "broken"));
        w->status.generation = u64_of(j, "generation");
        str_of(j, "state", w->status.state, sizeof w->status.state);
    }
    bp_reply_free(&reply);
    *out = w;
    return 0;
}

int bc_watch_status(const bc_watch *w, bc_status *out)
{
    if (!w || !out) return bc__fail(BC_EINVAL, "watch or out is NULL");
    if (!w->has_status) return bc__fail(BC_ENOTFOUND, "no barrier of that name when the watch began");
    *out = w->status;
    return 0;
}

static void fill(const cJSON *j, bc_event *out)
{
    memset(out, 0, sizeof *out);
    str_of(j, "event", out->type, sizeof out->type);
    str_of(j, "barrier", out->barrier, sizeof out->barrier);
    out->generation = u64_of(j, "generation");
    out->n_waiting = (unsigned)u64_of(j, "n_waiting");
    out->parties = (unsigned)u64_of(j, "parties");
    out->has_index = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "index"));
    out->index = (unsigned)u64_of(j, "index");
    str_of(j, "client", out->client, sizeof out->client);
    str_of(j, "cause", out->cause, sizeof out->cause);
}

int bc_watch_next(bc_watch *w, double timeout_s, bc_event *out)
{
    if (!w || !out) return bc__fail(BC_EINVAL, "watch or out is NULL");
    bc_client *c = w->c;
    int64_t deadline = 0;
    if (timeout_s >= 0)
        deadline = bc__now_ns() + (int64_t)((timeout_s > 1e6 ? 1e6 : timeout_s) * BC__NS_PER_S) + 1;
    pthread_mutex_lock(&c->mu);
    while (!c->ev_head && !c->dead) {
        if (deadline && bc__now_ns() >= deadline) break;
        /* A quiet server is probed (0: only the last bytes heard count). */
        int64_t next = bc__check_alive(c, 0, c->silence_ns);
        if (!next) continue;
        if (deadline && deadline < next) next = deadline;
        c->reading = 1;
        bc__read_step(c, next);
        c->reading = 0;
    }
    bc__event *e = c->ev_head;
    if (e) {
        c->ev_head = e->next;
        if (!c->ev_head) c->ev_tail = NULL;
    }
    int dead = c->dead, code = c->dead_code;
    char msg[BC__MSG_MAX];
    snprintf(msg, sizeof msg, "%s", c->dead_msg);
    pthread_mutex_unlock(&c->mu);
    if (!e) {
        if (dead) return bc__fail(code, "%s", msg);
        return bc__fail(BC_ETIMEDOUT, "no event within %.3g s", timeout_s);
    }
    cJSON_Delete(w->last);
    cJSON_free(w->last_text);
    w->last = e->json;
    w->last_text = cJSON_PrintUnformatted(w->last);
    free(e);
    fill(w->last, out);
    return 0;
}

const char *bc_watch_field(const bc_watch *w, const char *key)
{
    if (!w || !w->last || !key) return "";
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(w->last, key);
    return cJSON_IsString(it) ? it->valuestring : "";
}

const char *bc_watch_json(const bc_watch *w)
{
    return w && w->last_text ? w->last_text : "";
}

void bc_watch_close(bc_watch *w)
{
    if (!w) return;
    bc_client *c = w->c;
    while (c->ev_head) {
        bc__event *e = c->ev_head;
        c->ev_head = e->next;
        cJSON_Delete(e->json);
        free(e);
    }
    bc_close(c);
    cJSON_Delete(w->last);
    cJSON_free(w->last_text);
    free(w);
}
