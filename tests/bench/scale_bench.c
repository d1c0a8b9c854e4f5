/* scale_bench.c - barrier-bench-scale: one barrier of up to 100,000 parties.
 *
 * A process here may hold only RLIMIT_NOFILE (20,000) descriptors, so the
 * parties share connections, as threads sharing one client handle do: N
 * parties ride on about N / W connections carrying W waits each. The load
 * comes from several forked processes, each with its share of the connections
 * on one epoll loop; every connection binds its own source address across
 * 127.0.0.0/8 (IP_BIND_ADDRESS_NO_PORT), so loopback's ephemeral ports never
 * run out. barrierd is measured against floor-server --coalesce, a floor that
 * also answers all of a connection's parties with one write, both in the same
 * run with their rounds alternating.
 *
 * Reported per N and server (medians over rounds, p50 and p99):
 *   connect: the storm, every connection connected (and for barrierd, its
 *     hello answered), with at most --inflight connects outstanding per load
 *     process; total seconds and per-connection latency;
 *   round: first wait sent to last release received;
 *   fan-out: first release received to last (what the parties see of the
 *     release's spread; the server's own view is its fan-out histogram);
 *   server CPU per arrival (/proc schedstat around each round);
 *   memory: server RSS per connection, connected and idle, and at peak.
 * Every release is checked: ok, its id, its generation (one per round, +1
 * each), and each index 0..N-1 exactly once; anything else is `lost` or
 * `bad` and the exit status is 1.
 */
#include "bench_common.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_PROCS 16
#define MAX_WAITS 16       /* waits per connection */
#define SERVER_FD_ROOM 64  /* the server's own descriptors beside its connections */
#define LINE_MAX_REPLY 256 /* a release line is ~70 bytes */

enum { K_FLOOR, K_BARRIERD };
static const char *const kind_name[] = {"floor", "barrierd"};

static struct {
    unsigned n_list[8];
    int n_n;
    unsigned waits, procs, rounds, inflight;
    int only; /* -1 both */
    double watchdog_s;
    const char *barrierd, *floor;
    int keep_logs;
} opt = {{1000, 10000, 100000}, 3, 5, 4, 10, 256, -1, 60, NULL, NULL, 0};

/* ---- load process ---- */

typedef struct lconn {
    int fd;
    unsigned waits;   /* its parties */
    unsigned got;     /* replies this round */
    int state;        /* 0 connecting, 1 hello sent, 2 ready */
    uint64_t t_start; /* connect began */
    uint16_t part_len;
    char part[LINE_MAX_REPLY];
} lconn;

typedef struct cmd {
    int op; /* 1 connect, 2 round, 3 quit */
    uint64_t gen;
} cmd;

typedef struct result {
    int rc;            /* 0, or -errno of what failed */
    uint32_t replies;  /* good replies */
    uint32_t bad;      /* replies that were not a good release */
    uint64_t t_first_send, t_last_send, t_first_recv, t_last_recv;
    uint32_t n_items;  /* then n_items uint32 indexes (round) or uint64 latencies (connect) */
} result;

typedef struct load {
    int kind, port;
    unsigned n;        /* parties of the barrier */
    unsigned first;    /* global index of its first connection */
    lconn *c;
    unsigned nc;
    int ep;
    int cmd_fd, res_fd;
} load;

