/* bench_common.c - see bench_common.h. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t bn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = bn_now_ns();
    if (now >= deadline_ns) return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 1000000 ? 1000000 : (int)ms;
}

long bn_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

/* ---- /proc ---- */

static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return (int)len;
}

uint64_t bn_proc_cpu_ns(pid_t pid)
{
    char path[96], buf[256];
    uint64_t sum = 0;
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", (int)pid, e->d_name);
            if (read_small(path, buf, sizeof buf) > 0) {
                sum += strtoull(buf, NULL, 10);
                found = 1;
            }
        }
        closedir(d);
    }
    if (found) return sum;
    /* Fallback: utime + stime (fields 14, 15), after the ")" that ends comm. */
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char st[1024];
    if (read_small(path, st, sizeof st) <= 0) return 0;
    char *p = strrchr(st, ')');
    if (!p) return 0;
    unsigned long long ut = 0, stt = 0;
    /* after ") " : state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)(ut + stt) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

int bn_proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    *rss_kb = *hwm_kb = -1;
    if (read_small(path, buf, sizeof buf) <= 0) return -1;
    const char *p = strstr(buf, "VmRSS:");
    if (p) *rss_kb = strtol(p + 6, NULL, 10);
    p = strstr(buf, "VmHWM:");
    if (p) *hwm_kb = strtol(p + 6, NULL, 10);
    return *rss_kb >= 0 && *hwm_kb >= 0 ? 0 : -1;
}

long bn_proc_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- server processes ---- */

int bn_server_alive(const bn_server *s)
{
    if (s->pid <= 0) return 0;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)s->pid);
    if (read_small(path, buf, sizeof buf) <= 0) return 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

int bn_server_start(bn_server *s, const char *name, char *const argv[], double timeout_s)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    snprintf(s->log_path, sizeof s->log_path, "/tmp/barrier-bench-%d-XXXXXX", (int)getpid());
    int logfd = mkstemp(s->log_path);
    if (logfd < 0) {
        perror("barrier-bench: mkstemp");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("barrier-bench: fork");
        close(logfd);
        unlink(s->log_path);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        dup2(logfd, 2);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(logfd);
    s->pid = pid;
    uint64_t deadline = bn_now_ns() + (uint64_t)(timeout_s * 1e9);
    char buf[8192];
    while (bn_now_ns() < deadline) {
        if (read_small(s->log_path, buf, sizeof buf) > 0) {
            const char *p = strstr(buf, "listening on 127.0.0.1:");
            if (p) {
                s->port = atoi(p + strlen("listening on 127.0.0.1:"));
                if (s->port > 0) return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "barrier-bench: %s exited before listening:\n", name);
            s->pid = 0;
            bn_server_log_tail(s, 20);
            unlink(s->log_path);
            return -1;
        }
        usleep(2000);
    }
    fprintf(stderr, "barrier-bench: %s did not log 'listening on 127.0.0.1:PORT' in %.1f s\n", name,
            timeout_s);
    bn_server_log_tail(s, 20);
    bn_server_stop(s, 1.0, 0);
    return -1;
}

int bn_server_stop(bn_server *s, double timeout_s, int keep_log)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        uint64_t deadline = bn_now_ns() + (uint64_t)(timeout_s * 1e9);
        int st, done = 0;
        while (!done && bn_now_ns() < deadline) {
            pid_t r = waitpid(s->pid, &st, WNOHANG);
            if (r == s->pid) {
                done = 1;
                status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            } else if (r < 0) {
                done = 1;
            } else {
                usleep(2000);
            }
        }
        if (!done) {
            fprintf(stderr, "barrier-bench: %s (pid %d) ignored SIGTERM for %.1f s: SIGKILL\n",
                    s->name, (int)s->pid, timeout_s);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            status = -1;
        }
        s->pid = 0;
    }
    if (!keep_log && s->log_path[0]) unlink(s->log_path);
    return status;
}

