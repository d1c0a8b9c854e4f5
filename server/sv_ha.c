/* sv_ha.c - an HA group member's I/O: lease, election, fencing, mirror.
 *
 * One timer ticks at a third of the lease: it renews the lease, asks who leads
 * (as a standby) and fences when the lease may have run out. A campaign is a
 * long request that etcd answers when this server is elected; the new leader
 * then loads the mirror and serves, taking re-announcements for 2 x ttl, and
 * then breaks the barriers whose recorded parties did not come back. Changed
 * barriers are written in one guarded transaction at a time (only while the
 * election's leader key is still ours), at most every HA_FLUSH_MS.
 */
#include "sv_ha.h"

#include "bp_error.h"
#include "ha_etcd.h"
#include "ha_mirror.h"
#include "ha_role.h"
#include "sv_log.h"
#include "sv_server.h"
#include "sv_obs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HA_FLUSH_MS 20            /* records are written at most this often */
#define HA_TXN_OPS 100            /* etcd allows 128 operations in one transaction */
#define HA_TXN_BYTES (1u << 20)   /* and a request of 1.5 MiB */
#define HA_CAMPAIGN_MS 3600000    /* a campaign waits this long, then starts again */
#define HA_CALL_MS 2000           /* every other request */

/* A keepalive must come back, or give way to the next etcd member, well within
 * a tick: one stuck member must not hold renewals until the lease runs out. */
static long keepalive_ms(const ha_role *r)
{
    long t = (long)(r->ttl_ms / 4);
    return t < 200 ? 200 : t > HA_CALL_MS ? HA_CALL_MS : t;
}

typedef struct ha_expect {         /* a recorded generation and who waited in it */
    struct ha_expect *next;
    char *name;
    uint64_t generation;
    ha_mirror_rec rec;
} ha_expect;

struct sv_ha {
    sv_server *srv;
    ha_etcd *etcd;
    ha_role role;
    char election[200];            /* the election's name */
    char prefix[200];              /* the mirror's key prefix */
    char *leader_key;              /* ours while elected (decoded bytes) */
    size_t leader_key_len;
    uv_timer_t tick, flush, expect_timer;
    uv_timer_t fence_timer;        /* fires when the lease may run out while elected */
    char **inflight;               /* names in the mirror transaction in flight */
    size_t n_inflight, cap_inflight;
    ha_etcd_req *grant, *keepalive, *campaign, *query, *txn, *load;
    int64_t grant_sent, keepalive_sent;
    ha_dirty dirty;
    ha_expect *expect;
    int stopping;
    int refs;                      /* while stopping: closes and the revoke to wait for */
};

/* The clock of every decision: fresh, not the loop's cached time, so that a
 * leader that was stopped (SIGSTOP) sees how long it was away before it serves. */
static int64_t now_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

static void fence(sv_ha *h, const char *why);
static void campaign(sv_ha *h);
static void flush_soon(sv_ha *h);
static void renew(sv_ha *h);
static void on_load(void *arg, int rc, const cJSON *reply, const char *err);
static void on_fence_timer(uv_timer_t *t);
static void inflight_done(sv_ha *h, int put_back);

static void cancel(ha_etcd_req **r)
{
    ha_etcd_cancel(*r);
    *r = NULL;
}

static void on_revoke_done(void *arg, int rc, const cJSON *reply, const char *err)
{
    (void)arg;
    (void)reply;
    if (rc < 0)
        SV_WARN("ha: giving an old lease back: %s", err);
}

/* While elected, a timer fences the moment the lease may have run out, whatever
 * else the loop is doing. */
static void arm_fence(sv_ha *h)
{
    if (h->role.state != HA_LEADING && h->role.state != HA_LOADING)
        return;
    int64_t left = h->role.lease_until_ms - HA_FENCE_MARGIN_MS - now_ms();
    uv_timer_start(&h->fence_timer, on_fence_timer, left > 0 ? (uint64_t)left : 0, 0);
}

/* ---- lease ---- */

