/* test_rdv.c - unit tests of the registry's rendezvous (server/br_member.c,
 * server/br_gather.c): gathered data in arrival order, action results, member
 * names unique in their generation, member lists, who is missing, and the
 * --max-data / --max-gather limits. No I/O; a hand-driven clock and a sink
 * that records what each outcome carried.
 */
#include "br_registry.h"

#include "bp_error.h"
#include "bp_msg.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording sink ---- */

typedef struct rec {
    br_kind kind;
    unsigned n;
    int code;
    uint64_t generation;
    char message[2048];
    char gathered[8192]; /* "" when the outcome had none */
    int has_gathered;
    char result[256];
    int has_result;
} rec;

#define MAX_RECS 64
static rec recs[MAX_RECS];
static int n_recs;
static br_registry *reg;
static int64_t now;

static void sink(void *ctx, const br_outcome *o)
{
    (void)ctx;
    ck_assert_int_lt(n_recs, MAX_RECS);
    rec *r = &recs[n_recs++];
    memset(r, 0, sizeof *r);
    r->kind = o->kind;
    r->n = o->n;
    r->code = o->code;
    r->generation = o->generation;
    snprintf(r->message, sizeof r->message, "%s", o->message ? o->message : "");
    r->has_gathered = o->gathered != NULL;
    if (o->gathered) {
        ck_assert_uint_lt(o->gathered_len, sizeof r->gathered);
        memcpy(r->gathered, o->gathered, o->gathered_len);
    }
    r->has_result = o->action_result != NULL;
    if (o->action_result)
        snprintf(r->result, sizeof r->result, "%.*s", (int)o->action_result_len, o->action_result);
    if (o->kind == BR_RELEASE) ck_assert_ptr_null(o->message);
}

static void setup(void)
{
    reg = br_new(0, sink, NULL);
    ck_assert_ptr_nonnull(reg);
    n_recs = 0;
    now = 1000;
}

static void teardown(void)
{
    br_free(reg);
    reg = NULL;
}

#define NW 64
static br_waiter ws[NW];
static char msg[1024];

/* A waiter with data (NULL: none) and member (NULL: none). */
static br_waiter *mk(int i, const char *data, const char *member)
{
    br_waiter *w = &ws[i];
    memset(w, 0, sizeof *w);
    w->owner = w;
    w->has_id = 1;
    w->id = (uint64_t)i + 1;
    w->deadline_ms = -1;
    w->client = "c";
    w->peer = "p";
    w->data = data;
    w->data_len = data ? strlen(data) : 0;
    w->member = member;
    w->member_len = member ? strlen(member) : 0;
    return w;
}

/* The same with a member list (names back to back, each NUL-terminated). */
static br_waiter *mk_list(int i, const char *member, const char *packed, unsigned n)
{
    br_waiter *w = mk(i, NULL, member);
    w->members = packed;
    w->n_members = n;
    return w;
}

static int arrive(const char *name, unsigned parties, br_waiter *w)
{
    msg[0] = '\0';
    return br_arrive(reg, name, strlen(name), parties, w, now, msg, sizeof msg);
}

static unsigned waiting(const char *name)
{
    const br_barrier *b = br_find(reg, name, strlen(name));
    ck_assert_ptr_nonnull(b);
    br_info in;
    br_barrier_info(b, &in);
    return in.n_waiting;
}

/* ---- gather ---- */

