/* test_registry.c - unit tests of the barrier registry (server/br_registry.c).
 *
 * The registry is a state machine without I/O: these tests feed it events with a
 * hand-driven clock and record every outcome its sink receives. The recording
 * sink also enforces the ownership rule of br_registry.h: once an outcome names a
 * waiter (a run_action outcome aside), the registry must never touch it again, so
 * the sink poisons the waiter's memory after copying what it needs. A registry that
 * reads a released waiter then crashes or misbehaves visibly.
 *
 * The last test case is a seeded, bounded, deterministic random walk checked
 * against a small reference model of the semantics in docs/semantics.md.
 *
 * Regressions: arrivals during an action that fill whole generations by
 * themselves (once an unbounded recursion in join_pending), and releases of
 * barriers that never had a pending wait (once a memmove from NULL, fatal
 * under -fsanitize=undefined).
 */
#include "br_registry.h"

#include "bp_error.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check records a mark point (a syscall) for every passing ck_assert; the sink and
 * the model check far too often for that, so they use these, which only call into
 * Check on failure. */
#define REQUIRE(c)                                                                        \
    do {                                                                                  \
        if (!(c))                                                                         \
            ck_abort_msg("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #c);         \
    } while (0)
#define REQUIRE_MSG(c, ...)                                                               \
    do {                                                                                  \
        if (!(c))                                                                         \
            ck_abort_msg(__VA_ARGS__);                                                    \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Recording sink                                                            */
/* ------------------------------------------------------------------------ */

#define REC_MAXW 128
#define REC_MSG 4096

typedef struct rec {
    br_kind kind;
    uint64_t generation;
    char barrier[256];
    unsigned n;
    br_waiter *w[REC_MAXW];
    int code[REC_MAXW];        /* what that waiter is told (0 for release/run) */
    unsigned index[REC_MAXW];  /* its index, read before poisoning */
    int culprit;               /* position of the culprit in w[], or -1 */
    int has_message;
    size_t message_len;
    char message[REC_MSG];
} rec;

static rec *recs;
static size_t n_recs, cap_recs;
static int poison = 1; /* poison waiters once an outcome has released them */

static void rec_clear(void)
{
    n_recs = 0;
}

static void sink(void *ctx, const br_outcome *o)
{
    (void)ctx;
    REQUIRE(o != NULL);
    REQUIRE(o->barrier != NULL);
    REQUIRE(o->waiters != NULL);
    REQUIRE(o->n >= 1);
    REQUIRE(o->n <= REC_MAXW);
    REQUIRE(o->kind == BR_RELEASE || o->kind == BR_FAIL || o->kind == BR_RUN_ACTION);
    if (o->kind == BR_RUN_ACTION)
        REQUIRE(o->n == 1);
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? cap_recs * 2 : 16;
        recs = realloc(recs, cap_recs * sizeof *recs);
        REQUIRE(recs != NULL);
    }
    rec *r = &recs[n_recs++];
    r->kind = o->kind;
    r->generation = o->generation;
    br_info info;
    br_barrier_info(o->barrier, &info);
    REQUIRE(info.name_len < sizeof r->barrier);
    memcpy(r->barrier, info.name, info.name_len);
    r->barrier[info.name_len] = 0;
    r->n = o->n;
    r->culprit = -1;
    for (unsigned i = 0; i < o->n; i++) {
        br_waiter *w = o->waiters[i];
        REQUIRE(w != NULL);
        r->w[i] = w;
        r->index[i] = w->index;
        r->code[i] = 0;
        if (o->kind == BR_FAIL) {
            r->code[i] = o->code;
            if (o->culprit == w) {
                REQUIRE(r->culprit == -1);
                r->culprit = (int)i;
                r->code[i] = o->culprit_code;
            }
        }
        for (unsigned j = 0; j < i; j++)
            REQUIRE_MSG(r->w[j] != w, "an outcome names the same waiter twice");
    }
    if (o->kind == BR_FAIL) {
        REQUIRE_MSG(o->culprit == NULL || r->culprit >= 0, "culprit not among the waiters");
        REQUIRE(o->code != 0);
    }
    r->has_message = o->message != NULL;
    r->message_len = o->message ? strlen(o->message) : 0;
    snprintf(r->message, sizeof r->message, "%s", o->message ? o->message : "");
    if (o->kind == BR_FAIL)
        REQUIRE_MSG(r->has_message && r->message_len > 0, "a failure without a message");
    /* The registry may not touch these waiters after we return. */
    if (poison && o->kind != BR_RUN_ACTION)
        for (unsigned i = 0; i < o->n; i++)
            memset(o->waiters[i], 0xA5, sizeof *o->waiters[i]);
}

/* What the recorded outcomes say about one waiter. */
typedef struct got {
    int finals;        /* release or fail outcomes naming it */
    int runs;          /* run_action outcomes naming it */
    br_kind kind;      /* of the last final one */
    int code;
    unsigned index;
    uint64_t generation;
    const rec *r;
    int culprit;       /* it was the culprit */
} got;

static got outcome_of(const br_waiter *w)
{
    got g;
    memset(&g, 0, sizeof g);
    for (size_t k = 0; k < n_recs; k++) {
        const rec *r = &recs[k];
        for (unsigned i = 0; i < r->n; i++) {
            if (r->w[i] != w)
                continue;
            if (r->kind == BR_RUN_ACTION) {
                g.runs++;
                continue;
            }
            g.finals++;
            g.kind = r->kind;
            g.code = r->code[i];
            g.index = r->index[i];
            g.generation = r->generation;
            g.r = r;
            g.culprit = r->culprit == (int)i;
        }
    }
    return g;
}

#define expect_released(w, gen, idx) expect_released_((w), (gen), (idx), __LINE__)
static void expect_released_(const br_waiter *w, uint64_t gen, unsigned idx, int line)
{
    got g = outcome_of(w);
    ck_assert_msg(g.finals == 1, "line %d: %d final outcomes, want 1", line, g.finals);
    ck_assert_msg(g.kind == BR_RELEASE, "line %d: kind %d, want release", line, (int)g.kind);
    ck_assert_msg(g.generation == gen, "line %d: generation %llu, want %llu", line,
                  (unsigned long long)g.generation, (unsigned long long)gen);
    ck_assert_msg(g.index == idx, "line %d: index %u, want %u", line, g.index, idx);
}

#define expect_failed(w, code) expect_failed_((w), (code), __LINE__)
static const rec *expect_failed_(const br_waiter *w, int code, int line)
{
    got g = outcome_of(w);
    ck_assert_msg(g.finals == 1, "line %d: %d final outcomes, want 1", line, g.finals);
    ck_assert_msg(g.kind == BR_FAIL, "line %d: kind %d, want fail", line, (int)g.kind);
    ck_assert_msg(g.code == code, "line %d: code %d (%s), want %d (%s)", line, g.code,
                  bp_err_name(g.code), code, bp_err_name(code));
    return g.r;
}

#define expect_untold(w) expect_untold_((w), __LINE__)
static void expect_untold_(const br_waiter *w, int line)
{
    got g = outcome_of(w);
    ck_assert_msg(g.finals == 0, "line %d: waiter was told %d times, want 0", line, g.finals);
}

#define expect_contains(hay, needle) expect_contains_((hay), (needle), __LINE__)
static void expect_contains_(const char *hay, const char *needle, int line)
{
    ck_assert_msg(hay && strstr(hay, needle), "line %d: \"%s\" does not contain \"%s\"", line,
                  hay ? hay : "(null)", needle);
}

/* ------------------------------------------------------------------------ */
/* Fixture and small helpers                                                 */
/* ------------------------------------------------------------------------ */

#define NW 256

static br_registry *R;
static char MSG[1024];
static char OWN[NW]; /* owner tags: W[i].owner == &OWN[i] */
static br_waiter W[NW];

static void setup(void)
{
    R = br_new(0, sink, NULL);
    ck_assert_ptr_nonnull(R);
    rec_clear();
    poison = 1;
    memset(W, 0, sizeof W);
}

static void teardown(void)
{
    br_free(R);
    R = NULL;
    free(recs);
    recs = NULL;
    n_recs = cap_recs = 0;
}

static br_waiter *mkw(int i, int64_t deadline, int action, const char *client, const char *peer)
{
    br_waiter *w = &W[i];
    memset(w, 0, sizeof *w);
    w->owner = &OWN[i];
    w->has_id = 1;
    w->id = (uint64_t)i;
    w->deadline_ms = deadline;
    w->action = action;
    w->client = client ? client : "";
    w->peer = peer ? peer : "";
    return w;
}

static int arrive_w(const char *name, unsigned parties, br_waiter *w, int64_t now)
{
    MSG[0] = 0;
    return br_arrive(R, name, strlen(name), parties, w, now, MSG, sizeof MSG);
}

/* Waiter i arrives at name without timeout nor action; it must be accepted. */
static br_waiter *join(int i, const char *name, unsigned parties, int64_t now)
{
    br_waiter *w = mkw(i, -1, 0, NULL, NULL);
    int rc = arrive_w(name, parties, w, now);
    ck_assert_msg(rc == 0, "arrive %d at %s: %d (%s)", i, name, rc, MSG);
    return w;
}

static int abort_b(const char *name, const char *by, int64_t now)
{
    return br_abort(R, name, strlen(name), by, now);
}

static int reset_b(const char *name, const char *by, int64_t now)
{
    return br_reset(R, name, strlen(name), by, now);
}

static int done_b(const char *name, uint64_t gen, int success, const void *owner, int64_t now)
{
    MSG[0] = 0;
    return br_action_done(R, name, strlen(name), gen, success, owner, now, MSG, sizeof MSG);
}

static br_info info_of(const char *name)
{
    const br_barrier *b = br_find(R, name, strlen(name));
    ck_assert_msg(b != NULL, "barrier %s not found", name);
    br_info i;
    br_barrier_info(b, &i);
    return i;
}

static br_stats stats(void)
{
    br_stats s;
    br_get_stats(R, &s);
    return s;
}

static void leave_w(br_waiter *w, const char *why, int64_t now)
{
    br_leave(R, w, why, now);
    /* br_leave returned: the registry no longer holds w. */
    if (poison)
        memset(w, 0xA5, sizeof *w);
}

/* ------------------------------------------------------------------------ */
/* Release, indexes, generations                                             */
/* ------------------------------------------------------------------------ */

static const unsigned release_parties[] = {1, 2, 3, 5, 16, 100};

START_TEST(release_n_parties)
{
    unsigned n = release_parties[_i];
    for (unsigned k = 0; k < n; k++) {
        join((int)k, "b", n, 10 + k);
        if (k + 1 < n) {
            ck_assert_uint_eq(n_recs, 0);
            br_info i = info_of("b");
            ck_assert_uint_eq(i.n_waiting, k + 1);
            ck_assert_int_eq(i.state, BR_FILLING);
            unsigned nw;
            br_waiter *const *ws = br_barrier_waiters(br_find(R, "b", 1), &nw);
            ck_assert_uint_eq(nw, k + 1);
            for (unsigned j = 0; j < nw; j++) {
                ck_assert_ptr_eq(ws[j], &W[j]);
                ck_assert_uint_eq(ws[j]->index, j);
            }
        }
    }
    /* One release outcome, naming everyone at once. */
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    ck_assert_uint_eq(recs[0].generation, 0);
    ck_assert_uint_eq(recs[0].n, n);
    ck_assert_str_eq(recs[0].barrier, "b");
    for (unsigned k = 0; k < n; k++)
        expect_released(&W[k], 0, k); /* arrival order; the last gets n-1 */
    br_info i = info_of("b");
    ck_assert_uint_eq(i.n_waiting, 0);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_int_eq(i.state, BR_FILLING);
    br_stats s = stats();
    ck_assert_uint_eq(s.waits, n);
    ck_assert_uint_eq(s.releases, 1);
    ck_assert_uint_eq(s.waiting, 0);
    ck_assert_uint_eq(s.breaks, 0);
}
END_TEST

START_TEST(cyclic_many_generations)
{
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const unsigned gens = 1000;
    for (unsigned g = 0; g < gens; g++) {
        rec_clear();
        const int *ord = orders[g % 6];
        for (int j = 0; j < 3; j++) {
            /* The same three waiter records are reused each generation, as a client
             * looping on bc_wait would; a deadline far away must never matter. */
            br_waiter *w = mkw(ord[j], (g % 2) ? -1 : (int64_t)g + 1000000, 0, "c", "p");
            ck_assert_int_eq(arrive_w("cyc", 3, w, (int64_t)g), 0);
            ck_assert_uint_eq(n_recs, j == 2 ? 1 : 0);
        }
        br_expire(R, (int64_t)g);
        ck_assert_uint_eq(n_recs, 1);
        ck_assert_uint_eq(recs[0].generation, g); /* 0, 1, 2, ... without a gap */
        unsigned seen = 0;
        for (unsigned k = 0; k < recs[0].n; k++)
            seen |= 1u << recs[0].index[k];
        ck_assert_uint_eq(seen, 7); /* distinct indexes 0, 1, 2 */
        for (int j = 0; j < 3; j++)
            expect_released(&W[ord[j]], g, (unsigned)j);
        ck_assert_int_eq(br_next_deadline(R), -1);
    }
    br_info i = info_of("cyc");
    ck_assert_uint_eq(i.generation, gens);
    br_stats s = stats();
    ck_assert_uint_eq(s.releases, gens);
    ck_assert_uint_eq(s.waits, 3 * gens);
    ck_assert_uint_eq(s.waiting, 0);
    ck_assert_uint_eq(s.barriers, 1);
}
END_TEST

START_TEST(single_party_releases_at_once)
{
    for (unsigned g = 0; g < 5; g++) {
        rec_clear();
        br_waiter *w = mkw(0, 50, 0, NULL, NULL); /* a deadline, even one already due */
        ck_assert_int_eq(arrive_w("solo", 1, w, 100), 0);
        ck_assert_uint_eq(n_recs, 1);
        expect_released(w, g, 0);
    }
    br_expire(R, 1000);
    ck_assert_uint_eq(n_recs, 1);
}
END_TEST

START_TEST(barriers_are_independent)
{
    join(0, "x", 2, 0);
    join(1, "y", 2, 0);
    join(2, "x", 2, 0); /* releases x only */
    ck_assert_uint_eq(n_recs, 1);
    expect_released(&W[0], 0, 0);
    expect_released(&W[2], 0, 1);
    expect_untold(&W[1]);
    ck_assert_uint_eq(info_of("y").n_waiting, 1);
    ck_assert_uint_eq(info_of("y").generation, 0);
    ck_assert_int_eq(abort_b("x", "ctl", 1), 0);
    expect_untold(&W[1]);
    ck_assert_int_eq(info_of("y").state, BR_FILLING);
    join(3, "y", 2, 2);
    expect_released(&W[1], 0, 0);
    expect_released(&W[3], 0, 1);
}
END_TEST

START_TEST(names_are_length_delimited)
{
    /* Names are (pointer, length), not C strings: a longer buffer, embedded NULs. */
    const char buf[] = "barrier-long";
    br_waiter *a = mkw(0, -1, 0, NULL, NULL);
    ck_assert_int_eq(br_arrive(R, buf, 7, 2, a, 0, MSG, sizeof MSG), 0);
    const br_barrier *b = br_find(R, "barrier", 7);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(br_find(R, buf, sizeof buf - 1));
    ck_assert_ptr_null(br_find(R, "barrie", 6));
    br_info i;
    br_barrier_info(b, &i);
    ck_assert_uint_eq(i.name_len, 7);
    ck_assert_str_eq(i.name, "barrier"); /* NUL-terminated copy */

    br_waiter *c = mkw(1, -1, 0, NULL, NULL);
    br_waiter *d = mkw(2, -1, 0, NULL, NULL);
    ck_assert_int_eq(br_arrive(R, "a\0b", 3, 2, c, 0, MSG, sizeof MSG), 0);
    ck_assert_int_eq(br_arrive(R, "a\0c", 3, 3, d, 0, MSG, sizeof MSG), 0); /* other barrier */
    ck_assert_ptr_null(br_find(R, "a", 1));
    ck_assert_uint_eq(stats().barriers, 3);
    ck_assert_int_eq(br_reset(R, "a\0b", 3, "t", 0), 0);
    expect_failed(c, BP_EBROKEN);
    expect_untold(d);
    expect_untold(a);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Parties mismatch, unknown names, limits                                   */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned first, asked;
} mismatch_cases[] = {
    {"fewer", 3, 2}, {"more", 3, 4}, {"one_then_two", 1, 2}, {"two_then_one", 2, 1},
    {"huge", 4, 100000},
};

START_TEST(parties_mismatch_refused)
{
    const char *cn = mismatch_cases[_i].name;
    unsigned first = mismatch_cases[_i].first, asked = mismatch_cases[_i].asked;
    join(0, "m", first, 0);
    size_t recs_before = n_recs;
    br_info before = info_of("m");
    br_stats sb = stats();

    br_waiter *bad = mkw(1, 10, 1, "bad", NULL);
    ck_assert_msg(arrive_w("m", asked, bad, 1) == BP_EPARTIES, "%s", cn);
    char want[64];
    snprintf(want, sizeof want, "%u", first);
    expect_contains(MSG, want);
    expect_contains(MSG, "m");
    ck_assert_uint_eq(n_recs, recs_before); /* no outcome */
    br_info after = info_of("m");
    ck_assert_uint_eq(after.n_waiting, before.n_waiting);
    ck_assert_uint_eq(after.parties, first);
    ck_assert_uint_eq(after.generation, before.generation);
    br_stats sa = stats();
    ck_assert_uint_eq(sa.waits, sb.waits);
    ck_assert_uint_eq(sa.waiting, sb.waiting);
    ck_assert_int_eq(br_next_deadline(R), -1); /* its deadline was not taken */

    /* The refused wait took no index: the others still fill 0..first-1. */
    if (first == 1) {
        expect_released(&W[0], 0, 0);
        join(2, "m", 1, 2);
        expect_released(&W[2], 1, 0);
    } else {
        for (unsigned k = 1; k < first; k++)
            join(2 + (int)k, "m", first, 2);
        expect_released(&W[0], 0, 0);
        for (unsigned k = 1; k < first; k++)
            expect_released(&W[2 + k], 0, k);
    }
    expect_untold(bad);
}
END_TEST

START_TEST(parties_mismatch_while_running_and_broken)
{
    join(0, "r", 2, 0);
    br_waiter *runner = mkw(1, -1, 1, NULL, NULL);
    ck_assert_int_eq(arrive_w("r", 2, runner, 0), 0);
    ck_assert_int_eq(arrive_w("r", 3, mkw(2, -1, 0, NULL, NULL), 0), BP_EPARTIES);
    ck_assert_uint_eq(info_of("r").n_pending, 0);
    ck_assert_int_eq(done_b("r", 0, 1, runner->owner, 1), 0);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    ck_assert_int_eq(abort_b("r", "x", 2), 0);
    int rc = arrive_w("r", 5, mkw(3, -1, 0, NULL, NULL), 3);
    ck_assert(rc == BP_EPARTIES || rc == BP_EBROKEN);
    ck_assert_uint_eq(stats().waiting, 0);
}
END_TEST

enum { NF_ABORT, NF_RESET, NF_ACTION_DONE, NF_OPS };
static const char *const nf_names[] = {"c", "bb", "B", "b ", "", "a-very-long-name-not-there"};

START_TEST(unknown_name_notfound)
{
    int op = _i % NF_OPS;
    const char *name = nf_names[_i / NF_OPS];
    join(0, "b", 2, 0); /* an unrelated barrier exists */
    br_stats sb = stats();
    int rc;
    switch (op) {
    case NF_ABORT:
        rc = abort_b(name, "ctl", 1);
        break;
    case NF_RESET:
        rc = reset_b(name, "ctl", 1);
        break;
    default:
        rc = done_b(name, 0, 1, &OWN[0], 1);
        break;
    }
    ck_assert_msg(rc == BP_ENOTFOUND, "op %d on '%s': %d", op, name, rc);
    ck_assert_uint_eq(n_recs, 0);
    ck_assert_ptr_null(br_find(R, name, strlen(name)));
    br_stats sa = stats();
    ck_assert_uint_eq(sa.barriers, sb.barriers); /* nothing created */
    ck_assert_uint_eq(sa.breaks, 0);
    br_info i = info_of("b");
    ck_assert_uint_eq(i.n_waiting, 1);
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 0);
}
END_TEST

START_TEST(max_barriers_limit)
{
    br_free(R);
    R = br_new(2, sink, NULL);
    ck_assert_ptr_nonnull(R);
    join(0, "a", 2, 0);
    join(1, "b", 1, 0); /* released; b exists, empty */
    br_waiter *c = mkw(2, 5, 0, NULL, NULL);
    ck_assert_int_eq(arrive_w("c", 2, c, 0), BP_ELIMIT);
    ck_assert(MSG[0] != 0);
    ck_assert_ptr_null(br_find(R, "c", 1));
    ck_assert_int_eq(br_next_deadline(R), -1);
    br_stats s = stats();
    ck_assert_uint_eq(s.barriers, 2);
    ck_assert_uint_eq(s.waits, 2);
    ck_assert_uint_eq(s.waiting, 1);
    /* Existing barriers still work at the limit. */
    join(3, "a", 2, 1);
    expect_released(&W[0], 0, 0);
    expect_released(&W[3], 0, 1);
    join(4, "b", 1, 1);
    ck_assert_int_eq(arrive_w("c", 2, mkw(5, -1, 0, NULL, NULL), 1), BP_ELIMIT);
    /* Reclaiming frees room. */
    ck_assert_uint_eq(br_sweep_idle(R, 1, 0), 2);
    join(6, "c", 2, 2);
    join(7, "d", 2, 2);
    ck_assert_int_eq(arrive_w("e", 2, mkw(8, -1, 0, NULL, NULL), 2), BP_ELIMIT);
    ck_assert_uint_eq(stats().barriers, 2);
}
END_TEST

START_TEST(no_limit_many_barriers)
{
    const int nb = 5000;
    char name[32];
    br_waiter *ws = calloc(2 * nb, sizeof *ws);
    ck_assert_ptr_nonnull(ws);
    for (int i = 0; i < nb; i++) {
        snprintf(name, sizeof name, "bar-%d", i);
        ws[i].deadline_ms = -1;
        ws[i].client = ws[i].peer = "";
        ck_assert_int_eq(arrive_w(name, 2, &ws[i], 0), 0);
    }
    ck_assert_uint_eq(stats().barriers, (size_t)nb);
    ck_assert_uint_eq(stats().waiting, (size_t)nb);
    for (int i = 0; i < nb; i++) {
        snprintf(name, sizeof name, "bar-%d", i);
        br_info inf = info_of(name);
        ck_assert_str_eq(inf.name, name);
        ck_assert_uint_eq(inf.n_waiting, 1);
    }
    for (int i = nb - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "bar-%d", i);
        ws[nb + i].deadline_ms = -1;
        ws[nb + i].client = ws[nb + i].peer = "";
        ck_assert_int_eq(arrive_w(name, 2, &ws[nb + i], 1), 0);
    }
    ck_assert_uint_eq(n_recs, (size_t)nb);
    for (int i = 0; i < nb; i++) {
        expect_released(&ws[i], 0, 0);
        expect_released(&ws[nb + i], 0, 1);
    }
    ck_assert_uint_eq(br_sweep_idle(R, 2, 1), (size_t)nb);
    ck_assert_uint_eq(stats().barriers, 0);
    ck_assert_ptr_null(br_find(R, "bar-17", 6));
    free(ws);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Actions                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(action_last_arriver_runs_then_releases)
{
    join(0, "act", 3, 0);
    join(1, "act", 3, 1);
    br_waiter *run = mkw(2, 50, 1, "runner", NULL);
    ck_assert_int_eq(arrive_w("act", 3, run, 2), 0);
    /* Only a run_action outcome, to the last arriver; nobody released yet. */
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
    ck_assert_ptr_eq(recs[0].w[0], run);
    ck_assert_uint_eq(recs[0].generation, 0);
    ck_assert_uint_eq(recs[0].index[0], 2);
    ck_assert_int_eq(info_of("act").state, BR_RUNNING_ACTION);
    ck_assert_uint_eq(info_of("act").n_waiting, 3);
    ck_assert_str_eq(br_state_name(info_of("act").state), "running_action");
    ck_assert_uint_eq(stats().waiting, 3);
    ck_assert_uint_eq(stats().releases, 0);
    expect_untold(&W[0]);
    expect_untold(&W[1]);
    expect_untold(run);

    ck_assert_int_eq(done_b("act", 0, 1, &OWN[2], 10), 0);
    ck_assert_uint_eq(n_recs, 2);
    ck_assert_int_eq(recs[1].kind, BR_RELEASE);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    expect_released(&W[2], 0, 2); /* the runner too */
    br_info i = info_of("act");
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_uint_eq(i.n_waiting, 0);
    ck_assert_uint_eq(stats().releases, 1);
    ck_assert_uint_eq(stats().waiting, 0);
    /* Usable for the next generation. */
    join(3, "act", 3, 11);
    join(4, "act", 3, 11);
    join(5, "act", 3, 11);
    expect_released(&W[5], 1, 2);
}
END_TEST

START_TEST(action_only_of_last_arriver)
{
    ck_assert_int_eq(arrive_w("a", 3, mkw(0, -1, 1, NULL, NULL), 0), 0);
    ck_assert_int_eq(arrive_w("a", 3, mkw(1, -1, 1, NULL, NULL), 0), 0);
    ck_assert_int_eq(arrive_w("a", 3, mkw(2, -1, 0, NULL, NULL), 0), 0);
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    expect_released(&W[0], 0, 0);
    expect_released(&W[2], 0, 2);
}
END_TEST

START_TEST(action_single_party)
{
    br_waiter *w = mkw(0, 5, 1, NULL, NULL);
    ck_assert_int_eq(arrive_w("one", 1, w, 10), 0);
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
    br_expire(R, 100); /* its past deadline does not fire during the action */
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_int_eq(done_b("one", 0, 1, &OWN[0], 100), 0);
    expect_released(w, 0, 0);
    ck_assert_uint_eq(info_of("one").generation, 1);
}
END_TEST

START_TEST(action_failure_breaks)
{
    join(0, "f", 3, 0);
    join(1, "f", 3, 0);
    br_waiter *run = mkw(2, -1, 1, "runner", "10.9.9.9:99");
    ck_assert_int_eq(arrive_w("f", 3, run, 0), 0);
    ck_assert_int_eq(done_b("f", 0, 0, &OWN[2], 5), 0);
    ck_assert_uint_eq(n_recs, 2);
    const rec *r = expect_failed(run, BP_EACTION); /* the runner is the culprit */
    ck_assert_int_ge(r->culprit, 0);
    ck_assert_ptr_eq(r->w[r->culprit], run);
    expect_failed(&W[0], BP_EBROKEN);
    expect_failed(&W[1], BP_EBROKEN);
    expect_contains(r->message, "action");
    expect_contains(r->message, "runner");
    br_info i = info_of("f");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_uint_eq(i.generation, 0);
    expect_contains(i.reason, "action");
    ck_assert_uint_eq(stats().breaks, 1);
    ck_assert_uint_eq(stats().releases, 0);
    ck_assert_uint_eq(stats().waiting, 0);
    /* Broken until reset. */
    ck_assert_int_eq(arrive_w("f", 3, mkw(3, -1, 0, NULL, NULL), 6), BP_EBROKEN);
    expect_contains(MSG, "action");
    ck_assert_int_eq(reset_b("f", "ctl", 7), 0);
    ck_assert_uint_eq(info_of("f").generation, 1);
    join(4, "f", 3, 8);
    join(5, "f", 3, 8);
    join(6, "f", 3, 8);
    expect_released(&W[6], 1, 2);
}
END_TEST

enum {
    AD_WRONG_OWNER,
    AD_NULL_OWNER,
    AD_NEXT_GENERATION,
    AD_PREV_GENERATION,
    AD_HUGE_GENERATION,
    AD_NOT_RUNNING,
    AD_BROKEN,
    AD_TWICE,
    AD_AFTER_RESET,
    AD_CASES
};
static const char *const ad_names[] = {"wrong_owner", "null_owner",  "next_generation",
                                       "prev_generation", "huge_generation", "not_running",
                                       "broken", "twice", "after_reset"};

START_TEST(action_done_invalid)
{
    const char *cn = ad_names[_i];
    /* Two plain generations first, so the action runs in generation 2. */
    for (int g = 0; g < 2; g++)
        for (int k = 0; k < 3; k++)
            join(10 + k, "ad", 3, 0);
    ck_assert_uint_eq(info_of("ad").generation, 2);
    rec_clear();
    join(0, "ad", 3, 1);
    if (_i == AD_NOT_RUNNING) {
        ck_assert_int_eq(done_b("ad", 2, 1, &OWN[0], 2), BP_EINVAL);
        ck_assert(MSG[0] != 0);
        ck_assert_uint_eq(n_recs, 0);
        ck_assert_int_eq(info_of("ad").state, BR_FILLING);
        return;
    }
    join(1, "ad", 3, 1);
    ck_assert_int_eq(arrive_w("ad", 3, mkw(2, -1, 1, NULL, NULL), 1), 0);
    ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
    ck_assert_uint_eq(recs[0].generation, 2);
    size_t nr = n_recs;
    const void *owner = &OWN[2];
    uint64_t gen = 2;
    int good_after = 1; /* the right action_done still works afterwards */
    switch (_i) {
    case AD_WRONG_OWNER:
        owner = &OWN[0];
        break;
    case AD_NULL_OWNER:
        owner = NULL;
        break;
    case AD_NEXT_GENERATION:
        gen = 3;
        break;
    case AD_PREV_GENERATION:
        gen = 1;
        break;
    case AD_HUGE_GENERATION:
        gen = UINT64_MAX;
        break;
    case AD_BROKEN:
        ck_assert_int_eq(abort_b("ad", "ctl", 2), 0);
        nr = n_recs;
        good_after = 0;
        break;
    case AD_TWICE:
        ck_assert_int_eq(done_b("ad", 2, 1, owner, 2), 0);
        nr = n_recs;
        good_after = 0;
        break;
    case AD_AFTER_RESET:
        ck_assert_int_eq(reset_b("ad", "ctl", 2), 0);
        nr = n_recs;
        good_after = 0;
        break;
    }
    br_info before = info_of("ad");
    ck_assert_msg(done_b("ad", gen, 1, owner, 3) == BP_EINVAL, "%s", cn);
    ck_assert(MSG[0] != 0);
    ck_assert_msg(n_recs == nr, "%s: an invalid action_done emitted outcomes", cn);
    br_info after = info_of("ad");
    ck_assert_int_eq(after.state, before.state);
    ck_assert_uint_eq(after.generation, before.generation);
    ck_assert_uint_eq(after.n_waiting, before.n_waiting);
    /* A failure report that does not match breaks nothing either. */
    ck_assert_int_eq(done_b("ad", gen, 0, owner, 3), BP_EINVAL);
    ck_assert_uint_eq(n_recs, nr);
    if (good_after) {
        ck_assert_int_eq(done_b("ad", 2, 1, &OWN[2], 4), 0);
        expect_released(&W[0], 2, 0);
        expect_released(&W[2], 2, 2);
    }
}
END_TEST

START_TEST(action_waits_during_action_join_next_generation)
{
    join(0, "p", 3, 0);
    join(1, "p", 3, 0);
    ck_assert_int_eq(arrive_w("p", 3, mkw(2, -1, 1, NULL, NULL), 0), 0);
    br_waiter *d = mkw(3, -1, 0, "d", NULL);
    br_waiter *e = mkw(4, -1, 0, "e", NULL);
    ck_assert_int_eq(arrive_w("p", 3, d, 1), 0);
    ck_assert_int_eq(arrive_w("p", 3, e, 2), 0);
    ck_assert_uint_eq(n_recs, 1); /* just the run_action */
    br_info i = info_of("p");
    ck_assert_uint_eq(i.n_waiting, 3);
    ck_assert_uint_eq(i.n_pending, 2);
    ck_assert_int_eq(i.state, BR_RUNNING_ACTION);
    ck_assert_uint_eq(stats().waiting, 5);
    ck_assert_uint_eq(stats().waits, 5);
    ck_assert_int_eq(done_b("p", 0, 1, &OWN[2], 3), 0);
    ck_assert_uint_eq(n_recs, 2);
    ck_assert_uint_eq(recs[1].n, 3); /* only generation 0 */
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    expect_released(&W[2], 0, 2);
    expect_untold(d);
    expect_untold(e);
    i = info_of("p");
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_uint_eq(i.n_waiting, 2); /* d and e are generation 1's first two */
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_int_eq(i.state, BR_FILLING);
    unsigned nw;
    br_waiter *const *ws = br_barrier_waiters(br_find(R, "p", 1), &nw);
    ck_assert_uint_eq(nw, 2);
    ck_assert_ptr_eq(ws[0], d);
    ck_assert_ptr_eq(ws[1], e);
    ck_assert_uint_eq(stats().waiting, 2);
    join(5, "p", 3, 4);
    expect_released(d, 1, 0); /* indexes from 0 in the new generation */
    expect_released(e, 1, 1);
    expect_released(&W[5], 1, 2);
    ck_assert_uint_eq(info_of("p").generation, 2);
}
END_TEST

START_TEST(action_pending_starts_next_action)
{
    /* The pending arrivals fill generation 1 and its last has an action: it runs
     * next; a wait arriving during that action joins generation 2. */
    join(0, "q", 2, 0);
    ck_assert_int_eq(arrive_w("q", 2, mkw(1, -1, 1, NULL, NULL), 0), 0);
    join(2, "q", 2, 1);
    ck_assert_int_eq(arrive_w("q", 2, mkw(3, -1, 1, NULL, NULL), 1), 0);
    ck_assert_uint_eq(info_of("q").n_pending, 2);
    rec_clear();
    ck_assert_int_eq(done_b("q", 0, 1, &OWN[1], 2), 0);
    ck_assert_uint_eq(n_recs, 2);
    ck_assert_int_eq(recs[0].kind, BR_RELEASE);
    ck_assert_int_eq(recs[1].kind, BR_RUN_ACTION);
    ck_assert_ptr_eq(recs[1].w[0], &W[3]);
    ck_assert_uint_eq(recs[1].generation, 1);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    br_info i = info_of("q");
    ck_assert_int_eq(i.state, BR_RUNNING_ACTION);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_uint_eq(i.n_waiting, 2);
    ck_assert_uint_eq(i.n_pending, 0);
    /* The old runner cannot finish the new action. */
    ck_assert_int_eq(done_b("q", 1, 1, &OWN[1], 3), BP_EINVAL);
    join(4, "q", 2, 3);
    ck_assert_uint_eq(info_of("q").n_pending, 1);
    ck_assert_int_eq(done_b("q", 1, 1, &OWN[3], 4), 0);
    expect_released(&W[2], 1, 0);
    expect_released(&W[3], 1, 1);
    expect_untold(&W[4]);
    i = info_of("q");
    ck_assert_uint_eq(i.generation, 2);
    ck_assert_uint_eq(i.n_waiting, 1);
    ck_assert_uint_eq(i.n_pending, 0);
    join(5, "q", 2, 5);
    expect_released(&W[4], 2, 0);
    expect_released(&W[5], 2, 1);
}
END_TEST

/* Pending waits that complete a generation by themselves (the last of them
 * without an action). Sequence (parties 2):
 *   arrive A; arrive B(action)          -> run_action(B, gen 0)
 *   arrive C; arrive D; arrive E        -> all pending
 *   action_done(gen 0, success, B)
 * Expected: release A,B (gen 0, indexes 0,1); release C,D (gen 1, indexes 0,1);
 *   E waits in generation 2 with index 0; state filling. Same with parties 1:
 *   arrive A(action), arrive C (pending), action_done -> release A gen 0, release C
 *   gen 1, generation 2, nobody waiting. (Regression: join_pending once re-added
 *   already released waiters and recursed without bound.)
 */
START_TEST(pending_fill_generation_releases)
{
    join(0, "pf", 2, 0);
    ck_assert_int_eq(arrive_w("pf", 2, mkw(1, -1, 1, NULL, NULL), 0), 0);
    join(2, "pf", 2, 1);
    join(3, "pf", 2, 1);
    join(4, "pf", 2, 1); /* a fifth, for generation 2 */
    ck_assert_int_eq(done_b("pf", 0, 1, &OWN[1], 2), 0);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    expect_released(&W[2], 1, 0);
    expect_released(&W[3], 1, 1);
    expect_untold(&W[4]);
    ck_assert_uint_eq(n_recs, 3); /* run_action, release gen 0, release gen 1 */
    br_info i = info_of("pf");
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 2);
    ck_assert_uint_eq(i.n_waiting, 1);
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_uint_eq(stats().waiting, 1);
}
END_TEST