static void on_grant(void *arg, int rc, const cJSON *reply, const char *err)
{
    sv_ha *h = arg;
    h->grant = NULL;
    int64_t id = rc == 0 ? ha_etcd_get_i64(reply, "ID") : 0;
    int64_t ttl = rc == 0 ? ha_etcd_get_i64(reply, "TTL") : 0;
    if (!id || ttl <= 0) {
        SV_WARN("ha: no lease from etcd (%s); serving nothing, trying again",
                rc ? err : "no ID in the answer");
        return;
    }
    ha_role_granted(&h->role, id, ttl * 1000, h->grant_sent);
    SV_INFO("ha: lease %llx for %lld s from %s; campaigning in group '%s'",
            (unsigned long long)id, (long long)ttl, ha_etcd_endpoint(h->etcd),
            h->srv->cfg->ha_group);
    campaign(h);
}

static void ask_lease(sv_ha *h)
{
    if (h->grant || h->stopping)
        return;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "TTL", (double)((h->role.ttl_ms + 999) / 1000));
    h->grant_sent = now_ms();
    h->grant = ha_etcd_call(h->etcd, "/v3/lease/grant", body, HA_CALL_MS, on_grant, h);
}

static void on_keepalive(void *arg, int rc, const cJSON *reply, const char *err)
{
    sv_ha *h = arg;
    h->keepalive = NULL;
    if (rc < 0) {
        SV_WARN("ha: lease keepalive: %s", err);
        /* ha_etcd moved on to the next member: try it now, while the lease lasts. */
        if (h->role.lease_id && now_ms() < h->role.lease_until_ms)
            renew(h);
        return;
    }
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    int64_t ttl = ha_etcd_get_i64(res ? res : reply, "TTL");
    if (ha_role_renewed(&h->role, ttl * 1000, h->keepalive_sent)) {
        if (h->role.state == HA_LEADING || h->role.state == HA_LOADING) {
            fence(h, "etcd no longer knows our lease");
            return;
        }
        cancel(&h->campaign); /* it stood for the lost lease */
        ha_role_reset(&h->role);
        ask_lease(h);
        return;
    }
    arm_fence(h);
}

static void renew(sv_ha *h)
{
    if (h->keepalive || !h->role.lease_id)
        return;
    cJSON *body = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)h->role.lease_id);
    cJSON_AddStringToObject(body, "ID", id);
    h->keepalive_sent = now_ms();
    h->keepalive =
        ha_etcd_call(h->etcd, "/v3/lease/keepalive", body, keepalive_ms(&h->role), on_keepalive, h);
}

/* ---- who leads ---- */

/* Our key leads the election (lk: the campaign's leader key, or the leader's
 * kv from a query): load the mirror, then serve. */
static void elected(sv_ha *h, const cJSON *lk, int from_query)
{
    size_t klen = 0;
    char *key = ha_etcd_get_b64(lk, "key", &klen);
    if (!key)
        return;
    free(h->leader_key);
    h->leader_key = key;
    h->leader_key_len = klen;
    ha_role_elected(&h->role, ha_etcd_get_i64(lk, from_query ? "create_revision" : "rev"),
                    h->srv->cfg->advertise);
    arm_fence(h);
    cJSON *body = cJSON_CreateObject();
    ha_etcd_add_prefix(body, h->prefix);
    h->load = ha_etcd_call(h->etcd, "/v3/kv/range", body, HA_CALL_MS * 5, on_load, h);
}

static void on_query(void *arg, int rc, const cJSON *reply, const char *err)
{
    (void)err;
    sv_ha *h = arg;
    h->query = NULL;
    const cJSON *kv = rc == 0 ? cJSON_GetObjectItemCaseSensitive(reply, "kv") : NULL;
    /* etcd says our own key leads, but the campaign never told us (its
     * connection hung on a member that went away): we are elected. */
    if (kv && h->role.state == HA_CAMPAIGNING && h->role.lease_id &&
        ha_etcd_get_i64(kv, "lease") == h->role.lease_id) {
        cancel(&h->campaign);
        elected(h, kv, 1);
        return;
    }
    char *addr = kv ? ha_etcd_get_b64(kv, "value", NULL) : NULL;
    if (rc == 0 || addr) {
        if (strcmp(addr ? addr : "", h->role.leader) != 0)
            SV_INFO("ha: the leader is %s", addr && addr[0] ? addr : "(none)");
        ha_role_leader_seen(&h->role, addr ? addr : "");
    }
    free(addr);
}

