/* bc_admin.c - the one-shot requests: abort, reset, status, list, stats, ping. */
#include "bc_internal.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Send op (on name, if the op takes one) and wait for its reply. Abort and
 * reset are not idempotent, so a reconnect does not send them again; the
 * read-only requests it does. */
static int request(bc_client *c, bp_op op, const char *name, bp_reply *reply)
{
    if (!c) return bc__fail(BC_EINVAL, "client is NULL");
    bp_request r = {.op = op};
    if (op == BP_OP_ABORT || op == BP_OP_RESET || op == BP_OP_STATUS) {
        int rc = bc__check_name(name);
        if (rc < 0) return rc;
        snprintf(r.barrier, sizeof r.barrier, "%s", name);
    }
    bc__kind kind = op == BP_OP_ABORT || op == BP_OP_RESET ? BC__CALL_ONCE : BC__CALL_QUERY;
    return bc__roundtrip(c, kind, &r, reply);
}

static int simple(bc_client *c, bp_op op, const char *name)
{
    bp_reply reply;
    int rc = request(c, op, name, &reply);
    if (rc == 0) bp_reply_free(&reply);
    return rc;
}

int bc_abort(bc_client *c, const char *name)
{
    return simple(c, BP_OP_ABORT, name);
}

int bc_reset(bc_client *c, const char *name)
{
    return simple(c, BP_OP_RESET, name);
}

static uint64_t get_u64(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) && it->valuedouble > 0 ? (uint64_t)it->valuedouble : 0;
}

static void read_status(const cJSON *o, bc_status *st)
{
    memset(st, 0, sizeof *st);
    st->parties = (unsigned)get_u64(o, "parties");
    st->n_waiting = (unsigned)get_u64(o, "n_waiting");
    st->broken = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "broken"));
    st->generation = get_u64(o, "generation");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
    if (cJSON_IsString(state))
        snprintf(st->state, sizeof st->state, "%s", state->valuestring);
    else
        snprintf(st->state, sizeof st->state, "%s", st->broken ? "broken" : "filling");
}

int bc_status_get(bc_client *c, const char *name, bc_status *out)
{
    return bc_status_detail(c, name, out, NULL);
}

/* ---- bc_detail: the reason and the waiting parties of a status reply ---- */

typedef struct bc__waiter {
    unsigned index;
    char *client, *peer;
    char *member; /* "" when it gave none */
} bc__waiter;

/* A list of names from a status reply (rendezvous: members, missing). */
typedef struct bc__names {
    char **names;
    size_t n;
} bc__names;

struct bc_detail {
    char *reason;
    size_t n;
    bc__waiter *waiters;
    bc__names members, missing;
};

static void names_free(bc__names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

/* 0, or -1 when out of memory. */
static int read_names(const cJSON *o, const char *key, bc__names *l)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *it;
    int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (count <= 0) return 0;
    if (!(l->names = calloc((size_t)count, sizeof *l->names))) return -1;
    cJSON_ArrayForEach(it, arr)
    {
        if (!(l->names[l->n++] = strdup(cJSON_IsString(it) ? it->valuestring : ""))) return -1;
    }
    return 0;
}

/* A copy of a string field ("" when missing); NULL only when out of memory. */
static char *dup_field(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return strdup(cJSON_IsString(it) ? it->valuestring : "");
}

static bc_detail *read_detail(const cJSON *o)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "waiting");
    int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    bc_detail *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->reason = dup_field(o, "reason");
    d->waiters = count > 0 ? calloc((size_t)count, sizeof *d->waiters) : NULL;
    if (!d->reason || (count > 0 && !d->waiters)) {
        bc_detail_free(d);
        return NULL;
    }
    const cJSON *w;
    cJSON_ArrayForEach(w, arr)
    {
        bc__waiter *e = &d->waiters[d->n++];
        e->index = (unsigned)get_u64(w, "index");
        e->client = dup_field(w, "client");
        e->peer = dup_field(w, "peer");
        e->member = dup_field(w, "member");
        if (!e->client || !e->peer || !e->member) {
            bc_detail_free(d);
            return NULL;
        }
    }
    if (read_names(o, "members", &d->members) < 0 || read_names(o, "missing", &d->missing) < 0) {
        bc_detail_free(d);
        return NULL;
    }
    return d;
}

int bc_status_detail(bc_client *c, const char *name, bc_status *st, bc_detail **out)
{
    bp_reply reply;
    int rc = request(c, BP_OP_STATUS, name, &reply);
    if (rc < 0) return rc;
    bc_detail *d = out ? read_detail(reply.json) : NULL;
    if (out && !d) rc = bc__fail(BC_ENOMEM, "out of memory");
    if (rc == 0 && st) read_status(reply.json, st);
    if (rc == 0 && out) *out = d;
    bp_reply_free(&reply);
    return rc;
}

const char *bc_detail_reason(const bc_detail *d)
{
    return d && d->reason ? d->reason : "";
}

size_t bc_detail_n_waiters(const bc_detail *d)
{
    return d ? d->n : 0;
}

