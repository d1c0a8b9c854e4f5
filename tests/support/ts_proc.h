/* ts_proc.h - what /proc says about a process, and the descriptor limit. */
#ifndef TS_PROC_H
#define TS_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Raise RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit. */
long ts_raise_nofile(void);

/* CPU time the process has used, in ns: the sum of sum_exec_runtime over its threads
 * (/proc/PID/task/TID/schedstat), else utime+stime from /proc/PID/stat. 0 on error. */
uint64_t ts_proc_cpu_ns(pid_t pid);

/* VmRSS and VmHWM of a process, in KiB; -1 on error. */
int ts_proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb);

/* VmRSS (peak 0) or VmHWM (peak 1) of a process, in KiB; -1 if unreadable. */
long ts_proc_kb(pid_t pid, int peak);

/* Number of open file descriptors of a process (entries of /proc/PID/fd); -1 on error. */
long ts_proc_fd_count(pid_t pid);

#endif
