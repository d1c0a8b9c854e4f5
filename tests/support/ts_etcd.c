/* ts_etcd.c - see ts_etcd.h. */
#include "ts_etcd.h"

#include "ts_clock.h"
#include "ts_file.h"
#include "ts_fork.h"
#include "ts_slow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TS_ETCD_LOG_SHOWN (32 * 1024)

/* ---- the etcds of this process: killed and removed when it exits ---- */

static ts_etcd *live[4];

static void forget(ts_etcd *e)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] == e)
            live[i] = NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A failing Check case exits: its etcd must not stay behind, nor its data
 * (WAL files are preallocated, 64 MiB each). Its log is shown. */
static void at_exit(void)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        ts_etcd *e = live[i];
        if (!e || e->owner != getpid())
            continue;
        live[i] = NULL;
        if (e->pid > 0) {
            ts_etcd_kill9(e);
            ts_etcd_dump_log(e);
        }
        if (e->dir[0] && !e->keep_dir)
            remove_tree(e->dir);
    }
}

static void remember(ts_etcd *e)
{
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(at_exit);
    }
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] == e)
            return;
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (!live[i]) {
            live[i] = e;
            return;
        }
}

/* A Check case that fails ends with _exit, and one that times out is killed:
 * no atexit runs. So a janitor process, which outlives the test, removes DIR
 * when the test dies (PR_SET_PDEATHSIG SIGUSR1); etcd itself dies with the
 * test (its PR_SET_PDEATHSIG SIGKILL). ts_etcd_cleanup dismisses it. */
static pid_t spawn_janitor(const char *dir)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t j = fork();
    if (j != 0)
        return j < 0 ? 0 : j;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    setsid(); /* Check kills a finished case's process group: not this one */
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2); /* holds no pipe of ctest's open */
    close_range(3, ~0u, 0);
    int sig = SIGUSR1;
    if (getppid() == parent)
        sigwait(&set, &sig);
    if (sig == SIGUSR1) {
        ts_sleep_ms(300); /* etcd is being killed too */
        remove_tree(dir);
    }
    _exit(0);
}

/* ---- paths and ports ---- */

const char *ts_etcd_path(void)
{
    const char *p = getenv("ETCD");
    if (p && *p) /* named: that one or none (ETCD=/nonexistent shows the skips) */
        return access(p, X_OK) == 0 ? p : NULL;
    return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : NULL;
}

int ts_free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)(ts_now_ns() ^ ((uint64_t)getpid() << 16));
    for (int tries = 0; tries < 200; tries++) {
        int port = 20000 + (int)(rand_r(&seed) % 12000);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* No SO_REUSEADDR: a port with connections in TIME_WAIT is left alone too. */
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}

/* ---- HTTP over a plain socket ---- */

static int connect_local(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
            err) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

int ts_etcd_post(const ts_etcd *e, const char *path, const char *body, char *out, size_t cap,
                 int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    int fd = connect_local(e->client_port, timeout_ms);
    if (fd < 0)
        return -1;
    size_t blen = strlen(body);
    char head[512];
    int hlen = snprintf(head, sizeof head,
                        "POST %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                        path, e->client_port, blen);
    char *req = malloc((size_t)hlen + blen);
    size_t rcap = 1 << 16, rlen = 0;
    char *resp = malloc(rcap);
    int status = -1;
    if (!req || !resp)
        goto out;
    memcpy(req, head, (size_t)hlen);
    memcpy(req + hlen, body, blen);
    for (size_t off = 0, n = (size_t)hlen + blen; off < n;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int left = (int)(deadline - ts_now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1)
            goto out;
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            goto out;
        if (w > 0)
            off += (size_t)w;
    }
    for (;;) { /* HTTP/1.0: the answer ends where the connection does */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - ts_now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1)
            goto out;
        if (rlen + 4096 > rcap) {
            char *bigger = realloc(resp, rcap * 2);
            if (!bigger)
                goto out;
            resp = bigger;
            rcap *= 2;
        }
        ssize_t r = recv(fd, resp + rlen, rcap - rlen - 1, 0);
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            goto out;
        if (r > 0)
            rlen += (size_t)r;
    }
    resp[rlen] = '\0';
    int code;
    if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1)
        goto out;
    status = code;
    if (out && cap) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(out, cap, "%s", b ? b + 4 : "");
    }
out:
    free(req);
    free(resp);
    close(fd);
    return status;
}

/* ---- processes ---- */

static int dir_prepare(ts_etcd *e)
{
    if (e->dir[0])
        return 0;
    snprintf(e->dir, sizeof e->dir, "/tmp/ts-etcd-XXXXXX");
    if (!mkdtemp(e->dir)) {
        fprintf(stderr, "ts: mkdtemp: %s\n", strerror(errno));
        e->dir[0] = '\0';
        return -1;
    }
    snprintf(e->data_dir, sizeof e->data_dir, "%s/data", e->dir);
    snprintf(e->log_path, sizeof e->log_path, "%s/log", e->dir);
    if (!e->keep_dir)
        e->janitor = spawn_janitor(e->dir);
    return 0;
}

