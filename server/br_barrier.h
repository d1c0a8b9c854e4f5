/* br_barrier.h - the barrier record and its name table. Internal to the registry. */
#ifndef BR_BARRIER_H
#define BR_BARRIER_H

#include "br_registry.h"

struct br_barrier {
    br_barrier *hnext;          /* hash chain */
    br_barrier *idle_prev;      /* idle list, oldest first; linked only while idle */
    br_barrier *idle_next;
    int64_t idle_since;         /* when it last became empty */
    uint64_t generation;
    uint32_t hash;
    unsigned parties;
    unsigned n_waiting;
    unsigned n_pending, pending_cap;
    br_state state;
    int idle;                   /* on the idle list */
    int joining;                /* join_pending is draining the pending list */
    br_waiter **waiters;        /* by index; grown with arrivals up to parties */
    unsigned waiters_cap;
    br_waiter **pending;        /* arrivals during an action, in order */
    br_waiter *runner;          /* runs the action while BR_RUNNING_ACTION */
    char *reason;               /* owned; why it broke, NULL unless broken */
    size_t name_len;
    char name[];                /* NUL-terminated */
};

typedef struct br__table {
    br_barrier **buckets;
    size_t mask;  /* buckets - 1; a power of two minus one */
    size_t count;
} br__table;

uint32_t br__hash(uint32_t seed, const char *name, size_t len);
br_barrier *br__table_find(const br__table *t, const char *name, size_t len, uint32_t hash);
int br__table_insert(br__table *t, br_barrier *b); /* 0 or BP_ENOMEM */
void br__table_remove(br__table *t, br_barrier *b);
void br__table_free(br__table *t); /* frees the buckets only */

#endif
