/* test_observe.c - unit tests of what observability adds without sockets:
 * histograms and the Prometheus text (server/mt_metrics.c), HTTP routing and
 * the bearer check (server/ht_route.c), the watch op and its events on the
 * wire (proto/), and the registry's event hook (server/br_registry.c). */
#include "br_registry.h"
#include "ht_http.h"
#include "mt_metrics.h"

#include "bp_error.h"
#include "bp_msg.h"
#include "ts_run.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- histograms ---- */

static const uint64_t bounds[] = {1000, 5000, 10000};

START_TEST(hist_buckets_by_upper_bound)
{
    mt_hist h;
    mt_hist_init(&h, bounds, 3);
    uint64_t obs[] = {0, 1000, 1001, 5000, 9999, 10000, 10001, 1000000000000ull};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        mt_hist_observe(&h, obs[i]);
    /* le is inclusive: 1000 falls in le=1e-06 */
    ck_assert_uint_eq(h.counts[0], 2);
    ck_assert_uint_eq(h.counts[1], 2);
    ck_assert_uint_eq(h.counts[2], 2);
    ck_assert_uint_eq(h.counts[3], 2);
    ck_assert_uint_eq(h.count, 8);
    ck_assert_uint_eq(h.sum_ns, 0 + 1000 + 1001 + 5000 + 9999 + 10000 + 10001 + 1000000000000ull);
}
END_TEST

START_TEST(hist_text_is_cumulative)
{
    mt_hist h;
    mt_hist_init(&h, bounds, 3);
    mt_hist_observe(&h, 500);
    mt_hist_observe(&h, 7000);
    mt_hist_observe(&h, 2000000000);
    bp_buf b = BP_BUF_INIT;
    mt_write_hist(&b, "x_seconds", "Help.", &h);
    ck_assert_str_eq(b.data, "# HELP x_seconds Help.\n"
                             "# TYPE x_seconds histogram\n"
                             "x_seconds_bucket{le=\"1e-06\"} 1\n"
                             "x_seconds_bucket{le=\"5e-06\"} 1\n"
                             "x_seconds_bucket{le=\"1e-05\"} 2\n"
                             "x_seconds_bucket{le=\"+Inf\"} 3\n"
                             "x_seconds_sum 2.0000075\n"
                             "x_seconds_count 3\n");
    bp_buf_free(&b);
}
END_TEST

START_TEST(hist_bounds_are_capped)
{
    static uint64_t many[MT_BUCKETS_MAX + 5];
    for (unsigned i = 0; i < MT_BUCKETS_MAX + 5; i++)
        many[i] = i + 1;
    mt_hist h;
    mt_hist_init(&h, many, MT_BUCKETS_MAX + 5);
    ck_assert_uint_eq(h.n_bounds, MT_BUCKETS_MAX);
    mt_hist_observe(&h, 1000);
    ck_assert_uint_eq(h.counts[MT_BUCKETS_MAX], 1);
}
END_TEST

START_TEST(samples_and_label_escaping)
{
    bp_buf b = BP_BUF_INIT;
    mt_write_head(&b, "a_total", "counter", "Things.");
    mt_write_u64(&b, "a_total", NULL, NULL, 18446744073709551615ull);
    mt_write_u64(&b, "a_total", "code", "q\"b\\n\nx", 3);
    mt_write_f64(&b, "g", NULL, NULL, 0.25);
    ck_assert_str_eq(b.data, "# HELP a_total Things.\n# TYPE a_total counter\n"
                             "a_total 18446744073709551615\n"
                             "a_total{code=\"q\\\"b\\\\n\\nx\"} 3\n"
                             "g 0.25\n");
    bp_buf_free(&b);
}
END_TEST

/* ---- HTTP routing and the token ---- */

