/* ha_http.c - libcurl's multi interface on the libuv loop; see ha_http.h.
 *
 * curl tells which sockets to watch (CURLMOPT_SOCKETFUNCTION: a uv_poll each)
 * and when to call it back (CURLMOPT_TIMERFUNCTION: one uv_timer); libuv
 * reports readiness, and curl_multi_socket_action moves every transfer on.
 * Finished transfers are collected from curl_multi_info_read after each call.
 */
#include "ha_http.h"

#include "bp_buf.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define HA_HTTP_MAX_BODY (256u << 20) /* an answer larger than this is an error */

struct ha_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    ha_http_req *reqs; /* in flight */
    int closing;
};

struct ha_http_req {
    ha_http *h;
    CURL *easy;
    ha_http_req *prev, *next;
    struct curl_slist *headers;
    char *body;
    bp_buf answer;
    ha_http_done cb;
    void *arg;
    char err[CURL_ERROR_SIZE];
};

typedef struct ha_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    ha_http *h;
} ha_sock;

static void req_unlink(ha_http_req *r)
{
    ha_http *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void req_free(ha_http_req *r)
{
    curl_multi_remove_handle(r->h->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    bp_buf_free(&r->answer);
    free(r);
}

/* Hand finished transfers to their callbacks. */
static void collect(ha_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        ha_http_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        req_unlink(r);
        long status = 0;
        int rc = m->data.result == CURLE_OK && !r->answer.oom ? 0 : -1;
        if (rc == 0)
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc < 0 && !r->err[0])
            snprintf(r->err, sizeof r->err, "%s",
                     r->answer.oom ? "answer too large" : curl_easy_strerror(m->data.result));
        r->cb(r->arg, rc, status, r->answer.data ? r->answer.data : "", r->answer.len, r->err);
        req_free(r);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    ha_sock *s = p->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0, running;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    ha_http *h = s->h;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    collect(h);
}

static void free_sock(uv_handle_t *hd)
{
    free(hd->data);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    (void)easy;
    ha_http *h = userp;
    ha_sock *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, free_sock);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    ha_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    ha_http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else /* 0 means now: from the loop, never from inside curl's own call */
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int ha_http_new(uv_loop_t *loop, ha_http **out)
{
    static int global_done;
    if (!global_done && curl_global_init(CURL_GLOBAL_DEFAULT) == 0)
        global_done = 1;
    ha_http *h = calloc(1, sizeof *h);
    if (!h || !(h->multi = curl_multi_init())) {
        free(h);
        return UV_ENOMEM;
    }
    h->loop = loop;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    ha_http_req *r = arg;
    size_t len = size * n;
    if (r->answer.len + len > HA_HTTP_MAX_BODY) {
        r->answer.oom = 1;
        return 0; /* curl fails the transfer */
    }
    bp_buf_append(&r->answer, data, len);
    return r->answer.oom ? 0 : len;
}

ha_http_req *ha_http_post(ha_http *h, const char *url, const char *body, long timeout_ms,
                          ha_http_done cb, void *arg)
{
    ha_http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->h = h;
    r->cb = cb;
    r->arg = arg;
    r->body = strdup(body);
    r->easy = curl_easy_init();
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!r->body || !r->easy || !r->headers) {
        curl_slist_free_all(r->headers);
        if (r->easy)
            curl_easy_cleanup(r->easy);
        free(r->body);
        free(r);
        return NULL;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A long request (a campaign) on a host that vanished is noticed in seconds. */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 1L);
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        req_unlink(r);
        req_free(r);
        return NULL;
    }
    return r;
}

void ha_http_cancel(ha_http_req *r)
{
    if (!r)
        return;
    req_unlink(r);
    req_free(r);
}

static void free_http(uv_handle_t *hd)
{
    ha_http *h = hd->data;
    curl_multi_cleanup(h->multi);
    free(h);
}

void ha_http_free(ha_http *h)
{
    if (!h)
        return;
    while (h->reqs)
        ha_http_cancel(h->reqs);
    uv_close((uv_handle_t *)&h->timer, free_http);
}
