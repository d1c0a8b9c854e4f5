/* ts_etcd.h - start, stop and restart a real etcd for a test (the HA group's
 * store), on free loopback ports, with its own data directory.
 *
 * The program is $ETCD, else /usr/bin/etcd (Debian etcd-server); ts_etcd_path
 * says NULL when there is none, and the test must then skip (exit 77). It
 * runs as a one-member cluster:
 *
 *     etcd --name ts --data-dir DIR/data
 *          --listen-client-urls http://127.0.0.1:C --advertise-client-urls ...
 *          --listen-peer-urls http://127.0.0.1:P --initial-advertise-peer-urls ...
 *          --initial-cluster ts=http://127.0.0.1:P --initial-cluster-token DIR
 *
 * with stdout+stderr to DIR/log, DIR a private temporary directory, stdin from
 * /dev/null. It dies with the process that started it (ts_fork:
 * PR_SET_PDEATHSIG), and a small janitor process then removes DIR (WAL files
 * are preallocated, 64 MiB each), also when a failing Check case _exits. Readiness: POST /v3/maintenance/status over a plain
 * socket answers 200 with a "leader" (bounded: 15 s, x ts_slow()).
 * A restart reuses the ports and the data directory: the same cluster comes
 * back with its keys and leases.
 *
 * None of these functions assert.
 */
#ifndef TS_ETCD_H
#define TS_ETCD_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ts_etcd {
    pid_t pid;          /* 0 once reaped */
    pid_t owner;        /* the process that started it */
    int status;         /* wait status once reaped */
    int client_port, peer_port;
    char url[64];       /* "http://127.0.0.1:C": for --ha-etcd */
    char dir[64];       /* private temporary directory */
    char data_dir[96];
    char log_path[96];
    int keep_dir;       /* ts_etcd_cleanup leaves DIR in place */
    pid_t janitor;      /* removes DIR if this process dies first */
} ts_etcd;

/* $ETCD when set (NULL if it is not executable), else /usr/bin/etcd when
 * executable, else NULL. */
const char *ts_etcd_path(void);

/* A TCP port on 127.0.0.1 that nobody listens on now, chosen at random below
 * the kernel's ephemeral range (20000..31999), so ports other tests get from
 * bind(0) never collide with it. 0 when none was found. */
int ts_free_port(void);

/* First start: a new directory, new ports; waits until it answers. 0, or -1
 * with the reason (and its log) on stderr and the process reaped. */
int ts_etcd_start(ts_etcd *e);
/* Stop it if it runs (SIGTERM, bounded), then start it again on the same ports
 * and data directory; waits until it answers. 0 or -1. */
int ts_etcd_restart(ts_etcd *e);
/* Start it again without waiting for it to answer (for a restart that must be
 * quick); then ts_etcd_await. 0 or -1. */
int ts_etcd_launch(ts_etcd *e);
/* Wait up to timeout_ms for it to answer with a leader: 0, or -1. */
int ts_etcd_await(ts_etcd *e, int timeout_ms);

/* SIGTERM (after SIGCONT), wait up to timeout_ms, SIGKILL after that. The wait
 * status, or -1 when it had to be killed. */
int ts_etcd_stop(ts_etcd *e, int timeout_ms);
/* SIGKILL and reap: the wait status. */
int ts_etcd_kill9(ts_etcd *e);
/* 1 while it runs. */
int ts_etcd_alive(ts_etcd *e);

/* POST body (JSON) to path on its client URL (HTTP/1.0, a plain socket),
 * bounded by timeout_ms. The HTTP status (the body, NUL-terminated, in out, cap
 * bytes), or -1 when it could not be asked. */
int ts_etcd_post(const ts_etcd *e, const char *path, const char *body, char *out, size_t cap,
                 int timeout_ms);

/* The log to stderr (its last 64 KiB). */
void ts_etcd_dump_log(const ts_etcd *e);
/* Stop it if it runs (SIGKILL: its data is thrown away), remove DIR unless
 * keep_dir. */
void ts_etcd_cleanup(ts_etcd *e);

#endif
