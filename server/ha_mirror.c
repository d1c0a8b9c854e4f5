/* ha_mirror.c - see ha_mirror.h. */
#include "ha_mirror.h"

#include "bp_error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ha_mirror_begin(bp_buf *b, unsigned parties, uint64_t generation, int broken,
                     const char *reason, unsigned n_waiting)
{
    bp_buf_printf(b, "{\"parties\":%u,\"generation\":", parties);
    bp_buf_u64(b, generation);
    bp_buf_puts(b, broken ? ",\"broken\":true,\"reason\":" : ",\"broken\":false,\"reason\":");
    bp_buf_json_str(b, reason, strlen(reason));
    bp_buf_printf(b, ",\"n_waiting\":%u,\"waiting\":[", n_waiting);
}

void ha_mirror_waiter(bp_buf *b, unsigned nth, const char *client, const char *peer)
{
    if (nth >= HA_MIRROR_WAITERS_MAX)
        return;
    bp_buf_puts(b, nth ? ",{\"client\":" : "{\"client\":");
    bp_buf_json_str(b, client, strlen(client));
    bp_buf_puts(b, ",\"peer\":");
    bp_buf_json_str(b, peer, strlen(peer));
    bp_buf_puts(b, "}");
}

void ha_mirror_end(bp_buf *b)
{
    bp_buf_puts(b, "]}");
}

void ha_mirror_end_members(bp_buf *b, const char *names, unsigned n)
{
    bp_buf_puts(b, "],\"members\":[");
    bp_buf_json_names(b, names, n);
    bp_buf_puts(b, "]}");
}

/* The member list of a record, if it has a valid one matching its parties. */
static int decode_members(const cJSON *root, ha_mirror_rec *out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "members"), *it;
    if (!m)
        return 0;
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != (int)out->parties)
        return BP_EPROTO;
    size_t bytes = 0;
    cJSON_ArrayForEach(it, m) {
        if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > BP_NAME_MAX)
            return BP_EPROTO;
        bytes += strlen(it->valuestring) + 1;
    }
    char *p = out->members = malloc(bytes);
    if (!p)
        return BP_ENOMEM;
    cJSON_ArrayForEach(it, m) {
        size_t len = strlen(it->valuestring) + 1;
        memcpy(p, it->valuestring, len);
        p += len;
    }
    out->n_members = out->parties;
    return 0;
}

static int get_uint(const cJSON *o, const char *key, double max, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > max ||
        it->valuedouble != floor(it->valuedouble))
        return -1;
    *out = it->valuedouble;
    return 0;
}

int ha_mirror_decode(const char *value, size_t len, ha_mirror_rec *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(value, len);
    double parties, gen, n;
    const cJSON *broken = cJSON_GetObjectItemCaseSensitive(root, "broken");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
    const cJSON *waiting = cJSON_GetObjectItemCaseSensitive(root, "waiting");
    int rc = BP_EPROTO;
    if (!cJSON_IsObject(root) || get_uint(root, "parties", BP_PARTIES_MAX, &parties) < 0 ||
        parties < 1 || get_uint(root, "generation", (double)BP_ID_MAX, &gen) < 0 ||
        get_uint(root, "n_waiting", BP_PARTIES_MAX, &n) < 0 || !cJSON_IsBool(broken) ||
        !cJSON_IsString(reason) || !cJSON_IsArray(waiting))
        goto out;
    out->parties = (unsigned)parties;
    out->generation = (uint64_t)gen;
    out->broken = cJSON_IsTrue(broken);
    snprintf(out->reason, sizeof out->reason, "%s", reason->valuestring);
    out->n_waiting = (unsigned)n;
    int listed = cJSON_GetArraySize(waiting);
    if (listed > 0 && !(out->clients = calloc((size_t)listed, sizeof *out->clients))) {
        rc = BP_ENOMEM;
        goto out;
    }
    const cJSON *w;
    cJSON_ArrayForEach(w, waiting) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "client");
        snprintf(out->clients[out->n_listed++], BP_CLIENT_MAX + 1, "%s",
                 cJSON_IsString(c) ? c->valuestring : "");
    }
    rc = decode_members(root, out);
out:
    cJSON_Delete(root);
    if (rc < 0)
        ha_mirror_rec_free(out);
    return rc;
}

void ha_mirror_rec_free(ha_mirror_rec *r)
{
    free(r->clients);
    r->clients = NULL;
    free(r->members);
    r->members = NULL;
    r->n_members = 0;
    r->n_listed = 0;
}

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int grow(ha_dirty *d)
{
    size_t cap = d->cap ? d->cap * 2 : 64;
    char **names = calloc(cap, sizeof *names);
    if (!names)
        return BP_ENOMEM;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->names[i])
            continue;
        size_t j = name_hash(d->names[i], strlen(d->names[i])) & (cap - 1);
        while (names[j])
            j = (j + 1) & (cap - 1);
        names[j] = d->names[i];
    }
    free(d->names);
    d->names = names;
    d->cap = cap;
    return 0;
}

int ha_dirty_add(ha_dirty *d, const char *name, size_t len)
{
    if ((d->n + 1) * 2 > d->cap && grow(d) < 0)
        return BP_ENOMEM;
    size_t j = name_hash(name, len) & (d->cap - 1);
    while (d->names[j]) {
        if (strlen(d->names[j]) == len && memcmp(d->names[j], name, len) == 0)
            return 0;
        j = (j + 1) & (d->cap - 1);
    }
    if (!(d->names[j] = strndup(name, len)))
        return BP_ENOMEM;
    d->n++;
    return 0;
}

void ha_dirty_take(ha_dirty *d, int (*fn)(void *ctx, char *name), void *ctx)
{
    size_t i = 0;
    for (; i < d->cap && d->n; i++) {
        if (!d->names[i])
            continue;
        char *name = d->names[i];
        d->names[i] = NULL;
        d->n--;
        if (!fn(ctx, name))
            break;
    }
    if (!d->n || i == d->cap)
        return;
    /* Taking some left holes in the probe chains of the rest: lay them out again. */
    char **old = d->names;
    size_t cap = d->cap;
    d->names = NULL;
    d->cap = d->n = 0;
    /* Out of memory, a name is lost: its record waits for the barrier's next change. */
    for (size_t j = 0; j < cap; j++) {
        if (old[j])
            (void)ha_dirty_add(d, old[j], strlen(old[j]));
        free(old[j]);
    }
    free(old);
}

void ha_dirty_free(ha_dirty *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->names[i]);
    free(d->names);
    memset(d, 0, sizeof *d);
}