int ts_etcd_launch(ts_etcd *e)
{
    const char *bin = ts_etcd_path();
    if (!bin) {
        fprintf(stderr, "ts: no etcd (set ETCD, or install etcd-server)\n");
        return -1;
    }
    if (dir_prepare(e) < 0)
        return -1;
    char curl[64], purl[64], cluster[96];
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", e->client_port);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", e->peer_port);
    snprintf(cluster, sizeof cluster, "ts=%s", purl);
    const char *argv[] = {bin,
                          "--name", "ts",
                          "--data-dir", e->data_dir,
                          "--listen-client-urls", curl,
                          "--advertise-client-urls", curl,
                          "--listen-peer-urls", purl,
                          "--initial-advertise-peer-urls", purl,
                          "--initial-cluster", cluster,
                          "--initial-cluster-token", "ts-etcd",
                          "--initial-cluster-state", "new",
                          "--logger", "zap",
                          "--log-level", "warn",
                          NULL};
    e->owner = getpid();
    e->status = 0;
    /* The environment must not configure it (ETCD_* variables). */
    pid_t pid = ts_spawn_logged(argv, e->log_path, 0, "ETCD_");
    if (pid < 0)
        return -1;
    e->pid = pid;
    remember(e);
    return 0;
}

int ts_etcd_await(ts_etcd *e, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    char body[4096];
    for (;;) {
        if (!ts_etcd_alive(e)) {
            int st = e->status;
            fprintf(stderr, "ts: etcd exited (wait status %d: %s %d) before it answered\n", st,
                    WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return -1;
        }
        int left = (int)(deadline - ts_now_ms());
        if (left <= 0)
            break;
        int code = ts_etcd_post(e, "/v3/maintenance/status", "{}", body, sizeof body,
                                left < 1000 ? left : 1000);
        /* "leader" is the member id of the raft leader; 0 (left out) while none. */
        if (code == 200 && strstr(body, "\"leader\""))
            return 0;
        ts_sleep_ms(20);
    }
    fprintf(stderr, "ts: etcd on %s did not answer with a leader within %d ms\n", e->url, timeout_ms);
    return -1;
}

static int ready_bound_ms(void)
{
    return (int)(15000 * ts_slow());
}

int ts_etcd_start(ts_etcd *e)
{
    memset(e, 0, sizeof *e);
    if (dir_prepare(e) < 0)
        return -1;
    e->client_port = ts_free_port();
    do
        e->peer_port = ts_free_port();
    while (e->peer_port == e->client_port);
    if (!e->client_port || !e->peer_port) {
        fprintf(stderr, "ts: no free loopback port for etcd\n");
        return -1;
    }
    snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", e->client_port);
    if (ts_etcd_launch(e) < 0 || ts_etcd_await(e, ready_bound_ms()) < 0) {
        ts_etcd_kill9(e);
        ts_etcd_dump_log(e);
        return -1;
    }
    return 0;
}

int ts_etcd_restart(ts_etcd *e)
{
    if (e->pid > 0)
        ts_etcd_stop(e, 10000);
    if (ts_etcd_launch(e) < 0 || ts_etcd_await(e, ready_bound_ms()) < 0) {
        ts_etcd_kill9(e);
        ts_etcd_dump_log(e);
        return -1;
    }
    return 0;
}

int ts_etcd_alive(ts_etcd *e)
{
    if (e->pid <= 0)
        return 0;
    int st;
    if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
        e->pid = 0;
        e->status = st;
        return 0;
    }
    return 1;
}

int ts_etcd_kill9(ts_etcd *e)
{
    if (e->pid <= 0)
        return e->status;
    int st = 0;
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &st, 0);
    e->pid = 0;
    e->status = st;
    return st;
}

int ts_etcd_stop(ts_etcd *e, int timeout_ms)
{
    if (e->pid <= 0)
        return e->status;
    kill(e->pid, SIGCONT);
    kill(e->pid, SIGTERM);
    int64_t deadline = ts_now_ms() + timeout_ms;
    while (ts_etcd_alive(e)) {
        if (ts_now_ms() > deadline) {
            fprintf(stderr, "ts: etcd (pid %d) still running %d ms after SIGTERM: SIGKILL\n",
                    (int)e->pid, timeout_ms);
            ts_etcd_kill9(e);
            return -1;
        }
        ts_sleep_ms(5);
    }
    return e->status;
}

void ts_etcd_dump_log(const ts_etcd *e)
{
    ts_dump_log_tail("etcd", e->log_path, TS_ETCD_LOG_SHOWN);
}

void ts_etcd_cleanup(ts_etcd *e)
{
    if (e->pid > 0)
        ts_etcd_kill9(e);
    forget(e);
    if (e->dir[0] && !e->keep_dir) {
        remove_tree(e->dir);
        e->dir[0] = '\0';
    }
    if (e->janitor > 0) {
        kill(e->janitor, SIGTERM);
        waitpid(e->janitor, NULL, 0);
        e->janitor = 0;
    }
}