static const struct {
    const char *url;
    ht_route route;
    const char *name;
    int guarded;
} routes[] = {
    {"/", HT_PAGE, NULL, 1},
    {"/index.html", HT_PAGE, NULL, 1},
    {"/metrics", HT_METRICS, NULL, 0},
    {"/healthz", HT_HEALTHZ, NULL, 0},
    {"/api/barriers", HT_LIST, NULL, 1},
    {"/api/barriers/", HT_LIST, NULL, 1},
    {"/api/barriers/b", HT_STATUS, "b", 1},
    {"/api/barriers/a/b c", HT_STATUS, "a/b c", 1},
    {"/api/stats", HT_STATS, NULL, 1},
    {"/metrics/", HT_NOT_FOUND, NULL, 1},
    {"/api", HT_NOT_FOUND, NULL, 1},
    {"", HT_NOT_FOUND, NULL, 1},
    {"/API/barriers", HT_NOT_FOUND, NULL, 1},
};

START_TEST(route_of_paths)
{
    const char *name = NULL;
    ck_assert_int_eq(ht_route_of(routes[_i].url, &name), routes[_i].route);
    if (routes[_i].name)
        ck_assert_str_eq(name, routes[_i].name);
    ck_assert_int_eq(ht_route_guarded(routes[_i].route), routes[_i].guarded);
}
END_TEST

START_TEST(bearer_check)
{
    ck_assert(ht_bearer_ok("Bearer sekrit", "sekrit"));
    ck_assert(!ht_bearer_ok(NULL, "sekrit"));
    ck_assert(!ht_bearer_ok("", "sekrit"));
    ck_assert(!ht_bearer_ok("sekrit", "sekrit"));
    ck_assert(!ht_bearer_ok("Basic sekrit", "sekrit"));
    ck_assert(!ht_bearer_ok("Bearer sekri", "sekrit"));
    ck_assert(!ht_bearer_ok("Bearer sekrit2", "sekrit"));
    ck_assert(!ht_bearer_ok("Bearer  sekrit", "sekrit"));
    ck_assert(ht_bearer_ok("bearer sekrit", "sekrit")); /* the scheme is case-insensitive */
    ck_assert(ht_bearer_ok("BEARER sekrit", "sekrit"));
    ck_assert(!ht_bearer_ok("Bearer SEKRIT", "sekrit")); /* the token is not */
}
END_TEST

/* ---- the watch op and its events on the wire ---- */

START_TEST(watch_request_round_trip)
{
    bp_request r;
    bp_decode_error err;
    const char *all = "{\"op\":\"watch\",\"id\":3}";
    ck_assert_int_eq(bp_request_decode(all, strlen(all), 0, &r, &err), 0);
    ck_assert_int_eq(r.op, BP_OP_WATCH);
    ck_assert_uint_eq(r.barrier_len, 0);
    const char *one = "{\"op\":\"watch\",\"barrier\":\"b1\"}";
    ck_assert_int_eq(bp_request_decode(one, strlen(one), 0, &r, &err), 0);
    ck_assert_str_eq(r.barrier, "b1");
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    ck_assert_str_eq(b.data, "{\"op\":\"watch\",\"barrier\":\"b1\"}\n");
    bp_buf_free(&b);
    const char *bad[] = {"{\"op\":\"watch\",\"barrier\":\"\"}", "{\"op\":\"watch\",\"barrier\":7}",
                         "{\"op\":\"watch\",\"barrier\":\"a\\nb\"}"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(bp_request_decode(bad[i], strlen(bad[i]), 0, &r, &err), BP_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "barrier"));
    }
}
END_TEST

