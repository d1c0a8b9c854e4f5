/* br_table.c - chained hash table of barriers by name, grown at load factor 1. */
#include "br_barrier.h"

#include "bp_error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the name, started from a per-process seed so that names crafted
 * in advance to share one chain do not; a client can also only create
 * --max-barriers names. */
uint32_t br__hash(uint32_t seed, const char *name, size_t len)
{
    uint32_t h = 2166136261u ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 16777619u;
    }
    return h;
}

br_barrier *br__table_find(const br__table *t, const char *name, size_t len, uint32_t hash)
{
    if (!t->buckets)
        return NULL;
    for (br_barrier *b = t->buckets[hash & t->mask]; b; b = b->hnext)
        if (b->hash == hash && b->name_len == len && memcmp(b->name, name, len) == 0)
            return b;
    return NULL;
}

static int table_grow(br__table *t)
{
    size_t n = t->buckets ? (t->mask + 1) * 2 : 64;
    br_barrier **nb = calloc(n, sizeof *nb);
    if (!nb)
        return BP_ENOMEM;
    if (t->buckets) {
        for (size_t i = 0; i <= t->mask; i++) {
            br_barrier *b = t->buckets[i];
            while (b) {
                br_barrier *next = b->hnext;
                b->hnext = nb[b->hash & (n - 1)];
                nb[b->hash & (n - 1)] = b;
                b = next;
            }
        }
        free(t->buckets);
    }
    t->buckets = nb;
    t->mask = n - 1;
    return 0;
}

int br__table_insert(br__table *t, br_barrier *b)
{
    if ((!t->buckets || t->count >= t->mask + 1) && table_grow(t) < 0 && !t->buckets)
        return BP_ENOMEM; /* a failed grow with buckets in place only lengthens chains */
    br_barrier **head = &t->buckets[b->hash & t->mask];
    b->hnext = *head;
    *head = b;
    t->count++;
    return 0;
}

void br__table_remove(br__table *t, br_barrier *b)
{
    br_barrier **pp = &t->buckets[b->hash & t->mask];
    while (*pp && *pp != b)
        pp = &(*pp)->hnext;
    assert(*pp); /* removing a barrier the table does not hold */
    if (*pp) {
        *pp = b->hnext;
        t->count--;
    }
}

void br__table_free(br__table *t)
{
    free(t->buckets);
    t->buckets = NULL;
    t->mask = t->count = 0;
}
