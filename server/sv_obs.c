/* sv_obs.c - the registry's event hook: histograms for /metrics and the
 * lines of the watch op; see sv_obs.h and docs/observability.md. */
#include "sv_obs.h"

#include "ht_http.h"
#include "sv_log.h"
#include "sv_server.h"

#include <stdlib.h>
#include <string.h>

/* Bucket bounds. A wait is anything from a release among parties already
 * there to a batch job's hours; a release's fan-out is one write per party. */
static const uint64_t wait_bounds_ns[] = {
    1000000ull,   5000000ull,   10000000ull,  50000000ull,    100000000ull,
    500000000ull, 1000000000ull, 5000000000ull, 10000000000ull, 30000000000ull,
    60000000000ull, 300000000000ull, 1800000000000ull};
static const uint64_t fanout_bounds_ns[] = {
    10000ull,   50000ull,   100000ull,  250000ull,   500000ull,   1000000ull, 2500000ull,
    5000000ull, 10000000ull, 25000000ull, 50000000ull, 100000000ull, 500000000ull, 1000000000ull};

int sv__obs_init(sv_server *s)
{
    sv_obs *o = calloc(1, sizeof *o);
    if (!o)
        return UV_ENOMEM;
    mt_hist_init(&o->wait_hist, wait_bounds_ns, sizeof wait_bounds_ns / sizeof wait_bounds_ns[0]);
    mt_hist_init(&o->fanout_hist, fanout_bounds_ns,
                 sizeof fanout_bounds_ns / sizeof fanout_bounds_ns[0]);
    o->metrics = s->cfg->http != NULL;
    s->obs = o;
    sv__obs_attach(s);
    return 0;
}

int sv__obs_listen(sv_server *s)
{
    if (!s->cfg->http)
        return 0;
    sv_obs *o = s->obs;
    int rc = ht_start(s, &s->cfg->http_addr, &o->http, o->http_addr, sizeof o->http_addr);
    if (rc < 0) {
        SV_ERROR("cannot serve HTTP on %s: %s", s->cfg->http, uv_strerror(rc));
        return rc;
    }
    SV_INFO("serving HTTP (metrics, status page) on http://%s/", o->http_addr);
    return 0;
}

void sv__obs_stop(sv_server *s)
{
    if (s->obs && s->obs->http)
        ht_stop(s->obs->http);
}

void sv__obs_free(sv_server *s)
{
    sv_obs *o = s->obs;
    if (!o)
        return;
    ht_free(o->http);
    while (o->watchers) {
        sv_watcher *w = o->watchers;
        o->watchers = w->next;
        free(w);
    }
    bp_buf_free(&o->ev);
    free(o);
    s->obs = NULL;
}

void sv__obs_error(sv_server *s, int code)
{
    if (code < 0 && code >= BP_ERR_MIN)
        s->obs->errors[-code]++;
}

/* ---- metrics ---- */

static void observe_waits(sv_obs *o, br_waiter *const *w, unsigned n, int64_t now)
{
    for (unsigned i = 0; i < n; i++) {
        int64_t ms = now - w[i]->arrived_ms;
        mt_hist_observe(&o->wait_hist, ms > 0 ? (uint64_t)ms * 1000000u : 0);
    }
}

static void observe(sv_server *s, const br_event *e)
{
    sv_obs *o = s->obs;
    if (e->kind == BR_EV_RELEASE) {
        observe_waits(o, e->waiters, e->n, sv__now(s));
        return;
    }
    if (e->kind == BR_EV_LEAVE) { /* its wait ends too, by its going */
        br_waiter *const w[1] = {(br_waiter *)e->waiter};
        observe_waits(o, w, 1, sv__now(s));
        return;
    }
    if (e->kind != BR_EV_BREAK && e->kind != BR_EV_RESET)
        return;
    int64_t now = sv__now(s);
    observe_waits(o, e->waiters, e->n, now);
    observe_waits(o, e->pending, e->n_pending, now);
    /* Each failed wait is an error reply, as sv_notify.c sends them: the one
     * that timed out or whose action failed gets its own code. */
    unsigned n = e->n + e->n_pending;
    if (e->cause == BR_CAUSE_SHUTDOWN) {
        o->errors[-BP_ESHUTDOWN] += n;
        return;
    }
    int own = e->cause == BR_CAUSE_TIMEOUT ? BP_ETIMEDOUT
            : e->cause == BR_CAUSE_ACTION_FAILED ? BP_EACTION : 0;
    if (own && e->n) {
        o->errors[-own]++;
        n--;
    }
    o->errors[-BP_EBROKEN] += n;
}