START_TEST(watch_event_encodes_and_decodes)
{
    bp_buf b = BP_BUF_INIT;
    bp_watch_event e = {.event = "arrive", .barrier = "b\"x", .barrier_len = 3, .generation = 4,
                        .n_waiting = 2, .parties = 3, .has_index = 1, .index = 1,
                        .client = "teller-2", .peer = "127.0.0.1:5"};
    bp_enc_watch_event(&b, &e);
    ck_assert_str_eq(b.data, "{\"event\":\"arrive\",\"barrier\":\"b\\\"x\",\"generation\":4,"
                             "\"n_waiting\":2,\"parties\":3,\"index\":1,\"client\":\"teller-2\","
                             "\"peer\":\"127.0.0.1:5\"}\n");
    bp_reply r;
    ck_assert_int_eq(bp_reply_decode(b.data, b.len - 1, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_WATCH);
    ck_assert_str_eq(r.barrier, "b\"x");
    ck_assert_uint_eq(r.generation, 4);
    bp_reply_free(&r);
    bp_buf_reset(&b);
    bp_watch_event br = {.event = "break", .barrier = "b", .barrier_len = 1, .generation = 9,
                         .n_waiting = 1, .parties = 2, .cause = "timeout", .reason = "timed out"};
    bp_enc_watch_event(&b, &br);
    cJSON *j = cJSON_Parse(b.data);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "cause")->valuestring, "timeout");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "timed out");
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "client"));
    ck_assert_ptr_null(cJSON_GetObjectItem(j, "index"));
    cJSON_Delete(j);
    const char *names[] = {"arrive", "leave", "release", "break", "reset"};
    for (size_t i = 0; i < 5; i++)
        ck_assert(bp_watch_event_name(names[i]));
    ck_assert(!bp_watch_event_name("run_action"));
    bp_buf_free(&b);
}
END_TEST

START_TEST(watch_ok_names_the_barrier)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_watch_ok(&b, 1, 5, NULL);
    ck_assert_str_eq(b.data, "{\"id\":5,\"ok\":true}\n");
    bp_buf_reset(&b);
    bp_barrier_view v = {.name = "b", .name_len = 1, .parties = 3, .n_waiting = 1,
                         .generation = 2, .state = "filling", .reason = ""};
    bp_enc_watch_ok(&b, 0, 0, &v);
    ck_assert_str_eq(b.data, "{\"ok\":true,\"barrier\":\"b\",\"parties\":3,\"n_waiting\":1,"
                             "\"broken\":false,\"generation\":2,\"state\":\"filling\","
                             "\"n_pending\":0,\"reason\":\"\"}\n");
    bp_buf_reset(&b);
    bp_enc_status_waiter_since(&b, 1, 2, "c", "p", NULL, 0, 1500);
    ck_assert_str_eq(b.data, ",{\"index\":2,\"client\":\"c\",\"peer\":\"p\",\"waited_ms\":1500}");
    bp_buf_free(&b);
}
END_TEST

/* ---- the registry's event hook ---- */

#define MAX_EV 32
static struct {
    br_event_kind kind;
    uint64_t generation;
    unsigned n_waiting, n, n_pending;
    br_cause cause;
    const br_waiter *waiter;
    char reason[256];
} evs[MAX_EV];
static int n_evs;
static int outcomes;

static void record(void *ctx, const br_event *e)
{
    (void)ctx;
    ck_assert_int_lt(n_evs, MAX_EV);
    evs[n_evs].kind = e->kind;
    evs[n_evs].generation = e->generation;
    evs[n_evs].n_waiting = e->n_waiting;
    evs[n_evs].n = e->n;
    evs[n_evs].n_pending = e->n_pending;
    evs[n_evs].cause = e->cause;
    evs[n_evs].waiter = e->waiter;
    snprintf(evs[n_evs].reason, sizeof evs[n_evs].reason, "%s", e->reason ? e->reason : "");
    n_evs++;
}

static void sink(void *ctx, const br_outcome *o)
{
    (void)ctx;
    (void)o;
    outcomes++;
}

static br_registry *fresh(int hook)
{
    n_evs = 0;
    outcomes = 0;
    br_registry *r = br_new(0, sink, NULL);
    if (hook)
        br_set_event_hook(r, record, NULL);
    return r;
}

