/* faults_common.h - shared by the fault-injection suites (tests/faults).
 *
 * The server comes from tests/support's launcher (ts_server_up: a real
 * barrierd on a free loopback port, its log dumped on failure), raw sockets
 * from tests/integration's fixture; the parties are real processes using the
 * real libbarrierclient:
 *
 *   fx_party: fork a process that connects (optionally from inside a network
 *   namespace; resuming off, bc_options.resume_s -1, so a lost server or path
 *   shows at once) and blocks in bc_wait; its outcome, bc_last_error_message() and
 *   the CLOCK_MONOTONIC time bc_wait returned come back through a pipe, so the
 *   test can measure the latency from a fault it injects to the return.
 *
 *   fx_bg: a process with two threads driving one barrier of two parties with
 *   the library, generation after generation, recording progress and the
 *   longest gap between releases in shared memory: "a concurrent barrier keeps
 *   completing throughout".
 *
 * Every wait in here is bounded; forked processes die with the test
 * (ts_fork: PR_SET_PDEATHSIG).
 */
#ifndef FAULTS_COMMON_H
#define FAULTS_COMMON_H

#include "barrierclient.h"
#include "itest_fixture.h"
#include "tc_helpers.h"
#include "ts_slow.h"

#include <stdint.h>
#include <sys/types.h>

/* Time is ts_clock.h's (ts_now_s: CLOCK_MONOTONIC, comparable across
 * processes); time bounds are multiplied by ts_slow() (ts_slow.h). The server
 * is a ts_server (s.addr: "127.0.0.1:PORT"); skipping and running are
 * ts_run.h's. */

/* ---- a waiting party in its own process ---- */

typedef struct fx_party_spec {
    const char *addr;    /* where to connect */
    const char *barrier; /* what to wait at */
    unsigned parties;
    double timeout_s;    /* < 0: forever */
    const char *client_name;
    const char *token;   /* bc_options.auth_token, may be NULL */
    const char *netns;   /* /run/netns/NAME to join before connecting, or NULL */
    int action;          /* FX_ACTION_* */
    double io_grace_s;   /* bc_options.io_grace_s (0: default) */
} fx_party_spec;

enum {
    FX_ACTION_NONE = 0,
    FX_ACTION_EXIT,  /* the action _exits the process (status 42) */
    FX_ACTION_HANG,  /* the action writes 'A' to the notify pipe, then sleeps */
};

typedef struct fx_result {
    int connected;     /* bc_connect's code */
    int rc;            /* bc_wait's code */
    double t_return;   /* ts_now_s() when bc_wait returned */
    unsigned index;
    uint64_t generation;
    char msg[768];     /* bc_last_error_message() after the failure */
} fx_result;

typedef struct fx_party {
    pid_t pid;
    int rfd;     /* result pipe */
    int notify;  /* read end of the action notification pipe, or -1 */
    int reaped;
    int status;
} fx_party;

/* Fork a party. Asserted. */
void fx_party_start(fx_party *p, const fx_party_spec *spec);
/* Read its result within timeout_s: 1 when there is one, 0 if not (yet). */
int fx_party_result(fx_party *p, double timeout_s, fx_result *out);
/* 1 if it sent 'A' from inside its action within timeout_s. */
int fx_party_in_action(fx_party *p, double timeout_s);
/* SIGKILL (if still running) and reap it; bounded. */
void fx_party_kill(fx_party *p);
/* Reap it within timeout_s; returns the wait status or -1. */
int fx_party_reap(fx_party *p, double timeout_s);

/* Waiting for n parties at a barrier: tc_await_waiting (tc_helpers.h). */

/* ---- a barrier that keeps completing in the background ---- */

typedef struct fx_bg_shared fx_bg_shared;
typedef struct fx_bg {
    pid_t pid;
    fx_bg_shared *sh;
} fx_bg;

/* Start it (a process, two threads, two handles, barrier `name` of 2). */
void fx_bg_start(fx_bg *bg, const char *addr, const char *name);
/* Generations completed so far. */
uint64_t fx_bg_generations(const fx_bg *bg);
/* Stop it; assert it never failed, completed at least min_generations and
 * never went longer than max_gap_s between two releases (while running). */
void fx_bg_check(fx_bg *bg, uint64_t min_generations, double max_gap_s, const char *what);

#endif
