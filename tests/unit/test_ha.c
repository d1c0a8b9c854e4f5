/* test_ha.c - the HA decisions without etcd: who may serve and when to fence
 * (server/ha_role.c), and the barrier records a successor loads
 * (server/ha_mirror.c). Time is a number, as in test_registry. */
#include "ha_mirror.h"
#include "ha_role.h"

#include "bp_error.h"

#include "ts_run.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(role_serves_only_leading_within_lease)
{
    ha_role r;
    ha_role_init(&r, 3000);
    ck_assert_int_eq(ha_role_tick_ms(&r), 1000);
    ck_assert(!ha_role_may_serve(&r, 0));
    ck_assert_str_eq(ha_role_name(&r), "no-lease");
    ha_role_granted(&r, 42, 3000, 100); /* sent at 100: sure until 3100 */
    ck_assert_str_eq(ha_role_name(&r), "standby");
    ck_assert(!ha_role_may_serve(&r, 200));
    ha_role_elected(&r, 7, "10.0.0.1:7411");
    ck_assert(!ha_role_may_serve(&r, 200)); /* loading the mirror */
    ha_role_serving(&r, 300, 6000);
    ck_assert(ha_role_may_serve(&r, 300));
    ck_assert_int_eq(r.resume_until_ms, 6300);
    /* The lease is counted from when a request was sent, with a margin. */
    ck_assert(ha_role_may_serve(&r, 3100 - HA_FENCE_MARGIN_MS - 1));
    ck_assert(!ha_role_may_serve(&r, 3100 - HA_FENCE_MARGIN_MS));
    ck_assert(ha_role_must_fence(&r, 3100 - HA_FENCE_MARGIN_MS));
    /* A keepalive sent at 1000 and answered moves it on to 4000. */
    ck_assert_int_eq(ha_role_renewed(&r, 3000, 1000), 0);
    ck_assert(ha_role_may_serve(&r, 3500));
    /* An older answer never moves it back. */
    ck_assert_int_eq(ha_role_renewed(&r, 3000, 500), 0);
    ck_assert_int_eq(r.lease_until_ms, 4000);
    /* A stopped process wakes long after: it must fence, not serve. */
    ck_assert(!ha_role_may_serve(&r, 60000));
    ck_assert(ha_role_must_fence(&r, 60000));
    ha_role_reset(&r);
    ck_assert_uint_eq(r.fences, 1);
    ck_assert(!ha_role_may_serve(&r, 0));
    ck_assert_str_eq(r.leader, "");
}
END_TEST

START_TEST(role_lease_lost)
{
    ha_role r;
    ha_role_init(&r, 2000);
    ha_role_granted(&r, 1, 2000, 0);
    ck_assert(!ha_role_lease_expired(&r, 1999));
    ck_assert(ha_role_lease_expired(&r, 2000));
    ck_assert_int_eq(ha_role_renewed(&r, 0, 10), 1); /* etcd forgot the lease */
    ha_role_leader_seen(&r, "10.0.0.2:7411");
    ck_assert_str_eq(r.leader, "10.0.0.2:7411");
    ck_assert(!ha_role_must_fence(&r, 100000)); /* a standby has nothing to fence */
}
END_TEST