static int arrive(br_registry *r, br_waiter *w, const char *name, unsigned parties,
                  int64_t deadline, int64_t now)
{
    memset(w, 0, sizeof *w);
    w->owner = w;
    w->client = "c";
    w->peer = "p";
    w->deadline_ms = deadline;
    char msg[256];
    return br_arrive(r, name, strlen(name), parties, w, now, msg, sizeof msg);
}

START_TEST(events_of_a_release)
{
    br_registry *r = fresh(1);
    br_waiter a, b;
    ck_assert_int_eq(arrive(r, &a, "x", 2, -1, 100), 0);
    ck_assert_int_eq(a.arrived_ms, 100);
    ck_assert_int_eq(arrive(r, &b, "x", 2, -1, 250), 0);
    ck_assert_int_eq(n_evs, 3);
    ck_assert_int_eq(evs[0].kind, BR_EV_ARRIVE);
    ck_assert_ptr_eq(evs[0].waiter, &a);
    ck_assert_uint_eq(evs[0].n_waiting, 1);
    ck_assert_int_eq(evs[1].kind, BR_EV_ARRIVE);
    ck_assert_uint_eq(evs[1].n_waiting, 2);
    ck_assert_int_eq(evs[2].kind, BR_EV_RELEASE); /* after the arrival that filled it */
    ck_assert_uint_eq(evs[2].n, 2);
    ck_assert_uint_eq(evs[2].generation, 0);
    ck_assert_int_eq(outcomes, 1);
    br_free(r);
}
END_TEST

START_TEST(events_of_breaks_by_cause)
{
    br_registry *r = fresh(1);
    br_waiter a, b, c;
    arrive(r, &a, "t", 3, 500, 0);
    arrive(r, &b, "t", 3, -1, 0);
    br_expire(r, 500);
    ck_assert_int_eq(evs[n_evs - 1].kind, BR_EV_BREAK);
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_TIMEOUT);
    ck_assert_uint_eq(evs[n_evs - 1].n, 2);
    ck_assert_ptr_nonnull(strstr(evs[n_evs - 1].reason, "timed out"));
    ck_assert_int_eq(br_reset(r, "t", 1, "me", 600), 0);
    ck_assert_int_eq(evs[n_evs - 1].kind, BR_EV_RESET);
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_RESET);
    arrive(r, &c, "t", 3, -1, 700);
    ck_assert_int_eq(br_abort(r, "t", 1, "me", 800), 0);
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_ABORT);
    ck_assert_int_eq(br_abort(r, "t", 1, "me", 800), 0); /* already broken: no second break */
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_ABORT);
    br_reset(r, "t", 1, "me", 900);
    arrive(r, &a, "t", 3, -1, 1000);
    int before = n_evs;
    br_leave(r, &a, "disconnected", 1100);
    ck_assert_int_eq(n_evs, before + 2);
    ck_assert_int_eq(evs[before].kind, BR_EV_LEAVE);
    ck_assert_uint_eq(evs[before].n_waiting, 0);
    ck_assert_int_eq(evs[before + 1].kind, BR_EV_BREAK);
    ck_assert_int_eq(evs[before + 1].cause, BR_CAUSE_LOST_PARTY);
    br_stats st;
    br_get_stats(r, &st);
    ck_assert_uint_eq(st.ended[BR_CAUSE_TIMEOUT], 1);
    /* both resets were of a broken barrier: they failed no generation (the
     * timeout and the abort did), so they count nothing, though watchers are told */
    ck_assert_uint_eq(st.ended[BR_CAUSE_RESET], 0);
    ck_assert_uint_eq(st.ended[BR_CAUSE_ABORT], 1);
    ck_assert_uint_eq(st.ended[BR_CAUSE_LOST_PARTY], 1);
    ck_assert_uint_eq(st.ended[BR_CAUSE_ACTION_FAILED], 0);
    ck_assert_uint_eq(st.breaks, 3);
    /* a reset that fails a waiting party counts; one of an empty barrier does not */
    br_waiter d;
    arrive(r, &d, "u", 2, -1, 1200);
    ck_assert_int_eq(br_reset(r, "u", 1, "me", 1300), 0);
    ck_assert_int_eq(br_reset(r, "u", 1, "me", 1400), 0);
    ck_assert_int_eq(evs[n_evs - 1].kind, BR_EV_RESET);
    br_get_stats(r, &st);
    ck_assert_uint_eq(st.ended[BR_CAUSE_RESET], 1);
    br_free(r);
}
END_TEST

