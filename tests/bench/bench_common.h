/* bench_common.h - helpers of barrier-bench: stopping a server and showing its log,
 * non-blocking loopback sockets, JSON fields without a parser, small statistics.
 * The clock, /proc readers and the server launcher are tests/support's (ts_clock.h,
 * ts_proc.h, ts_launch.h). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ts_clock.h"
#include "ts_file.h"
#include "ts_fork.h"
#include "ts_launch.h"
#include "ts_proc.h"

/* Stop a server the bench started (ts_server_cleanup: SIGTERM, SIGKILL after 10 s);
 * keep_log leaves its directory (log) in place and says where. Returns its exit status,
 * 128 + the signal that ended it, or -1. */
int bn_server_stop(ts_server *s, int keep_log);
/* Copy the last lines of the server's log to stderr (for failure reports). */
void bn_server_log_tail(const ts_server *s, int max_lines);

/* Blocking-with-deadline socket helpers (the socket itself is non-blocking). */
int bn_connect_loopback(int port, double timeout_s); /* TCP_NODELAY, O_NONBLOCK; -1 on error */
int bn_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ns);
/* Line reader over a non-blocking fd with a deadline. */
typedef struct bn_lines {
    int fd;
    size_t len, start;
    char buf[65536];
} bn_lines;
/* Returns the next line (without '\n', NUL-terminated in place) with its length in *n,
 * or NULL on EOF/error/deadline (errno set: ETIMEDOUT on deadline, 0 on EOF). */
char *bn_read_line(bn_lines *lr, size_t *n, uint64_t deadline_ns);

/* Field look-up in one JSON line, without a JSON parser: finds "key", then ':' and
 * returns the value's first byte (or NULL). Good enough for our fixed-shape replies. */
const char *bn_json_field(const char *line, size_t len, const char *key);
/* Parse an unsigned integer field; 0 on success. */
int bn_json_u64(const char *line, size_t len, const char *key, uint64_t *out);
/* 1 if "ok":true, 0 if false or absent. */
int bn_json_ok(const char *line, size_t len);

/* Placement: the load on one CPU, the servers on another, so that every wake-up
 * crosses CPUs for both servers alike (docs/performance.md, "Placement").
 * bn_placement_cpus picks two CPUs from this process's mask: 0, or -1 when it
 * holds fewer than two. bn_pin_self pins the calling process; bn_pin_process
 * pins every thread of pid. Both return 0 or -1 (errno set). */
int bn_placement_cpus(int *load_cpu, int *server_cpu);
int bn_pin_self(int cpu);
int bn_pin_process(pid_t pid, int cpu);

/* Sort v and return the given percentile (0..100, nearest rank). */
uint64_t bn_percentile(uint64_t *v, size_t n, double pct);

#endif
