/* sv_server.c - the loop's fixtures: listeners, deadline expiry, heartbeats,
 * the idle sweep, signals and a graceful shutdown. */
#include "sv_server.h"

#include "bp_error.h"
#include "sv_log.h"
#include "tl_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-daemon.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SV_SWEEP_MS 1000
#define SV_HEARTBEATS_MISSED 3 /* unanswered heartbeats before a peer is dropped */
#define SV_SHUTDOWN_GRACE_MS 3000

int64_t sv__now(const sv_server *s)
{
    return (int64_t)uv_now(s->loop);
}

/* ---- deadlines: one timer for the registry's earliest one ---- */

static void on_idle(uv_idle_t *h)
{
    (void)h;
}

static void on_deadline(uv_timer_t *t)
{
    sv_server *s = t->data;
    s->armed_deadline = -1;
    /* Expire in the check phase, after this iteration's input has been read:
     * an arrival that completes the generation at the same moment wins. The
     * idle handle keeps the poll from blocking in between. */
    uv_idle_start(&s->expire_idle, on_idle);
}

static void on_check(uv_check_t *h)
{
    sv_server *s = h->data;
    if (!uv_is_active((uv_handle_t *)&s->expire_idle))
        return;
    uv_idle_stop(&s->expire_idle);
    uv_update_time(s->loop);
    br_expire(s->reg, sv__now(s));
    sv__arm_deadline(s);
}

void sv__arm_deadline(sv_server *s)
{
    int64_t next = br_next_deadline(s->reg);
    if (next == s->armed_deadline)
        return;
    s->armed_deadline = next;
    if (next < 0) {
        uv_timer_stop(&s->deadline_timer);
        return;
    }
    int64_t now = sv__now(s);
    uv_timer_start(&s->deadline_timer, on_deadline, next > now ? (uint64_t)(next - now) : 0, 0);
}

/* ---- heartbeats and housekeeping ---- */

static void on_heartbeat(uv_timer_t *t)
{
    sv_server *s = t->data;
    int64_t now = sv__now(s);
    bp_buf_reset(&s->out);
    bp_enc_event_heartbeat(&s->out);
    /* Silence is counted in heartbeats sent and not answered, not in time: if
     * the server itself stalls (a stopped process, a paused VM), it sent nothing
     * meanwhile, so nobody is blamed for the time it was not running. */
    for (sv_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != SV_CONN_OPEN || (c->n_waits == 0 && !c->watch))
            continue; /* a watcher hears them too: its library tells a dead server by them */
        if (c->said_hello && c->unanswered >= SV_HEARTBEATS_MISSED && c->n_waits) {
            s->counters.dropped_silent++;
            SV_WARN("conn %llu %s: silent for %lld ms with a wait outstanding; dropping it",
                    (unsigned long long)c->serial, c->peer, (long long)(now - c->last_rx_ms));
            sv__conn_close(c, "stopped answering heartbeats");
            continue;
        }
        sv__conn_send(c, NULL, 0, s->out.data, s->out.len, NULL);
        c->unanswered++;
    }
}

/* With a token configured, a connection that never says hello would hold a
 * slot of --max-connections for ever without knowing the token. */
static void hello_timed_out(sv_conn *c)
{
    sv_server *s = c->srv;
    s->counters.hello_timeouts++;
    char msg[96];
    snprintf(msg, sizeof msg, "no hello with the token within %.3g s", s->cfg->hello_timeout_ms / 1e3);
    sv__conn_fail(c, BP_EAUTH, msg, "did not authenticate in time");
}

static void on_sweep(uv_timer_t *t)
{
    sv_server *s = t->data;
    int64_t now = sv__now(s);
    if (s->cfg->idle_ttl_ms) {
        size_t n = br_sweep_idle(s->reg, now, (int64_t)s->cfg->idle_ttl_ms);
        if (n)
            SV_DEBUG("forgot %zu idle barriers", n);
    }
    for (sv_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->tls && c->state == SV_CONN_OPEN)
            tl__sweep(c, now);
        if (c->state == SV_CONN_DRAINING && now >= c->drain_until_ms)
            sv__conn_close(c, c->close_why ? c->close_why : "closed");
        else if (c->state == SV_CONN_OPEN && !c->authed && c->hello_by_ms && now >= c->hello_by_ms)
            hello_timed_out(c);
    }
}