START_TEST(mirror_round_trip)
{
    bp_buf b = BP_BUF_INIT;
    ha_mirror_begin(&b, 3, 41, 1, "aborted by 10.0.0.9:5 \"x\"", 2);
    ha_mirror_waiter(&b, 0, "teller-1", "10.0.0.1:1");
    ha_mirror_waiter(&b, 1, "teller-2", "10.0.0.2:2");
    ha_mirror_end(&b);
    ha_mirror_rec rec;
    ck_assert_int_eq(ha_mirror_decode(b.data, b.len, &rec), 0);
    ck_assert_uint_eq(rec.parties, 3);
    ck_assert_uint_eq(rec.generation, 41);
    ck_assert_int_eq(rec.broken, 1);
    ck_assert_str_eq(rec.reason, "aborted by 10.0.0.9:5 \"x\"");
    ck_assert_uint_eq(rec.n_waiting, 2);
    ck_assert_uint_eq(rec.n_listed, 2);
    ck_assert_str_eq(rec.clients[1], "teller-2");
    ha_mirror_rec_free(&rec);
    bp_buf_free(&b);
    const char *bad[] = {"", "[]", "{\"parties\":0,\"generation\":1}", "{\"parties\":2}",
                         "{\"parties\":2,\"generation\":-1,\"broken\":false,\"reason\":\"\","
                         "\"n_waiting\":0,\"waiting\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(ha_mirror_decode(bad[i], strlen(bad[i]), &rec), BP_EPROTO);
}
END_TEST

/* A barrier's member list (rendezvous) rides in its record, so a new leader
 * restores it; a list that does not match parties is not one. */
START_TEST(mirror_members)
{
    bp_buf b = BP_BUF_INIT;
    ha_mirror_begin(&b, 2, 5, 0, "", 1);
    ha_mirror_waiter(&b, 0, "c", "h:1");
    ha_mirror_end_members(&b, "teller-1\0teller-\"2\0", 2);
    ha_mirror_rec rec;
    ck_assert_int_eq(ha_mirror_decode(b.data, b.len, &rec), 0);
    ck_assert_uint_eq(rec.n_members, 2);
    ck_assert_mem_eq(rec.members, "teller-1\0teller-\"2\0", 19);
    ha_mirror_rec_free(&rec);
    ck_assert_ptr_null(rec.members);
    bp_buf_free(&b);
    const char *bad = "{\"parties\":3,\"generation\":1,\"broken\":false,\"reason\":\"\","
                      "\"n_waiting\":0,\"waiting\":[],\"members\":[\"a\",\"b\"]}";
    ck_assert_int_eq(ha_mirror_decode(bad, strlen(bad), &rec), BP_EPROTO);
    /* A record without a list (an older leader's) has none. */
    const char *old = "{\"parties\":3,\"generation\":1,\"broken\":false,\"reason\":\"\","
                      "\"n_waiting\":0,\"waiting\":[]}";
    ck_assert_int_eq(ha_mirror_decode(old, strlen(old), &rec), 0);
    ck_assert_ptr_null(rec.members);
    ck_assert_uint_eq(rec.n_members, 0);
    ha_mirror_rec_free(&rec);
}
END_TEST

START_TEST(mirror_lists_at_most_max_waiters)
{
    bp_buf b = BP_BUF_INIT;
    ha_mirror_begin(&b, 5000, 0, 0, "", 5000);
    for (unsigned i = 0; i < 5000; i++)
        ha_mirror_waiter(&b, i, "p", "h:1");
    ha_mirror_end(&b);
    ha_mirror_rec rec;
    ck_assert_int_eq(ha_mirror_decode(b.data, b.len, &rec), 0);
    ck_assert_uint_eq(rec.n_waiting, 5000);
    ck_assert_uint_eq(rec.n_listed, HA_MIRROR_WAITERS_MAX);
    ha_mirror_rec_free(&rec);
    bp_buf_free(&b);
}
END_TEST

static int take(void *ctx, char *name)
{
    unsigned *n = ctx;
    free(name);
    return ++*n < 10; /* take ten at a time */
}

START_TEST(dirty_set_dedups_and_drains_in_batches)
{
    ha_dirty d = {0};
    char name[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 25; i++) {
            snprintf(name, sizeof name, "b%d", i);
            ck_assert_int_eq(ha_dirty_add(&d, name, strlen(name)), 0);
        }
    ck_assert_uint_eq(d.n, 25);
    unsigned n = 0;
    ha_dirty_take(&d, take, &n);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(d.n, 15);
    /* The 15 left are still found after the batch: adding all 25 again adds
     * back only the 10 taken. */
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "b%d", i);
        ck_assert_int_eq(ha_dirty_add(&d, name, strlen(name)), 0);
    }
    ck_assert_uint_eq(d.n, 25);
    n = 0;
    ha_dirty_take(&d, take, &n);
    n = 0;
    ha_dirty_take(&d, take, &n);
    n = 0;
    ha_dirty_take(&d, take, &n);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_uint_eq(n, 5);
    ha_dirty_free(&d);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"role_serves_only_leading_within_lease", role_serves_only_leading_within_lease, 0},
        {"role_lease_lost", role_lease_lost, 0},
        {"mirror_round_trip", mirror_round_trip, 0},
        {"mirror_members", mirror_members, 0},
        {"mirror_lists_at_most_max_waiters", mirror_lists_at_most_max_waiters, 0},
        {"dirty_set_dedups_and_drains_in_batches", dirty_set_dedups_and_drains_in_batches, 0},
    };
    return ts_run_cases("ha", cases, TS_NCASES(cases));
}
