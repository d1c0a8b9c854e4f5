/* tc_helpers.h - helpers shared by the client test suites. */
#ifndef TC_HELPERS_H
#define TC_HELPERS_H

#include "barrierclient.h"

#include <pthread.h>

/* A bc_wait run in its own thread. Fill the inputs, tc_waiter_start, then
 * tc_waiter_join; the outputs are valid after the join. */
typedef struct tc_waiter {
    /* inputs */
    bc_client *c;
    const char *name;
    unsigned parties;
    double timeout_s;
    bc_action_fn action;
    void *action_arg;
    /* outputs */
    int rc;
    bc_wait_result res;
    char msg[1024];   /* bc_last_error_message() in that thread */
    double elapsed_s; /* how long bc_wait blocked */
    /* private */
    pthread_t thread;
    int started;
} tc_waiter;

void tc_waiter_start(tc_waiter *w);
void tc_waiter_join(tc_waiter *w);

/* Poll status (on its own connection to addr) until barrier `name` has n
 * waiting, for at most timeout_s. Returns 1 if it got there. */
int tc_await_waiting(const char *addr, const char *name, unsigned n, double timeout_s);

/* Connect or fail the test. */
bc_client *tc_connect(const char *addr);

#endif
