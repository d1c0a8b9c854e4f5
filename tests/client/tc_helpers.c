/* tc_helpers.c - see tc_helpers.h. */
#include "tc_helpers.h"

#include "bd_fixture.h"

#include <check.h>
#include <stdio.h>

static void *waiter_main(void *arg)
{
    tc_waiter *w = arg;
    double t0 = bd_now();
    w->rc = bc_wait(w->c, w->name, w->parties, w->timeout_s, w->action, w->action_arg, &w->res);
    w->elapsed_s = bd_now() - t0;
    snprintf(w->msg, sizeof w->msg, "%s", w->rc < 0 ? bc_last_error_message() : "");
    return NULL;
}

void tc_waiter_start(tc_waiter *w)
{
    ck_assert_int_eq(pthread_create(&w->thread, NULL, waiter_main, w), 0);
    w->started = 1;
}

void tc_waiter_join(tc_waiter *w)
{
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
}

int tc_await_waiting(const char *addr, const char *name, unsigned n, double timeout_s)
{
    bc_client *c = tc_connect(addr);
    int ok = 0;
    for (double end = bd_now() + timeout_s; !ok && bd_now() < end;) {
        bc_status st;
        ok = bc_status_get(c, name, &st) == 0 && st.n_waiting == n;
        if (!ok) bd_sleep(0.02);
    }
    bc_close(c);
    return ok;
}

bc_client *tc_connect(const char *addr)
{
    bc_client *c = NULL;
    int rc = bc_connect(addr, NULL, &c);
    ck_assert_msg(rc == 0, "connect %s: %s (%s)", addr, bc_strerror(rc), bc_last_error_message());
    return c;
}
