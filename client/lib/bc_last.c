/* bc_last.c - the last outcome this handle saw for a wait, per barrier.
 *
 * Every wait carries it (last_generation, and last_index when that outcome
 * was a release), so that a restarted server can continue a barrier's
 * generations rather than start again at 0, and can tell which generation was
 * released. A hash table of at most BC__LAST_MAX names; beyond that the entry
 * written longest ago goes (a scan, only when a new name overflows it).
 */
#include "bc_internal.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: names are short, and an attacker cannot pick ours. */
static size_t bucket(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % BC__LAST_BUCKETS;
}

static bc__last *find(bc_client *c, const char *name)
{
    for (bc__last *e = c->last[bucket(name)]; e; e = e->next)
        if (strcmp(e->name, name) == 0) return e;
    return NULL;
}

static void unlink_entry(bc_client *c, bc__last *victim)
{
    for (bc__last **p = &c->last[bucket(victim->name)]; *p; p = &(*p)->next) {
        if (*p == victim) {
            *p = victim->next;
            c->n_last--;
            free(victim);
            return;
        }
    }
}

static void evict_oldest(bc_client *c)
{
    bc__last *oldest = NULL;
    for (size_t i = 0; i < BC__LAST_BUCKETS; i++)
        for (bc__last *e = c->last[i]; e; e = e->next)
            if (!oldest || e->stamp < oldest->stamp) oldest = e;
    if (oldest) unlink_entry(c, oldest);
}

void bc__last_note(bc_client *c, const char *name, const bp_reply *reply)
{
    if (reply->kind != BP_MSG_REPLY || !reply->has_generation) return;
    bc__last *e = find(c, name);
    if (!e) {
        if (c->n_last >= BC__LAST_MAX) evict_oldest(c);
        size_t len = strlen(name);
        e = calloc(1, sizeof *e + len + 1);
        if (!e) return; /* only a hint to the server: go without */
        memcpy(e->name, name, len + 1);
        size_t h = bucket(name);
        e->next = c->last[h];
        c->last[h] = e;
        c->n_last++;
    }
    e->stamp = ++c->last_stamp;
    e->generation = reply->generation;
    e->released = reply->code == 0 && reply->has_index;
    e->index = e->released ? reply->index : 0;
}

void bc__last_fill(bc_client *c, bp_request *r)
{
    const bc__last *e = find(c, r->barrier);
    r->has_last = e != NULL;
    r->last_generation = e ? e->generation : 0;
    r->has_last_index = e && e->released;
    r->last_index = e && e->released ? e->index : 0;
}

void bc__last_free(bc_client *c)
{
    for (size_t i = 0; i < BC__LAST_BUCKETS; i++) {
        while (c->last[i]) {
            bc__last *e = c->last[i];
            c->last[i] = e->next;
            free(e);
        }
    }
    c->n_last = 0;
}