/* ---- watchers ---- */

static const char *event_name(br_event_kind k)
{
    switch (k) {
    case BR_EV_ARRIVE: return "arrive";
    case BR_EV_LEAVE: return "leave";
    case BR_EV_RELEASE: return "release";
    case BR_EV_BREAK: return "break";
    case BR_EV_RESET: return "reset";
    }
    return "unknown";
}

static void broadcast(sv_server *s, const br_event *e)
{
    sv_obs *o = s->obs;
    br_info in;
    br_barrier_info(e->barrier, &in);
    bp_watch_event v = {.event = event_name(e->kind),
                        .barrier = in.name,
                        .barrier_len = in.name_len,
                        .generation = e->generation,
                        .n_waiting = e->n_waiting,
                        .parties = in.parties};
    if (e->waiter) {
        v.has_index = e->kind == BR_EV_ARRIVE;
        v.index = e->waiter->index;
        v.client = e->waiter->client ? e->waiter->client : "";
        v.peer = e->waiter->peer ? e->waiter->peer : "";
        v.member = e->waiter->member; /* NULL: it gave none */
        v.member_len = e->waiter->member_len;
    }
    if (e->kind == BR_EV_BREAK || e->kind == BR_EV_RESET) {
        v.cause = br_cause_name(e->cause);
        v.reason = e->reason;
    }
    bp_buf *b = &o->ev;
    bp_buf_reset(b);
    bp_enc_watch_event(b, &v);
    if (b->oom)
        return;
    sv_shared *shared = NULL;
    /* A watcher closed meanwhile stays listed until its connection is freed;
     * sv__conn_send skips it. One over --max-output is dropped there. */
    for (sv_watcher *w = o->watchers; w; w = w->next)
        if (!w->name_len || (w->name_len == in.name_len && !memcmp(w->name, in.name, in.name_len)))
            sv__conn_send(w->conn, NULL, 0, b->data, b->len, &shared);
    sv__shared_unref(shared);
}

static void on_event(void *ctx, const br_event *e)
{
    sv_server *s = ctx;
    if (s->obs->metrics)
        observe(s, e);
    if (s->obs->watchers)
        broadcast(s, e);
}

void sv__obs_attach(sv_server *s)
{
    sv_obs *o = s->obs;
    int on = o && (o->metrics || o->watchers);
    br_set_event_hook(s->reg, on ? on_event : NULL, s);
}

void sv__watch(sv_conn *c, const bp_request *r)
{
    sv_server *s = c->srv;
    sv_obs *o = s->obs;
    bp_buf *b = &s->out;
    bp_buf_reset(b);
    sv_watcher *w = c->watch;
    if (!w) {
        if (!(w = calloc(1, sizeof *w))) {
            bp_enc_error(b, r->has_id, r->id, BP_ENOMEM, "out of memory");
            sv__obs_error(s, BP_ENOMEM);
            sv__conn_send_buf(c, b);
            return;
        }
        w->conn = c;
        w->next = o->watchers;
        if (o->watchers)
            o->watchers->prev = w;
        o->watchers = w;
        o->n_watchers++;
        c->watch = w;
        sv__obs_attach(s);
    }
    /* A second watch on the connection replaces the first's filter. */
    memcpy(w->name, r->barrier, r->barrier_len);
    w->name[r->barrier_len] = '\0';
    w->name_len = r->barrier_len;
    const br_barrier *bar = r->barrier_len ? br_find(s->reg, r->barrier, r->barrier_len) : NULL;
    bp_barrier_view v;
    if (bar)
        sv__barrier_view(bar, &v);
    bp_enc_watch_ok(b, r->has_id, r->id, bar ? &v : NULL);
    SV_INFO("conn %llu %s: watching %s%s%s", (unsigned long long)c->serial, c->peer,
            r->barrier_len ? "barrier '" : "every barrier", r->barrier, r->barrier_len ? "'" : "");
    sv__conn_send_buf(c, b);
}

