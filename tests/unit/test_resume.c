/* test_resume.c - unit tests of the re-announce rules (server/br_resume.c):
 * a restarted server rebuilds barriers from what resuming parties report, and
 * a live one answers a wait whose generation ended while its party was away.
 * No sockets: a recording sink and a hand-driven clock, as in test_registry. */
#include "br_registry.h"

#include "bp_error.h"

#include "ts_run.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXW 64

/* What the sink said to each waiter (the test owns the waiters). */
typedef struct told {
    br_kind kind;
    int code;
    unsigned index;
    uint64_t generation;
    int finals, runs;
    char message[512];
} told;

static br_waiter ws[MAXW];
static told tells[MAXW];
static char owners[MAXW]; /* stand-ins for connections: &owners[i] */

static void sink(void *ctx, const br_outcome *o)
{
    (void)ctx;
    for (unsigned i = 0; i < o->n; i++) {
        long k = o->waiters[i] - ws;
        ck_assert(k >= 0 && k < MAXW);
        told *t = &tells[k];
        t->kind = o->kind;
        t->generation = o->generation;
        t->index = o->waiters[i]->index;
        if (o->kind == BR_RUN_ACTION) {
            t->runs++;
            continue;
        }
        t->finals++;
        t->code = o->kind == BR_FAIL ? (o->culprit == o->waiters[i] ? o->culprit_code : o->code) : 0;
        snprintf(t->message, sizeof t->message, "%s", o->message ? o->message : "");
    }
}

static br_registry *reg_new(int recovering)
{
    memset(ws, 0, sizeof ws);
    memset(tells, 0, sizeof tells);
    br_registry *r = br_new(0, sink, NULL);
    ck_assert(r != NULL);
    if (recovering)
        br_set_recovery(r, 1000000);
    return r;
}

/* Waiter k on connection `owner`: a plain wait, then what it reports. */
static br_waiter *party(int k, int owner)
{
    br_waiter *w = &ws[k];
    memset(w, 0, sizeof *w);
    w->owner = &owners[owner];
    w->has_id = 1;
    w->id = (uint64_t)k;
    w->deadline_ms = -1;
    w->client = "p";
    w->peer = "peer";
    return w;
}

static void saw_release(br_waiter *w, uint64_t gen, unsigned index)
{
    w->has_last = 1;
    w->last_gen = gen;
    w->last_released = 1;
    w->last_index = index;
}

static void saw_failure(br_waiter *w, uint64_t gen)
{
    w->has_last = 1;
    w->last_gen = gen;
}

static void arrive(br_registry *r, const char *name, unsigned parties, br_waiter *w)
{
    char msg[256];
    int rc = br_arrive(r, name, strlen(name), parties, w, 0, msg, sizeof msg);
    ck_assert_msg(rc == 0, "arrive: %d %s", rc, msg);
}

static uint64_t generation_of(br_registry *r, const char *name)
{
    const br_barrier *b = br_find(r, name, strlen(name));
    ck_assert(b != NULL);
    br_info in;
    br_barrier_info(b, &in);
    return in.generation;
}

static void expect_release(int k, uint64_t gen, unsigned index)
{
    ck_assert_msg(tells[k].finals == 1 && tells[k].kind == BR_RELEASE,
                  "waiter %d: %d finals, kind %d (%s)", k, tells[k].finals, tells[k].kind,
                  tells[k].message);
    ck_assert_uint_eq(tells[k].generation, gen);
    ck_assert_uint_eq(tells[k].index, index);
}

static void expect_waiting(int k)
{
    ck_assert_msg(tells[k].finals == 0, "waiter %d was told %d (%s)", k, tells[k].code,
                  tells[k].message);
}

static br_stats stats(br_registry *r)
{
    br_stats st;
    br_get_stats(r, &st);
    return st;
}

