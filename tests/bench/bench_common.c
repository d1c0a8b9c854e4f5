/* bench_common.c - see bench_common.h. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = ts_now_ns();
    if (now >= deadline_ns) return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 1000000 ? 1000000 : (int)ms;
}

/* ---- server processes ---- */

int bn_server_stop(ts_server *s, int keep_log)
{
    s->keep_dir = keep_log;
    int st = ts_server_cleanup(s);
    if (keep_log && s->log_path[0])
        fprintf(stderr, "barrier-bench: %s log kept: %s\n", s->name, s->log_path);
    if (st < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void bn_server_log_tail(const ts_server *s, int max_lines)
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
    uint64_t deadline = ts_now_ns() + (uint64_t)(timeout_s * 1e9);
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

/* ---- placement ---- */

int bn_placement_cpus(int *load_cpu, int *server_cpu)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        if (found++ == 0)
            *load_cpu = cpu;
        else
            *server_cpu = cpu;
    }
    return found == 2 ? 0 : -1;
}

static int pin_task(pid_t tid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(tid, sizeof set, &set);
}

int bn_pin_self(int cpu)
{
    return pin_task(0, cpu);
}

int bn_pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int rc = 0, n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        n++;
        if (pin_task((pid_t)atol(e->d_name), cpu) != 0)
            rc = -1;
    }
    closedir(d);
    if (!n)
        errno = ESRCH; /* no threads: the process is gone */
    return n ? rc : -1;
}