START_TEST(action_failure_and_shutdown_causes)
{
    br_registry *r = fresh(1);
    br_waiter a, b, c;
    arrive(r, &a, "a", 2, -1, 0);
    memset(&b, 0, sizeof b);
    b.owner = &b;
    b.client = "runner";
    b.peer = "p";
    b.deadline_ms = -1;
    b.action = 1;
    char msg[128];
    ck_assert_int_eq(br_arrive(r, "a", 1, 2, &b, 0, msg, sizeof msg), 0);
    ck_assert_int_eq(br_action_done(r, "a", 1, 0, 0, &b, 10, msg, sizeof msg), 0);
    ck_assert_int_eq(evs[n_evs - 1].kind, BR_EV_BREAK);
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_ACTION_FAILED);
    arrive(r, &c, "s", 2, -1, 20);
    br_shutdown(r, "bye");
    ck_assert_int_eq(evs[n_evs - 1].cause, BR_CAUSE_SHUTDOWN);
    ck_assert_uint_eq(evs[n_evs - 1].n, 1);
    br_stats st;
    br_get_stats(r, &st);
    ck_assert_uint_eq(st.ended[BR_CAUSE_ACTION_FAILED], 1);
    ck_assert_uint_eq(st.ended[BR_CAUSE_SHUTDOWN], 1); /* only the barrier with a waiter */
    br_free(r);
}
END_TEST

START_TEST(no_hook_no_events)
{
    br_registry *r = fresh(0);
    br_waiter a, b;
    arrive(r, &a, "x", 2, -1, 0);
    arrive(r, &b, "x", 2, -1, 0);
    ck_assert_int_eq(n_evs, 0);
    ck_assert_int_eq(outcomes, 1);
    br_set_event_hook(r, record, NULL);
    arrive(r, &a, "x", 2, -1, 0);
    ck_assert_int_eq(n_evs, 1);
    br_set_event_hook(r, NULL, NULL);
    br_leave(r, &a, "gone", 1);
    ck_assert_int_eq(n_evs, 1);
    ck_assert_str_eq(br_cause_name(BR_CAUSE_LOST_PARTY), "lost_party");
    ck_assert_str_eq(br_cause_name(BR_CAUSE_COUNT), "unknown");
    br_free(r);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
    {"hist_buckets_by_upper_bound", hist_buckets_by_upper_bound, 0},
    {"hist_text_is_cumulative", hist_text_is_cumulative, 0},
    {"hist_bounds_are_capped", hist_bounds_are_capped, 0},
    {"samples_and_label_escaping", samples_and_label_escaping, 0},
    {"route_of_paths", route_of_paths, TS_NCASES(routes)},
    {"bearer_check", bearer_check, 0},
    {"watch_request_round_trip", watch_request_round_trip, 0},
    {"watch_event_encodes_and_decodes", watch_event_encodes_and_decodes, 0},
    {"watch_ok_names_the_barrier", watch_ok_names_the_barrier, 0},
    {"events_of_a_release", events_of_a_release, 0},
    {"events_of_breaks_by_cause", events_of_breaks_by_cause, 0},
    {"action_failure_and_shutdown_causes", action_failure_and_shutdown_causes, 0},
    {"no_hook_no_events", no_hook_no_events, 0},
    };
    return ts_run_cases("observe", cases, TS_NCASES(cases));
}