START_TEST(generations_continue)
{
    br_registry *r = reg_new(1);
    br_waiter *a = party(0, 0), *b = party(1, 1);
    saw_release(a, 41, 1);
    a->resume = 1;
    arrive(r, "g", 2, a);
    ck_assert_uint_eq(generation_of(r, "g"), 42);
    saw_release(b, 41, 0);
    arrive(r, "g", 2, b);
    expect_release(0, 42, 0);
    expect_release(1, 42, 1);
    ck_assert_uint_eq(generation_of(r, "g"), 43);
    br_free(r);
}
END_TEST

/* Crash in the middle of a release of generation 10 (4 parties): indexes 0
 * and 1 were told, 2 and 3 not. The untold re-announce first. */
START_TEST(fanout_untold_first)
{
    br_registry *r = reg_new(1);
    br_waiter *u1 = party(0, 0), *u2 = party(1, 1), *p1 = party(2, 2), *p2 = party(3, 3);
    saw_release(u1, 9, 2);
    saw_release(u2, 9, 0);
    u1->resume = u2->resume = 1;
    arrive(r, "f", 4, u1);
    arrive(r, "f", 4, u2);
    expect_waiting(0);
    /* A party told of generation 10 proves it released: the others are released
     * too, from the top down, and it joins generation 11. */
    saw_release(p1, 10, 0);
    arrive(r, "f", 4, p1);
    ck_assert(tells[0].finals == 1 && tells[1].finals == 1);
    ck_assert_uint_eq(tells[0].generation, 10);
    ck_assert_uint_eq(tells[1].generation, 10);
    ck_assert(tells[0].index + tells[1].index == 5 && tells[0].index != tells[1].index);
    expect_waiting(2);
    ck_assert_uint_eq(generation_of(r, "f"), 11);
    saw_release(p2, 10, 1);
    arrive(r, "f", 4, p2);
    br_stats st = stats(r);
    ck_assert_uint_eq(st.proven, 1);
    ck_assert_uint_eq(st.guessed, 2);
    ck_assert_uint_eq(st.collisions, 0);
    br_free(r);
}
END_TEST

/* The same crash; the told parties come back first. */
START_TEST(fanout_told_first)
{
    br_registry *r = reg_new(1);
    br_waiter *p1 = party(0, 0), *u1 = party(1, 1), *u2 = party(2, 2), *p2 = party(3, 3);
    saw_release(p1, 10, 1);
    arrive(r, "f", 4, p1);
    ck_assert_uint_eq(generation_of(r, "f"), 11);
    saw_release(u1, 9, 3);
    saw_release(u2, 9, 2);
    u1->resume = u2->resume = 1;
    arrive(r, "f", 4, u1);
    expect_release(1, 10, 3);
    arrive(r, "f", 4, u2);
    expect_release(2, 10, 2);
    saw_release(p2, 10, 0);
    arrive(r, "f", 4, p2);
    expect_waiting(0);
    expect_waiting(3);
    ck_assert_uint_eq(stats(r).collisions, 0);
    ck_assert_uint_eq(stats(r).late, 2);
    br_free(r);
}
END_TEST

/* Every index of the generation is taken: the one handed out is a duplicate,
 * and counted. */
START_TEST(collision_counted)
{
    br_registry *r = reg_new(1);
    br_waiter *p1 = party(0, 0), *p2 = party(1, 1), *u1 = party(2, 2);
    saw_release(p1, 3, 0);
    arrive(r, "c", 2, p1);
    saw_release(p2, 3, 1);
    arrive(r, "c", 2, p2);
    expect_release(0, 4, 0);
    expect_release(1, 4, 1);
    /* Generation 4 was released here with both indexes; a third party says it
     * waited in it too (more waits than parties): no index is free. */
    br_registry *r2 = reg_new(1);
    br_free(r);
    r = r2;
    p1 = party(0, 0);
    saw_release(p1, 3, 0);
    arrive(r, "c", 2, p1);
    u1 = party(1, 1);
    saw_release(u1, 2, 0);
    u1->resume = 1;
    arrive(r, "c", 2, u1);
    expect_release(1, 3, 1);
    br_waiter *u2 = party(2, 2);
    saw_release(u2, 2, 1);
    u2->resume = 1;
    arrive(r, "c", 2, u2);
    ck_assert_uint_eq(tells[2].generation, 3);
    ck_assert_uint_eq(stats(r).collisions, 1);
    br_free(r);
}
END_TEST

