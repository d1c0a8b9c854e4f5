/* sv_ha.h - barrierd as a member of an HA group led through etcd.
 *
 * The I/O side of HA: etcd requests (ha_etcd) on the loop, the decisions of
 * ha_role, the mirror of the barriers (ha_mirror), and what they mean for the
 * server: serve or answer notleader, fence, load a predecessor's barriers.
 * docs/ha.md describes the group. Everything here is a no-op without
 * --ha-etcd (s->ha is NULL). */
#ifndef SV_HA_H
#define SV_HA_H

#include "bp_msg.h"

#include <stddef.h>

typedef struct sv_server sv_server;
typedef struct sv_conn sv_conn;
typedef struct sv_ha sv_ha;

/* Join the group (s->cfg->ha_etcd set). 0 or a negative code. */
int sv_ha_start(sv_server *s);
/* Give leadership up (revoke the lease) and let go once that is sent. */
void sv_ha_stop(sv_server *s);

/* Before a request is served: 1 to serve it; 0 when it was answered with
 * notleader, or when this server had to stop leading (the connection is gone). */
int sv__ha_gate(sv_conn *c, const bp_request *r);
/* Hook the HA side into a new registry: every barrier it changes (or forgets)
 * has its record written to etcd soon, off the release path. */
void sv__ha_attach(sv_server *s);
/* role, leader and term for stats. */
void sv__ha_stats(const sv_server *s, bp_stats_view *v);
/* 1 while this member may serve (always without a group): /healthz. */
int sv__ha_serving(const sv_server *s);

#endif
