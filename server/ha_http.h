/* ha_http.h - HTTP POSTs driven by the libuv loop, through libcurl's multi
 * interface: a uv_poll per socket curl asks for, one uv_timer for its timeouts.
 * Nothing here blocks the loop. Used by ha_etcd to reach etcd's JSON gateway. */
#ifndef HA_HTTP_H
#define HA_HTTP_H

#include <stddef.h>
#include <uv.h>

typedef struct ha_http ha_http;
typedef struct ha_http_req ha_http_req;

/* Called once per request that was not cancelled. rc: 0 when an HTTP answer
 * came (status is its code, body its bytes, valid during the call), else a
 * negative code with status 0 (could not connect, timed out, ...); why in err. */
typedef void (*ha_http_done)(void *arg, int rc, long status, const char *body, size_t len,
                             const char *err);

int ha_http_new(uv_loop_t *loop, ha_http **out); /* 0 or a UV_ code */
/* Stop every request (no callbacks) and free everything once libuv has let go
 * of the handles. */
void ha_http_free(ha_http *h);
/* POST a JSON body to url; at most timeout_ms for the whole exchange. Returns
 * the request (for ha_http_cancel until its callback runs), or NULL when out of
 * memory. The body is copied. */
ha_http_req *ha_http_post(ha_http *h, const char *url, const char *body, long timeout_ms,
                          ha_http_done cb, void *arg);
/* Forget a request still in flight: its callback will not be called. */
void ha_http_cancel(ha_http_req *r);

#endif
