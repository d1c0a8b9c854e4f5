/* ha_role.c - see ha_role.h. */
#include "ha_role.h"

#include <stdio.h>
#include <string.h>

void ha_role_init(ha_role *r, int64_t ttl_ms)
{
    memset(r, 0, sizeof *r);
    r->ttl_ms = ttl_ms;
}

int64_t ha_role_tick_ms(const ha_role *r)
{
    return r->ttl_ms / 3 > 10 ? r->ttl_ms / 3 : 10;
}

void ha_role_granted(ha_role *r, int64_t lease_id, int64_t ttl_ms, int64_t sent_ms)
{
    r->ttl_ms = ttl_ms; /* etcd may grant more than asked (it has a minimum) */
    r->lease_id = lease_id;
    r->lease_until_ms = sent_ms + ttl_ms;
    r->state = HA_CAMPAIGNING;
}

int ha_role_renewed(ha_role *r, int64_t ttl_ms, int64_t sent_ms)
{
    if (!r->lease_id)
        return 0;
    if (ttl_ms <= 0)
        return 1;
    /* Counted from when the keepalive was sent: etcd counts from when it got
     * it, later, so etcd's lease outlives ours. */
    if (sent_ms + ttl_ms > r->lease_until_ms)
        r->lease_until_ms = sent_ms + ttl_ms;
    return 0;
}

void ha_role_elected(ha_role *r, int64_t term, const char *self)
{
    r->state = HA_LOADING;
    r->term = term;
    snprintf(r->leader, sizeof r->leader, "%s", self);
}

void ha_role_serving(ha_role *r, int64_t now_ms, int64_t resume_ms)
{
    r->state = HA_LEADING;
    r->resume_until_ms = now_ms + resume_ms;
}

void ha_role_reset(ha_role *r)
{
    if (r->state == HA_LOADING || r->state == HA_LEADING) {
        r->fences++;
        r->leader[0] = '\0';
    }
    r->state = HA_NO_LEASE;
    r->lease_id = 0;
    r->lease_until_ms = 0;
    r->term = 0;
}

void ha_role_leader_seen(ha_role *r, const char *addr)
{
    if (r->state != HA_LOADING && r->state != HA_LEADING)
        snprintf(r->leader, sizeof r->leader, "%s", addr);
}

int ha_role_may_serve(const ha_role *r, int64_t now_ms)
{
    return r->state == HA_LEADING && now_ms < r->lease_until_ms - HA_FENCE_MARGIN_MS;
}

int ha_role_must_fence(const ha_role *r, int64_t now_ms)
{
    return (r->state == HA_LEADING || r->state == HA_LOADING) &&
           now_ms >= r->lease_until_ms - HA_FENCE_MARGIN_MS;
}

int ha_role_lease_expired(const ha_role *r, int64_t now_ms)
{
    return r->state == HA_CAMPAIGNING && now_ms >= r->lease_until_ms;
}

const char *ha_role_name(const ha_role *r)
{
    switch (r->state) {
    case HA_LEADING:
        return "leader";
    case HA_LOADING:
        return "loading";
    case HA_CAMPAIGNING:
        return "standby";
    case HA_NO_LEASE:
        break;
    }
    return "no-lease";
}