/* A seeded name hash still finds every barrier, and a seed given once barriers
 * exist is ignored rather than losing them. */
START_TEST(hash_seed)
{
    br_set_hash_seed(R, 0x9e3779b9u);
    char name[16];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "s%d", i);
        join(i, name, 2, 0);
    }
    br_set_hash_seed(R, 12345u);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "s%d", i);
        ck_assert_msg(br_find(R, name, strlen(name)) != NULL, "%s lost", name);
        ck_assert_uint_eq(info_of(name).n_waiting, 1);
    }
}
END_TEST

/* The queue behind a running action is bounded: a flood of waits cannot grow
 * memory without limit, and draining the queue is linear, not quadratic. */
static br_waiter FLOOD[BR_PENDING_MIN + 2];

START_TEST(pending_queue_bounded)
{
    ck_assert_int_eq(arrive_w("fl", 1, mkw(0, -1, 1, NULL, NULL), 0), 0);
    for (unsigned i = 0; i <= BR_PENDING_MIN; i++) {
        br_waiter *w = &FLOOD[i];
        memset(w, 0, sizeof *w);
        w->owner = &OWN[1];
        w->has_id = 1;
        w->id = 1000 + i;
        w->deadline_ms = -1;
        w->client = "";
        w->peer = "";
        int rc = arrive_w("fl", 1, w, 1);
        if (i < BR_PENDING_MIN)
            ck_assert_msg(rc == 0, "pending wait %u refused: %d (%s)", i, rc, MSG);
        else
            ck_assert_msg(rc == BP_ELIMIT && strstr(MSG, "queued"), "wait %u: %d (%s)", i, rc, MSG);
    }
    ck_assert_uint_eq(info_of("fl").n_pending, BR_PENDING_MIN);
    ck_assert_int_eq(done_b("fl", 0, 1, &OWN[0], 2), 0);
    /* Each queued wait is a generation of one, released in arrival order. */
    ck_assert_uint_eq(info_of("fl").generation, 1 + BR_PENDING_MIN);
    ck_assert_uint_eq(info_of("fl").n_pending, 0);
    ck_assert_uint_eq(stats().waiting, 0);
}
END_TEST