static void query_leader(sv_ha *h)
{
    if (h->query)
        return;
    cJSON *body = cJSON_CreateObject();
    ha_etcd_add_b64(body, "name", h->election, strlen(h->election));
    h->query = ha_etcd_call(h->etcd, "/v3/election/leader", body, HA_CALL_MS, on_query, h);
}

/* ---- leading: load the predecessor's barriers, then serve ---- */

static void expect_free(sv_ha *h)
{
    while (h->expect) {
        ha_expect *e = h->expect;
        h->expect = e->next;
        ha_mirror_rec_free(&e->rec);
        free(e->name);
        free(e);
    }
}

/* One recorded barrier into the registry, as the predecessor left it. */
static void restore_one(sv_ha *h, const char *name, size_t len, const char *value, size_t vlen)
{
    sv_server *s = h->srv;
    ha_mirror_rec rec;
    if (len == 0 || len > BP_NAME_MAX || ha_mirror_decode(value, vlen, &rec) < 0) {
        SV_WARN("ha: skipping a mirror record that is not one (%zu bytes)", vlen);
        return;
    }
    int rc = br_restore(s->reg, name, len, rec.parties, rec.generation,
                        rec.broken ? rec.reason : NULL, sv__now(s));
    if (rc == 0 && rec.members &&
        br_restore_members(s->reg, name, len, rec.members, rec.n_members) < 0)
        SV_WARN("ha: barrier '%.*s' goes on without its member list", (int)len, name);
    if (rc < 0 || rec.broken || rec.n_listed == 0) {
        ha_mirror_rec_free(&rec);
        return;
    }
    ha_expect *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strndup(name, len))) {
        free(e);
        ha_mirror_rec_free(&rec);
        return;
    }
    e->generation = rec.generation;
    e->rec = rec;
    e->next = h->expect;
    h->expect = e;
}

/* The resume window is over: a recorded party that has not come back to its
 * generation is lost, and its barrier breaks, naming it. */
static void on_expect_timer(uv_timer_t *t)
{
    sv_ha *h = t->data;
    sv_server *s = h->srv;
    for (ha_expect *e = h->expect; e; e = e->next) {
        const br_barrier *b = br_find(s->reg, e->name, strlen(e->name));
        br_info in;
        if (!b || (br_barrier_info(b, &in), in.generation != e->generation || in.state == BR_BROKEN))
            continue;
        unsigned n;
        br_waiter *const *ws = br_barrier_waiters(b, &n);
        char *taken = calloc(n ? n : 1, 1);
        bp_buf why = BP_BUF_INIT;
        unsigned missing = 0;
        for (unsigned i = 0; i < e->rec.n_listed && taken; i++) {
            unsigned j = 0;
            while (j < n && (taken[j] || strcmp(ws[j]->client, e->rec.clients[i]) != 0))
                j++;
            if (j < n) {
                taken[j] = 1;
                continue;
            }
            bp_buf_puts(&why, missing++ ? ", " : "party lost (");
            bp_buf_puts(&why, e->rec.clients[i][0] ? e->rec.clients[i] : "anonymous");
        }
        free(taken);
        if (missing && !why.oom) {
            bp_buf_puts(&why, " did not come back after the failover)");
            SV_WARN("barrier '%s': %s", e->name, why.data);
            br_break(s->reg, e->name, strlen(e->name), why.data, sv__now(s));
        }
        bp_buf_free(&why);
    }
    expect_free(h);
    sv__arm_deadline(s);
}

