/* sv_log.c - one line per event: UTC timestamp with milliseconds, level, text;
 * written without ever blocking (see sv_log.h). */
#include "sv_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

sv_log_level sv_log_threshold = SV_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static struct {
    int fd;
    size_t limit;
    char *buf;               /* held lines: buf[head .. head+len) */
    size_t head, len;
    uint64_t dropped;        /* since start */
    uint64_t unreported;     /* dropped since the last "were dropped" line */
    void (*wakeup)(void);
} lg = {.fd = 2, .limit = SV_LOG_BUFFER};

int sv_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void sv_log_open(void)
{
    struct stat st;
    if (fstat(2, &st) < 0 || S_ISREG(st.st_mode))
        return; /* closed, or a file: a write to a file never waits on a reader */
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            lg.fd = fd;
            return;
        }
    }
    set_nonblock(2); /* a socket (journald) cannot be reopened: ours alone anyway */
}

void sv_log_use_fd(int fd, size_t limit)
{
    set_nonblock(fd);
    lg.fd = fd;
    lg.limit = limit ? limit : SV_LOG_BUFFER;
}

int sv_log_fd(void)
{
    return lg.fd;
}

void sv_log_set_wakeup(void (*cb)(void))
{
    lg.wakeup = cb;
}

size_t sv_log_pending(void)
{
    return lg.len;
}

uint64_t sv_log_dropped(void)
{
    return lg.dropped;
}

/* Keep line (whole) behind what is held, or drop it when it does not fit. */
static void hold(const char *line, size_t n)
{
    if (!lg.buf) {
        lg.buf = malloc(lg.limit);
        lg.head = lg.len = 0;
    }
    if (!lg.buf || lg.len + n > lg.limit) {
        lg.dropped++;
        lg.unreported++;
        return;
    }
    if (lg.head + lg.len + n > lg.limit) {
        memmove(lg.buf, lg.buf + lg.head, lg.len);
        lg.head = 0;
    }
    int was_empty = lg.len == 0;
    memcpy(lg.buf + lg.head + lg.len, line, n);
    lg.len += n;
    if (was_empty && lg.wakeup)
        lg.wakeup();
}

static void emit(const char *line, size_t n)
{
    if (lg.len > 0) { /* lines stay in order: behind the held ones */
        hold(line, n);
        return;
    }
    for (;;) {
        ssize_t w = write(lg.fd, line, n); /* one write per line: lines never interleave */
        if (w == (ssize_t)n)
            return;
        if (w >= 0) { /* partial: the rest waits */
            line += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            hold(line, n);
        return; /* EPIPE, EBADF, ...: nowhere to log */
    }
}

static size_t format_line(char *line, size_t cap, sv_log_level level, const char *fmt, va_list ap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, cap - (size_t)n, ".%03dZ %-5s ", (int)(tv.tv_usec / 1000),
                  level_names[level]);
    int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)cap - 2)
        n = (int)cap - 2;
    line[n++] = '\n';
    return (size_t)n;
}

static void log_line(sv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_line_v(sv_log_level level, const char *fmt, va_list ap)
{
    char line[2048];
    emit(line, format_line(line, sizeof line, level, fmt, ap));
}

/* A line whatever the threshold (the notice of dropped lines). */
static void log_line(sv_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line_v(level, fmt, ap);
    va_end(ap);
}

void sv_log(sv_log_level level, const char *fmt, ...)
{
    if (level < sv_log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line_v(level, fmt, ap);
    va_end(ap);
}

int sv_log_flush(void)
{
    while (lg.len > 0) {
        ssize_t w = write(lg.fd, lg.buf + lg.head, lg.len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            lg.head = lg.len = 0;
            return -1;
        }
        lg.head += (size_t)w;
        lg.len -= (size_t)w;
    }
    lg.head = 0;
    if (lg.unreported > 0) {
        uint64_t n = lg.unreported;
        lg.unreported = 0;
        log_line(SV_LOG_WARN, "%llu log lines were dropped (stderr was not read fast enough)",
                 (unsigned long long)n);
        if (lg.len > 0)
            return 1;
    }
    return 0;
}

void sv_log_drain(int timeout_ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (lg.len > 0 || lg.unreported > 0) {
        int rc = sv_log_flush();
        if (rc != 1)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000L +
                                  (t.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left <= 0)
            break;
        struct pollfd p = {.fd = lg.fd, .events = POLLOUT};
        if (poll(&p, 1, (int)left) <= 0)
            break;
    }
    free(lg.buf);
    lg.buf = NULL;
    lg.head = lg.len = 0;
}