void bn_server_log_tail(const bn_server *s, int max_lines)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f) return;
    /* A ring of the last max_lines lines. */
    char ring[32][256];
    if (max_lines > 32) max_lines = 32;
    int n = 0, notable = 0, shutdown = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        /* The lines that explain a failure (a warning, an error, a signal from outside
         * the bench) may be far from the end, behind thousands of connection lines. */
        if (notable < 8 &&
            (strstr(line, " warn ") || strstr(line, " error ") || strstr(line, "shutting down"))) {
            fprintf(stderr, "  ! %s", line);
            notable++;
        }
        shutdown |= strstr(line, "shutting down (") != NULL;
        snprintf(ring[n % max_lines], sizeof ring[0], "%s", line);
        n++;
    }
    fclose(f);
    if (shutdown && s->pid > 0) /* shown before the bench itself stops the server */
        fprintf(stderr, "  (the server was shut down by a signal the bench did not send: "
                        "another process on this machine signalled it)\n");
    int first = n > max_lines ? n - max_lines : 0;
    for (int i = first; i < n; i++)
        fprintf(stderr, "  | %s", ring[i % max_lines]);
}

/* ---- sockets ---- */

int bn_connect_loopback(int port, double timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    if (errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    uint64_t deadline = bn_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            errno = r == 0 ? ETIMEDOUT : errno;
            return -1;
        }
        break;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        close(fd);
        errno = err ? err : errno;
        return -1;
    }
    return fd;
}

int bn_send_all(int fd, const void *buf, size_t len, uint64_t deadline_ns)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ms = remaining_ms(deadline_ns);
            if (ms == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, ms);
            continue;
        }
        return -1;
    }
    return 0;
}

char *bn_read_line(bn_lines *lr, size_t *n, uint64_t deadline_ns)
{
    for (;;) {
        char *base = lr->buf + lr->start;
        char *nl = memchr(base, '\n', lr->len - lr->start);
        if (nl) {
            *nl = '\0';
            *n = (size_t)(nl - base);
            lr->start = (size_t)(nl - lr->buf) + 1;
            return base;
        }
        /* compact */
        if (lr->start > 0) {
            memmove(lr->buf, base, lr->len - lr->start);
            lr->len -= lr->start;
            lr->start = 0;
        }
        if (lr->len >= sizeof lr->buf - 1) {
            errno = EMSGSIZE;
            return NULL;
        }
        ssize_t r = read(lr->fd, lr->buf + lr->len, sizeof lr->buf - 1 - lr->len);
        if (r > 0) {
            lr->len += (size_t)r;
            continue;
        }
        if (r == 0) {
            errno = 0;
            return NULL;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return NULL;
        int ms = remaining_ms(deadline_ns);
        if (ms == 0) {
            errno = ETIMEDOUT;
            return NULL;
        }
        struct pollfd pf = {.fd = lr->fd, .events = POLLIN};
        poll(&pf, 1, ms);
    }
}

/* ---- JSON field look-up ---- */

const char *bn_json_field(const char *line, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *end = line + len, *p = line;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), key, kl);
        if (!q) return NULL;
        /* the key must be a whole string: preceded by '"' and followed by '"' */
        const char *a = q + kl;
        if (q > line && q[-1] == '"' && a < end && *a == '"') {
            a++;
            while (a < end && (*a == ' ' || *a == '\t'))
                a++;
            if (a < end && *a == ':') {
                a++;
                while (a < end && (*a == ' ' || *a == '\t'))
                    a++;
                return a < end ? a : NULL;
            }
        }
        p = q + 1;
    }
    return NULL;
}

int bn_json_u64(const char *line, size_t len, const char *key, uint64_t *out)
{
    const char *v = bn_json_field(line, len, key);
    const char *end = line + len;
    if (!v || v >= end || *v < '0' || *v > '9') return -1;
    uint64_t x = 0;
    while (v < end && *v >= '0' && *v <= '9') {
        x = x * 10 + (uint64_t)(*v - '0');
        v++;
    }
    *out = x;
    return 0;
}

int bn_json_ok(const char *line, size_t len)
{
    const char *v = bn_json_field(line, len, "ok");
    return v && (size_t)(line + len - v) >= 4 && memcmp(v, "true", 4) == 0;
}

/* ---- statistics ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t bn_percentile(uint64_t *v, size_t n, double pct)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    /* nearest rank: ceil(pct/100 * n), 1-based */
    double r = pct / 100.0 * (double)n;
    size_t rank = (size_t)r;
    if ((double)rank < r) rank++;
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}