START_TEST(failure_report_fails_waiters)
{
    br_registry *r = reg_new(1);
    br_waiter *u = party(0, 0), *p = party(1, 1);
    saw_release(u, 9, 0);
    u->resume = 1;
    arrive(r, "b", 2, u);
    saw_failure(p, 10);
    arrive(r, "b", 2, p);
    ck_assert(tells[0].finals == 1 && tells[0].kind == BR_FAIL && tells[0].code == BP_EBROKEN);
    ck_assert_uint_eq(tells[0].generation, 10);
    ck_assert_ptr_nonnull(strstr(tells[0].message, "broke before the server restarted"));
    expect_waiting(1);
    ck_assert_uint_eq(generation_of(r, "b"), 11);
    br_free(r);
}
END_TEST

/* The crash came while a party ran generation 5's action: nobody else is asked. */
START_TEST(action_not_run_twice)
{
    br_registry *r = reg_new(1);
    br_waiter *runner = party(0, 0), *other = party(1, 1);
    saw_release(runner, 4, 0);
    runner->resume = runner->action = 1;
    runner->has_action_gen = 1;
    runner->action_gen = 5;
    arrive(r, "a", 2, runner);
    saw_release(other, 4, 1);
    other->resume = other->action = 1; /* arrives last, with an action of its own */
    arrive(r, "a", 2, other);
    /* Asked again (its library answers with the outcome it has), and only it. */
    ck_assert_int_eq(tells[0].runs, 1);
    ck_assert_int_eq(tells[1].runs, 0);
    char msg[128];
    ck_assert_int_eq(br_action_done(r, "a", 1, 5, 1, &owners[0], 0, msg, sizeof msg), 0);
    ck_assert(tells[0].finals == 1 && tells[1].finals == 1 && tells[0].kind == BR_RELEASE);
    ck_assert_uint_eq(tells[0].generation, 5);
    br_free(r);

    /* Its action_done may come before the generation is full again. */
    r = reg_new(1);
    runner = party(0, 0);
    other = party(1, 1);
    saw_release(runner, 4, 0);
    runner->resume = runner->action = runner->has_action_gen = 1;
    runner->action_gen = 5;
    arrive(r, "a", 2, runner);
    ck_assert_int_eq(br_action_done(r, "a", 1, 5, 0, &owners[0], 0, msg, sizeof msg), 0);
    expect_waiting(0);
    saw_release(other, 4, 1);
    arrive(r, "a", 2, other);
    ck_assert(tells[0].finals == 1 && tells[0].code == BP_EACTION);
    ck_assert(tells[1].finals == 1 && tells[1].code == BP_EBROKEN);
    ck_assert_int_eq(tells[0].runs + tells[1].runs, 0);
    br_free(r);
}
END_TEST

/* A live server: a party whose release was lost with its connection gets it
 * again, at its own index (by ticket); a broken generation's outcome likewise. */
START_TEST(live_late_outcomes)
{
    br_registry *r = reg_new(0);
    br_waiter *a = party(0, 0), *b = party(1, 1);
    a->ticket = 111;
    b->ticket = 222;
    arrive(r, "l", 2, a);
    arrive(r, "l", 2, b);
    expect_release(1, 0, 1);
    br_waiter *again = party(2, 5);
    again->ticket = 222;
    again->resume = 1;
    /* Without a last outcome nothing says its generation ended: it joins. */
    arrive(r, "l", 2, again);
    expect_waiting(2);
    br_free(r);

    r = reg_new(0);
    a = party(0, 0);
    b = party(1, 1);
    a->ticket = 111;
    b->ticket = 222;
    saw_release(a, 6, 0);
    saw_release(b, 6, 1);
    arrive(r, "l", 2, a); /* an empty barrier continues from the party's generation */
    arrive(r, "l", 2, b);
    expect_release(1, 7, 1);
    again = party(2, 5);
    again->ticket = 222;
    again->resume = 1;
    saw_release(again, 6, 1);
    arrive(r, "l", 2, again);
    expect_release(2, 7, 1);
    /* An unknown ticket for that generation cannot be placed. */
    br_waiter *stranger = party(3, 6);
    stranger->ticket = 999;
    stranger->resume = 1;
    saw_release(stranger, 6, 0);
    arrive(r, "l", 2, stranger);
    ck_assert(tells[3].finals == 1 && tells[3].code == BP_EBROKEN);
    br_free(r);
}
END_TEST

