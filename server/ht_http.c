/* ht_http.c - HTTP over libmicrohttpd on the libuv loop; see ht_http.h.
 *
 * MHD runs in its external epoll mode: all its sockets sit in one epoll fd,
 * which the loop polls for readability; MHD_run then does whatever is ready
 * without blocking, and MHD_get_timeout says when it must run again (idle
 * connections time out). Responses are built at once from the server's state
 * (the same encoders as the protocol's replies) and copied to MHD, so a slow
 * or vanished HTTP client costs memory bounded by the connection limit, never
 * time on the loop.
 */
#include "ht_http.h"

#include "bp_error.h"
#include "sv_log.h"
#include "sv_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HT_MAX_CONNECTIONS 64   /* HTTP clients at once */
#define HT_IDLE_TIMEOUT_S 15    /* an HTTP connection that says nothing is closed */
#define HT_TIMER_MAX_MS 1000    /* MHD is run at least this often */
#define HT_BODY_KEEP (256u << 10) /* response scratch kept between requests */

extern const unsigned char ht_page[];
extern const unsigned long ht_page_len;

struct ht_server {
    sv_server *srv;
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;
    int stopped;
    bp_buf body;   /* response scratch */
};

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const void *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"barrierd\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    return respond(conn, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static enum MHD_Result json(struct MHD_Connection *conn, unsigned status, const bp_buf *b)
{
    if (b->oom)
        return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return respond(conn, status, "application/json", b->data, b->len);
}

static enum MHD_Result serve(ht_server *h, struct MHD_Connection *conn, ht_route route,
                             const char *name)
{
    sv_server *s = h->srv;
    bp_buf *b = &h->body;
    bp_buf_reset(b);
    switch (route) {
    case HT_PAGE:
        return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8", ht_page, ht_page_len);
    case HT_METRICS:
        sv__obs_metrics(s, b);
        if (b->oom)
            return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return respond(conn, MHD_HTTP_OK, MT_CONTENT_TYPE, b->data, b->len);
    case HT_HEALTHZ:
        if (sv__obs_serving(s))
            return text(conn, MHD_HTTP_OK, "ok\n");
        return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                    s->shutting_down ? "shutting down\n" : "not serving: an HA standby\n");
    case HT_LIST:
        sv__enc_list(s, b, 0, 0);
        return json(conn, MHD_HTTP_OK, b);
    case HT_STATS:
        sv__enc_stats(s, b, 0, 0);
        return json(conn, MHD_HTTP_OK, b);
    case HT_STATUS: {
        size_t len = strlen(name);
        const br_barrier *bar = len <= BP_NAME_MAX ? br_find(s->reg, name, len) : NULL;
        if (bar) {
            sv__enc_status(s, b, 0, 0, bar);
            return json(conn, MHD_HTTP_OK, b);
        }
        char msg[BP_NAME_MAX + 32];
        snprintf(msg, sizeof msg, "no barrier named '%.*s'", BP_NAME_MAX, name);
        msg[bp_utf8_cut(msg, strlen(msg))] = '\0';
        bp_enc_error(b, 0, 0, BP_ENOTFOUND, msg);
        return json(conn, MHD_HTTP_NOT_FOUND, b);
    }
    case HT_NOT_FOUND:
        break;
    }
    return text(conn, MHD_HTTP_NOT_FOUND,
                "not found; barrierd serves /, /metrics, /healthz, /api/barriers, "
                "/api/barriers/NAME and /api/stats\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    ht_server *h = cls;
    if (!*state) { /* the headers: answer once the body (if any) is in */
        *state = h;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a body is read and ignored */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                    "method not allowed: barrierd's HTTP side is read-only (GET)\n");
    const char *name = NULL;
    ht_route route = ht_route_of(url, &name);
    const char *token = h->srv->cfg->auth_token;
    if (token && route != HT_NOT_FOUND && ht_route_guarded(route) &&
        !ht_bearer_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_AUTHORIZATION),
                      token))
        return text(conn, MHD_HTTP_UNAUTHORIZED,
                    "unauthorized: send 'Authorization: Bearer TOKEN' (the server's token)\n");
    enum MHD_Result rc = serve(h, conn, route, name);
    if (h->body.cap > HT_BODY_KEEP) /* a huge list: MHD has its copy; do not keep ours */
        bp_buf_free(&h->body);
    return rc;
}

/* ---- the loop drives MHD ---- */

static void arm(ht_server *h);

static void run(ht_server *h)
{
    if (h->stopped)
        return;
    MHD_run(h->d);
    arm(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

/* Run MHD again when it says it must (a connection's timeout), at the latest
 * in HT_TIMER_MAX_MS. */
static void arm(ht_server *h)
{
    MHD_UNSIGNED_LONG_LONG ms = HT_TIMER_MAX_MS;
    if (MHD_get_timeout(h->d, &ms) != MHD_YES || ms > HT_TIMER_MAX_MS)
        ms = HT_TIMER_MAX_MS;
    uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
}

static int bind_addr(const bp_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    char port[16];
    snprintf(port, sizeof port, "%u", a->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE}, *res;
    if (getaddrinfo(a->host, port, &hints, &res) != 0)
        return UV_EAI_NONAME;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void name_of(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    }
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    SV_DEBUG("http: %s", msg);
}

int ht_start(sv_server *s, const bp_addr *addr, ht_server **out, char *bound, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    memset(&ss, 0, sizeof ss);
    int rc = bind_addr(addr, &ss, &sslen);
    if (rc < 0)
        return rc;
    ht_server *h = calloc(1, sizeof *h);
    if (!h)
        return UV_ENOMEM;
    h->srv = s;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HT_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HT_IDLE_TIMEOUT_S,
                            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return UV_EADDRINUSE; /* MHD does not say which; the likely one */
    }
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *lf = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
    if (!ep || !lf || (rc = uv_poll_init(s->loop, &h->poll, ep->epoll_fd)) < 0) {
        MHD_stop_daemon(h->d);
        free(h);
        return rc < 0 ? rc : UV_EINVAL;
    }
    uv_timer_init(s->loop, &h->timer);
    h->poll.data = h->timer.data = h;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    arm(h);
    name_of(lf->listen_fd, bound, cap);
    if (!loopback(&ss) && !s->cfg->auth_token)
        SV_WARN("*** HTTP on non-loopback %s WITHOUT an auth token: anyone who can reach it "
                "sees every barrier and who waits at it; use --auth-token-file ***", bound);
    *out = h;
    return 0;
}

static void on_closed(uv_handle_t *hd)
{
    (void)hd; /* the memory goes with ht_free, after the loop */
}

void ht_stop(ht_server *h)
{
    if (!h || h->stopped)
        return;
    h->stopped = 1;
    /* The poll stops watching the epoll fd before MHD closes it. */
    if (!uv_is_closing((uv_handle_t *)&h->poll))
        uv_close((uv_handle_t *)&h->poll, on_closed);
    if (!uv_is_closing((uv_handle_t *)&h->timer))
        uv_close((uv_handle_t *)&h->timer, on_closed);
    MHD_stop_daemon(h->d);
    h->d = NULL;
}

void ht_free(ht_server *h)
{
    if (!h)
        return;
    if (h->d) /* never stopped: the loop is over, its handles were closed by the walk */
        MHD_stop_daemon(h->d);
    bp_buf_free(&h->body);
    free(h);
}