static int write_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    while (len) {
        ssize_t w = write(fd, b, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t len)
{
    char *b = p;
    while (len) {
        ssize_t r = read(fd, b, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Connection g's own source address: 127.1.x.y. */
static int open_conn(load *L, unsigned i)
{
    unsigned g = L->first + i;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((g / 250) << 8) | (g % 250 + 1));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)L->port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)) {
        int e = errno;
        close(fd);
        return -e;
    }
    lconn *c = &L->c[i];
    c->fd = fd;
    c->state = 0;
    c->t_start = ts_now_ns();
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = i};
    if (epoll_ctl(L->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -errno;
    return 0;
}

static const char hello_line[] = "{\"op\":\"hello\",\"id\":0,\"version\":1}\n";

/* The storm: every connection connected (and hello answered), at most
 * opt.inflight at a time. Latencies (ns) go to lat[]. */
static int load_connect(load *L, uint64_t *lat, result *res)
{
    unsigned next = 0, done = 0, outstanding = 0;
    uint64_t deadline = ts_now_ns() + (uint64_t)(opt.watchdog_s * 1e9);
    struct epoll_event evs[512];
    res->t_first_send = ts_now_ns();
    while (done < L->nc) {
        while (next < L->nc && outstanding < opt.inflight) {
            int rc = open_conn(L, next++);
            if (rc < 0)
                return rc;
            outstanding++;
        }
        uint64_t now = ts_now_ns();
        if (now > deadline)
            return -ETIMEDOUT;
        int n = epoll_wait(L->ep, evs, 512, (int)((deadline - now) / 1000000 + 1));
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int k = 0; k < n; k++) {
            lconn *c = &L->c[evs[k].data.u32];
            if (c->state == 0) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err)
                    return -err;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
                if (L->kind == K_BARRIERD) {
                    if (send(c->fd, hello_line, sizeof hello_line - 1, MSG_NOSIGNAL) !=
                        (ssize_t)(sizeof hello_line - 1))
                        return -EIO;
                    c->state = 1;
                    continue;
                }
            } else if (c->state == 1) {
                char buf[512];
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                if (r < 0 && errno == EAGAIN)
                    continue;
                if (r <= 0 || !memchr(buf, '\n', (size_t)r) || !bn_json_ok(buf, (size_t)r))
                    return -EPROTO;
            } else {
                continue;
            }
            c->state = 2;
            lat[done++] = ts_now_ns() - c->t_start;
            outstanding--;
        }
    }
    res->t_last_recv = ts_now_ns();
    res->n_items = done;
    return 0;
}

/* One reply line of a barrierd release: checked, its index kept. */
static void take_line(load *L, const char *line, size_t len, uint64_t gen, uint32_t *idx,
                      result *res)
{
    uint64_t index, g, id;
    if (!bn_json_ok(line, len) || bn_json_u64(line, len, "index", &index) != 0 ||
        bn_json_u64(line, len, "generation", &g) != 0 || bn_json_u64(line, len, "id", &id) != 0 ||
        g != gen || id / MAX_WAITS != gen % 1000000 || index >= L->n) {
        res->bad++;
        return;
    }
    idx[res->n_items++] = (uint32_t)index;
    res->replies++;
}

