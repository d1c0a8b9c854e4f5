/* ha_etcd.c - etcd's JSON gateway over ha_http; see ha_etcd.h. */
#include "ha_etcd.h"

#include "bp_error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ha_etcd {
    ha_http *http;
    struct ha_etcd_req *calls; /* in flight: freed with the client if never answered */
    char *endpoints[HA_ETCD_MAX_ENDPOINTS];
    size_t n, cur;
};

struct ha_etcd_req {
    ha_etcd *e;
    struct ha_etcd_req *prev, *next;
    ha_http_req *http;
    size_t endpoint;
    ha_etcd_cb cb;
    void *arg;
};
typedef struct ha_etcd_req call;

int ha_etcd_new(uv_loop_t *loop, const char *endpoints, ha_etcd **out, char *err, size_t cap)
{
    ha_etcd *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, cap, "out of memory");
        return BP_ENOMEM;
    }
    for (const char *p = endpoints; *p;) {
        size_t len = strcspn(p, ",");
        if (e->n == HA_ETCD_MAX_ENDPOINTS || len == 0 || strncmp(p, "http", 4) != 0) {
            snprintf(err, cap, "--ha-etcd: '%.200s' is not a list of up to %d http:// URLs",
                     endpoints, HA_ETCD_MAX_ENDPOINTS);
            ha_etcd_free(e);
            return BP_EINVAL;
        }
        e->endpoints[e->n++] = strndup(p, len);
        p += len + (p[len] == ',');
    }
    if (e->n == 0 || ha_http_new(loop, &e->http) < 0) {
        int rc = e->n ? BP_ENOMEM : BP_EINVAL;
        snprintf(err, cap, e->n ? "out of memory" : "--ha-etcd: no URL");
        ha_etcd_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static void call_unlink(call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->e->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

void ha_etcd_free(ha_etcd *e)
{
    if (!e)
        return;
    ha_http_free(e->http); /* no callback runs after this */
    while (e->calls) {
        call *c = e->calls;
        e->calls = c->next;
        free(c);
    }
    for (size_t i = 0; i < e->n; i++)
        free(e->endpoints[i]);
    free(e);
}

const char *ha_etcd_endpoint(const ha_etcd *e)
{
    return e->endpoints[e->cur];
}

static void on_done(void *arg, int rc, long status, const char *body, size_t len,
                    const char *err)
{
    call *c = arg;
    ha_etcd *e = c->e;
    call_unlink(c);
    cJSON *reply = NULL;
    char msg[512];
    if (rc < 0) {
        /* The endpoint did not answer: later calls try the next one. */
        if (e->cur == c->endpoint)
            e->cur = (e->cur + 1) % e->n;
        snprintf(msg, sizeof msg, "%s: %s", e->endpoints[c->endpoint], err);
    } else if (!(reply = cJSON_ParseWithLength(body, len))) {
        rc = BP_EPROTO;
        snprintf(msg, sizeof msg, "%s: HTTP %ld, not JSON", e->endpoints[c->endpoint], status);
    } else if (status != 200) {
        /* A member that answers but cannot serve (cut off from its majority:
         * 5xx) is no better than one that does not answer. */
        if (status >= 500 && e->cur == c->endpoint)
            e->cur = (e->cur + 1) % e->n;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "message");
        rc = BP_EPROTO;
        snprintf(msg, sizeof msg, "%s: HTTP %ld: %s", e->endpoints[c->endpoint], status,
                 cJSON_IsString(m) ? m->valuestring : "error");
    }
    c->cb(c->arg, rc, rc < 0 ? NULL : reply, rc < 0 ? msg : "");
    cJSON_Delete(reply);
    free(c);
}

void ha_etcd_cancel(ha_etcd_req *r)
{
    if (!r)
        return;
    call_unlink(r);
    ha_http_cancel(r->http);
    free(r);
}

ha_etcd_req *ha_etcd_call(ha_etcd *e, const char *path, cJSON *body, long timeout_ms,
                          ha_etcd_cb cb, void *arg)
{
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    call *c = calloc(1, sizeof *c);
    char url[512];
    snprintf(url, sizeof url, "%s%s", e->endpoints[e->cur], path);
    ha_http_req *r = NULL;
    if (text && c) {
        *c = (call){.e = e, .endpoint = e->cur, .cb = cb, .arg = arg};
        r = c->http = ha_http_post(e->http, url, text, timeout_ms, on_done, c);
    }
    free(text);
    if (!r) {
        free(c);
        return NULL;
    }
    c->next = e->calls;
    if (e->calls)
        e->calls->prev = c;
    e->calls = c;
    return c;
}

void ha_etcd_add_b64(cJSON *obj, const char *key, const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    cJSON_AddStringToObject(obj, key, out);
    free(out);
}

char *ha_etcd_get_b64(const cJSON *obj, const char *key, size_t *len)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(it))
        return NULL;
    size_t in = strlen(it->valuestring);
    if (in % 4)
        return NULL;
    unsigned char *out = malloc(in / 4 * 3 + 1);
    if (!out)
        return NULL;
    int n = in ? EVP_DecodeBlock(out, (const unsigned char *)it->valuestring, (int)in) : 0;
    if (n < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding's zero bytes too. */
    for (size_t i = in; i > 0 && it->valuestring[i - 1] == '='; i--)
        n--;
    out[n] = '\0';
    if (len)
        *len = (size_t)n;
    return (char *)out;
}

int64_t ha_etcd_get_i64(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(it))
        return strtoll(it->valuestring, NULL, 10);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : 0;
}

void ha_etcd_add_prefix(cJSON *obj, const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = strndup(prefix, n);
    if (!end || n == 0) {
        free(end);
        return;
    }
    end[n - 1]++; /* the first key after every key with this prefix */
    ha_etcd_add_b64(obj, "key", prefix, n);
    ha_etcd_add_b64(obj, "range_end", end, n);
    free(end);
}
