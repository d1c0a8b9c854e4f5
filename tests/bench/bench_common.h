/* bench_common.h - helpers shared by barrier-bench: clocks, /proc readers,
 * starting and stopping a server process, small statistics. Loopback only. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

uint64_t bn_now_ns(void); /* CLOCK_MONOTONIC */

/* Raise RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit. */
long bn_raise_nofile(void);

/* CPU time the process has used, in ns: the sum of sum_exec_runtime over its threads
 * (/proc/PID/task/TID/schedstat), else utime+stime from /proc/PID/stat. 0 on error. */
uint64_t bn_proc_cpu_ns(pid_t pid);

/* VmRSS and VmHWM of a process, in KiB; -1 on error. */
int bn_proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb);

/* Number of open file descriptors of a process (entries of /proc/PID/fd); -1 on error. */
long bn_proc_fd_count(pid_t pid);

/* A server started by the bench: stderr goes to a temporary log file, from which the
 * port is read ("listening on 127.0.0.1:PORT"). */
typedef struct bn_server {
    pid_t pid;
    int port;
    char log_path[64];
    const char *name;
} bn_server;

/* fork/exec argv (argv[0] is the path); wait up to timeout_s for the listening line.
 * Returns 0, or -1 (message on stderr, the process is killed). */
int bn_server_start(bn_server *s, const char *name, char *const argv[], double timeout_s);
/* SIGTERM, then SIGKILL after timeout_s. Returns the exit status (or -1). Removes the log
 * unless keep_log. */
int bn_server_stop(bn_server *s, double timeout_s, int keep_log);
/* Copy the last lines of the server's log to stderr (for failure reports). */
void bn_server_log_tail(const bn_server *s, int max_lines);
/* Is the process still running (not a zombie)? */
int bn_server_alive(const bn_server *s);

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

/* Sort v and return the given percentile (0..100, nearest rank). */
uint64_t bn_percentile(uint64_t *v, size_t n, double pct);

#endif
