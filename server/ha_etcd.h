/* ha_etcd.h - etcd v3 through its JSON gateway, on the libuv loop (ha_http).
 *
 * Keys and values travel base64-encoded, 64-bit numbers as strings: the
 * gateway's JSON mapping of etcd's protobuf messages. Every call is
 * asynchronous; a transport failure moves later calls on to the next endpoint.
 */
#ifndef HA_ETCD_H
#define HA_ETCD_H

#include "ha_http.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define HA_ETCD_MAX_ENDPOINTS 8

typedef struct ha_etcd ha_etcd;

/* rc 0: reply is etcd's answer (owned by ha_etcd, valid during the call);
 * rc < 0: no answer (transport) or an error answer, described in err. */
typedef void (*ha_etcd_cb)(void *arg, int rc, const cJSON *reply, const char *err);

/* endpoints: "http://host:port[,http://host:port...]". 0, or BP_EINVAL with err. */
int ha_etcd_new(uv_loop_t *loop, const char *endpoints, ha_etcd **out, char *err, size_t cap);
void ha_etcd_free(ha_etcd *e);
/* The endpoint calls go to now. */
const char *ha_etcd_endpoint(const ha_etcd *e);

typedef struct ha_etcd_req ha_etcd_req;

/* POST body (consumed) to path ("/v3/lease/grant"). Returns the request, to
 * cancel with ha_etcd_cancel before its callback runs, or NULL (out of memory;
 * no callback). */
ha_etcd_req *ha_etcd_call(ha_etcd *e, const char *path, cJSON *body, long timeout_ms,
                          ha_etcd_cb cb, void *arg);
/* Forget a request in flight: its callback is not called. NULL is ignored. */
void ha_etcd_cancel(ha_etcd_req *r);

/* base64 of len bytes, added to obj under key. */
void ha_etcd_add_b64(cJSON *obj, const char *key, const void *data, size_t len);
/* A base64 field of obj decoded into a new NUL-terminated string (free it), or
 * NULL when absent or not base64. *len (may be NULL) gets its length. */
char *ha_etcd_get_b64(const cJSON *obj, const char *key, size_t *len);
/* A 64-bit number field, given as a string or a number; 0 when absent. */
int64_t ha_etcd_get_i64(const cJSON *obj, const char *key);
/* "key" and "range_end" for every key that starts with prefix. */
void ha_etcd_add_prefix(cJSON *obj, const char *prefix);

#endif