static void on_load(void *arg, int rc, const cJSON *reply, const char *err)
{
    sv_ha *h = arg;
    sv_server *s = h->srv;
    h->load = NULL;
    if (h->role.state != HA_LOADING)
        return;
    if (rc < 0) {
        fence(h, err);
        return;
    }
    size_t plen = strlen(h->prefix), n = 0;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(reply, "kvs")) {
        size_t klen, vlen;
        char *key = ha_etcd_get_b64(kv, "key", &klen);
        char *value = ha_etcd_get_b64(kv, "value", &vlen);
        if (key && value && klen > plen)
            restore_one(h, key + plen, klen - plen, value, vlen), n++;
        free(key);
        free(value);
    }
    int64_t resume = 2 * h->role.ttl_ms;
    br_set_recovery(s->reg, sv__now(s) + (int64_t)(s->cfg->resume_window_ms > (uint64_t)resume
                                                       ? s->cfg->resume_window_ms
                                                       : (uint64_t)resume));
    ha_role_serving(&h->role, now_ms(), resume);
    arm_fence(h);
    uv_timer_start(&h->expect_timer, on_expect_timer, (uint64_t)resume, 0);
    SV_INFO("ha: leading group '%s' as %s (term %lld): %zu barriers from the mirror, "
            "parties re-announce for %lld ms", s->cfg->ha_group, s->cfg->advertise,
            (long long)h->role.term, n, (long long)resume);
}

static void on_campaign(void *arg, int rc, const cJSON *reply, const char *err)
{
    sv_ha *h = arg;
    h->campaign = NULL;
    if (h->role.state != HA_CAMPAIGNING)
        return;
    const cJSON *leader = rc == 0 ? cJSON_GetObjectItemCaseSensitive(reply, "leader") : NULL;
    if (!leader || !cJSON_GetObjectItemCaseSensitive(leader, "key")) {
        SV_WARN("ha: campaign: %s; trying again", rc ? err : "no leader key in the answer");
        return; /* the tick campaigns again while the lease lasts */
    }
    /* A campaign that outlived its lease elected a key nobody keeps alive. */
    if (ha_etcd_get_i64(leader, "lease") != h->role.lease_id) {
        SV_WARN("ha: a campaign of an old lease returned; campaigning again");
        return;
    }
    elected(h, leader, 0);
}

static void campaign(sv_ha *h)
{
    if (h->campaign || h->role.state != HA_CAMPAIGNING || h->stopping)
        return;
    cJSON *body = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)h->role.lease_id);
    ha_etcd_add_b64(body, "name", h->election, strlen(h->election));
    cJSON_AddStringToObject(body, "lease", id);
    ha_etcd_add_b64(body, "value", h->srv->cfg->advertise, strlen(h->srv->cfg->advertise));
    h->campaign = ha_etcd_call(h->etcd, "/v3/election/campaign", body, HA_CAMPAIGN_MS,
                               on_campaign, h);
}

/* ---- fencing ---- */

static void on_fence_timer(uv_timer_t *t)
{
    sv_ha *h = t->data;
    if (ha_role_must_fence(&h->role, now_ms()))
        fence(h, "the lease could not be renewed in time");
    else
        arm_fence(h); /* renewed meanwhile */
}

/* Stop leading at once: no request is served from here on. Every client is
 * cut off (they resume with whoever leads next), the barriers are dropped, and
 * the server asks for a new lease to campaign again. */
static void fence(sv_ha *h, const char *why)
{
    sv_server *s = h->srv;
    SV_WARN("ha: stop leading group '%s' (term %lld): %s; closing %zu connections",
            s->cfg->ha_group, (long long)h->role.term, why, s->n_conns);
    cancel(&h->campaign);
    cancel(&h->txn);
    cancel(&h->load);
    cancel(&h->keepalive);
    inflight_done(h, 0);
    uv_timer_stop(&h->flush);
    uv_timer_stop(&h->expect_timer);
    uv_timer_stop(&h->fence_timer);
    /* Give the lease back, so that the next leader need not wait it out. */
    if (h->role.lease_id) {
        cJSON *body = cJSON_CreateObject();
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)h->role.lease_id);
        cJSON_AddStringToObject(body, "ID", id);
        ha_etcd_call(h->etcd, "/v3/lease/revoke", body, HA_CALL_MS, on_revoke_done, NULL);
    }
    expect_free(h);
    ha_dirty_free(&h->dirty);
    ha_role_reset(&h->role);
    sv__drop_everything(s, "the server stopped leading its HA group");
    ask_lease(h);
}