/* ---- listeners ---- */

static void on_connection(uv_stream_t *server, int status)
{
    sv_listener *l = server->data;
    if (status < 0) {
        SV_WARN("accept on %s: %s", l->addr, uv_strerror(status));
        return;
    }
    if (l->srv->shutting_down)
        return;
    sv__conn_accept(l);
}

static int listen_backlog(void)
{
    int n = 4096;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f) {
        if (fscanf(f, "%d", &n) != 1 || n < 128)
            n = 4096;
        fclose(f);
    }
    return n;
}

/* A parsed TCP address into a sockaddr. */
static int tcp_sockaddr(const bp_addr *a, struct sockaddr_storage *ss)
{
    if (uv_ip4_addr(a->host, (int)a->port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(a->host, (int)a->port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    /* A host name ("localhost"): resolved once, at start-up, so blocking is fine. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(a->host, NULL, &hints, &res) != 0)
        return UV_EAI_NONAME;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)a->port); /* same offset in v6 */
    freeaddrinfo(res);
    return 0;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
}

/* A socket file at path that nobody answers any more (a connect is refused) is
 * left from an earlier run and may be replaced; a live one belongs to a running
 * server, and taking its path would silently split the clients between two. */
static int unix_path_free(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : uv_translate_sys_error(errno);
    if (!S_ISSOCK(st.st_mode)) {
        SV_ERROR("%s exists and is not a socket; not replacing it", path);
        return UV_EEXIST;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
    int err = errno;
    close(fd);
    if (rc == 0) {
        SV_ERROR("%s: another server is listening there; not taking its socket", path);
        return UV_EADDRINUSE;
    }
    if (err != ECONNREFUSED) {
        SV_ERROR("%s: cannot tell whether a server listens there: %s", path, strerror(err));
        return uv_translate_sys_error(err);
    }
    unlink(path); /* stale: left by an earlier run */
    return 0;
}

static int listen_unix(sv_server *s, sv_listener *l, const char *path)
{
    int rc = unix_path_free(path);
    if (rc == 0)
        rc = uv_pipe_init(s->loop, &l->h.pipe, 0);
    if (rc == 0 && (rc = uv_pipe_bind(&l->h.pipe, path)) == 0)
        snprintf(l->addr, sizeof l->addr, "unix:%s", path);
    return rc;
}

static int listen_tcp(sv_server *s, sv_listener *l, const bp_addr *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int rc = tcp_sockaddr(a, &ss);
    if (rc < 0)
        return rc;
    if ((rc = uv_tcp_init(s->loop, &l->h.tcp)) < 0)
        return rc;
    if ((rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss,
                          ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) < 0)
        return rc;
    int len = sizeof ss;
    uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        snprintf(l->addr, sizeof l->addr, "%s%s:%u", a->tls ? "tls://" : "", ip,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    } else {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
        snprintf(l->addr, sizeof l->addr, "%s[%s]:%u", a->tls ? "tls://" : "", ip,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    }
    l->tls = a->tls;
    if (!is_loopback(&ss) && !s->cfg->auth_token)
        SV_WARN("*** listening on non-loopback %s WITHOUT an auth token: anyone who can reach "
                "it can join, abort and reset barriers; use --auth-token-file ***", l->addr);
    return 0;
}

/* The bound addresses, one a line, written to a temporary name and renamed, so
 * whoever waits for the file sees all of it or nothing. */
static int write_ready_file(const sv_server *s, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return UV_ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return uv_translate_sys_error(errno);
    for (size_t i = 0; i < s->n_listeners; i++)
        fprintf(f, "%s\n", s->listeners[i].addr);
    if (s->obs->http_addr[0]) /* last, so the first line stays a protocol address */
        fprintf(f, "http://%s\n", s->obs->http_addr);
    int err = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        return uv_translate_sys_error(err);
    }
    return 0;
}

int sv_server_listen(sv_server *s)
{
    int backlog = listen_backlog();
    if (tl__server_init(s) < 0)
        return UV_EINVAL;
    int hrc = sv__obs_listen(s);
    if (hrc < 0)
        return hrc;
    for (size_t i = 0; i < s->cfg->n_listen; i++) {
        const char *addr = s->cfg->listen_text[i];
        const bp_addr *a = &s->cfg->listen[i];
        sv_listener *l = &s->listeners[s->n_listeners];
        memset(l, 0, sizeof *l);
        l->srv = s;
        int rc = a->kind == BP_ADDR_UNIX ? listen_unix(s, l, a->path) : listen_tcp(s, l, a);
        if (rc == 0) {
            l->h.handle.data = l;
            rc = uv_listen(&l->h.stream, backlog, on_connection);
        }
        if (uv_is_active(&l->h.handle) || rc == 0)
            s->n_listeners++;
        else if (l->h.handle.type != UV_UNKNOWN_HANDLE)
            uv_close(&l->h.handle, NULL);
        if (rc < 0) {
            SV_ERROR("cannot listen on %s: %s", addr, uv_strerror(rc));
            return rc;
        }
        SV_INFO("listening on %s", l->addr);
    }
    const char *ready = s->cfg->ready_file;
    int rc = ready ? write_ready_file(s, ready) : 0;
    if (rc < 0)
        SV_ERROR("cannot write --ready-file %s: %s", ready, uv_strerror(rc));
    return rc;
}

/* ---- signals and shutdown ---- */

static void on_stop_timer(uv_timer_t *t)
{
    sv_server *s = t->data;
    for (sv_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        sv__conn_close(c, "server shut down");
    }
}

static void close_handle(uv_handle_t *h)
{
    if (h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h))
        uv_close(h, NULL);
}

void sv_server_shutdown(sv_server *s, const char *why)
{
    if (s->shutting_down)
        return;
    s->shutting_down = 1;
    /* systemd (Type=notify): one datagram, no-op without $NOTIFY_SOCKET */
    sd_notify(0, "STOPPING=1");
    SV_INFO("shutting down (%s): %zu connections, telling every waiter", why, s->n_conns);
    sv_ha_stop(s);
    sv__obs_stop(s);
    for (size_t i = 0; i < s->n_listeners; i++)
        close_handle(&s->listeners[i].h.handle);
    br_shutdown(s->reg, "server is shutting down");
    bp_buf ev = BP_BUF_INIT;
    bp_enc_event_shutdown(&ev, "server is shutting down");
    for (sv_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        sv__conn_send_buf(c, &ev);
        sv__conn_close_after_flush(c, "server shut down");
    }
    bp_buf_free(&ev);
    close_handle((uv_handle_t *)&s->deadline_timer);
    close_handle((uv_handle_t *)&s->expire_idle);
    close_handle((uv_handle_t *)&s->expire_check);
    close_handle((uv_handle_t *)&s->heartbeat_timer);
    close_handle((uv_handle_t *)&s->sweep_timer);
    /* The signal handles stay: a second signal cuts the grace time short. They
     * do not keep the loop alive. */
    uv_unref((uv_handle_t *)&s->sigterm);
    uv_unref((uv_handle_t *)&s->sigint);
    /* Connections that do not close by themselves are closed after the grace time;
     * the timer does not keep the loop alive on its own. */
    uv_timer_start(&s->stop_timer, on_stop_timer, SV_SHUTDOWN_GRACE_MS, 0);
    uv_unref((uv_handle_t *)&s->stop_timer);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sv_server *s = h->data;
    const char *name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
    if (!s->shutting_down) {
        sv_server_shutdown(s, name);
        return;
    }
    /* A second signal: the operator will not wait for the grace time. Every
     * waiter was already told; close what is left now and exit 0 as usual. */
    s->shutting_down = 2;
    SV_INFO("%s again: closing %zu connections now", name, s->n_conns);
    close_handle((uv_handle_t *)&s->sigterm);
    close_handle((uv_handle_t *)&s->sigint);
    uv_timer_stop(&s->stop_timer);
    on_stop_timer(&s->stop_timer);
}

/* A new, empty registry whose name hash has a seed of its own. */
static br_registry *registry_new(sv_server *s)
{
    br_registry *reg = br_new(s->cfg->max_barriers, sv__notify, s);
    if (!reg)
        return NULL;
    uint32_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
        seed = (uint32_t)uv_hrtime() ^ (uint32_t)getpid();
    br_set_hash_seed(reg, seed);
    br_set_rdv_limits(reg, s->cfg->max_data, s->cfg->max_gather);
    return reg;
}

void sv__drop_everything(sv_server *s, const char *why)
{
    br_registry *fresh = registry_new(s);
    if (!fresh) { /* cannot start over: stop, rather than serve a stale state */
        SV_ERROR("out of memory dropping the barriers; exiting");
        exit(1);
    }
    br_free(s->reg); /* its waiters are forgotten, not told */
    s->reg = fresh;
    if (s->ha)
        sv__ha_attach(s);
    sv__obs_attach(s);
    for (sv_conn *c = s->conns; c; c = c->next) {
        while (c->waits) {
            sv_wait *w = c->waits;
            sv__conn_unlink_wait(c, w);
            sv__wait_free(s, w);
        }
        sv__conn_close(c, why);
    }
    sv__arm_deadline(s);
}

int sv_server_init(sv_server *s, uv_loop_t *loop, sv_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->armed_deadline = -1;
    if (!(s->reg = registry_new(s)) || sv__obs_init(s) < 0 || sv__uring_init(s) < 0)
        return UV_ENOMEM;
    s->start_ms = uv_now(loop);
    br_set_recovery(s->reg, (int64_t)s->start_ms + (int64_t)cfg->resume_window_ms);
    uv_timer_init(loop, &s->deadline_timer);
    uv_idle_init(loop, &s->expire_idle);
    uv_check_init(loop, &s->expire_check);
    uv_timer_init(loop, &s->heartbeat_timer);
    uv_timer_init(loop, &s->sweep_timer);
    uv_timer_init(loop, &s->stop_timer);
    uv_signal_init(loop, &s->sigterm);
    uv_signal_init(loop, &s->sigint);
    uv_handle_t *hs[] = {(uv_handle_t *)&s->deadline_timer, (uv_handle_t *)&s->expire_idle,
                         (uv_handle_t *)&s->expire_check,   (uv_handle_t *)&s->heartbeat_timer,
                         (uv_handle_t *)&s->sweep_timer,    (uv_handle_t *)&s->stop_timer,
                         (uv_handle_t *)&s->sigterm,        (uv_handle_t *)&s->sigint};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        hs[i]->data = s;
    uv_check_start(&s->expire_check, on_check);
    uv_unref((uv_handle_t *)&s->expire_check);
    if (cfg->heartbeat_ms)
        uv_timer_start(&s->heartbeat_timer, on_heartbeat, cfg->heartbeat_ms, cfg->heartbeat_ms);
    uv_timer_start(&s->sweep_timer, on_sweep, SV_SWEEP_MS, SV_SWEEP_MS);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    return 0;
}

void sv_server_free(sv_server *s)
{
    sv__obs_free(s);
    br_free(s->reg);
    s->reg = NULL;
    bp_buf_free(&s->out);
    bp_buf_free(&s->prefix);
    sv__wreq_pool_free(s);
    sv__batch_free(s);
    sv__uring_free(s);
    sv__wait_pool_free(s);
    tl__server_free(s);
}