static int load_round(load *L, uint64_t gen, uint32_t *idx, result *res)
{
    static char out[MAX_WAITS * 96];
    uint32_t total = 0, got = 0;
    for (unsigned i = 0; i < L->nc; i++) {
        L->c[i].got = 0;
        total += L->c[i].waits;
    }
    res->t_first_send = ts_now_ns();
    for (unsigned i = 0; i < L->nc; i++) {
        lconn *c = &L->c[i];
        size_t len = 0;
        for (unsigned j = 0; j < c->waits; j++) {
            if (L->kind == K_FLOOR)
                out[len++] = 'a';
            else
                len += (size_t)snprintf(out + len, sizeof out - len,
                                        "{\"op\":\"wait\",\"id\":%llu,\"barrier\":\"scale\","
                                        "\"parties\":%u}\n",
                                        (unsigned long long)((gen % 1000000) * MAX_WAITS + j), L->n);
        }
        if (bn_send_all(c->fd, out, len, ts_now_ns() + (uint64_t)(opt.watchdog_s * 1e9)) < 0)
            return -EIO;
    }
    res->t_last_send = ts_now_ns();
    uint64_t deadline = ts_now_ns() + (uint64_t)(opt.watchdog_s * 1e9);
    struct epoll_event evs[512];
    char buf[8192];
    while (got < total) {
        uint64_t now = ts_now_ns();
        if (now > deadline)
            break; /* what is missing is counted lost */
        int n = epoll_wait(L->ep, evs, 512, (int)((deadline - now) / 1000000 + 1));
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int k = 0; k < n; k++) {
            lconn *c = &L->c[evs[k].data.u32];
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0)
                return -ECONNRESET;
            if (!res->t_first_recv)
                res->t_first_recv = ts_now_ns();
            res->t_last_recv = ts_now_ns();
            if (L->kind == K_FLOOR) {
                c->got += (unsigned)r;
                got += (uint32_t)r;
                res->replies += (uint32_t)r;
                continue;
            }
            const char *p = buf, *end = buf + r;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t take = (size_t)((nl ? nl : end) - p);
                if (c->part_len + take >= LINE_MAX_REPLY) {
                    res->bad++;
                    c->part_len = 0;
                } else {
                    memcpy(c->part + c->part_len, p, take);
                    c->part_len = (uint16_t)(c->part_len + take);
                }
                if (!nl)
                    break;
                c->part[c->part_len] = '\0';
                take_line(L, c->part, c->part_len, gen, idx, res);
                c->part_len = 0;
                c->got++;
                got++;
                p = nl + 1;
            }
        }
    }
    return 0;
}

static int load_main(load *L)
{
    ts_raise_nofile();
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    unsigned total = 0;
    for (unsigned i = 0; i < L->nc; i++)
        total += L->c[i].waits;
    uint64_t *lat = calloc(L->nc ? L->nc : 1, sizeof *lat);
    uint32_t *idx = calloc(total ? total : 1, sizeof *idx);
    if (L->ep < 0 || !lat || !idx)
        return 1;
    cmd k;
    while (read_all(L->cmd_fd, &k, sizeof k) == 0 && k.op != 3) {
        result res = {0};
        if (k.op == 1) {
            res.rc = load_connect(L, lat, &res);
            if (write_all(L->res_fd, &res, sizeof res) < 0 ||
                write_all(L->res_fd, lat, res.n_items * sizeof *lat) < 0)
                return 1;
        } else {
            res.rc = load_round(L, k.gen, idx, &res);
            if (write_all(L->res_fd, &res, sizeof res) < 0 ||
                write_all(L->res_fd, idx, res.n_items * sizeof *idx) < 0)
                return 1;
        }
    }
    return 0;
}

/* ---- the coordinator ---- */

typedef struct side {
    int kind;
    ts_server s;
    unsigned n, nc;
    pid_t pid[MAX_PROCS];
    int cmd_fd[MAX_PROCS], res_fd[MAX_PROCS];
    unsigned procs;
    uint64_t gen;
    long rss_idle_kb, rss_conn_kb, hwm_kb;
    double connect_s, conn_p50_ms, conn_p99_ms;
    uint64_t *round_ns, *fan_ns, *cpu_ns; /* per round */
    unsigned rounds;
    uint64_t lost, bad;
    int failed;
} side;

static int start_server(side *sd)
{
    char parties[32], maxconn[32];
    const char *argv[16];
    int a = 0;
    snprintf(parties, sizeof parties, "%u", sd->n);
    snprintf(maxconn, sizeof maxconn, "%u", sd->nc + SERVER_FD_ROOM);
    memset(&sd->s, 0, sizeof sd->s);
    sd->s.name = kind_name[sd->kind];
    sd->s.keep_dir = opt.keep_logs;
    if (sd->kind == K_FLOOR) {
        sd->s.bin = opt.floor;
        argv[a++] = "--parties";
        argv[a++] = parties;
        argv[a++] = "--coalesce";
    } else {
        argv[a++] = "--heartbeat";
        argv[a++] = "0";
        argv[a++] = "--max-connections";
        argv[a++] = maxconn;
        argv[a++] = "--max-parties";
        argv[a++] = parties;
    }
    argv[a] = NULL;
    return ts_server_start(&sd->s, argv);
}