/* ---- the mirror ---- */

typedef struct batch {
    sv_ha *h;
    cJSON *ops;
    size_t n, bytes;
} batch;

static void add_op(batch *bt, const char *name)
{
    sv_ha *h = bt->h;
    sv_server *s = h->srv;
    char key[512];
    int klen = snprintf(key, sizeof key, "%s%s", h->prefix, name);
    cJSON *op = cJSON_CreateObject(), *req = cJSON_CreateObject();
    const br_barrier *b = br_find(s->reg, name, strlen(name));
    ha_etcd_add_b64(req, "key", key, (size_t)klen);
    if (b) {
        br_info in;
        br_barrier_info(b, &in);
        unsigned n;
        br_waiter *const *ws = br_barrier_waiters(b, &n);
        bp_buf v = BP_BUF_INIT;
        ha_mirror_begin(&v, in.parties, in.generation, in.state == BR_BROKEN, in.reason, n);
        for (unsigned i = 0; i < n; i++)
            ha_mirror_waiter(&v, i, ws[i]->client, ws[i]->peer);
        unsigned nm;
        const char *members = br_barrier_members(b, &nm);
        if (members)
            ha_mirror_end_members(&v, members, nm);
        else
            ha_mirror_end(&v);
        ha_etcd_add_b64(req, "value", v.data ? v.data : "", v.len);
        bt->bytes += v.len * 4 / 3 + (size_t)klen * 4 / 3 + 64;
        bp_buf_free(&v);
    } else {
        bt->bytes += (size_t)klen * 4 / 3 + 64;
    }
    cJSON_AddItemToObject(op, b ? "request_put" : "request_delete_range", req);
    cJSON_AddItemToArray(bt->ops, op);
    bt->n++;
}

/* The names of the transaction in flight: forgotten once it is written, put
 * back in the dirty set when that is not known (deletes included). */
static void inflight_done(sv_ha *h, int put_back)
{
    for (size_t i = 0; i < h->n_inflight; i++) {
        if (put_back)
            ha_dirty_add(&h->dirty, h->inflight[i], strlen(h->inflight[i]));
        free(h->inflight[i]);
    }
    h->n_inflight = 0;
}

static int take_one(void *ctx, char *name)
{
    batch *bt = ctx;
    sv_ha *h = bt->h;
    add_op(bt, name);
    if (h->n_inflight == h->cap_inflight) {
        size_t cap = h->cap_inflight ? h->cap_inflight * 2 : 128;
        char **v = realloc(h->inflight, cap * sizeof *v);
        if (!v) {
            free(name); /* out of memory: its next change writes it */
            return bt->n < HA_TXN_OPS && bt->bytes < HA_TXN_BYTES;
        }
        h->inflight = v;
        h->cap_inflight = cap;
    }
    h->inflight[h->n_inflight++] = name;
    return bt->n < HA_TXN_OPS && bt->bytes < HA_TXN_BYTES;
}

static void resync_all(void *ctx, const br_barrier *b)
{
    br_info in;
    br_barrier_info(b, &in);
    ha_dirty_add(ctx, in.name, in.name_len);
}

static void on_txn(void *arg, int rc, const cJSON *reply, const char *err)
{
    sv_ha *h = arg;
    h->txn = NULL;
    if (h->role.state != HA_LEADING)
        return;
    if (rc < 0) {
        /* Not known to be written: write every record again, deletes too. */
        SV_WARN("ha: writing the mirror: %s", err);
        inflight_done(h, 1);
        br_foreach(h->srv->reg, resync_all, &h->dirty);
    } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "succeeded"))) {
        fence(h, "the election's leader key is no longer ours");
        return;
    } else {
        inflight_done(h, 0);
    }
    if (h->dirty.n)
        flush_soon(h);
}

/* A transaction writing the next batch of changed records, guarded by our
 * leader key. */
