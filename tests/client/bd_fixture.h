/* bd_fixture.h - start and stop a real barrierd for the client tests.
 *
 * The server runs with --listen 127.0.0.1:0 --heartbeat 0.2 (plus any extra
 * arguments) and its stderr goes to a temporary file, which is read for the
 * "listening on 127.0.0.1:PORT" line. The binary is $BARRIERD_BIN. A server
 * whose test process dies is killed with it (PR_SET_PDEATHSIG).
 */
#ifndef BD_FIXTURE_H
#define BD_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bd_server {
    pid_t pid;     /* 0 once stopped */
    char addr[64]; /* "127.0.0.1:PORT" */
    char log[128]; /* path of its stderr */
} bd_server;

/* Start a server; extra is NULL or a NULL-terminated list of more arguments.
 * Returns 0, or -1 with a message on stderr. */
int bd_start(bd_server *s, const char *const *extra);
/* SIGTERM, wait up to 10 s, then SIGKILL. Returns the wait status. */
int bd_stop(bd_server *s);
/* Wait up to timeout_s for the server to exit; returns the wait status or -1. */
int bd_wait_exit(bd_server *s, double timeout_s);
/* The address the server logged as "listening on PREFIX..." (e.g. prefix
 * "[::1]:"), copied into out. Returns 0, or -1 if there is no such line. */
int bd_log_addr(const bd_server *s, const char *prefix, char *out, size_t cap);
/* 1 if the server's log contains needle. */
int bd_log_contains(const bd_server *s, const char *needle);

/* Monotonic seconds, for bounding test loops. */
double bd_now(void);
/* Sleep for s seconds. */
void bd_sleep(double s);

#endif