START_TEST(pending_fill_single_party)
{
    ck_assert_int_eq(arrive_w("one", 1, mkw(0, -1, 1, NULL, NULL), 0), 0);
    join(1, "one", 1, 1);
    ck_assert_int_eq(done_b("one", 0, 1, &OWN[0], 2), 0);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 1, 0);
    ck_assert_uint_eq(n_recs, 3); /* run_action, release gen 0, release gen 1 */
    ck_assert_int_eq(info_of("one").state, BR_FILLING);
    ck_assert_uint_eq(info_of("one").n_waiting, 0);
    ck_assert_uint_eq(info_of("one").generation, 2);
    ck_assert_uint_eq(stats().waiting, 0);
}
END_TEST

START_TEST(action_deadlines_do_not_fire)
{
    ck_assert_int_eq(arrive_w("t", 3, mkw(0, 100, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(arrive_w("t", 3, mkw(1, 50, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(br_next_deadline(R), 50);
    ck_assert_int_eq(arrive_w("t", 3, mkw(2, 70, 1, NULL, NULL), 10), 0);
    ck_assert_int_eq(br_next_deadline(R), -1); /* nothing can fire while it runs */
    /* A wait arriving during the action: its timeout does not run yet either. */
    ck_assert_int_eq(arrive_w("t", 3, mkw(3, 400, 0, NULL, NULL), 20), 0);
    ck_assert_int_eq(br_next_deadline(R), -1);
    br_expire(R, 1000);
    br_expire(R, 300);
    ck_assert_uint_eq(n_recs, 1); /* the run_action only */
    ck_assert_int_eq(info_of("t").state, BR_RUNNING_ACTION);
    ck_assert_int_eq(done_b("t", 0, 1, &OWN[2], 300), 0);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    expect_released(&W[2], 0, 2);
    /* The pending wait joined generation 1 with its own deadline. */
    ck_assert_int_eq(br_next_deadline(R), 400);
    br_expire(R, 399);
    expect_untold(&W[3]);
    br_expire(R, 400);
    expect_failed(&W[3], BP_ETIMEDOUT);
}
END_TEST

START_TEST(action_runner_leaves)
{
    join(0, "rl", 3, 0);
    join(1, "rl", 3, 0);
    br_waiter *run = mkw(2, -1, 1, "runner-client", "10.0.0.3:3333");
    ck_assert_int_eq(arrive_w("rl", 3, run, 0), 0);
    br_waiter *pend = mkw(3, -1, 0, NULL, NULL);
    ck_assert_int_eq(arrive_w("rl", 3, pend, 1), 0);
    rec_clear();
    leave_w(run, "disconnected", 5);
    expect_untold(run);
    const rec *r = expect_failed(&W[0], BP_EBROKEN);
    expect_failed(&W[1], BP_EBROKEN);
    expect_failed(pend, BP_EBROKEN); /* the barrier broke: the pending wait fails too */
    ck_assert_int_eq(r->culprit, -1);
    expect_contains(r->message, "runner-client");
    expect_contains(r->message, "disconnected");
    br_info i = info_of("rl");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_uint_eq(i.n_waiting, 0);
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_uint_eq(stats().waiting, 0);
    ck_assert_uint_eq(stats().breaks, 1);
    /* A late action_done from that connection matches nothing. */
    size_t nr = n_recs;
    ck_assert_int_eq(done_b("rl", 0, 1, &OWN[2], 6), BP_EINVAL);
    ck_assert_uint_eq(n_recs, nr);
}
END_TEST

START_TEST(action_other_party_leaves)
{
    /* A party (not the runner) disconnecting during the action: the party is lost,
     * the barrier breaks (the runner's wait too); its action_done is then refused. */
    br_waiter *a = mkw(0, -1, 0, "alpha", NULL);
    ck_assert_int_eq(arrive_w("ol", 2, a, 0), 0);
    ck_assert_int_eq(arrive_w("ol", 2, mkw(1, -1, 1, NULL, NULL), 0), 0);
    rec_clear();
    leave_w(a, "disconnected", 1);
    expect_untold(a);
    const rec *r = expect_failed(&W[1], BP_EBROKEN);
    expect_contains(r->message, "alpha");
    ck_assert_int_eq(info_of("ol").state, BR_BROKEN);
    ck_assert_int_eq(done_b("ol", 0, 1, &OWN[1], 2), BP_EINVAL);
    ck_assert_uint_eq(stats().waiting, 0);
}
END_TEST

START_TEST(action_pending_leaves)
{
    join(0, "pl", 2, 0);
    ck_assert_int_eq(arrive_w("pl", 2, mkw(1, -1, 1, NULL, NULL), 0), 0);
    join(2, "pl", 2, 1); /* pending */
    join(3, "pl", 2, 1); /* pending */
    ck_assert_uint_eq(stats().waiting, 4);
    rec_clear();
    leave_w(&W[2], "disconnected", 2); /* not part of any generation yet */
    ck_assert_uint_eq(n_recs, 0);
    br_info i = info_of("pl");
    ck_assert_int_eq(i.state, BR_RUNNING_ACTION);
    ck_assert_uint_eq(i.n_pending, 1);
    ck_assert_uint_eq(i.n_waiting, 2);
    ck_assert_uint_eq(stats().waiting, 3);
    ck_assert_uint_eq(stats().breaks, 0);
    ck_assert_int_eq(done_b("pl", 0, 1, &OWN[1], 3), 0);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    i = info_of("pl");
    ck_assert_uint_eq(i.n_waiting, 1);
    ck_assert_uint_eq(i.n_pending, 0);
    unsigned nw;
    br_waiter *const *ws = br_barrier_waiters(br_find(R, "pl", 2), &nw);
    ck_assert_uint_eq(nw, 1);
    ck_assert_ptr_eq(ws[0], &W[3]);
    join(4, "pl", 2, 4);
    expect_released(&W[3], 1, 0);
    expect_released(&W[4], 1, 1);
}
END_TEST

START_TEST(action_abort_and_reset_during_action)
{
    /* abort */
    join(0, "ab", 2, 0);
    ck_assert_int_eq(arrive_w("ab", 2, mkw(1, -1, 1, NULL, NULL), 0), 0);
    join(2, "ab", 2, 0); /* pending */
    rec_clear();
    ck_assert_int_eq(abort_b("ab", "ops", 1), 0);
    expect_failed(&W[0], BP_EBROKEN);
    expect_failed(&W[1], BP_EBROKEN); /* the runner too: not its own failure */
    expect_failed(&W[2], BP_EBROKEN);
    ck_assert_int_eq(info_of("ab").state, BR_BROKEN);
    ck_assert_int_eq(done_b("ab", 0, 1, &OWN[1], 2), BP_EINVAL);

    /* reset */
    join(3, "rs", 2, 0);
    ck_assert_int_eq(arrive_w("rs", 2, mkw(4, -1, 1, NULL, NULL), 0), 0);
    join(5, "rs", 2, 0); /* pending */
    rec_clear();
    ck_assert_int_eq(reset_b("rs", "ops", 1), 0);
    expect_failed(&W[3], BP_EBROKEN);
    expect_failed(&W[4], BP_EBROKEN);
    expect_failed(&W[5], BP_EBROKEN);
    br_info i = info_of("rs");
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_uint_eq(stats().waiting, 0);
    /* The old generation's action_done does not touch the new generation. */
    join(6, "rs", 2, 2);
    ck_assert_int_eq(done_b("rs", 0, 1, &OWN[4], 3), BP_EINVAL);
    ck_assert_int_eq(done_b("rs", 1, 1, &OWN[4], 3), BP_EINVAL);
    expect_untold(&W[6]);
    join(7, "rs", 2, 4);
    expect_released(&W[6], 1, 0);
    expect_released(&W[7], 1, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Timeouts                                                                  */
/* ------------------------------------------------------------------------ */

START_TEST(timeout_breaks_barrier)
{
    br_waiter *a = mkw(0, 100, 0, "tellerA", "10.0.0.1:4000");
    br_waiter *b = mkw(1, -1, 0, "tellerB", "10.0.0.2:5000");
    ck_assert_int_eq(arrive_w("bank", 3, a, 0), 0);
    ck_assert_int_eq(arrive_w("bank", 3, b, 10), 0);
    ck_assert_int_eq(br_next_deadline(R), 100);
    br_expire(R, 99);
    ck_assert_uint_eq(n_recs, 0);
    br_expire(R, 100);
    ck_assert_uint_eq(n_recs, 1);
    const rec *r = expect_failed(a, BP_ETIMEDOUT);
    expect_failed(b, BP_EBROKEN);
    ck_assert_ptr_eq(r->w[r->culprit], a);
    expect_contains(r->message, "timed out");
    expect_contains(r->message, "2/3 arrived");
    expect_contains(r->message, "tellerA");
    expect_contains(r->message, "10.0.0.1:4000");
    expect_contains(r->message, "tellerB");
    expect_contains(r->message, "10.0.0.2:5000");
    br_info i = info_of("bank");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_str_eq(br_state_name(i.state), "broken");
    ck_assert_str_eq(i.reason, r->message);
    ck_assert_uint_eq(i.generation, 0);
    ck_assert_int_eq(br_next_deadline(R), -1);
    br_stats s = stats();
    ck_assert_uint_eq(s.breaks, 1);
    ck_assert_uint_eq(s.waiting, 0);
    /* Later waits fail at once, with the reason. */
    ck_assert_int_eq(arrive_w("bank", 3, mkw(2, -1, 0, NULL, NULL), 101), BP_EBROKEN);
    expect_contains(MSG, "timed out");
    ck_assert_uint_eq(n_recs, 1);
    br_expire(R, 1000);
    ck_assert_uint_eq(n_recs, 1);
}
END_TEST

START_TEST(timeout_earliest_is_culprit)
{
    ck_assert_int_eq(arrive_w("e", 4, mkw(0, 300, 0, "a", NULL), 0), 0);
    ck_assert_int_eq(arrive_w("e", 4, mkw(1, 200, 0, "b", NULL), 0), 0);
    ck_assert_int_eq(arrive_w("e", 4, mkw(2, 250, 0, "c", NULL), 0), 0);
    ck_assert_int_eq(br_next_deadline(R), 200);
    br_expire(R, 500); /* all are past: one break, the earliest is the culprit */
    ck_assert_uint_eq(n_recs, 1);
    expect_failed(&W[1], BP_ETIMEDOUT);
    expect_failed(&W[0], BP_EBROKEN);
    expect_failed(&W[2], BP_EBROKEN);
    ck_assert_uint_eq(stats().breaks, 1);
    ck_assert_int_eq(br_next_deadline(R), -1);
}
END_TEST

enum { TZ_FIRST_OF_TWO, TZ_LAST_OF_TWO, TZ_SINGLE, TZ_MIDDLE_OF_THREE, TZ_LAST_WITH_ACTION,
       TZ_PAST, TZ_CASES };

START_TEST(timeout_zero)
{
    const int64_t now = 1000;
    switch (_i) {
    case TZ_FIRST_OF_TWO:
        ck_assert_int_eq(arrive_w("z", 2, mkw(0, now, 0, NULL, NULL), now), 0);
        ck_assert_int_eq(br_next_deadline(R), now);
        br_expire(R, now); /* at once */
        expect_failed(&W[0], BP_ETIMEDOUT);
        ck_assert_int_eq(info_of("z").state, BR_BROKEN);
        ck_assert_int_eq(arrive_w("z", 2, mkw(1, -1, 0, NULL, NULL), now), BP_EBROKEN);
        break;
    case TZ_LAST_OF_TWO:
        join(0, "z", 2, now - 5);
        ck_assert_int_eq(arrive_w("z", 2, mkw(1, now, 0, NULL, NULL), now), 0);
        expect_released(&W[0], 0, 0);
        expect_released(&W[1], 0, 1);
        br_expire(R, now);
        ck_assert_uint_eq(n_recs, 1);
        ck_assert_int_eq(br_next_deadline(R), -1);
        break;
    case TZ_SINGLE:
        ck_assert_int_eq(arrive_w("z", 1, mkw(0, now, 0, NULL, NULL), now), 0);
        expect_released(&W[0], 0, 0);
        br_expire(R, now);
        ck_assert_uint_eq(n_recs, 1);
        break;
    case TZ_MIDDLE_OF_THREE:
        join(0, "z", 3, now);
        ck_assert_int_eq(arrive_w("z", 3, mkw(1, now, 0, NULL, NULL), now), 0);
        br_expire(R, now);
        expect_failed(&W[1], BP_ETIMEDOUT);
        expect_failed(&W[0], BP_EBROKEN);
        break;
    case TZ_LAST_WITH_ACTION:
        join(0, "z", 2, now);
        ck_assert_int_eq(arrive_w("z", 2, mkw(1, now, 1, NULL, NULL), now), 0);
        br_expire(R, now);
        br_expire(R, now + 100000);
        ck_assert_uint_eq(n_recs, 1);
        ck_assert_int_eq(recs[0].kind, BR_RUN_ACTION);
        ck_assert_int_eq(done_b("z", 0, 1, &OWN[1], now + 100000), 0);
        expect_released(&W[0], 0, 0);
        expect_released(&W[1], 0, 1);
        break;
    case TZ_PAST: /* a deadline before now behaves like a timeout of 0 */
        ck_assert_int_eq(arrive_w("z", 2, mkw(0, now - 50, 0, NULL, NULL), now), 0);
        ck_assert_uint_eq(n_recs, 0);
        br_expire(R, now);
        expect_failed(&W[0], BP_ETIMEDOUT);
        break;
    }
}
END_TEST

START_TEST(timeout_release_wins_same_moment)
{
    /* Deadlines due at 100 (one already overdue); the last party's arrival is
     * handled before the timeouts are checked at the same `now`: release. */
    ck_assert_int_eq(arrive_w("s", 3, mkw(0, 100, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(arrive_w("s", 3, mkw(1, 90, 0, NULL, NULL), 50), 0);
    ck_assert_int_eq(arrive_w("s", 3, mkw(2, 100, 0, NULL, NULL), 100), 0);
    br_expire(R, 100);
    ck_assert_uint_eq(n_recs, 1);
    expect_released(&W[0], 0, 0);
    expect_released(&W[1], 0, 1);
    expect_released(&W[2], 0, 2);
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_uint_eq(stats().breaks, 0);
    /* The released waits' deadlines do not reach into the next generation. */
    join(3, "s", 3, 101);
    br_expire(R, 10000);
    expect_untold(&W[3]);
    ck_assert_int_eq(info_of("s").state, BR_FILLING);
}
END_TEST

START_TEST(timeout_expire_before_last_arrival)
{
    /* The opposite order: br_expire ran first, so the barrier is broken and the
     * would-be last arrival fails. */
    ck_assert_int_eq(arrive_w("o", 2, mkw(0, 100, 0, NULL, NULL), 0), 0);
    br_expire(R, 100);
    expect_failed(&W[0], BP_ETIMEDOUT);
    ck_assert_int_eq(arrive_w("o", 2, mkw(1, -1, 0, NULL, NULL), 100), BP_EBROKEN);
    expect_untold(&W[1]);
}
END_TEST

START_TEST(next_deadline_is_earliest)
{
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_int_eq(arrive_w("d1", 2, mkw(0, 500, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(br_next_deadline(R), 500);
    ck_assert_int_eq(arrive_w("d2", 2, mkw(1, 300, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(br_next_deadline(R), 300);
    ck_assert_int_eq(arrive_w("d3", 2, mkw(2, 400, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(arrive_w("d4", 2, mkw(3, -1, 0, NULL, NULL), 0), 0);
    ck_assert_int_eq(br_next_deadline(R), 300);
    join(4, "d2", 2, 1); /* releases d2: its deadline goes */
    ck_assert_int_eq(br_next_deadline(R), 400);
    leave_w(&W[2], "disconnected", 2); /* breaks d3: its deadline goes */
    ck_assert_int_eq(br_next_deadline(R), 500);
    ck_assert_int_eq(abort_b("d1", "x", 3), 0);
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_int_eq(arrive_w("d4", 2, mkw(5, 50, 0, NULL, NULL), 3), 0); /* releases */
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_int_eq(arrive_w("d5", 3, mkw(6, 70, 0, NULL, NULL), 3), 0);
    ck_assert_int_eq(arrive_w("d5", 3, mkw(7, 60, 0, NULL, NULL), 3), 0);
    ck_assert_int_eq(br_next_deadline(R), 60);
    ck_assert_int_eq(reset_b("d5", "x", 4), 0); /* reset unschedules its waiters */
    ck_assert_int_eq(br_next_deadline(R), -1);
    br_expire(R, 100000);
    ck_assert_uint_eq(stats().breaks, 2); /* d3 (leave), d1 (abort) */
}
END_TEST

START_TEST(timeout_several_barriers_one_expire)
{
    const char *names[] = {"t0", "t1", "t2", "t3"};
    const int64_t dl[] = {30, 10, 20, 1000};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(arrive_w(names[k], 3, mkw(2 * k, dl[k], 0, NULL, NULL), 0), 0);
        ck_assert_int_eq(arrive_w(names[k], 3, mkw(2 * k + 1, dl[k] + 5, 0, NULL, NULL), 0), 0);
    }
    br_expire(R, 100);
    ck_assert_uint_eq(n_recs, 3);
    for (int k = 0; k < 3; k++) {
        expect_failed(&W[2 * k], BP_ETIMEDOUT);
        expect_failed(&W[2 * k + 1], BP_EBROKEN);
        ck_assert_int_eq(info_of(names[k]).state, BR_BROKEN);
    }
    expect_untold(&W[6]);
    expect_untold(&W[7]);
    ck_assert_int_eq(info_of("t3").state, BR_FILLING);
    ck_assert_int_eq(br_next_deadline(R), 1000);
    ck_assert_uint_eq(stats().breaks, 3);
    ck_assert_uint_eq(stats().waiting, 2);
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ull;
}

static unsigned rnd(uint64_t *s, unsigned n)
{
    return (unsigned)(rng_next(s) % n);
}

START_TEST(timeout_many_deadlines)
{
    /* 1000 barriers of 2 with one waiter each, deadlines a shuffle of 1000..1999;
     * some released, some left early; then time advances in uneven steps and
     * exactly the due ones break, each its own waiter the culprit. */
    enum { N = 1000 };
    br_waiter *ws = calloc(2 * N, sizeof *ws);
    int64_t *dl = calloc(N, sizeof *dl);
    int *gone = calloc(N, sizeof *gone);
    ck_assert(ws && dl && gone);
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++)
        dl[i] = 1000 + i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)rnd(&seed, (unsigned)i + 1);
        int64_t t = dl[i];
        dl[i] = dl[j];
        dl[j] = t;
    }
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "h%d", i);
        ws[i].deadline_ms = dl[i];
        ws[i].client = ws[i].peer = "";
        ck_assert_int_eq(arrive_w(name, 2, &ws[i], 0), 0);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "h%d", i);
        if (i % 5 == 0) {
            ws[N + i].deadline_ms = 1;
            ws[N + i].client = ws[N + i].peer = "";
            ck_assert_int_eq(arrive_w(name, 2, &ws[N + i], 1), 0);
            gone[i] = 1;
        } else if (i % 5 == 1) {
            leave_w(&ws[i], "disconnected", 1);
            gone[i] = 1;
        }
    }
    rec_clear();
    int64_t prev = 0;
    for (int64_t t = 990; t < 2100; t += 1 + (int64_t)rnd(&seed, 23)) {
        int64_t want = -1;
        for (int i = 0; i < N; i++)
            if (!gone[i] && (want < 0 || dl[i] < want))
                want = dl[i];
        ck_assert_int_eq(br_next_deadline(R), want);
        size_t before = n_recs;
        br_expire(R, t);
        size_t broke = 0;
        for (int i = 0; i < N; i++) {
            if (gone[i] || dl[i] > t)
                continue;
            expect_failed(&ws[i], BP_ETIMEDOUT);
            ck_assert_int_gt(dl[i], prev);
            gone[i] = 1;
            broke++;
        }
        ck_assert_uint_eq(n_recs - before, broke);
        prev = t;
    }
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_uint_eq(stats().waiting, 0);
    ck_assert_uint_eq(stats().breaks, N - N / 5); /* leaves and timeouts */
    free(ws);
    free(dl);
    free(gone);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Abort, reset, leave                                                       */
/* ------------------------------------------------------------------------ */

START_TEST(abort_breaks_until_reset)
{
    br_waiter *a = mkw(0, 100, 0, "tellerA", "h1:1");
    br_waiter *b = mkw(1, -1, 0, "tellerB", "h2:2");
    ck_assert_int_eq(arrive_w("ab", 3, a, 0), 0);
    ck_assert_int_eq(arrive_w("ab", 3, b, 0), 0);
    join(9, "other", 2, 0);
    ck_assert_int_eq(abort_b("ab", "ctl@admin", 5), 0);
    ck_assert_uint_eq(n_recs, 1);
    const rec *r = expect_failed(a, BP_EBROKEN);
    expect_failed(b, BP_EBROKEN);
    ck_assert_int_eq(r->culprit, -1);
    expect_contains(r->message, "abort");
    expect_contains(r->message, "ctl@admin");
    expect_contains(r->message, "2/3 arrived");
    expect_contains(r->message, "tellerA");
    br_info i = info_of("ab");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_uint_eq(i.generation, 0); /* abort does not end a generation */
    expect_contains(i.reason, "ctl@admin");
    ck_assert_int_eq(br_next_deadline(R), -1);
    expect_untold(&W[9]);
    /* Every later wait fails at once, with the reason, until reset. */
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(arrive_w("ab", 3, mkw(2 + k, -1, 0, NULL, NULL), 6), BP_EBROKEN);
        expect_contains(MSG, "ctl@admin");
    }
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_uint_eq(stats().waits, 3);
    /* A second abort keeps the first reason. */
    ck_assert_int_eq(abort_b("ab", "someone-else", 7), 0);
    expect_contains(info_of("ab").reason, "ctl@admin");
    ck_assert_uint_eq(stats().breaks, 1);
    /* reset: usable again, next generation. */
    ck_assert_int_eq(reset_b("ab", "ctl", 8), 0);
    ck_assert_uint_eq(n_recs, 1);
    i = info_of("ab");
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_str_eq(i.reason, "");
    for (int k = 0; k < 3; k++)
        join(10 + k, "ab", 3, 9);
    for (int k = 0; k < 3; k++)
        expect_released(&W[10 + k], 1, (unsigned)k);
}
END_TEST

START_TEST(abort_empty_barrier)
{
    join(0, "ae", 1, 0); /* exists, empty, generation 1 */
    rec_clear();
    ck_assert_int_eq(abort_b("ae", "x", 1), 0);
    ck_assert_uint_eq(n_recs, 0);
    ck_assert_int_eq(info_of("ae").state, BR_BROKEN);
    ck_assert_int_eq(arrive_w("ae", 1, mkw(1, -1, 0, NULL, NULL), 2), BP_EBROKEN);
    ck_assert_uint_eq(n_recs, 0);
    ck_assert_int_eq(reset_b("ae", "x", 3), 0);
    ck_assert_uint_eq(info_of("ae").generation, 2);
    join(2, "ae", 1, 4);
    expect_released(&W[2], 2, 0);
}
END_TEST

START_TEST(reset_fails_waiters_and_advances)
{
    br_waiter *a = mkw(0, 100, 0, "alpha", NULL);
    ck_assert_int_eq(arrive_w("r", 3, a, 0), 0);
    join(1, "r", 3, 0);
    ck_assert_int_eq(reset_b("r", "operator", 5), 0);
    ck_assert_uint_eq(n_recs, 1);
    const rec *rr = expect_failed(a, BP_EBROKEN);
    expect_failed(&W[1], BP_EBROKEN);
    ck_assert_uint_eq(rr->generation, 0);
    expect_contains(rr->message, "reset");
    expect_contains(rr->message, "operator");
    br_info i = info_of("r");
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_uint_eq(i.generation, 1);
    ck_assert_uint_eq(i.n_waiting, 0);
    ck_assert_str_eq(i.reason, "");
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_uint_eq(stats().waiting, 0);
    /* Empty reset: just a new generation, nobody told. */
    rec_clear();
    ck_assert_int_eq(reset_b("r", "operator", 6), 0);
    ck_assert_uint_eq(n_recs, 0);
    ck_assert_uint_eq(info_of("r").generation, 2);
    for (int k = 0; k < 3; k++)
        join(2 + k, "r", 3, 7);
    for (int k = 0; k < 3; k++)
        expect_released(&W[2 + k], 2, (unsigned)k);
    ck_assert_uint_eq(info_of("r").generation, 3);
}
END_TEST

START_TEST(generations_only_grow)
{
    /* release, reset, abort, reset, timeout, reset, release: 0,1 / 2 / 3 ... */
    uint64_t last = 0;
    int first = 1;
    for (int round = 0; round < 50; round++) {
        rec_clear();
        switch (round % 5) {
        case 0: /* release */
            join(0, "g", 2, round);
            join(1, "g", 2, round);
            ck_assert_uint_eq(recs[0].generation, info_of("g").generation - 1);
            break;
        case 1: /* reset with a waiter */
            join(0, "g", 2, round);
            ck_assert_int_eq(reset_b("g", "x", round), 0);
            break;
        case 2: /* abort then reset */
            join(0, "g", 2, round);
            ck_assert_int_eq(abort_b("g", "x", round), 0);
            ck_assert_int_eq(reset_b("g", "x", round), 0);
            break;
        case 3: /* timeout then reset */
            ck_assert_int_eq(arrive_w("g", 2, mkw(0, round, 0, NULL, NULL), round), 0);
            br_expire(R, round);
            expect_failed(&W[0], BP_ETIMEDOUT);
            ck_assert_int_eq(reset_b("g", "x", round), 0);
            break;
        case 4: /* action failure then reset */
            join(0, "g", 2, round);
            ck_assert_int_eq(arrive_w("g", 2, mkw(1, -1, 1, NULL, NULL), round), 0);
            ck_assert_int_eq(done_b("g", info_of("g").generation, 0, &OWN[1], round), 0);
            ck_assert_int_eq(reset_b("g", "x", round), 0);
            break;
        }
        uint64_t g = info_of("g").generation;
        ck_assert(first || g == last + 1); /* each round ends exactly one generation */
        for (size_t k = 0; k < n_recs; k++)
            ck_assert_uint_eq(recs[k].generation, g - 1);
        first = 0;
        last = g;
    }
    ck_assert_uint_eq(last, 50);
}
END_TEST

static const unsigned leaver_pos[] = {0, 1, 2};

START_TEST(leave_breaks_for_others)
{
    static const char *const clients[] = {"alpha", "beta", "gamma"};
    static const char *const peers[] = {"10.1.1.1:1111", "10.2.2.2:2222", "[::1]:3333"};
    unsigned lp = leaver_pos[_i];
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(arrive_w("lv", 4, mkw(k, k == 1 ? 500 : -1, 0, clients[k], peers[k]), k),
                         0);
    leave_w(&W[lp], "disconnected", 10);
    ck_assert_uint_eq(n_recs, 1);
    expect_untold(&W[lp]); /* no outcome names the waiter that left */
    const rec *r = NULL;
    for (unsigned k = 0; k < 3; k++)
        if (k != lp)
            r = expect_failed(&W[k], BP_EBROKEN);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_int_eq(r->culprit, -1);
    expect_contains(r->message, "lost");
    expect_contains(r->message, clients[lp]); /* names the lost party */
    expect_contains(r->message, peers[lp]);
    expect_contains(r->message, "disconnected");
    br_info i = info_of("lv");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_uint_eq(i.n_waiting, 0);
    expect_contains(i.reason, clients[lp]);
    br_stats s = stats();
    ck_assert_uint_eq(s.waiting, 0);
    ck_assert_uint_eq(s.breaks, 1);
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_int_eq(arrive_w("lv", 4, mkw(5, -1, 0, NULL, NULL), 11), BP_EBROKEN);
    expect_contains(MSG, clients[lp]);
}
END_TEST

START_TEST(leave_lone_waiter)
{
    /* Nobody else to tell; the barrier is broken all the same (a lost party breaks
     * it, whatever broke it it stays broken until reset). */
    br_waiter *w = mkw(0, 100, 0, "solo", NULL);
    ck_assert_int_eq(arrive_w("lone", 2, w, 0), 0);
    leave_w(w, "heartbeat timeout", 1);
    ck_assert_uint_eq(n_recs, 0);
    ck_assert_int_eq(info_of("lone").state, BR_BROKEN);
    expect_contains(info_of("lone").reason, "solo");
    ck_assert_uint_eq(stats().waiting, 0);
    ck_assert_int_eq(br_next_deadline(R), -1);
    br_expire(R, 1000);
    ck_assert_uint_eq(n_recs, 0);
}
END_TEST

START_TEST(message_is_bounded)
{
    /* 99 of 100 with long client names: the message stays short and says how many. */
    enum { P = 100 };
    static char names[P][120];
    for (int k = 0; k < P - 1; k++) {
        snprintf(names[k], sizeof names[k], "client-%03d-%0100d", k, 0);
        ck_assert_int_eq(arrive_w("big", P, mkw(k, -1, 0, names[k], "192.168.100.100:65535"), 0),
                         0);
    }
    ck_assert_int_eq(abort_b("big", "ctl", 1), 0);
    ck_assert_uint_eq(n_recs, 1);
    ck_assert_uint_eq(recs[0].n, P - 1);
    expect_contains(recs[0].message, "99/100 arrived");
    expect_contains(recs[0].message, names[0]);
    ck_assert_uint_lt(recs[0].message_len, 3000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Idle sweep, shutdown, stats, introspection                                */
/* ------------------------------------------------------------------------ */

START_TEST(sweep_idle_barriers)
{
    join(0, "released", 1, 0);       /* empty since 0 */
    join(1, "waiting", 2, 0);        /* has a waiter */
    join(2, "broken", 2, 0);
    ck_assert_int_eq(abort_b("broken", "x", 0), 0); /* broken, empty since 0 */
    ck_assert_int_eq(arrive_w("running", 1, mkw(3, -1, 1, NULL, NULL), 0), 0); /* action */
    join(5, "cycle", 1, 0);
    join(6, "cycle", 1, 500);        /* used again: empty since 500 */
    join(4, "recent", 1, 900);       /* empty since 900 */
    ck_assert_uint_eq(stats().barriers, 6);

    ck_assert_uint_eq(br_sweep_idle(R, 999, 1000), 0);
    ck_assert_uint_eq(br_sweep_idle(R, 1000, 1000), 2); /* idle for exactly ttl: gone */
    ck_assert_ptr_null(br_find(R, "released", 8));
    ck_assert_ptr_null(br_find(R, "broken", 6));
    ck_assert_ptr_nonnull(br_find(R, "waiting", 7));
    ck_assert_ptr_nonnull(br_find(R, "running", 7));
    ck_assert_ptr_nonnull(br_find(R, "recent", 6));
    ck_assert_ptr_nonnull(br_find(R, "cycle", 5));
    ck_assert_uint_eq(stats().barriers, 4);
    ck_assert_uint_eq(br_sweep_idle(R, 1499, 1000), 0);
    ck_assert_uint_eq(br_sweep_idle(R, 1500, 1000), 1); /* cycle */
    ck_assert_uint_eq(br_sweep_idle(R, 1900, 1000), 1); /* recent */
    /* Barriers with a waiter or a running action are never reclaimed. */
    ck_assert_uint_eq(br_sweep_idle(R, 1000000, 1000), 0);
    ck_assert_uint_eq(br_sweep_idle(R, 1000000, 0), 0);
    ck_assert_uint_eq(stats().barriers, 2);
    ck_assert_uint_eq(stats().waiting, 2);
    expect_untold(&W[1]);
    expect_untold(&W[3]);
    /* Once the action is done the barrier is empty, and idle from then on. */
    ck_assert_int_eq(done_b("running", 0, 1, &OWN[3], 2000000), 0);
    ck_assert_uint_eq(br_sweep_idle(R, 2000999, 1000), 0);
    ck_assert_uint_eq(br_sweep_idle(R, 2001000, 1000), 1);
    /* A waiter that leaves (breaking it) empties it too. */
    leave_w(&W[1], "gone", 3000000);
    ck_assert_uint_eq(br_sweep_idle(R, 3000000, 0), 1);
    ck_assert_uint_eq(stats().barriers, 0);
    /* A reclaimed name starts afresh, with any parties. */
    join(7, "released", 3, 3000001);
    br_info i = info_of("released");
    ck_assert_uint_eq(i.parties, 3);
    ck_assert_uint_eq(i.generation, 0);
}
END_TEST

START_TEST(sweep_refused_waits_are_not_activity)
{
    /* A refused wait (parties, broken) neither joins nor counts as activity;
     * a barrier a wait is pending on is kept. */
    join(0, "k", 1, 0);
    ck_assert_int_eq(arrive_w("k", 2, mkw(1, -1, 0, NULL, NULL), 50), BP_EPARTIES);
    ck_assert_uint_eq(br_sweep_idle(R, 100, 100), 1);
    join(2, "kb", 2, 0);
    ck_assert_int_eq(abort_b("kb", "x", 0), 0);
    ck_assert_int_eq(arrive_w("kb", 2, mkw(3, -1, 0, NULL, NULL), 50), BP_EBROKEN);
    ck_assert_uint_eq(br_sweep_idle(R, 100, 100), 1);
    ck_assert_uint_eq(stats().barriers, 0);
}
END_TEST

START_TEST(shutdown_fails_everybody)
{
    join(0, "f", 3, 0);
    ck_assert_int_eq(arrive_w("f", 3, mkw(1, 100, 0, NULL, NULL), 0), 0);
    join(2, "run", 2, 0);
    ck_assert_int_eq(arrive_w("run", 2, mkw(3, -1, 1, NULL, NULL), 0), 0); /* runner */
    join(4, "run", 2, 0);                                                   /* pending */
    join(5, "empty", 1, 0);
    join(6, "brk", 2, 0);
    ck_assert_int_eq(abort_b("brk", "x", 0), 0);
    rec_clear();
    br_shutdown(R, "server shutting down");
    for (int k = 0; k <= 4; k++) {
        const rec *r = expect_failed(&W[k], BP_ESHUTDOWN);
        ck_assert_str_eq(r->message, "server shutting down");
    }
    br_stats s = stats();
    ck_assert_uint_eq(s.waiting, 0);
    ck_assert_int_eq(br_next_deadline(R), -1);
    ck_assert_uint_eq(info_of("f").n_waiting, 0);
    ck_assert_uint_eq(info_of("run").n_pending, 0);
    /* Nobody left to tell. */
    size_t nr = n_recs;
    br_shutdown(R, "again");
    br_expire(R, 1000);
    ck_assert_uint_eq(n_recs, nr);
    ck_assert_int_eq(done_b("run", 0, 1, &OWN[3], 1000), BP_EINVAL);
    ck_assert_uint_eq(n_recs, nr);
}
END_TEST

START_TEST(stats_counters)
{
    br_stats s = stats();
    ck_assert_uint_eq(s.waits, 0);
    ck_assert_uint_eq(s.releases, 0);
    ck_assert_uint_eq(s.breaks, 0);
    ck_assert_uint_eq(s.barriers, 0);
    ck_assert_uint_eq(s.waiting, 0);

    join(0, "s1", 2, 0);
    s = stats();
    ck_assert_uint_eq(s.waits, 1);
    ck_assert_uint_eq(s.barriers, 1);
    ck_assert_uint_eq(s.waiting, 1);
    join(1, "s1", 2, 0); /* release */
    s = stats();
    ck_assert_uint_eq(s.waits, 2);
    ck_assert_uint_eq(s.releases, 1);
    ck_assert_uint_eq(s.waiting, 0);

    join(2, "s2", 3, 0);
    join(3, "s2", 3, 0);
    ck_assert_uint_eq(stats().waiting, 2);
    ck_assert_int_eq(abort_b("s2", "x", 0), 0); /* break 1 */
    s = stats();
    ck_assert_uint_eq(s.breaks, 1);
    ck_assert_uint_eq(s.waiting, 0);
    ck_assert_uint_eq(s.barriers, 2);

    /* Refused waits are not counted. */
    ck_assert_int_eq(arrive_w("s2", 3, mkw(4, -1, 0, NULL, NULL), 0), BP_EBROKEN);
    ck_assert_int_eq(arrive_w("s1", 5, mkw(4, -1, 0, NULL, NULL), 0), BP_EPARTIES);
    ck_assert_uint_eq(stats().waits, 4);

    join(5, "s3", 2, 0);
    ck_assert_int_eq(arrive_w("s3", 2, mkw(6, -1, 1, NULL, NULL), 0), 0);
    join(7, "s3", 2, 0); /* pending counts as waiting */
    s = stats();
    ck_assert_uint_eq(s.waits, 7);
    ck_assert_uint_eq(s.waiting, 3);
    ck_assert_uint_eq(s.releases, 1);
    ck_assert_int_eq(done_b("s3", 0, 0, &OWN[6], 1), 0); /* break 2 */
    s = stats();
    ck_assert_uint_eq(s.breaks, 2);
    ck_assert_uint_eq(s.waiting, 0);

    ck_assert_int_eq(arrive_w("s4", 2, mkw(8, 5, 0, NULL, NULL), 0), 0);
    br_expire(R, 5); /* break 3 */
    join(9, "s5", 2, 0);
    leave_w(&W[9], "disconnected", 6); /* break 4 */
    s = stats();
    ck_assert_uint_eq(s.breaks, 4);
    ck_assert_uint_eq(s.waits, 9);
    ck_assert_uint_eq(s.barriers, 5);
    ck_assert_uint_eq(s.waiting, 0);

    join(10, "s6", 2, 0);
    ck_assert_int_eq(arrive_w("s6", 2, mkw(11, -1, 1, NULL, NULL), 0), 0);
    ck_assert_int_eq(done_b("s6", 0, 1, &OWN[11], 7), 0); /* release 2 */
    s = stats();
    ck_assert_uint_eq(s.releases, 2);
    ck_assert_uint_eq(s.barriers, 6);
    ck_assert_uint_eq(br_sweep_idle(R, 100, 0), 6);
    s = stats();
    ck_assert_uint_eq(s.barriers, 0);
    ck_assert_uint_eq(s.waits, 11); /* cumulative counters survive the sweep */
    ck_assert_uint_eq(s.releases, 2);
    ck_assert_uint_eq(s.breaks, 4);
}
END_TEST

START_TEST(info_and_waiters)
{
    br_waiter *a = join(0, "info", 3, 0);
    br_waiter *b = join(1, "info", 3, 0);
    br_info i = info_of("info");
    ck_assert_str_eq(i.name, "info");
    ck_assert_uint_eq(i.name_len, 4);
    ck_assert_uint_eq(i.parties, 3);
    ck_assert_uint_eq(i.n_waiting, 2);
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_int_eq(i.state, BR_FILLING);
    ck_assert_str_eq(br_state_name(i.state), "filling");
    ck_assert_uint_eq(i.generation, 0);
    ck_assert_ptr_nonnull(i.reason);
    ck_assert_str_eq(i.reason, "");
    unsigned n;
    br_waiter *const *ws = br_barrier_waiters(br_find(R, "info", 4), &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_eq(ws[0], a);
    ck_assert_ptr_eq(ws[1], b);
    ck_assert_uint_eq(ws[0]->index, 0);
    ck_assert_uint_eq(ws[1]->index, 1);
    ck_assert_ptr_eq(ws[0]->barrier, br_find(R, "info", 4));
    ck_assert_int_eq(ws[0]->pending, 0);

    br_waiter *c = mkw(2, -1, 1, NULL, NULL);
    ck_assert_int_eq(arrive_w("info", 3, c, 0), 0);
    br_waiter *d = join(3, "info", 3, 0);
    ck_assert_int_eq(d->pending, 1);
    i = info_of("info");
    ck_assert_int_eq(i.state, BR_RUNNING_ACTION);
    ck_assert_uint_eq(i.n_waiting, 3);
    ck_assert_uint_eq(i.n_pending, 1);
    ws = br_barrier_waiters(br_find(R, "info", 4), &n);
    ck_assert_uint_eq(n, 3); /* the current generation only */
    ck_assert_ptr_eq(ws[2], c);

    ck_assert_int_eq(abort_b("info", "me", 1), 0);
    i = info_of("info");
    ck_assert_int_eq(i.state, BR_BROKEN);
    ck_assert_uint_eq(i.n_waiting, 0);
    ck_assert_uint_eq(i.n_pending, 0);
    ck_assert_uint_eq(i.generation, 0);
    expect_contains(i.reason, "me");
    br_barrier_waiters(br_find(R, "info", 4), &n);
    ck_assert_uint_eq(n, 0);

    ck_assert_str_eq(br_state_name(BR_FILLING), "filling");
    ck_assert_str_eq(br_state_name(BR_RUNNING_ACTION), "running_action");
    ck_assert_str_eq(br_state_name(BR_BROKEN), "broken");
    ck_assert_ptr_nonnull(br_state_name((br_state)42));
}
END_TEST

typedef struct seen {
    char names[16][16];
    int count[16];
    int n;
    int total;
} seen;

static void collect(void *ctx, const br_barrier *b)
{
    seen *s = ctx;
    br_info i;
    br_barrier_info(b, &i);
    s->total++;
    for (int k = 0; k < s->n; k++)
        if (strcmp(s->names[k], i.name) == 0) {
            s->count[k]++;
            return;
        }
    ck_assert_int_lt(s->n, 16);
    snprintf(s->names[s->n], sizeof s->names[s->n], "%s", i.name);
    s->count[s->n++] = 1;
}

START_TEST(foreach_visits_each_once)
{
    seen s;
    memset(&s, 0, sizeof s);
    br_foreach(R, collect, &s);
    ck_assert_int_eq(s.total, 0);
    join(0, "fa", 2, 0);
    join(1, "fb", 1, 0);
    join(2, "fc", 3, 0);
    ck_assert_int_eq(abort_b("fc", "x", 0), 0);
    join(3, "fd", 2, 0);
    ck_assert_int_eq(arrive_w("fd", 2, mkw(4, -1, 1, NULL, NULL), 0), 0);
    br_foreach(R, collect, &s);
    ck_assert_int_eq(s.total, 4);
    ck_assert_int_eq(s.n, 4);
    for (int k = 0; k < s.n; k++)
        ck_assert_int_eq(s.count[k], 1);
    ck_assert_uint_eq(stats().barriers, 4);
}
END_TEST

START_TEST(poisoned_waiters_are_not_touched)
{
    /* The ownership rule, checked directly: after their outcomes the released and
     * failed waiters hold garbage; the registry keeps working on everything else. */
    for (int round = 0; round < 20; round++) {
        join(0, "pa", 2, round);
        join(1, "pb", 3, round);
        join(2, "pa", 2, round);
        ck_assert_int_eq(arrive_w("pb", 3, mkw(3, round + 1, 0, NULL, NULL), round), 0);
        br_expire(R, round + 1);
        ck_assert_int_eq(reset_b("pb", "x", round + 1), 0);
        ck_assert_int_eq(br_next_deadline(R), -1);
        ck_assert_uint_eq(stats().waiting, 0);
    }
    ck_assert_uint_eq(stats().releases, 20);
    ck_assert_uint_eq(stats().breaks, 20);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Randomized model test                                                     */
/* ------------------------------------------------------------------------ */

#define MB 3   /* barriers m0..m2 */
#define MWN 24 /* waiters */
#define MP 4   /* parties at most */
#define MEXP 256

enum { MW_IDLE, MW_CUR, MW_PEND };

typedef struct mwaiter {
    br_waiter w; /* the registry's record */
    int st;
    int b;
    int64_t deadline;
    int action;
    char client[16];
} mwaiter;

typedef struct mbarrier {
    int exists;
    unsigned parties;
    br_state state;
    uint64_t gen;
    int cur[MP];
    unsigned ncur;
    int pend[MWN];
    unsigned npend;
    int runner;
    int64_t idle_since;
    int64_t last_release_gen; /* -1: none since it was created */
} mbarrier;

typedef struct mexp {
    int w;
    br_kind kind;
    int code;
    int index;   /* -1: any */
    int64_t gen; /* -1: any */
    const char *sub;
    int matched;
} mexp;

typedef struct model {
    mwaiter w[MWN];
    char otag[MWN];
    mbarrier b[MB];
    int64_t now;
    size_t max_barriers;
    br_stats st;
    mexp exp[MEXP];
    unsigned nexp;
    uint64_t accepted, finals, leaves;
    int allow_pending_fill;
} model;

static const char *const mnames[MB] = {"m0", "m1", "m2"};

static void m_expect(model *m, int w, br_kind kind, int code, int index, int64_t gen,
                     const char *sub)
{
    REQUIRE(m->nexp < MEXP);
    mexp *e = &m->exp[m->nexp++];
    e->w = w;
    e->kind = kind;
    e->code = code;
    e->index = index;
    e->gen = gen;
    e->sub = sub;
    e->matched = 0;
    if (kind != BR_RUN_ACTION) {
        m->w[w].st = MW_IDLE;
        m->finals++;
    }
}

static void m_touch(model *m, mbarrier *b)
{
    if (b->ncur == 0 && b->npend == 0 && b->runner < 0)
        b->idle_since = m->now;
}

static void m_add(model *m, int bi, int id);

static void m_release(model *m, int bi)
{
    mbarrier *b = &m->b[bi];
    for (unsigned i = 0; i < b->ncur; i++)
        m_expect(m, b->cur[i], BR_RELEASE, 0, (int)i, (int64_t)b->gen, NULL);
    REQUIRE((int64_t)b->gen > b->last_release_gen);
    b->last_release_gen = (int64_t)b->gen;
    m->st.releases++;
    m->st.waiting -= b->ncur;
    b->ncur = 0;
    b->runner = -1;
    b->state = BR_FILLING;
    b->gen++;
    /* Those who arrived during the action join, in order. */
    while (b->npend && b->state == BR_FILLING) {
        int id = b->pend[0];
        memmove(b->pend, b->pend + 1, (b->npend - 1) * sizeof *b->pend);
        b->npend--;
        m_add(m, bi, id);
    }
    m_touch(m, b);
}

static void m_add(model *m, int bi, int id)
{
    mbarrier *b = &m->b[bi];
    m->w[id].st = MW_CUR;
    b->cur[b->ncur++] = id;
    if (b->ncur < b->parties)
        return;
    int last = b->cur[b->parties - 1];
    if (m->w[last].action) {
        b->state = BR_RUNNING_ACTION;
        b->runner = last;
        m_expect(m, last, BR_RUN_ACTION, 0, (int)b->parties - 1, (int64_t)b->gen, NULL);
    } else {
        m_release(m, bi);
    }
}

static void m_fail_all(model *m, mbarrier *b, int culprit, int ccode, const char *sub)
{
    for (unsigned i = 0; i < b->ncur; i++) {
        int id = b->cur[i];
        m_expect(m, id, BR_FAIL, id == culprit ? ccode : BP_EBROKEN, -1, (int64_t)b->gen, sub);
    }
    for (unsigned i = 0; i < b->npend; i++)
        m_expect(m, b->pend[i], BR_FAIL, BP_EBROKEN, -1, -1, sub);
    m->st.waiting -= b->ncur + b->npend;
    b->ncur = b->npend = 0;
    b->runner = -1;
}

static void m_break(model *m, int bi, int culprit, int ccode, const char *sub)
{
    mbarrier *b = &m->b[bi];
    m_fail_all(m, b, culprit, ccode, sub);
    b->state = BR_BROKEN;
    m->st.breaks++;
    m_touch(m, b);
}

static int64_t m_next_deadline(const model *m)
{
    int64_t best = -1;
    for (int bi = 0; bi < MB; bi++) {
        const mbarrier *b = &m->b[bi];
        if (!b->exists || b->state != BR_FILLING)
            continue;
        for (unsigned i = 0; i < b->ncur; i++) {
            int64_t d = m->w[b->cur[i]].deadline;
            if (d >= 0 && (best < 0 || d < best))
                best = d;
        }
    }
    return best;
}

static int m_waiter_id(const model *m, const br_waiter *w)
{
    for (int i = 0; i < MWN; i++)
        if (&m->w[i].w == w)
            return i;
    ck_abort_msg("an outcome names a waiter the model does not know");
    return -1;
}

/* Compare what the registry emitted and reports with what the model expects. */
static void m_check(model *m, uint64_t seed, int step, const char *op)
{
    for (size_t k = 0; k < n_recs; k++) {
        const rec *r = &recs[k];
        if (r->kind == BR_RELEASE) { /* a whole generation, distinct indexes */
            unsigned seen_idx = 0;
            for (unsigned i = 0; i < r->n; i++) {
                REQUIRE(r->index[i] < MP);
                REQUIRE_MSG(!(seen_idx & (1u << r->index[i])),
                              "seed %llu step %d: index %u twice in one release",
                              (unsigned long long)seed, step, r->index[i]);
                seen_idx |= 1u << r->index[i];
            }
            REQUIRE(seen_idx == (1u << r->n) - 1);
        }
        for (unsigned i = 0; i < r->n; i++) {
            int id = m_waiter_id(m, r->w[i]);
            REQUIRE_MSG(strcmp(r->barrier, mnames[m->w[id].b]) == 0,
                          "seed %llu step %d (%s): waiter %d told about %s, it waits at %s",
                          (unsigned long long)seed, step, op, id, r->barrier,
                          mnames[m->w[id].b]);
            mexp *e = NULL;
            for (unsigned j = 0; j < m->nexp; j++)
                if (m->exp[j].w == id && !m->exp[j].matched) {
                    e = &m->exp[j];
                    break;
                }
            REQUIRE_MSG(e != NULL, "seed %llu step %d (%s): unexpected outcome %d for waiter %d",
                          (unsigned long long)seed, step, op, (int)r->kind, id);
            e->matched = 1;
            REQUIRE_MSG(e->kind == r->kind && e->code == r->code[i],
                          "seed %llu step %d (%s): waiter %d got kind %d code %d, want %d %d",
                          (unsigned long long)seed, step, op, id, (int)r->kind, r->code[i],
                          (int)e->kind, e->code);
            if (e->index >= 0)
                REQUIRE_MSG(r->index[i] == (unsigned)e->index,
                              "seed %llu step %d (%s): waiter %d index %u, want %d",
                              (unsigned long long)seed, step, op, id, r->index[i], e->index);
            if (e->gen >= 0)
                REQUIRE_MSG(r->generation == (uint64_t)e->gen,
                              "seed %llu step %d (%s): waiter %d generation %llu, want %lld",
                              (unsigned long long)seed, step, op, id,
                              (unsigned long long)r->generation, (long long)e->gen);
            if (e->sub)
                REQUIRE_MSG(strstr(r->message, e->sub), "seed %llu step %d: '%s' lacks '%s'",
                              (unsigned long long)seed, step, r->message, e->sub);
        }
    }
    for (unsigned j = 0; j < m->nexp; j++)
        REQUIRE_MSG(m->exp[j].matched,
                      "seed %llu step %d (%s): waiter %d never got expected outcome %d code %d",
                      (unsigned long long)seed, step, op, m->exp[j].w, (int)m->exp[j].kind,
                      m->exp[j].code);
    m->nexp = 0;
    rec_clear();

    for (int bi = 0; bi < MB; bi++) {
        const mbarrier *b = &m->b[bi];
        const br_barrier *rb = br_find(R, mnames[bi], 2);
        REQUIRE_MSG((rb != NULL) == (b->exists != 0), "seed %llu step %d (%s): %s exists %d",
                      (unsigned long long)seed, step, op, mnames[bi], rb != NULL);
        if (!rb)
            continue;
        br_info i;
        br_barrier_info(rb, &i);
        REQUIRE_MSG(i.state == b->state && i.generation == b->gen &&
                          i.n_waiting == b->ncur && i.n_pending == b->npend &&
                          i.parties == b->parties,
                      "seed %llu step %d (%s): %s is %s gen %llu %u+%u/%u, model %s gen %llu "
                      "%u+%u/%u",
                      (unsigned long long)seed, step, op, mnames[bi], br_state_name(i.state),
                      (unsigned long long)i.generation, i.n_waiting, i.n_pending, i.parties,
                      br_state_name(b->state), (unsigned long long)b->gen, b->ncur, b->npend,
                      b->parties);
        REQUIRE((i.state == BR_BROKEN) == (i.reason[0] != 0));
        unsigned n;
        br_waiter *const *ws = br_barrier_waiters(rb, &n);
        REQUIRE(n == b->ncur);
        for (unsigned k = 0; k < n; k++) {
            REQUIRE(ws[k] == &m->w[b->cur[k]].w);
            REQUIRE(ws[k]->index == k);
        }
    }
    br_stats s;
    br_get_stats(R, &s);
    REQUIRE_MSG(s.waits == m->st.waits && s.releases == m->st.releases &&
                      s.breaks == m->st.breaks && s.barriers == m->st.barriers &&
                      s.waiting == m->st.waiting,
                  "seed %llu step %d (%s): stats %llu/%llu/%llu/%zu/%zu, model "
                  "%llu/%llu/%llu/%zu/%zu",
                  (unsigned long long)seed, step, op, (unsigned long long)s.waits,
                  (unsigned long long)s.releases, (unsigned long long)s.breaks, s.barriers,
                  s.waiting, (unsigned long long)m->st.waits, (unsigned long long)m->st.releases,
                  (unsigned long long)m->st.breaks, m->st.barriers, m->st.waiting);
    REQUIRE_MSG(br_next_deadline(R) == m_next_deadline(m),
                  "seed %llu step %d (%s): next deadline %lld, model %lld",
                  (unsigned long long)seed, step, op, (long long)br_next_deadline(R),
                  (long long)m_next_deadline(m));
}

static int64_t m_unique_deadline(const model *m, int64_t d)
{
    for (;;) {
        int clash = 0;
        for (int i = 0; i < MWN; i++)
            if (m->w[i].st != MW_IDLE && m->w[i].deadline == d)
                clash = 1;
        if (!clash)
            return d;
        d++;
    }
}

/* Returns 0 if the operation was skipped. */
static int m_op_arrive(model *m, uint64_t *rs)
{
    int idle[MWN], ni = 0;
    for (int i = 0; i < MWN; i++)
        if (m->w[i].st == MW_IDLE)
            idle[ni++] = i;
    if (!ni)
        return 0;
    int id = idle[rnd(rs, (unsigned)ni)];
    int bi = (int)rnd(rs, MB);
    mbarrier *b = &m->b[bi];
    unsigned parties;
    if (b->exists && rnd(rs, 100) < 88)
        parties = b->parties;
    else
        parties = 1 + rnd(rs, MP);
    if (b->exists && b->state == BR_RUNNING_ACTION && parties == b->parties &&
        !m->allow_pending_fill && b->npend + 1 >= b->parties)
        return 0; /* this walk keeps pending arrivals from filling a generation */
    mwaiter *mw = &m->w[id];
    mw->b = bi;
    mw->action = rnd(rs, 100) < 35;
    mw->deadline = rnd(rs, 2) ? -1 : m_unique_deadline(m, m->now + (int64_t)rnd(rs, 30));

    int want;
    if (!b->exists && m->max_barriers && m->st.barriers >= m->max_barriers) {
        want = BP_ELIMIT;
    } else {
        if (!b->exists) {
            memset(b, 0, sizeof *b);
            b->exists = 1;
            b->parties = parties;
            b->state = BR_FILLING;
            b->runner = -1;
            b->idle_since = m->now;
            b->last_release_gen = -1;
            m->st.barriers++;
        }
        if (parties != b->parties) {
            want = BP_EPARTIES;
        } else if (b->state == BR_BROKEN) {
            want = BP_EBROKEN;
        } else if (b->state == BR_RUNNING_ACTION && b->npend >= br_pending_max(b->parties)) {
            want = BP_ELIMIT; /* a bounded queue waits behind an action */
        } else {
            want = 0;
            m->accepted++;
            m->st.waits++;
            m->st.waiting++;
            if (b->state == BR_RUNNING_ACTION) {
                mw->st = MW_PEND;
                b->pend[b->npend++] = id;
            } else {
                m_add(m, bi, id);
            }
        }
    }

    br_waiter *w = &mw->w;
    memset(w, 0, sizeof *w);
    w->owner = &m->otag[id];
    w->has_id = 1;
    w->id = (uint64_t)id;
    w->deadline_ms = mw->deadline;
    w->action = mw->action;
    w->client = mw->client;
    w->peer = "127.0.0.1:1";
    char msg[256] = "";
    int rc = br_arrive(R, mnames[bi], 2, parties, w, m->now, msg, sizeof msg);
    REQUIRE_MSG(rc == want, "arrive of %d at %s (%u parties): %d (%s), model %d", id,
                  mnames[bi], parties, rc, msg, want);
    if (rc != 0)
        REQUIRE(msg[0] != 0);
    return 1;
}

static int m_op_leave(model *m, uint64_t *rs)
{
    int live[MWN], nl = 0;
    for (int i = 0; i < MWN; i++)
        if (m->w[i].st != MW_IDLE)
            live[nl++] = i;
    if (!nl)
        return 0;
    int id = live[rnd(rs, (unsigned)nl)];
    mwaiter *mw = &m->w[id];
    mbarrier *b = &m->b[mw->b];
    m->leaves++;
    m->st.waiting--;
    if (mw->st == MW_PEND) {
        unsigned i = 0;
        while (b->pend[i] != id)
            i++;
        memmove(b->pend + i, b->pend + i + 1, (b->npend - i - 1) * sizeof *b->pend);
        b->npend--;
        mw->st = MW_IDLE;
    } else {
        unsigned i = 0;
        while (b->cur[i] != id)
            i++;
        memmove(b->cur + i, b->cur + i + 1, (b->ncur - i - 1) * sizeof *b->cur);
        b->ncur--;
        if (b->runner == id)
            b->runner = -1;
        mw->st = MW_IDLE;
        m_break(m, mw->b, -1, 0, mw->client); /* the message names the lost party */
    }
    leave_w(&mw->w, "disconnected", m->now);
    return 1;
}

static void m_op_abort(model *m, uint64_t *rs)
{
    int bi = (int)rnd(rs, MB);
    mbarrier *b = &m->b[bi];
    int want = 0;
    if (!b->exists)
        want = BP_ENOTFOUND;
    else if (b->state != BR_BROKEN)
        m_break(m, bi, -1, 0, "abort");
    REQUIRE(br_abort(R, mnames[bi], 2, "model", m->now) == want);
}

static void m_op_reset(model *m, uint64_t *rs)
{
    int bi = (int)rnd(rs, MB);
    mbarrier *b = &m->b[bi];
    int want = 0;
    if (!b->exists) {
        want = BP_ENOTFOUND;
    } else {
        m_fail_all(m, b, -1, 0, "reset");
        b->state = BR_FILLING;
        b->gen++;
        m_touch(m, b);
    }
    REQUIRE(br_reset(R, mnames[bi], 2, "model", m->now) == want);
}

static void m_op_action_done(model *m, uint64_t *rs)
{
    int bi = (int)rnd(rs, MB);
    mbarrier *b = &m->b[bi];
    const void *owner = &m->otag[rnd(rs, MWN)];
    uint64_t gen = b->exists ? b->gen : 0;
    int success = rnd(rs, 100) < 70;
    int want;
    if (!b->exists) {
        want = BP_ENOTFOUND;
    } else if (b->state != BR_RUNNING_ACTION) {
        want = BP_EINVAL;
    } else if (rnd(rs, 100) < 75) {
        owner = &m->otag[b->runner];
        want = 0;
        if (success)
            m_release(m, bi);
        else
            m_break(m, bi, b->runner, BP_EACTION, "action");
    } else {
        want = BP_EINVAL;
        switch (rnd(rs, 3)) {
        case 0:
            owner = &m->otag[(b->runner + 1 + (int)rnd(rs, MWN - 1)) % MWN];
            break;
        case 1:
            gen = b->gen + 1 + rnd(rs, 3);
            break;
        default:
            owner = &m->otag[b->runner];
            gen = b->gen ? b->gen - 1 : UINT64_MAX;
            break;
        }
    }
    char msg[256] = "";
    int rc = br_action_done(R, mnames[bi], 2, gen, success, owner, m->now, msg, sizeof msg);
    REQUIRE_MSG(rc == want, "action_done on %s: %d (%s), model %d", mnames[bi], rc, msg, want);
}

static void m_op_expire(model *m, uint64_t *rs)
{
    m->now += (int64_t)rnd(rs, 12);
    for (int bi = 0; bi < MB; bi++) {
        mbarrier *b = &m->b[bi];
        if (!b->exists || b->state != BR_FILLING)
            continue;
        int culprit = -1;
        for (unsigned i = 0; i < b->ncur; i++) {
            int id = b->cur[i];
            int64_t d = m->w[id].deadline;
            if (d >= 0 && d <= m->now && (culprit < 0 || d < m->w[culprit].deadline))
                culprit = id;
        }
        if (culprit >= 0)
            m_break(m, bi, culprit, BP_ETIMEDOUT, "timed out");
    }
    br_expire(R, m->now);
}

static void m_op_sweep(model *m, uint64_t *rs)
{
    int64_t ttl = (int64_t)rnd(rs, 40);
    size_t want = 0;
    for (int bi = 0; bi < MB; bi++) {
        mbarrier *b = &m->b[bi];
        if (b->exists && b->ncur == 0 && b->npend == 0 && b->runner < 0 &&
            b->state != BR_RUNNING_ACTION && m->now - b->idle_since >= ttl) {
            b->exists = 0;
            m->st.barriers--;
            want++;
        }
    }
    REQUIRE(br_sweep_idle(R, m->now, ttl) == want);
}

static void run_model(uint64_t seed, int steps, size_t max_barriers, int allow_pending_fill)
{
    static model mm;
    model *m = &mm;
    memset(m, 0, sizeof *m);
    m->max_barriers = max_barriers;
    m->allow_pending_fill = allow_pending_fill;
    m->now = 1000;
    for (int i = 0; i < MWN; i++)
        snprintf(m->w[i].client, sizeof m->w[i].client, "client%02d", i);
    br_free(R);
    R = br_new(max_barriers, sink, NULL);
    REQUIRE(R != NULL);
    rec_clear();
    uint64_t rs = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int step = 0; step < steps; step++) {
        unsigned p = rnd(&rs, 100);
        const char *op;
        if (p < 45) {
            op = "arrive";
            if (!m_op_arrive(m, &rs))
                continue;
        } else if (p < 54) {
            op = "leave";
            if (!m_op_leave(m, &rs))
                continue;
        } else if (p < 58) {
            op = "abort";
            m_op_abort(m, &rs);
        } else if (p < 63) {
            op = "reset";
            m_op_reset(m, &rs);
        } else if (p < 76) {
            op = "action_done";
            m_op_action_done(m, &rs);
        } else if (p < 95) {
            op = "expire";
            m_op_expire(m, &rs);
        } else {
            op = "sweep";
            m_op_sweep(m, &rs);
        }
        m_check(m, seed, step, op);
    }
    /* Shutdown tells every waiter still held. */
    for (int bi = 0; bi < MB; bi++)
        if (m->b[bi].exists)
            m_fail_all(m, &m->b[bi], -1, 0, "bye");
    for (unsigned j = 0; j < m->nexp; j++)
        m->exp[j].code = BP_ESHUTDOWN;
    br_shutdown(R, "bye");
    for (size_t k = 0; k < n_recs; k++) /* shutdown does not touch the state */
        REQUIRE(recs[k].kind == BR_FAIL);
    for (unsigned j = 0; j < m->nexp; j++)
        m->exp[j].gen = -1;
    /* m_check's state comparison does not apply after shutdown: match outcomes only. */
    for (size_t k = 0; k < n_recs; k++)
        for (unsigned i = 0; i < recs[k].n; i++) {
            int id = m_waiter_id(m, recs[k].w[i]);
            int found = 0;
            for (unsigned j = 0; j < m->nexp; j++)
                if (m->exp[j].w == id && !m->exp[j].matched) {
                    REQUIRE(recs[k].code[i] == BP_ESHUTDOWN);
                    m->exp[j].matched = found = 1;
                    break;
                }
            REQUIRE_MSG(found, "shutdown told waiter %d, not held", id);
        }
    for (unsigned j = 0; j < m->nexp; j++)
        REQUIRE_MSG(m->exp[j].matched, "shutdown did not tell waiter %d", m->exp[j].w);
    br_stats s;
    br_get_stats(R, &s);
    REQUIRE(s.waiting == 0);
    /* Every accepted wait ended exactly once: an outcome or its own leave. */
    REQUIRE(m->accepted == m->finals + m->leaves);
    REQUIRE(s.waits == m->accepted);
}

static const struct {
    uint64_t seed;
    size_t max_barriers;
} model_cases[] = {{1, 0}, {2, 0}, {3, 2}, {4, 0}, {5, 1}, {6, 0}, {7, 2}, {8, 0},
                   {9, 0}, {10, 3}, {11, 0}, {12, 2}};

START_TEST(random_model)
{
    run_model(model_cases[_i].seed, 20000, model_cases[_i].max_barriers, 0);
}
END_TEST

/* The same walk, letting arrivals during an action fill whole generations (see
 * pending_fill_generation_releases). */
START_TEST(random_model_pending_fill)
{
    run_model(model_cases[_i].seed, 20000, model_cases[_i].max_barriers, 1);
}
END_TEST

/* ------------------------------------------------------------------------ */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc;

    tc = tcase_create("release");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, release_n_parties, 0, N_OF(release_parties));
    tcase_add_test(tc, cyclic_many_generations);
    tcase_add_test(tc, single_party_releases_at_once);
    tcase_add_test(tc, barriers_are_independent);
    tcase_add_test(tc, names_are_length_delimited);
    tcase_add_test(tc, generations_only_grow);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, parties_mismatch_refused, 0, N_OF(mismatch_cases));
    tcase_add_test(tc, parties_mismatch_while_running_and_broken);
    tcase_add_loop_test(tc, unknown_name_notfound, 0, NF_OPS * N_OF(nf_names));
    tcase_add_test(tc, max_barriers_limit);
    tcase_add_test(tc, no_limit_many_barriers);
    suite_add_tcase(s, tc);

    tc = tcase_create("action");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, action_last_arriver_runs_then_releases);
    tcase_add_test(tc, action_only_of_last_arriver);
    tcase_add_test(tc, action_single_party);
    tcase_add_test(tc, action_failure_breaks);
    tcase_add_loop_test(tc, action_done_invalid, 0, AD_CASES);
    tcase_add_test(tc, action_waits_during_action_join_next_generation);
    tcase_add_test(tc, action_pending_starts_next_action);
    tcase_add_test(tc, action_deadlines_do_not_fire);
    tcase_add_test(tc, action_runner_leaves);
    tcase_add_test(tc, action_other_party_leaves);
    tcase_add_test(tc, action_pending_leaves);
    tcase_add_test(tc, action_abort_and_reset_during_action);
    tcase_add_test(tc, pending_fill_generation_releases);
    tcase_add_test(tc, pending_fill_single_party);
    tcase_add_test(tc, pending_queue_bounded);
    tcase_add_test(tc, hash_seed);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeout");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, timeout_breaks_barrier);
    tcase_add_test(tc, timeout_earliest_is_culprit);
    tcase_add_loop_test(tc, timeout_zero, 0, TZ_CASES);
    tcase_add_test(tc, timeout_release_wins_same_moment);
    tcase_add_test(tc, timeout_expire_before_last_arrival);
    tcase_add_test(tc, next_deadline_is_earliest);
    tcase_add_test(tc, timeout_several_barriers_one_expire);
    tcase_add_test(tc, timeout_many_deadlines);
    suite_add_tcase(s, tc);

    tc = tcase_create("abort_reset_leave");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, abort_breaks_until_reset);
    tcase_add_test(tc, abort_empty_barrier);
    tcase_add_test(tc, reset_fails_waiters_and_advances);
    tcase_add_loop_test(tc, leave_breaks_for_others, 0, N_OF(leaver_pos));
    tcase_add_test(tc, leave_lone_waiter);
    tcase_add_test(tc, message_is_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sweep_idle_barriers);
    tcase_add_test(tc, sweep_refused_waits_are_not_activity);
    tcase_add_test(tc, shutdown_fails_everybody);
    tcase_add_test(tc, stats_counters);
    tcase_add_test(tc, info_and_waiters);
    tcase_add_test(tc, foreach_visits_each_once);
    tcase_add_test(tc, poisoned_waiters_are_not_touched);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, random_model, 0, N_OF(model_cases));
    tcase_add_loop_test(tc, random_model_pending_fill, 0, N_OF(model_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(registry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
