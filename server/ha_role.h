/* ha_role.h - who serves in an HA group, decided without I/O.
 *
 * etcd decides who leads (its election API, under a lease); this module keeps
 * what this server knows of it and answers the questions the loop asks: may I
 * serve a request now, must I fence, when does my lease run out. Time is a
 * number the caller passes in (monotonic ms), so every rule is unit-tested
 * without etcd or clocks. docs/ha.md describes the group.
 */
#ifndef HA_ROLE_H
#define HA_ROLE_H

#include <stdint.h>

typedef enum ha_state {
    HA_NO_LEASE = 0, /* asking etcd for a lease (or etcd unreachable): serves nothing */
    HA_CAMPAIGNING,  /* has a lease, campaigning: a standby */
    HA_LOADING,      /* elected: loading the mirror; serves nothing yet */
    HA_LEADING,      /* serves, while its lease lasts */
} ha_state;

#define HA_ADDR_MAX 300

typedef struct ha_role {
    ha_state state;
    int64_t ttl_ms;
    int64_t lease_id;       /* 0 = none */
    int64_t lease_until_ms; /* the lease is surely alive until then: when the last
                               answered grant or keepalive was sent, plus its TTL */
    int64_t term;           /* leading: the leader key's revision; a fencing token */
    char leader[HA_ADDR_MAX]; /* the leader's advertised address; "" if unknown */
    int64_t resume_until_ms;  /* leading: parties re-announce until then */
    uint64_t fences;          /* times this server stopped leading on its own */
} ha_role;

/* A margin for etcd's clock running a little faster than ours. */
#define HA_FENCE_MARGIN_MS 50

void ha_role_init(ha_role *r, int64_t ttl_ms);
/* How often to renew the lease, and to ask a standby's question of who leads. */
int64_t ha_role_tick_ms(const ha_role *r);

/* A lease of ttl_ms (what etcd granted, which becomes the TTL from now on)
 * was granted by a request sent at sent_ms. */
void ha_role_granted(ha_role *r, int64_t lease_id, int64_t ttl_ms, int64_t sent_ms);
/* A keepalive sent at sent_ms was answered: ttl_ms left, or 0 when etcd no
 * longer knows the lease. Returns 1 when the lease is gone (fence if leading). */
int ha_role_renewed(ha_role *r, int64_t ttl_ms, int64_t sent_ms);
/* The campaign was won; the leader key's revision is the term. */
void ha_role_elected(ha_role *r, int64_t term, const char *self);
/* The mirror is loaded: serve, taking re-announcements for resume_ms. */
void ha_role_serving(ha_role *r, int64_t now_ms, int64_t resume_ms);
/* Stop leading or campaigning, lease given up: back to asking for one. */
void ha_role_reset(ha_role *r);
/* A standby learned who leads. */
void ha_role_leader_seen(ha_role *r, const char *addr);

/* May a request be served now? Only by a leader whose lease surely lasts. */
int ha_role_may_serve(const ha_role *r, int64_t now_ms);
/* Elected (loading or leading) but the lease may have run out: stop at once. */
int ha_role_must_fence(const ha_role *r, int64_t now_ms);
/* Lease lost while campaigning or waiting: ask for a new one. */
int ha_role_lease_expired(const ha_role *r, int64_t now_ms);
const char *ha_role_name(const ha_role *r);

#endif
