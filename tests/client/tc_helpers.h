/* tc_helpers.h - helpers shared by the client and fault test suites. The
 * server, the clock and the runner are tests/support's. */
#ifndef TC_HELPERS_H
#define TC_HELPERS_H

#include "barrierclient.h"
#include "ts_launch.h"

#include <pthread.h>
#include <sys/types.h>

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

/* Start a server for a client test: --heartbeat 0.2, then the extra arguments
 * (NULL or NULL-terminated); asserted (ts_server_upv). */
void tc_server_up(ts_server *s, const char *const *extra);

/* Poll status (on its own connection to addr) until barrier `name` has n
 * waiting (a barrier not created yet counts as 0), for at most timeout_s.
 * Returns 1 if it got there. */
int tc_await_waiting(const char *addr, const char *name, unsigned n, double timeout_s);

/* Connect or fail the test. */
bc_client *tc_connect(const char *addr);

/* A barrierctl run in a child process, its stdout and stderr captured. */
typedef struct tc_ctl {
    pid_t pid;
    int status;     /* exit status, or -1 if killed at the time limit */
    char out[8192]; /* stdout */
    char err[8192]; /* stderr */
    char out_path[64], err_path[64];
} tc_ctl;

/* Start barrierctl ($BARRIERCTL) with the arguments (NULL-terminated) in a
 * child that dies with us, stdin from /dev/null; drop_token removes
 * $BARRIERD_TOKEN from its environment. Asserted. */
void tc_ctl_start(tc_ctl *r, int drop_token, ...) __attribute__((sentinel));
/* The same with the arguments in an array (NULL-terminated). */
void tc_ctl_startv(tc_ctl *r, int drop_token, const char *const *args);
/* Wait up to limit_s for it to exit (then kill it); returns r->status. */
int tc_ctl_finish(tc_ctl *r, double limit_s);

#endif