static cJSON *txn_body(sv_ha *h)
{
    cJSON *body = cJSON_CreateObject(), *cmp = cJSON_CreateObject();
    cJSON *compare = cJSON_AddArrayToObject(body, "compare");
    ha_etcd_add_b64(cmp, "key", h->leader_key, h->leader_key_len);
    cJSON_AddStringToObject(cmp, "target", "CREATE");
    cJSON_AddStringToObject(cmp, "result", "EQUAL");
    char rev[32];
    snprintf(rev, sizeof rev, "%lld", (long long)h->role.term);
    cJSON_AddStringToObject(cmp, "create_revision", rev);
    cJSON_AddItemToArray(compare, cmp);
    batch bt = {h, cJSON_AddArrayToObject(body, "success"), 0, 0};
    ha_dirty_take(&h->dirty, take_one, &bt);
    return body;
}

static void on_flush(uv_timer_t *t)
{
    sv_ha *h = t->data;
    if (h->txn || h->role.state != HA_LEADING || !h->dirty.n)
        return;
    h->txn = ha_etcd_call(h->etcd, "/v3/kv/txn", txn_body(h), HA_CALL_MS, on_txn, h);
}

static void flush_soon(sv_ha *h)
{
    if (!uv_is_active((uv_handle_t *)&h->flush) && !h->txn)
        uv_timer_start(&h->flush, on_flush, HA_FLUSH_MS, 0);
}

/* The registry's change hook: the barrier's record is written to etcd soon,
 * off the release path. */
static void on_change(void *ctx, const char *name, size_t len)
{
    sv_server *s = ctx;
    sv_ha *h = s->ha;
    if (!h || h->role.state != HA_LEADING)
        return;
    ha_dirty_add(&h->dirty, name, len);
    flush_soon(h);
}

void sv__ha_attach(sv_server *s)
{
    br_set_change_hook(s->reg, on_change, s);
}

/* ---- the tick and the gate ---- */

static void on_tick(uv_timer_t *t)
{
    sv_ha *h = t->data;
    int64_t now = now_ms();
    if (h->role.lease_id && now < h->role.lease_until_ms)
        renew(h); /* first: a renewal under way is a lease that may yet hold */
    if (ha_role_must_fence(&h->role, now)) {
        fence(h, "the lease could not be renewed in time");
        return;
    }
    if (ha_role_lease_expired(&h->role, now)) {
        SV_WARN("ha: our lease ran out while campaigning");
        cancel(&h->campaign);
        cancel(&h->keepalive);
        ha_role_reset(&h->role);
    }
    if (h->role.state == HA_NO_LEASE)
        ask_lease(h);
    else
        renew(h);
    if (h->role.state == HA_CAMPAIGNING) {
        campaign(h);
        query_leader(h);
    }
}

int sv__ha_gate(sv_conn *c, const bp_request *r)
{
    sv_ha *h = c->srv->ha;
    int64_t now = now_ms();
    if (ha_role_may_serve(&h->role, now))
        return 1;
    if (ha_role_must_fence(&h->role, now)) {
        fence(h, "the lease may have run out (was this process stopped?)");
        return 0;
    }
    if (r->op == BP_OP_PONG)
        return 0;
    if (r->op == BP_OP_STATS)
        return 1; /* the server's own view, role included: no barrier state */
    bp_buf *b = &c->srv->out;
    bp_buf_reset(b);
    /* An elected member still loading names no leader: itself would only
     * send the client straight back. */
    bp_enc_notleader(b, r->has_id, r->id, h->role.state == HA_LOADING ? "" : h->role.leader);
    sv__obs_error(c->srv, BP_ENOTLEADER);
    sv__conn_send_buf(c, b);
    return 0;
}

void sv__ha_stats(const sv_server *s, bp_stats_view *v)
{
    const sv_ha *h = s->ha;
    v->role = h ? ha_role_name(&h->role) : "single";
    v->leader = h ? h->role.leader : "";
    v->term = h && h->role.state == HA_LEADING ? (uint64_t)h->role.term : 0;
}

