/* test_watch.c - the watch API of libbarrierclient (bc_watch_*) against a real
 * barrierd: events with their fields, the state when the watch began, bad
 * arguments, and a server that goes away, stops, or is killed. */
#include "tc_helpers.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <check.h>
#include <signal.h>
#include <string.h>

static ts_server srv;

static void setup(void)
{
    tc_server_up(&srv, NULL);
}

static void teardown(void)
{
    ts_server_cleanup(&srv);
}

static bc_watch *open_watch(const char *name)
{
    bc_watch *w = NULL;
    bc_options o = {.io_grace_s = 0.5};
    int rc = bc_watch_open(srv.addr, &o, name, &w);
    ck_assert_msg(rc == BC_OK, "watch: %s (%s)", bc_strerror(rc), bc_last_error_message());
    return w;
}

static void next_event(bc_watch *w, bc_event *e, const char *type)
{
    int rc = bc_watch_next(w, 10, e);
    ck_assert_msg(rc == BC_OK, "next: %s (%s)", bc_strerror(rc), bc_last_error_message());
    ck_assert_str_eq(e->type, type);
}

static bc_client *named(const char *name)
{
    bc_options o = {.client_name = name};
    bc_client *c = NULL;
    ck_assert_int_eq(bc_connect(srv.addr, &o, &c), BC_OK);
    return c;
}

START_TEST(test_events)
{
    bc_watch *w = open_watch("w");
    bc_status st;
    ck_assert_int_eq(bc_watch_status(w, &st), BC_ENOTFOUND);
    bc_event e;
    ck_assert_str_eq(bc_watch_json(w), "");
    double t0 = ts_now_s();
    ck_assert_int_eq(bc_watch_next(w, 0.2, &e), BC_ETIMEDOUT);
    ck_assert(ts_now_s() - t0 >= 0.19);
    bc_client *a = named("tc-1"), *b = named("tc-2");
    tc_waiter wa = {.c = a, .name = "w", .parties = 2, .timeout_s = 10};
    tc_waiter_start(&wa);
    next_event(w, &e, "arrive");
    ck_assert_str_eq(e.barrier, "w");
    ck_assert_uint_eq(e.generation, 0);
    ck_assert_uint_eq(e.n_waiting, 1);
    ck_assert_uint_eq(e.parties, 2);
    ck_assert(e.has_index);
    ck_assert_uint_eq(e.index, 0);
    ck_assert_str_eq(e.client, "tc-1");
    ck_assert_str_eq(e.cause, "");
    ck_assert(strncmp(bc_watch_field(w, "peer"), "127.0.0.1:", 10) == 0);
    ck_assert_str_eq(bc_watch_field(w, "nope"), "");
    ck_assert_ptr_nonnull(strstr(bc_watch_json(w), "\"event\":\"arrive\""));
    for (size_t i = 0; i < sizeof e.reserved / sizeof e.reserved[0]; i++)
        ck_assert_uint_eq(e.reserved[i], 0);
    ck_assert_int_eq(bc_wait(b, "w", 2, 10, NULL, NULL, NULL), BC_OK);
    tc_waiter_join(&wa);
    ck_assert_int_eq(wa.rc, BC_OK);
    next_event(w, &e, "arrive");
    ck_assert_str_eq(e.client, "tc-2");
    ck_assert_uint_eq(e.n_waiting, 2);
    next_event(w, &e, "release");
    ck_assert(!e.has_index);
    ck_assert_uint_eq(e.generation, 0);
    /* a break names its cause and reason */
    ck_assert_int_eq(bc_abort(a, "w"), BC_OK);
    next_event(w, &e, "break");
    ck_assert_str_eq(e.cause, "abort");
    ck_assert_uint_eq(e.generation, 1);
    ck_assert(strncmp(bc_watch_field(w, "reason"), "aborted by ", 11) == 0);
    /* a new watch starts from the barrier's state */
    bc_watch *w2 = open_watch("w");
    ck_assert_int_eq(bc_watch_status(w2, &st), BC_OK);
    ck_assert_uint_eq(st.parties, 2);
    ck_assert_uint_eq(st.generation, 1);
    ck_assert(st.broken);
    ck_assert_str_eq(st.state, "broken");
    /* a watch on every barrier sees others too; one on w does not */
    bc_watch *all = open_watch(NULL);
    ck_assert_int_eq(bc_watch_status(all, &st), BC_ENOTFOUND);
    ck_assert_int_eq(bc_wait(a, "other", 1, 10, NULL, NULL, NULL), BC_OK);
    next_event(all, &e, "arrive");
    ck_assert_str_eq(e.barrier, "other");
    ck_assert_int_eq(bc_watch_next(w2, 0.3, &e), BC_ETIMEDOUT);
    bc_watch_close(all);
    bc_watch_close(w2);
    bc_watch_close(w);
    bc_close(a);
    bc_close(b);
}
END_TEST

START_TEST(test_bad_arguments)
{
    bc_watch *w = NULL;
    ck_assert_int_eq(bc_watch_open(srv.addr, NULL, "", &w), BC_EINVAL);
    ck_assert_int_eq(bc_watch_open(srv.addr, NULL, "a\nb", &w), BC_EINVAL);
    ck_assert_int_eq(bc_watch_open(srv.addr, NULL, "x", NULL), BC_EINVAL);
    ck_assert_ptr_null(w);
    bc_event e;
    ck_assert_int_eq(bc_watch_next(NULL, 0, &e), BC_EINVAL);
    ck_assert_str_eq(bc_watch_json(NULL), "");
    ck_assert_str_eq(bc_watch_field(NULL, "reason"), "");
    bc_watch_close(NULL);
    bc_options o = {.connect_timeout_s = 2};
    ck_assert_int_eq(bc_watch_open("127.0.0.1:1", &o, NULL, &w), BC_ECONN);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(test_server_goes_away)
{
    bc_watch *w = open_watch(NULL);
    ck_assert_int_eq(ts_server_stop(&srv, 10000, NULL), 0);
    bc_event e;
    int rc = bc_watch_next(w, 10, &e);
    ck_assert_msg(rc == BC_ESHUTDOWN || rc == BC_ECONN, "%s", bc_strerror(rc));
    /* over for good: no reconnect */
    rc = bc_watch_next(w, 0.1, &e);
    ck_assert_msg(rc == BC_ESHUTDOWN || rc == BC_ECONN, "%s", bc_strerror(rc));
    bc_watch_close(w);
}
END_TEST

START_TEST(test_server_stopped)
{
    bc_watch *w = open_watch(NULL);
    bc_event e;
    ck_assert_int_eq(bc_watch_next(w, 1, &e), BC_ETIMEDOUT); /* quiet, but alive */
    kill(srv.pid, SIGSTOP);
    double t0 = ts_now_s();
    /* silence limit: 3 heartbeats (0.6 s) + 0.5 s, then a ping and 0.5 s more */
    int rc;
    while ((rc = bc_watch_next(w, 0.5, &e)) == BC_ETIMEDOUT && ts_now_s() - t0 < 20)
        ;
    double took = ts_now_s() - t0;
    kill(srv.pid, SIGCONT);
    ck_assert_int_eq(rc, BC_ECONN);
    ck_assert_msg(took < 5, "a stopped server was noticed after %.1f s", took);
    bc_watch_close(w);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"events", test_events, 0},
        {"bad_arguments", test_bad_arguments, 0},
        {"server_goes_away", test_server_goes_away, 0},
        {"server_stopped", test_server_stopped, 0},
    };
    ts_suite suite = {"watch", cases, TS_NCASES(cases), setup, teardown, NULL, 0};
    return ts_run(&suite);
}
