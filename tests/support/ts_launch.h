/* ts_launch.h - start, watch and stop a real barrierd (or floor-server) for a
 * test, the bench or the soak.
 *
 * The program is $BARRIERD unless s->bin says otherwise. It runs as
 *
 *     BIN --listen LISTEN --ready-file DIR/ready EXTRA...
 *
 * with LISTEN 127.0.0.1:0 unless s->listen names another address, stdin from
 * /dev/null and stdout+stderr to DIR/log, where DIR is a private temporary
 * directory (also the place for unix sockets and token files of the test).
 * It dies with the process that started it (ts_fork: PR_SET_PDEATHSIG).
 *
 * Readiness: the server writes DIR/ready (whole, by rename) once every listener
 * is bound, one address a line ("127.0.0.1:35475", "[::1]:44437",
 * "unix:/tmp/x/s"). ts_server_start polls for it (bounded), noticing a server
 * that exits first; no log text is parsed to find a port.
 *
 * None of these functions assert: see ts_check.h for the Check versions.
 */
#ifndef TS_LAUNCH_H
#define TS_LAUNCH_H

#include <stdint.h>
#include <sys/types.h>

#define TS_MAX_ADDRS 8
#define TS_MAX_ARGS 48

typedef struct ts_server {
    /* Optional, before the first start. */
    const char *bin;   /* the program; NULL: $BARRIERD */
    const char *name;  /* in messages; NULL: "barrierd" */
    char listen[128];  /* the first --listen; "": 127.0.0.1:0 */
    int keep_dir;      /* ts_server_cleanup leaves DIR (the log) in place */

    /* Set by ts_server_start. */
    pid_t pid;         /* 0 once reaped */
    pid_t owner;       /* the process that started it */
    int status;        /* wait status once reaped */
    char dir[64];      /* private temporary directory */
    char log_path[96]; /* its stdout and stderr */
    char ready_path[96];
    int n_addrs;
    char addrs[TS_MAX_ADDRS][112]; /* the bound addresses, from the ready file */
    char addr[112];    /* the first 127.0.0.1 address (else the first one) */
    int port;          /* its port (0 for a unix: address) */

    /* Private: EXTRA, copied (no heap, so nothing to free), for ts_server_restart. */
    char argbuf[4096];
    int arg_off[TS_MAX_ARGS];
    int n_args;
    int registered;
} ts_server;

/* Path of barrierd: $BARRIERD, or NULL. */
const char *ts_barrierd_path(void);
/* For the bench and the soak, run from the build tree: $BARRIERD, else (then
 * also set as $BARRIERD) ../../server/barrierd next to this program when it
 * exists. NULL when neither. */
const char *ts_barrierd_default(void);
/* Path of barrierctl: $BARRIERCTL, or NULL. */
const char *ts_barrierctl_path(void);

/* Make s->dir now (ts_server_start does it when needed): for a unix socket
 * path or a token file inside it, before the start. 0 or -1. */
int ts_server_prepare(ts_server *s);

/* Start it with the extra arguments (NULL or NULL-terminated) and wait up to
 * 10 s (30 s when ts_slow()) for the ready file. Returns 0, or -1 with the
 * reason and its log on stderr and the process reaped (s->status is its wait
 * status when it exited by itself). */
int ts_server_start(ts_server *s, const char *const *extra);

/* Stop it if it runs, then start it again with the same arguments on the same
 * 127.0.0.1 address (s->listen becomes s->addr). 0 or -1, as ts_server_start. */
int ts_server_restart(ts_server *s);

/* SIGTERM (after SIGCONT, in case it was stopped), then wait up to timeout_ms;
 * SIGKILL after that. Returns the wait status, or -1 when it had to be killed
 * (s->status then holds the SIGKILL status). *elapsed_ms (may be NULL) gets the
 * time from the signal to the exit. A server already reaped: its status. */
int ts_server_stop(ts_server *s, int timeout_ms, int64_t *elapsed_ms);

/* Wait up to timeout_ms for it to exit by itself: the wait status, or -1. */
int ts_server_wait(ts_server *s, int timeout_ms);

/* SIGKILL and reap it: the wait status. */
int ts_server_kill9(ts_server *s);

/* 1 while it has not exited (reaps it when it has). */
int ts_server_alive(ts_server *s);

/* Stop it if it runs (ts_server_stop, 10 s), remove DIR unless keep_dir, and
 * forget it. Returns the stop's result, or the status it had already exited
 * with. */
int ts_server_cleanup(ts_server *s);

/* The first bound address that starts with prefix ("[::1]:", "unix:",
 * "10.250.0.1:"), or NULL; its port (0 when none). */
const char *ts_server_addr(const ts_server *s, const char *prefix);
int ts_server_port(const ts_server *s, const char *prefix);

/* The log: 1 if it contains needle; the whole of it to stderr (its last 64 KiB). */
int ts_server_log_contains(const ts_server *s, const char *needle);
void ts_server_dump_log(const ts_server *s);

/* A test is failing or crashing: SIGKILL every server this process started
 * and has not cleaned up, and dump each one's log. */
void ts_servers_fail(void);

#endif