int sv_ha_start(sv_server *s)
{
    const sv_config *cfg = s->cfg;
    sv_ha *h = calloc(1, sizeof *h);
    if (!h)
        return BP_ENOMEM;
    char err[512];
    int rc = ha_etcd_new(s->loop, cfg->ha_etcd, &h->etcd, err, sizeof err);
    if (rc < 0) {
        SV_ERROR("%s", err);
        free(h);
        return rc;
    }
    h->srv = s;
    ha_role_init(&h->role, (int64_t)cfg->ha_ttl_ms);
    snprintf(h->election, sizeof h->election, "barrierd/%s/leader", cfg->ha_group);
    snprintf(h->prefix, sizeof h->prefix, "barrierd/%s/barriers/", cfg->ha_group);
    uv_timer_t *ts[] = {&h->tick, &h->flush, &h->expect_timer, &h->fence_timer};
    for (size_t i = 0; i < 4; i++) {
        uv_timer_init(s->loop, ts[i]);
        ts[i]->data = h;
    }
    s->ha = h;
    sv__ha_attach(s);
    uint64_t every = (uint64_t)ha_role_tick_ms(&h->role);
    uv_timer_start(&h->tick, on_tick, 0, every);
    SV_INFO("ha: member of group '%s' through etcd %s, advertising %s, lease %llu ms; "
            "serving nothing until elected", cfg->ha_group, cfg->ha_etcd, cfg->advertise,
            (unsigned long long)cfg->ha_ttl_ms);
    return 0;
}

static void unref(sv_ha *h)
{
    if (--h->refs > 0)
        return;
    inflight_done(h, 0);
    free(h->inflight);
    ha_etcd_free(h->etcd);
    free(h->leader_key);
    free(h);
}

static void on_revoked(void *arg, int rc, const cJSON *reply, const char *err)
{
    (void)reply;
    if (rc < 0)
        SV_WARN("ha: giving the lease back: %s", err);
    unref(arg);
}

static void on_timer_closed(uv_handle_t *t)
{
    unref(t->data);
}

/* Revoking the lease deletes our leader key: a standby takes over now rather
 * than when the lease would have run out. Holds one ref until answered. */
static void give_lease_back(sv_ha *h)
{
    if (h->role.lease_id) {
        cJSON *body = cJSON_CreateObject();
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)h->role.lease_id);
        cJSON_AddStringToObject(body, "ID", id);
        if (ha_etcd_call(h->etcd, "/v3/lease/revoke", body, 1000, on_revoked, h))
            return;
    }
    unref(h);
}

/* The last changes are written before the lease goes, so that what was done
 * just before a graceful stop (an abort) survives the failover. */
static void on_final_txn(void *arg, int rc, const cJSON *reply, const char *err)
{
    (void)reply;
    sv_ha *h = arg;
    h->txn = NULL;
    if (rc < 0)
        SV_WARN("ha: writing the mirror's last changes: %s", err);
    inflight_done(h, 0);
    give_lease_back(h);
}

void sv_ha_stop(sv_server *s)
{
    sv_ha *h = s->ha;
    if (!h)
        return;
    s->ha = NULL;
    h->stopping = 1;
    cancel(&h->grant);
    cancel(&h->keepalive);
    cancel(&h->campaign);
    cancel(&h->query);
    cancel(&h->txn);
    cancel(&h->load);
    expect_free(h);
    inflight_done(h, 1); /* a batch not known to be written goes in the last one */
    h->refs = 5; /* four timers and the revoke */
    uv_close((uv_handle_t *)&h->fence_timer, on_timer_closed);
    uv_close((uv_handle_t *)&h->tick, on_timer_closed);
    uv_close((uv_handle_t *)&h->flush, on_timer_closed);
    uv_close((uv_handle_t *)&h->expect_timer, on_timer_closed);
    if (h->role.state == HA_LEADING && h->dirty.n &&
        (h->txn = ha_etcd_call(h->etcd, "/v3/kv/txn", txn_body(h), 1000, on_final_txn, h))) {
        ha_dirty_free(&h->dirty);
        return;
    }
    ha_dirty_free(&h->dirty);
    inflight_done(h, 0);
    give_lease_back(h);
}

int sv__ha_serving(const sv_server *s)
{
    return !s->ha || ha_role_may_serve(&s->ha->role, now_ms());
}