START_TEST(gather_in_arrival_order)
{
    ck_assert_int_eq(arrive("g", 3, mk(0, "first", NULL)), 0);
    ck_assert_int_eq(arrive("g", 3, mk(1, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("g", 3, mk(2, "th\"ird\n", NULL)), 0);
    ck_assert_int_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    ck_assert_uint_eq(recs[0].n, 3);
    ck_assert(recs[0].has_gathered);
    ck_assert_str_eq(recs[0].gathered, "[\"first\",null,\"th\\\"ird\\n\"]");
    ck_assert(!recs[0].has_result);
    /* The next generation starts empty: nothing sent, nothing gathered. */
    ck_assert_int_eq(arrive("g", 3, mk(3, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("g", 3, mk(4, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("g", 3, mk(5, NULL, NULL)), 0);
    ck_assert_int_eq(n_recs, 2);
    ck_assert(!recs[1].has_gathered);
    ck_assert_uint_eq(recs[1].generation, 1);
}
END_TEST

START_TEST(plain_release_carries_nothing)
{
    ck_assert_int_eq(arrive("p", 2, mk(0, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("p", 2, mk(1, NULL, NULL)), 0);
    ck_assert_int_eq(n_recs, 1);
    ck_assert(!recs[0].has_gathered && !recs[0].has_result);
    ck_assert_ptr_null(br_barrier_members(br_find(reg, "p", 1), &(unsigned){0}));
}
END_TEST

START_TEST(action_result_delivered)
{
    ck_assert_int_eq(arrive("a", 2, mk(0, "x", NULL)), 0);
    br_waiter *last = mk(1, "y", NULL);
    last->action = 1;
    ck_assert_int_eq(arrive("a", 2, last), 0);
    ck_assert_int_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
    ck_assert_int_eq(
        br_action_done_result(reg, "a", 1, 0, 1, "leader=1", 8, last, now, msg, sizeof msg), 0);
    ck_assert_int_eq(n_recs, 2);
    ck_assert_int_eq(recs[1].kind, BR_RELEASE);
    ck_assert(recs[1].has_result);
    ck_assert_str_eq(recs[1].result, "leader=1");
    ck_assert_str_eq(recs[1].gathered, "[\"x\",\"y\"]");
    /* The result belonged to that generation only. */
    ck_assert_int_eq(arrive("a", 2, mk(2, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("a", 2, mk(3, NULL, NULL)), 0);
    ck_assert(!recs[2].has_result);
}
END_TEST

START_TEST(action_result_too_big_fails_the_action)
{
    br_set_rdv_limits(reg, 4, 0);
    ck_assert_int_eq(arrive("a", 1, (mk(0, NULL, NULL), ws[0].action = 1, &ws[0])), 0);
    ck_assert_int_eq(
        br_action_done_result(reg, "a", 1, 0, 1, "12345", 5, &ws[0], now, msg, sizeof msg),
        BP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "--max-data"));
    ck_assert_int_eq(recs[n_recs - 1].kind, BR_FAIL);
    ck_assert_int_eq(recs[n_recs - 1].n, 1);
}
END_TEST

/* ---- member names ---- */

START_TEST(member_unique_in_generation)
{
    ck_assert_int_eq(arrive("m", 3, mk(0, NULL, "alice")), 0);
    ck_assert_int_eq(arrive("m", 3, mk(1, NULL, "alice")), BP_EMEMBER);
    ck_assert_ptr_nonnull(strstr(msg, "already waiting"));
    ck_assert_uint_eq(waiting("m"), 1); /* refused without harm */
    ck_assert_int_eq(arrive("m", 3, mk(2, NULL, "bob")), 0);
    ck_assert_int_eq(arrive("m", 3, mk(3, NULL, "carol")), 0);
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    /* Released: the name is free in the next generation. */
    ck_assert_int_eq(arrive("m", 3, mk(4, NULL, "alice")), 0);
    /* A party that leaves frees its name too (the barrier breaks). */
    br_leave(reg, &ws[4], "disconnected", now);
    ck_assert_int_eq(br_reset(reg, "m", 1, "test", now), 0);
    ck_assert_int_eq(arrive("m", 3, mk(5, NULL, "alice")), 0);
}
END_TEST

START_TEST(member_unique_among_queued)
{
    ck_assert_int_eq(arrive("q", 1, (mk(0, NULL, "a"), ws[0].action = 1, &ws[0])), 0);
    ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
    /* While the action runs, waits queue for the next generation. */
    ck_assert_int_eq(arrive("q", 1, mk(1, "d1", "b")), 0);
    ck_assert_int_eq(arrive("q", 1, mk(2, NULL, "b")), BP_EMEMBER);
    ck_assert_ptr_nonnull(strstr(msg, "queued"));
    /* A queued wait that leaves frees its name and its bytes. */
    br_leave(reg, &ws[1], "disconnected", now);
    ck_assert_int_eq(arrive("q", 1, mk(3, "d3", "b")), 0);
    ck_assert_int_eq(br_action_done(reg, "q", 1, 0, 1, &ws[0], now, msg, sizeof msg), 0);
    /* gen 0 released (a), then gen 1 (b) joined and released with its data. */
    ck_assert_int_eq(recs[n_recs - 1].kind, BR_RELEASE);
    ck_assert_str_eq(recs[n_recs - 1].gathered, "[\"d3\"]");
}
END_TEST

/* ---- member lists ---- */

static const char abc[] = "a\0b\0c";

START_TEST(member_list_admits_only_members)
{
    ck_assert_int_eq(arrive("l", 3, mk_list(0, "a", abc, 3)), 0);
    unsigned n;
    const char *names = br_barrier_members(br_find(reg, "l", 1), &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(names, abc, sizeof abc);
    ck_assert_int_eq(arrive("l", 3, mk(1, NULL, "zed")), BP_EMEMBER);
    ck_assert_ptr_nonnull(strstr(msg, "not a member"));
    ck_assert_int_eq(arrive("l", 3, mk(2, NULL, NULL)), BP_EMEMBER);
    ck_assert_ptr_nonnull(strstr(msg, "names none"));
    /* Another list, in any order but not the same names: refused like parties. */
    ck_assert_int_eq(arrive("l", 3, mk_list(3, "b", "a\0b\0d", 3)), BP_EPARTIES);
    ck_assert_int_eq(arrive("l", 3, mk_list(4, "b", "a\0a\0b", 3)), BP_EPARTIES);
    /* The same list in another order is fine; so is a wait without it. */
    ck_assert_int_eq(arrive("l", 3, mk_list(5, "c", "c\0a\0b", 3)), 0);
    ck_assert_uint_eq(waiting("l"), 2);
    ck_assert_int_eq(arrive("l", 3, mk(6, NULL, "b")), 0);
    ck_assert_int_eq(recs[n_recs - 1].kind, BR_RELEASE);
    /* A list on a barrier that has none is refused. */
    ck_assert_int_eq(arrive("plain", 3, mk(7, NULL, NULL)), 0);
    ck_assert_int_eq(arrive("plain", 3, mk_list(8, "a", abc, 3)), BP_EPARTIES);
    ck_assert_ptr_nonnull(strstr(msg, "without a member list"));
}
END_TEST

/* A barrier created by a wait with only its member name takes the list of a
 * later wait when everyone it holds is on it: who comes first does not matter. */
START_TEST(member_list_adopted)
{
    ck_assert_int_eq(arrive("m", 3, mk(0, NULL, "a")), 0);
    ck_assert_int_eq(arrive("m", 3, mk_list(1, "b", abc, 3)), 0);
    unsigned n;
    const char *names = br_barrier_members(br_find(reg, "m", 1), &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(names, abc, sizeof abc);
    ck_assert_int_eq(arrive("m", 3, mk(2, NULL, "zed")), BP_EMEMBER);
    ck_assert_int_eq(arrive("m", 3, mk(3, NULL, "c")), 0);
    ck_assert_int_eq(recs[n_recs - 1].kind, BR_RELEASE);
    /* A wait it holds is not on the list (or names none): refused, no list. */
    ck_assert_int_eq(arrive("n", 3, mk(4, NULL, "zed")), 0);
    ck_assert_int_eq(arrive("n", 3, mk_list(5, "a", abc, 3)), BP_EPARTIES);
    ck_assert_ptr_nonnull(strstr(msg, "without a member list"));
    ck_assert_ptr_null(br_barrier_members(br_find(reg, "n", 1), &n));
    ck_assert_int_eq(arrive("n", 3, mk_list(6, "a", "a\0a\0b", 3)), BP_EINVAL);
    ck_assert_ptr_null(br_barrier_members(br_find(reg, "n", 1), &n));
    ck_assert_uint_eq(waiting("n"), 1);
    ck_assert_int_eq(arrive("n", 3, mk(7, NULL, "a")), 0); /* still list-less */
    ck_assert_uint_eq(waiting("n"), 2);
}
END_TEST

START_TEST(member_list_refused_creates_nothing)
{
    ck_assert_int_eq(arrive("d", 3, mk_list(0, "a", "a\0b\0a", 3)), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(msg, "listed twice"));
    ck_assert_ptr_null(br_find(reg, "d", 1));
    ck_assert_int_eq(arrive("d", 3, mk_list(1, "x", abc, 3)), BP_EMEMBER);
    ck_assert_ptr_null(br_find(reg, "d", 1));
    ck_assert_int_eq(arrive("d", 3, mk_list(2, "a", abc, 3)), 0);
}
END_TEST

static char missing_buf[256];
static void add_missing(void *ctx, const char *name)
{
    (void)ctx;
    strcat(missing_buf, name);
    strcat(missing_buf, ",");
}

START_TEST(missing_members_named)
{
    ck_assert_int_eq(arrive("t", 3, mk_list(0, "b", abc, 3)), 0);
    ws[0].deadline_ms = -1;
    br_waiter *w = mk(1, NULL, "a");
    w->deadline_ms = now + 10;
    ck_assert_int_eq(arrive("t", 3, w), 0);
    missing_buf[0] = '\0';
    ck_assert_uint_eq(br_barrier_missing(reg, br_find(reg, "t", 1), add_missing, NULL), 1);
    ck_assert_str_eq(missing_buf, "c,");
    br_expire(reg, now + 10);
    ck_assert_int_eq(recs[0].kind, BR_FAIL);
    ck_assert_ptr_nonnull(strstr(recs[0].message, "timed out (a [p] reached its timeout)"));
    ck_assert_ptr_nonnull(strstr(recs[0].message, ": 2/3 arrived"));
    ck_assert_ptr_nonnull(strstr(recs[0].message, "; missing: c"));
}
END_TEST

START_TEST(missing_bounded_in_messages)
{
    char packed[1024], *p = packed;
    for (int i = 0; i < 100; i++)
        p += sprintf(p, "m%02d", i) + 1;
    ck_assert_int_eq(arrive("big", 100, mk_list(0, "m00", packed, 100)), 0);
    ck_assert_int_eq(br_abort(reg, "big", 3, "test", now), 0);
    ck_assert_ptr_nonnull(strstr(recs[0].message, "; missing: m01, m02, m03"));
    ck_assert_ptr_nonnull(strstr(recs[0].message, " and 91 more"));
    ck_assert_uint_lt(strlen(recs[0].message), 400);
}
END_TEST

/* ---- limits ---- */

START_TEST(max_data_and_max_gather)
{
    br_set_rdv_limits(reg, 8, 20);
    ck_assert_int_eq(arrive("x", 3, mk(0, "123456789", NULL)), BP_ELIMIT);
    ck_assert_ptr_nonnull(strstr(msg, "--max-data"));
    ck_assert_ptr_null(br_find(reg, "x", 1));
    ck_assert_int_eq(arrive("x", 3, mk(1, "12345678", NULL)), 0);
    ck_assert_int_eq(arrive("x", 3, mk(2, "12345678", NULL)), 0);
    ck_assert_int_eq(arrive("x", 3, mk(3, "12345", NULL)), BP_ELIMIT); /* 21 > 20 */
    ck_assert_ptr_nonnull(strstr(msg, "--max-gather"));
    ck_assert_uint_eq(waiting("x"), 2); /* not harmed */
    ck_assert_int_eq(n_recs, 0);
    ck_assert_int_eq(arrive("x", 3, mk(4, "1234", NULL)), 0); /* exactly 20 */
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    ck_assert_str_eq(recs[0].gathered, "[\"12345678\",\"12345678\",\"1234\"]");
    /* The count starts again with the next generation. */
    ck_assert_int_eq(arrive("x", 3, mk(5, "12345678", NULL)), 0);
    ck_assert_int_eq(arrive("x", 3, mk(6, "12345678", NULL)), 0);
}
END_TEST

/* --max-gather bounds the release: data counts as the release encodes it. */
START_TEST(max_gather_counts_escaped_bytes)
{
    br_set_rdv_limits(reg, 0, 20);
    ck_assert_int_eq(arrive("e", 2, mk(0, "\x01\x01\x01\x01", NULL)), BP_ELIMIT); /* 24 */
    ck_assert_ptr_nonnull(strstr(msg, "24 more"));
    ck_assert_int_eq(arrive("e", 2, mk(1, "\x01\x01\n\"", NULL)), 0); /* 6+6+2+2 = 16 */
    ck_assert_int_eq(arrive("e", 2, mk(2, "12345", NULL)), BP_ELIMIT);   /* 21 > 20 */
    ck_assert_int_eq(arrive("e", 2, mk(3, "1234", NULL)), 0);            /* exactly 20 */
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    ck_assert_uint_eq(strlen(recs[0].gathered), 20 + 2 * 2 + 3); /* quotes, brackets, comma */
}
END_TEST

START_TEST(max_gather_counts_after_a_break)
{
    br_set_rdv_limits(reg, 0, 10);
    ck_assert_int_eq(arrive("y", 2, mk(0, "1234567890", NULL)), 0);
    ck_assert_int_eq(br_abort(reg, "y", 1, "test", now), 0);
    ck_assert_int_eq(br_reset(reg, "y", 1, "test", now), 0);
    ck_assert_int_eq(arrive("y", 2, mk(1, "1234567890", NULL)), 0);
}
END_TEST

/* ---- the wire fields (proto) ---- */

static int dec(const char *line, bp_request *r, bp_decode_error *e)
{
    return bp_request_decode(line, strlen(line), 0, r, e);
}

START_TEST(decode_rendezvous_fields)
{
    bp_request r;
    bp_decode_error e;
    ck_assert_int_eq(dec("{\"op\":\"wait\",\"barrier\":\"b\",\"members\":[\"x\",\"y\"],"
                         "\"member\":\"x\",\"data\":\"d\\n\u00e9\"}",
                         &r, &e),
                     0);
    ck_assert_uint_eq(r.parties, 2); /* from the list */
    ck_assert_uint_eq(r.n_members, 2);
    ck_assert_mem_eq(r.members, "x\0y\0", 4);
    ck_assert_uint_eq(r.members_len, 4);
    ck_assert_str_eq(r.member, "x");
    ck_assert_uint_eq(r.data_len, 4);
    ck_assert_str_eq(r.data, "d\n\xc3\xa9");
    /* Encoded and decoded again: the same fields. */
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    bp_request again;
    ck_assert_int_eq(bp_request_decode(b.data, b.len - 1, 0, &again, &e), 0);
    ck_assert_str_eq(again.data, r.data);
    ck_assert_str_eq(again.member, r.member);
    ck_assert_mem_eq(again.members, r.members, r.members_len);
    bp_request_free(&again);
    bp_request_free(&r);
    ck_assert_ptr_null(r.data);
    bp_buf_free(&b);

    ck_assert_int_eq(dec("{\"op\":\"action_done\",\"barrier\":\"b\",\"generation\":3,"
                         "\"success\":true,\"result\":\"r\"}",
                         &r, &e),
                     0);
    ck_assert_str_eq(r.result, "r");
    ck_assert_uint_eq(r.result_len, 1);
    bp_request_free(&r);
    /* A plain wait owns nothing. */
    ck_assert_int_eq(dec("{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2}", &r, &e), 0);
    ck_assert_ptr_null(r.ext);
}
END_TEST

START_TEST(decode_rendezvous_errors)
{
    static const struct {
        const char *line, *says;
    } bad[] = {
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"data\":5}",
         "'data': must be a string"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"member\":\"\"}", "'member'"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"member\":\"a\\n\"}", "control"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"members\":[]}", "must not be empty"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"members\":[\"a\",\"b\",\"c\",\"b\"]}",
         "field 'members': 'b' appears twice"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"members\":\"a,b\"}", "array"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"members\":[\"a\",1]}", "each must be"},
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":3,\"members\":[\"a\",\"b\"]}",
         "'members' names 2"},
        {"{\"op\":\"wait\",\"barrier\":\"b\"}", "'parties': required"},
        {"{\"op\":\"action_done\",\"barrier\":\"b\",\"generation\":1,\"success\":true,"
         "\"result\":[]}",
         "'result': must be a string"},
        /* a later field's error frees what the rendezvous fields took (ASan) */
        {"{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"data\":\"x\",\"client\":7}",
         "'client'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bp_request r;
        bp_decode_error e;
        ck_assert_int_eq(dec(bad[i].line, &r, &e), BP_EINVAL);
        ck_assert_msg(strstr(e.message, bad[i].says), "%s: %s", bad[i].line, e.message);
        ck_assert_ptr_null(r.ext);
    }
}
END_TEST

START_TEST(release_bytes)
{
    bp_buf a = BP_BUF_INIT, b = BP_BUF_INIT;
    bp_enc_release_shared(&a, "b", 1, 4);
    bp_enc_release_shared_rdv(&b, "b", 1, 4, NULL, 0, NULL, 0);
    ck_assert_str_eq(a.data, b.data); /* nothing to deliver: the plain bytes */
    bp_buf_reset(&b);
    bp_enc_release_shared_rdv(&b, "b", 1, 4, "[\"x\",null]", 10, "r\"", 2);
    ck_assert_str_eq(b.data, "\"ok\":true,\"barrier\":\"b\",\"generation\":4,"
                             "\"gathered\":[\"x\",null],\"action_result\":\"r\\\"\"}\n");
    bp_buf_free(&a);
    bp_buf_free(&b);
}
END_TEST

/* A re-announced wait whose earlier copy is still held (its old connection not
 * yet seen to close) takes its place: its member name and data with it. */
START_TEST(reannounced_wait_takes_its_place)
{
    br_waiter *old = mk(0, "old-data", "a");
    old->ticket = 77;
    ck_assert_int_eq(arrive("rp", 2, old), 0);
    br_waiter *again = mk(1, "new-data", "a");
    again->ticket = 77;
    again->resume = 1;
    ck_assert_int_eq(arrive("rp", 2, again), 0); /* not refused as a taken name */
    ck_assert_int_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_FAIL); /* the old copy is told it was replaced */
    ck_assert_int_eq(recs[0].code, BP_ECONN);
    ck_assert_uint_eq(waiting("rp"), 1);
    /* Someone else still cannot take the name. */
    ck_assert_int_eq(arrive("rp", 2, mk(2, NULL, "a")), BP_EMEMBER);
    ck_assert_int_eq(arrive("rp", 2, mk(3, "b-data", "b")), 0);
    ck_assert_int_eq(recs[n_recs - 1].kind, BR_RELEASE);
    ck_assert_str_eq(recs[n_recs - 1].gathered, "[\"new-data\",\"b-data\"]");
}
END_TEST

/* A barrier restored from an HA mirror record gets its member list back. */
START_TEST(restore_members)
{
    ck_assert_int_eq(br_restore(reg, "h", 1, 3, 7, NULL, now), 0);
    ck_assert_int_eq(br_restore_members(reg, "h", 1, abc, 2), BP_EPARTIES); /* not parties */
    ck_assert_int_eq(br_restore_members(reg, "h", 1, "a\0b\0a", 3), BP_EINVAL);
    ck_assert_int_eq(br_restore_members(reg, "h", 1, abc, 3), 0);
    ck_assert_int_eq(br_restore_members(reg, "h", 1, abc, 3), BP_EPARTIES); /* has one */
    ck_assert_int_eq(br_restore_members(reg, "nope", 4, abc, 3), BP_ENOTFOUND);
    ck_assert_int_eq(arrive("h", 3, mk(0, NULL, "zed")), BP_EMEMBER);
    ck_assert_int_eq(arrive("h", 3, mk(1, NULL, "b")), 0);
    missing_buf[0] = '\0';
    ck_assert_uint_eq(br_barrier_missing(reg, br_find(reg, "h", 1), add_missing, NULL), 2);
    ck_assert_str_eq(missing_buf, "a,c,");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rendezvous");
    TCase *tc = tcase_create("gather");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, gather_in_arrival_order);
    tcase_add_test(tc, plain_release_carries_nothing);
    tcase_add_test(tc, action_result_delivered);
    tcase_add_test(tc, action_result_too_big_fails_the_action);
    suite_add_tcase(s, tc);
    tc = tcase_create("members");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, member_unique_in_generation);
    tcase_add_test(tc, member_unique_among_queued);
    tcase_add_test(tc, member_list_admits_only_members);
    tcase_add_test(tc, member_list_refused_creates_nothing);
    tcase_add_test(tc, member_list_adopted);
    tcase_add_test(tc, missing_members_named);
    tcase_add_test(tc, missing_bounded_in_messages);
    tcase_add_test(tc, restore_members);
    tcase_add_test(tc, reannounced_wait_takes_its_place);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, max_data_and_max_gather);
    tcase_add_test(tc, max_gather_counts_after_a_break);
    tcase_add_test(tc, max_gather_counts_escaped_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("wire");
    tcase_add_test(tc, decode_rendezvous_fields);
    tcase_add_test(tc, decode_rendezvous_errors);
    tcase_add_test(tc, release_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