void sv__watch_forget(sv_conn *c)
{
    sv_watcher *w = c->watch;
    if (!w)
        return;
    sv_obs *o = c->srv->obs;
    if (w->prev)
        w->prev->next = w->next;
    else
        o->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    o->n_watchers--;
    c->watch = NULL;
    free(w);
    sv__obs_attach(c->srv);
}

/* ---- /metrics ---- */

int sv__obs_serving(const sv_server *s)
{
    return !s->shutting_down && sv__ha_serving(s);
}

static void gauge(bp_buf *b, const char *name, const char *help, uint64_t v)
{
    mt_write_head(b, name, "gauge", help);
    mt_write_u64(b, name, NULL, NULL, v);
}

static void counter(bp_buf *b, const char *name, const char *help, uint64_t v)
{
    mt_write_head(b, name, "counter", help);
    mt_write_u64(b, name, NULL, NULL, v);
}

void sv__obs_metrics(sv_server *s, bp_buf *b)
{
    sv_obs *o = s->obs;
    br_stats st;
    br_get_stats(s->reg, &st);
    const sv_counters *k = &s->counters;
    mt_write_head(b, "barrierd_build_info", "gauge", "The running barrierd's version.");
    mt_write_u64(b, "barrierd_build_info", "version", BP_VERSION, 1);
    mt_write_head(b, "barrierd_up", "gauge", "1 while serving; 0 as an HA standby.");
    mt_write_u64(b, "barrierd_up", NULL, NULL, (uint64_t)sv__obs_serving(s));
    mt_write_head(b, "barrierd_uptime_seconds", "gauge", "Seconds since barrierd started.");
    mt_write_f64(b, "barrierd_uptime_seconds", NULL, NULL,
                 (double)(sv__now(s) - (int64_t)s->start_ms) / 1000.0);
    gauge(b, "barrierd_connections", "Protocol connections open now.", s->n_conns);
    counter(b, "barrierd_connections_total", "Protocol connections accepted.",
            k->connections_total);
    gauge(b, "barrierd_barriers", "Barriers that exist now.", st.barriers);
    gauge(b, "barrierd_waiting_parties", "Parties waiting now, at every barrier.", st.waiting);
    gauge(b, "barrierd_watchers", "Connections that watch barriers.", o->n_watchers);
    counter(b, "barrierd_waits_total", "Waits that arrived at a barrier.", st.waits);
    counter(b, "barrierd_releases_total", "Generations released.", st.releases);
    mt_write_head(b, "barrierd_breaks_total", "counter",
                  "Generations that ended in failure, by cause.");
    for (int c = 0; c < BR_CAUSE_COUNT; c++)
        mt_write_u64(b, "barrierd_breaks_total", "cause", br_cause_name((br_cause)c), st.ended[c]);
    mt_write_head(b, "barrierd_errors_total", "counter",
                  "Error replies sent (failed waits included), by code.");
    for (int c = -1; c >= BP_ERR_MIN; c--)
        mt_write_u64(b, "barrierd_errors_total", "code", bp_err_name(c), o->errors[-c]);
    mt_write_head(b, "barrierd_dropped_connections_total", "counter",
                  "Connections closed or refused by the server, by reason.");
    mt_write_u64(b, "barrierd_dropped_connections_total", "reason", "slow_reader", k->dropped_slow);
    mt_write_u64(b, "barrierd_dropped_connections_total", "reason", "silent", k->dropped_silent);
    mt_write_u64(b, "barrierd_dropped_connections_total", "reason", "over_limit", k->refused);
    mt_write_u64(b, "barrierd_dropped_connections_total", "reason", "hello_timeout",
                 k->hello_timeouts);
    mt_write_hist(b, "barrierd_wait_duration_seconds",
                  "How long waits took, from arrival to release, failure or the party leaving.",
                  &o->wait_hist);
    mt_write_hist(b, "barrierd_release_fanout_seconds",
                  "How long a release took to write every party's reply, first to last.",
                  &o->fanout_hist);
}
