/* ha_mirror.h - the leader's record of its barriers in etcd, for a successor.
 *
 * One key per barrier, PREFIX + name, holding what a new leader needs: parties,
 * generation, broken state and reason, and who is waiting. Encoding, decoding
 * and the set of barriers changed since the last write; no I/O. */
#ifndef HA_MIRROR_H
#define HA_MIRROR_H

#include "bp_buf.h"
#include "bp_msg.h"

#include <stddef.h>
#include <stdint.h>

#define HA_MIRROR_WAITERS_MAX 1000 /* waiting parties named in one record */

typedef struct ha_mirror_rec {
    unsigned parties;
    uint64_t generation;
    int broken;
    char reason[BP_MESSAGE_MAX];
    unsigned n_waiting;                     /* all of them, listed or not */
    unsigned n_listed;                      /* those in clients[] */
    char (*clients)[BP_CLIENT_MAX + 1];     /* owned; free with ha_mirror_rec_free */
    char *members;    /* owned: the barrier's member list, n_members NUL-terminated
                         names back to back; NULL without one */
    unsigned n_members;
} ha_mirror_rec;

/* Encode a record. Waiters are given one at a time between begin and end. */
void ha_mirror_begin(bp_buf *b, unsigned parties, uint64_t generation, int broken,
                     const char *reason, unsigned n_waiting);
void ha_mirror_waiter(bp_buf *b, unsigned nth, const char *client, const char *peer);
void ha_mirror_end(bp_buf *b);
/* In place of ha_mirror_end for a barrier with a member list (n NUL-terminated
 * names back to back): it survives the failover. */
void ha_mirror_end_members(bp_buf *b, const char *names, unsigned n);
/* Decode a record. 0, or BP_EPROTO for a value that is not one. */
int ha_mirror_decode(const char *value, size_t len, ha_mirror_rec *out);
void ha_mirror_rec_free(ha_mirror_rec *r);

/* The names of the barriers changed since the last write. */
typedef struct ha_dirty {
    char **names;   /* open addressing, NULL = empty */
    size_t cap, n;  /* cap: a power of two */
} ha_dirty;

int ha_dirty_add(ha_dirty *d, const char *name, size_t len); /* 0 or BP_ENOMEM */
/* Hand names to fn, which takes ownership of each, until fn returns 0 (it
 * took that name but wants no more) or the set is empty. */
void ha_dirty_take(ha_dirty *d, int (*fn)(void *ctx, char *name), void *ctx);
void ha_dirty_free(ha_dirty *d);

#endif
