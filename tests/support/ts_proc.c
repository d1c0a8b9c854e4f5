/* ts_proc.c - see ts_proc.h. */
#include "ts_proc.h"

#include "ts_file.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

long ts_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

uint64_t ts_proc_cpu_ns(pid_t pid)
{
    char path[96], buf[256];
    uint64_t sum = 0;
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
            if (ts_read_small(path, buf, sizeof buf) > 0) {
                sum += strtoull(buf, NULL, 10);
                found = 1;
            }
        }
        closedir(d);
    }
    if (found)
        return sum;
    /* Fallback: utime + stime (fields 14, 15), after the ")" that ends comm. */
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char st[1024];
    if (ts_read_small(path, st, sizeof st) <= 0)
        return 0;
    char *p = strrchr(st, ')');
    if (!p)
        return 0;
    unsigned long long ut = 0, stt = 0;
    /* after ") " : state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)(ut + stt) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

int ts_proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    *rss_kb = *hwm_kb = -1;
    if (ts_read_small(path, buf, sizeof buf) <= 0)
        return -1;
    const char *p = strstr(buf, "VmRSS:");
    if (p)
        *rss_kb = strtol(p + 6, NULL, 10);
    p = strstr(buf, "VmHWM:");
    if (p)
        *hwm_kb = strtol(p + 6, NULL, 10);
    return *rss_kb >= 0 && *hwm_kb >= 0 ? 0 : -1;
}

long ts_proc_kb(pid_t pid, int peak)
{
    long rss, hwm;
    if (ts_proc_mem_kb(pid, &rss, &hwm) < 0)
        return -1;
    return peak ? hwm : rss;
}

long ts_proc_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