static const bc__waiter *waiter_at(const bc_detail *d, size_t i)
{
    return d && i < d->n ? &d->waiters[i] : NULL;
}

unsigned bc_detail_waiter_index(const bc_detail *d, size_t i)
{
    const bc__waiter *w = waiter_at(d, i);
    return w ? w->index : UINT_MAX;
}

const char *bc_detail_waiter_client(const bc_detail *d, size_t i)
{
    const bc__waiter *w = waiter_at(d, i);
    return w ? w->client : "";
}

const char *bc_detail_waiter_peer(const bc_detail *d, size_t i)
{
    const bc__waiter *w = waiter_at(d, i);
    return w ? w->peer : "";
}

const char *bc_detail_waiter_member(const bc_detail *d, size_t i)
{
    const bc__waiter *w = waiter_at(d, i);
    return w && w->member ? w->member : "";
}

size_t bc_detail_n_members(const bc_detail *d)
{
    return d ? d->members.n : 0;
}

const char *bc_detail_member(const bc_detail *d, size_t i)
{
    return d && i < d->members.n ? d->members.names[i] : "";
}

size_t bc_detail_n_missing(const bc_detail *d)
{
    return d ? d->missing.n : 0;
}

const char *bc_detail_missing(const bc_detail *d, size_t i)
{
    return d && i < d->missing.n ? d->missing.names[i] : "";
}

void bc_detail_free(bc_detail *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->waiters[i].client);
        free(d->waiters[i].peer);
        free(d->waiters[i].member);
    }
    names_free(&d->members);
    names_free(&d->missing);
    free(d->waiters);
    free(d->reason);
    free(d);
}

static int read_list(const cJSON *arr, bc_barrier_info **out, size_t *n)
{
    int count = cJSON_GetArraySize(arr);
    *out = NULL;
    *n = 0;
    if (count <= 0) return 0;
    bc_barrier_info *list = calloc((size_t)count, sizeof *list);
    if (!list) return bc__fail(BC_ENOMEM, "out of memory");
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "barrier");
        if (!cJSON_IsString(name)) continue;
        snprintf(list[i].name, sizeof list[i].name, "%s", name->valuestring);
        read_status(it, &list[i].status);
        i++;
    }
    *out = list;
    *n = i;
    return 0;
}

int bc_list(bc_client *c, bc_barrier_info **out, size_t *n)
{
    if (!out || !n) return bc__fail(BC_EINVAL, "out or n is NULL");
    bp_reply reply;
    int rc = request(c, BP_OP_LIST, NULL, &reply);
    if (rc < 0) return rc;
    rc = read_list(cJSON_GetObjectItemCaseSensitive(reply.json, "barriers"), out, n);
    bp_reply_free(&reply);
    return rc;
}

void bc_list_free(bc_barrier_info *list)
{
    free(list);
}

int bc_stats_get(bc_client *c, bc_stats *out)
{
    bp_reply reply;
    int rc = request(c, BP_OP_STATS, NULL, &reply);
    if (rc < 0) return rc;
    if (out) {
        const cJSON *o = reply.json;
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "uptime_s");
        *out = (bc_stats){
            .connections = get_u64(o, "connections"),
            .barriers = get_u64(o, "barriers"),
            .waiting = get_u64(o, "waiting"),
            .waits = get_u64(o, "waits"),
            .releases = get_u64(o, "releases"),
            .breaks = get_u64(o, "breaks"),
            .errors = get_u64(o, "errors"),
            .uptime_s = cJSON_IsNumber(up) ? up->valuedouble : 0,
        };
    }
    bp_reply_free(&reply);
    return 0;
}

int bc_ping(bc_client *c, double *rtt_s)
{
    int64_t t0 = bc__now_ns();
    int rc = simple(c, BP_OP_PING, NULL);
    if (rc == 0 && rtt_s) *rtt_s = (double)(bc__now_ns() - t0) / BC__NS_PER_S;
    return rc;
}

static bp_op query_op(const char *op)
{
    static const bp_op ops[] = {BP_OP_STATUS, BP_OP_LIST, BP_OP_STATS, BP_OP_PING};
    for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(op, bp_op_name(ops[i])) == 0) return ops[i];
    return BP_OP_NONE;
}

int bc_query_json(bc_client *c, const char *op, const char *name, char **json)
{
    bp_op o = query_op(op);
    if (o == BP_OP_NONE || !json)
        return bc__fail(BC_EINVAL, "query op must be status, list, stats or ping");
    bp_reply reply;
    int rc = request(c, o, name, &reply);
    if (rc < 0) return rc;
    cJSON_DeleteItemFromObjectCaseSensitive(reply.json, "id");
    char *text = cJSON_PrintUnformatted(reply.json);
    bp_reply_free(&reply);
    /* Hand out malloc'ed memory whatever allocator hooks cJSON was given. */
    *json = text ? strdup(text) : NULL;
    cJSON_free(text);
    return *json ? 0 : bc__fail(BC_ENOMEM, "out of memory");
}