static int spawn_loads(side *sd)
{
    unsigned base = sd->n / sd->nc, extra = sd->n % sd->nc, at = 0;
    for (unsigned p = 0; p < sd->procs; p++) {
        int cp[2], rp[2];
        if (pipe2(cp, O_CLOEXEC) != 0 || pipe2(rp, O_CLOEXEC) != 0)
            return -1;
        unsigned nc = sd->nc / sd->procs + (p < sd->nc % sd->procs);
        pid_t pid = ts_fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            load L = {.kind = sd->kind, .port = sd->s.port, .n = sd->n, .first = at, .nc = nc};
            /* Each side's connections get their own source addresses. */
            L.first += sd->kind == K_BARRIERD ? 30000 : 0;
            L.c = calloc(nc ? nc : 1, sizeof *L.c);
            if (!L.c)
                _exit(1);
            for (unsigned i = 0; i < nc; i++)
                L.c[i].waits = base + (at + i < extra);
            L.cmd_fd = cp[0];
            L.res_fd = rp[1];
            _exit(load_main(&L));
        }
        close(cp[0]);
        close(rp[1]);
        sd->pid[p] = pid;
        sd->cmd_fd[p] = cp[1];
        sd->res_fd[p] = rp[0];
        at += nc;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int do_connect(side *sd)
{
    uint64_t *all = malloc(sd->nc * sizeof *all);
    unsigned n_all = 0;
    cmd k = {1, 0};
    uint64_t t0 = ts_now_ns(), t1 = t0;
    for (unsigned p = 0; p < sd->procs; p++)
        if (write_all(sd->cmd_fd[p], &k, sizeof k) < 0)
            return -1;
    int rc = 0;
    for (unsigned p = 0; p < sd->procs; p++) {
        result res;
        if (read_all(sd->res_fd[p], &res, sizeof res) < 0 || n_all + res.n_items > sd->nc ||
            read_all(sd->res_fd[p], all + n_all, res.n_items * sizeof *all) < 0) {
            rc = -1;
            break;
        }
        n_all += res.n_items;
        if (res.rc < 0) {
            fprintf(stderr, "barrier-bench-scale: %s: connect: %s\n", kind_name[sd->kind],
                    strerror(-res.rc));
            rc = -1;
        }
        if (res.t_last_recv > t1)
            t1 = res.t_last_recv;
    }
    if (rc == 0 && n_all == sd->nc) {
        qsort(all, n_all, sizeof *all, cmp_u64);
        sd->connect_s = (double)(t1 - t0) / 1e9;
        sd->conn_p50_ms = (double)all[n_all / 2] / 1e6;
        sd->conn_p99_ms = (double)all[(size_t)(n_all * 0.99)] / 1e6;
    } else {
        rc = -1;
    }
    free(all);
    return rc;
}

static int do_round(side *sd, unsigned r, unsigned char *seen, uint32_t *idx)
{
    cmd k = {2, sd->gen};
    uint64_t cpu0 = ts_proc_cpu_ns(sd->s.pid);
    for (unsigned p = 0; p < sd->procs; p++)
        if (write_all(sd->cmd_fd[p], &k, sizeof k) < 0)
            return -1;
    uint64_t first_send = UINT64_MAX, first_recv = UINT64_MAX, last_recv = 0, replies = 0;
    memset(seen, 0, sd->n);
    int rc = 0;
    for (unsigned p = 0; p < sd->procs; p++) {
        result res;
        if (read_all(sd->res_fd[p], &res, sizeof res) < 0 || res.n_items > sd->n ||
            read_all(sd->res_fd[p], idx, res.n_items * sizeof *idx) < 0)
            return -1;
        if (res.rc < 0) {
            fprintf(stderr, "barrier-bench-scale: %s round %u: %s\n", kind_name[sd->kind], r,
                    strerror(-res.rc));
            rc = -1;
        }
        for (uint32_t i = 0; i < res.n_items; i++) {
            if (seen[idx[i]])
                sd->bad++;
            seen[idx[i]] = 1;
        }
        replies += res.replies;
        sd->bad += res.bad;
        if (res.t_first_send < first_send)
            first_send = res.t_first_send;
        if (res.t_first_recv && res.t_first_recv < first_recv)
            first_recv = res.t_first_recv;
        if (res.t_last_recv > last_recv)
            last_recv = res.t_last_recv;
    }
    sd->cpu_ns[r] = ts_proc_cpu_ns(sd->s.pid) - cpu0;
    if (replies < sd->n)
        sd->lost += sd->n - replies;
    if (sd->kind == K_BARRIERD)
        for (unsigned i = 0; i < sd->n; i++)
            if (!seen[i]) {
                sd->failed = 1; /* counted in lost already when a reply is missing */
                break;
            }
    sd->round_ns[r] = last_recv > first_send ? last_recv - first_send : 0;
    sd->fan_ns[r] = last_recv > first_recv && first_recv != UINT64_MAX ? last_recv - first_recv : 0;
    long rss, hwm;
    if (ts_proc_mem_kb(sd->s.pid, &rss, &hwm) == 0 && hwm > sd->hwm_kb)
        sd->hwm_kb = hwm;
    sd->gen++;
    return rc;
}

static void stop_side(side *sd)
{
    cmd k = {3, 0};
    for (unsigned p = 0; p < sd->procs; p++) {
        if (sd->pid[p] <= 0)
            continue;
        write_all(sd->cmd_fd[p], &k, sizeof k);
        close(sd->cmd_fd[p]);
        close(sd->res_fd[p]);
        ts_reap(sd->pid[p], 10000);
        sd->pid[p] = 0;
    }
    if (sd->s.pid > 0)
        bn_server_stop(&sd->s, opt.keep_logs);
}

static double pct(uint64_t *v, unsigned n, double p)
{
    uint64_t tmp[4096];
    if (n == 0 || n > 4096)
        return 0;
    memcpy(tmp, v, n * sizeof *v);
    return (double)bn_percentile(tmp, n, p);
}

static void report(side *sd)
{
    unsigned R = sd->rounds;
    uint64_t per[4096];
    for (unsigned r = 0; r < R && r < 4096; r++)
        per[r] = sd->cpu_ns[r] / sd->n;
    printf("%-8s %7u %6u %5.2f %7.1f %7.1f %8.2f %8.2f %8.2f %8.2f %8.3f %6ld %6ld %5llu\n",
           kind_name[sd->kind], sd->n, sd->nc, sd->connect_s, sd->conn_p50_ms, sd->conn_p99_ms,
           pct(sd->round_ns, R, 50) / 1e6, pct(sd->round_ns, R, 99) / 1e6,
           pct(sd->fan_ns, R, 50) / 1e6, pct(sd->fan_ns, R, 99) / 1e6, pct(per, R, 50) / 1e3,
           (sd->rss_conn_kb - sd->rss_idle_kb) * 1024 / (long)sd->nc,
           (sd->hwm_kb - sd->rss_idle_kb) * 1024 / (long)sd->nc,
           (unsigned long long)(sd->lost + sd->bad));
}

static int run_n(unsigned n)
{
    unsigned nc = (n + opt.waits - 1) / opt.waits;
    long limit = ts_raise_nofile();
    if (nc + SERVER_FD_ROOM > (unsigned)limit) /* as many as a server may hold: some carry one more */
        nc = (unsigned)(limit - SERVER_FD_ROOM);
    if ((n + nc - 1) / nc > MAX_WAITS) {
        fprintf(stderr,
                "barrier-bench-scale: N=%u needs more than %d waits on each of %u connections "
                "(a process may hold %ld descriptors)\n",
                n, MAX_WAITS, nc, limit);
        return -1;
    }
    unsigned char *seen = malloc(n);
    uint32_t *idx = malloc(n * sizeof *idx);
    side sides[2];
    memset(sides, 0, sizeof sides);
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        side *sd = &sides[k];
        sd->kind = k;
        sd->n = n;
        sd->nc = nc;
        sd->procs = opt.procs < nc ? opt.procs : nc;
        sd->rounds = opt.rounds;
        sd->round_ns = calloc(opt.rounds, sizeof(uint64_t));
        sd->fan_ns = calloc(opt.rounds, sizeof(uint64_t));
        sd->cpu_ns = calloc(opt.rounds, sizeof(uint64_t));
        if (opt.only >= 0 && opt.only != k)
            continue;
        fprintf(stderr, "barrier-bench-scale: N=%u: %s: %u connections x %.2f waits from %u processes\n",
                n, kind_name[k], nc, (double)n / nc, sd->procs);
        if (start_server(sd) != 0) {
            rc = -1;
            continue;
        }
        ts_proc_mem_kb(sd->s.pid, &sd->rss_idle_kb, &sd->hwm_kb);
        if (spawn_loads(sd) != 0 || do_connect(sd) != 0) {
            bn_server_log_tail(&sd->s, 20);
            sd->failed = 1;
            rc = -1;
            continue;
        }
        long hwm;
        ts_proc_mem_kb(sd->s.pid, &sd->rss_conn_kb, &hwm);
        sd->hwm_kb = hwm;
    }
    for (unsigned r = 0; r < opt.rounds && rc == 0; r++) {
        for (int j = 0; j < 2; j++) {
            int k = (r & 1) ? 1 - j : j; /* alternate which goes first */
            side *sd = &sides[k];
            if ((opt.only >= 0 && opt.only != k) || sd->failed)
                continue;
            if (do_round(sd, r, seen, idx) != 0 || sd->lost || sd->bad) {
                fprintf(stderr, "barrier-bench-scale: %s N=%u round %u: %llu lost, %llu bad\n",
                        kind_name[k], n, r, (unsigned long long)sd->lost,
                        (unsigned long long)sd->bad);
                bn_server_log_tail(&sd->s, 20);
                rc = -1;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        side *sd = &sides[k];
        if ((opt.only < 0 || opt.only == k) && !sd->failed && sd->s.pid > 0)
            report(sd);
        stop_side(sd);
    }
    if (opt.only < 0 && rc == 0) {
        double f_round = pct(sides[0].round_ns, opt.rounds, 50),
               b_round = pct(sides[1].round_ns, opt.rounds, 50);
        uint64_t f_cpu = 0, b_cpu = 0;
        for (unsigned r = 0; r < opt.rounds; r++) {
            f_cpu += sides[0].cpu_ns[r];
            b_cpu += sides[1].cpu_ns[r];
        }
        printf("ratio    %7u  barrierd/floor: round %.2fx, server CPU per arrival %.2fx\n", n,
               f_round > 0 ? b_round / f_round : 0, f_cpu ? (double)b_cpu / (double)f_cpu : 0);
    }
    for (int k = 0; k < 2; k++) {
        free(sides[k].round_ns);
        free(sides[k].fan_ns);
        free(sides[k].cpu_ns);
    }
    free(seen);
    free(idx);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: barrier-bench-scale [options]\n"
            "  --n LIST          parties of the one barrier (default 1000,10000,100000)\n"
            "  --waits W         waits per connection (default 5, 1..%d)\n"
            "  --procs P         load processes per server (default 4, 1..%d)\n"
            "  --rounds R        rounds per N and server (default 10)\n"
            "  --inflight K      connects outstanding per load process (default 256)\n"
            "  --only floor|barrierd   measure one server only\n"
            "  --barrierd PATH   the server (default $BARRIERD, else ../../server/barrierd)\n"
            "  --floor PATH      floor-server (default: next to this program)\n"
            "  --watchdog S      give up on a phase after S seconds (default 60)\n"
            "  --keep-logs       keep the servers' logs\n"
            "  --quick           smoke test: N=1000, 3 rounds\n"
            "Exit status: 0 every release accounted for, 1 lost/bad releases or a failed run,\n"
            "64 usage.\n",
            MAX_WAITS, MAX_PROCS);
}

int main(int argc, char **argv)
{
    static char floor_path[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--n") == 0 && v) {
            opt.n_n = 0;
            for (char *p = argv[++i]; *p && opt.n_n < 8;) {
                char *end;
                unsigned long x = strtoul(p, &end, 10);
                if (end == p || x < 2 || x > 1000000) {
                    usage(stderr);
                    return 64;
                }
                opt.n_list[opt.n_n++] = (unsigned)x;
                p = *end == ',' ? end + 1 : end;
            }
        } else if (strcmp(a, "--waits") == 0 && v) {
            opt.waits = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--procs") == 0 && v) {
            opt.procs = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--rounds") == 0 && v) {
            opt.rounds = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--inflight") == 0 && v) {
            opt.inflight = (unsigned)atoi(argv[++i]);
        } else if (strcmp(a, "--watchdog") == 0 && v) {
            opt.watchdog_s = atof(argv[++i]);
        } else if (strcmp(a, "--only") == 0 && v) {
            i++;
            opt.only = strcmp(v, "floor") == 0 ? K_FLOOR : strcmp(v, "barrierd") == 0 ? K_BARRIERD : -2;
        } else if (strcmp(a, "--barrierd") == 0 && v) {
            opt.barrierd = argv[++i];
        } else if (strcmp(a, "--floor") == 0 && v) {
            opt.floor = argv[++i];
        } else if (strcmp(a, "--keep-logs") == 0) {
            opt.keep_logs = 1;
        } else if (strcmp(a, "--quick") == 0) {
            opt.n_list[0] = 1000;
            opt.n_n = 1;
            opt.rounds = 3;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 64;
        }
    }
    if (opt.waits < 1 || opt.waits > MAX_WAITS || opt.procs < 1 || opt.procs > MAX_PROCS ||
        opt.rounds < 1 || opt.rounds > 4096 || opt.inflight < 1 || opt.only == -2 ||
        opt.watchdog_s <= 0) {
        usage(stderr);
        return 64;
    }
    if (opt.barrierd)
        setenv("BARRIERD", opt.barrierd, 1);
    if (!ts_barrierd_default()) {
        fprintf(stderr, "barrier-bench-scale: no barrierd: set $BARRIERD or --barrierd\n");
        return 64;
    }
    if (!opt.floor) {
        ssize_t l = readlink("/proc/self/exe", floor_path, sizeof floor_path - 16);
        if (l <= 0)
            return 64;
        floor_path[l] = '\0';
        char *slash = strrchr(floor_path, '/');
        strcpy(slash ? slash + 1 : floor_path, "floor-server");
        opt.floor = floor_path;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("# barrier-bench-scale: one barrier, N parties over N/%u connections (at most the "
           "descriptor limit), %u load processes, %u rounds\n",
           opt.waits, opt.procs, opt.rounds);
    printf("# floor = floor-server --coalesce (one write per connection per release)\n");
    printf("%-8s %7s %6s %5s %7s %7s %8s %8s %8s %8s %8s %6s %6s %5s\n", "server", "N", "conns",
           "conn_s", "c_p50ms", "c_p99ms", "rnd_p50", "rnd_p99", "fan_p50", "fan_p99",
           "cpu_us/a", "B/conn", "Bpeak", "lost");
    int rc = 0;
    for (int i = 0; i < opt.n_n; i++) {
        if (run_n(opt.n_list[i]) != 0)
            rc = 1;
        fflush(stdout);
    }
    return rc;
}
