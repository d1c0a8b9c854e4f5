/* ht_http.h - barrierd's HTTP side: libmicrohttpd in its external epoll mode,
 * driven by the server's libuv loop (one uv_poll on MHD's epoll fd, one
 * uv_timer for its timeouts): no thread, nothing that blocks the loop. Serves
 * /metrics, /healthz, /api/barriers[/NAME], /api/stats and the status page;
 * docs/observability.md. */
#ifndef HT_HTTP_H
#define HT_HTTP_H

#include "bp_addr.h"

#include <stddef.h>

typedef struct sv_server sv_server;
typedef struct ht_server ht_server;

/* Listen on addr (TCP) and serve s. *out gets the server, bound[cap] where it
 * listens ("127.0.0.1:8080"). 0 or a negative uv error code. */
int ht_start(sv_server *s, const bp_addr *addr, ht_server **out, char *bound, size_t cap);
/* Stop listening and close every HTTP connection (its handles close on the
 * loop); ht_free releases the memory once the loop has run. */
void ht_stop(ht_server *h);
void ht_free(ht_server *h);

/* The routing decision, without sockets (tested as is). */
typedef enum ht_route {
    HT_NOT_FOUND = 0,
    HT_PAGE,     /* GET / */
    HT_METRICS,  /* GET /metrics */
    HT_HEALTHZ,  /* GET /healthz */
    HT_LIST,     /* GET /api/barriers */
    HT_STATUS,   /* GET /api/barriers/NAME: *name set */
    HT_STATS,    /* GET /api/stats */
} ht_route;
/* The route of an (unescaped) path; for HT_STATUS *name points into url. */
ht_route ht_route_of(const char *url, const char **name);
/* 1 if the route needs the token when one is configured (all but /metrics
 * and /healthz). */
int ht_route_guarded(ht_route r);
/* 1 if the Authorization header value carries exactly "Bearer <token>"
 * (compared in constant time). header may be NULL. */
int ht_bearer_ok(const char *header, const char *token);

#endif