/* Its old connection not yet seen to close, a party's wait comes back on a new
 * one: it takes the old wait's place rather than counting twice. */
START_TEST(take_place_of_stale_wait)
{
    br_registry *r = reg_new(0);
    br_waiter *old = party(0, 0), *b = party(1, 1), *fresh = party(2, 2);
    old->ticket = fresh->ticket = 77;
    arrive(r, "t", 3, old);
    fresh->resume = 1;
    arrive(r, "t", 3, fresh);
    ck_assert(tells[0].finals == 1 && tells[0].code == BP_ECONN);
    expect_waiting(2);
    arrive(r, "t", 3, b);
    expect_waiting(1);
    br_waiter *c = party(3, 3);
    arrive(r, "t", 3, c);
    expect_release(2, 0, 0);
    expect_release(1, 0, 1);
    expect_release(3, 0, 2);
    ck_assert_uint_eq(stats(r).replaced, 1);
    br_free(r);
}
END_TEST

/* Waits without the new fields behave as they always did, recovery or not. */
START_TEST(old_clients_unchanged)
{
    br_registry *r = reg_new(1);
    br_waiter *a = party(0, 0), *b = party(1, 1);
    arrive(r, "o", 2, a);
    arrive(r, "o", 2, b);
    expect_release(0, 0, 0);
    expect_release(1, 0, 1);
    br_stats st = stats(r);
    ck_assert_uint_eq(st.proven + st.late + st.guessed + st.replaced, 0);
    br_free(r);
}
END_TEST

static unsigned changes;
static void count_change(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    ck_assert(len == 1 && name[0] == 'h');
    changes++;
}

/* The change hook (what the HA mirror rides on) hears of every change a
 * successor needs: arrivals, releases, breaks, resets, and forgetting. */
START_TEST(change_hook)
{
    br_registry *r = reg_new(0);
    br_set_change_hook(r, count_change, NULL);
    changes = 0;
    arrive(r, "h", 2, party(0, 0));
    ck_assert_uint_eq(changes, 1);
    arrive(r, "h", 2, party(1, 1)); /* arrival and release */
    ck_assert_uint_ge(changes, 2);
    unsigned before = changes;
    arrive(r, "h", 2, party(2, 2));
    br_leave(r, &ws[2], "gone", 0); /* a lost party breaks it */
    ck_assert_uint_eq(changes, before + 2);
    ck_assert_int_eq(br_reset(r, "h", 1, "test", 0), 0);
    ck_assert_uint_eq(changes, before + 3);
    ck_assert_uint_eq(br_sweep_idle(r, 10, 1), 1);
    ck_assert_uint_eq(changes, before + 4);
    br_free(r);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"generations_continue", generations_continue, 0},
        {"fanout_untold_first", fanout_untold_first, 0},
        {"fanout_told_first", fanout_told_first, 0},
        {"collision_counted", collision_counted, 0},
        {"failure_report_fails_waiters", failure_report_fails_waiters, 0},
        {"action_not_run_twice", action_not_run_twice, 0},
        {"live_late_outcomes", live_late_outcomes, 0},
        {"take_place_of_stale_wait", take_place_of_stale_wait, 0},
        {"old_clients_unchanged", old_clients_unchanged, 0},
        {"change_hook", change_hook, 0},
    };
    return ts_run_cases("resume", cases, TS_NCASES(cases));
}
