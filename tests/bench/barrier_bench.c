/* barrier_bench.c - barrier-bench: the measuring instrument for barrierd's release path.
 *
 * A single-process load generator: N non-blocking loopback TCP connections driven by one
 * epoll loop, R rounds. In each round every connection sends its arrival, then the
 * generator waits until every connection has received its release. Round time is first
 * arrival sent -> last release received. The same generator drives two servers, both
 * started here (fork/exec) and measured in the same run:
 *
 *   floor     floor-server: an arrival is one byte, a release is one byte (the kernel
 *             cost floor of a centralized barrier).
 *   barrierd  the real server, over its newline-delimited JSON protocol:
 *             {"op":"wait","id":R,"barrier":"bench","parties":N}
 *
 * Both servers run at once and the measured rounds alternate between them in blocks, so
 * that on a shared, noisy machine both see the same noise; where the two sets of
 * connections do not fit under RLIMIT_NOFILE together (N = 10000 with a 20000 limit) they
 * are measured one at a time, floor-barrierd-floor. For each, the server process's own
 * CPU time (/proc/PID/task/X/schedstat), sampled around each block, divided by
 * rounds x N gives CPU per arrival, and /proc/PID/status gives
 * VmRSS (idle, connected) and VmHWM (peak). Every release is checked: per round each
 * connection gets exactly one, "ok":true, the id of the round, every index 0..N-1 exactly
 * once, one generation per round, increasing by one. Anything missing is "lost" and makes
 * the exit status 1. Every wait is bounded (a per-round watchdog).
 *
 * Other modes: a 2-process latency test (fork: two processes, one connection each, one
 * barrier), and idle barriers (K named barriers, each cycled once, RSS per barrier).
 * Run with --help for the flags. */
#include "bench_common.h"
#include "bench_tls.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define RBUF 240 /* per-connection read buffer: one release line fits many times */
#define BENCH_DATA_MAX 4096 /* --data: bytes each party sends (barrierd's --max-data) */
#define MAX_N 1000000u
#define MAX_RUNS 32

typedef enum { K_FLOOR = 0, K_BARRIERD = 1 } server_kind;
static const char *const kind_name[] = {"floor", "barrierd"};

/* ---- options ---- */

static struct {
    const char *barrierd, *floor;
    unsigned ns[MAX_RUNS];
    unsigned n_ns;
    unsigned rounds_fixed; /* 0 = scaled by N */
    double scale;
    double watchdog_s;
    double pause_s;
    int only; /* -1 both, else a server_kind */
    int table, latency, idle;
    unsigned latency_rounds;
    unsigned idle_barriers;
    int quick;
    int keep_logs;
    unsigned repeat;
    int verbose;
    unsigned data_bytes; /* --data: each arrival carries this much rendezvous data */
    char *server_args[32];
    int n_server_args;
    int tls; /* --tls: the N-connection rounds reach barrierd over TLS */
    unsigned floor_in, floor_out; /* --floor-sized: the floor's arrival and release bytes */
    int pin;  /* --placement split: the load on load_cpu, every server on server_cpu */
    int load_cpu, server_cpu;
} opt = {
    .pin = 1,
    .scale = 1.0,
    .watchdog_s = 10.0,
    .only = -1,
    .table = 1,
    .latency = 1,
    .idle = 1,
    .latency_rounds = 20000,
    .idle_barriers = 100000,
    .repeat = 1,
};

static unsigned rounds_for(unsigned n)
{
    if (opt.rounds_fixed) return opt.rounds_fixed;
    /* ~200k arrivals per N, between 20 and 5000 rounds: a few seconds each at most. */
    double r = 200000.0 / n;
    if (r > 5000) r = 5000;
    r *= opt.scale;
    if (r < 20) r = 20;
    return (unsigned)r;
}

static unsigned warmup_for(unsigned rounds)
{
    unsigned w = rounds / 10;
    return w < 2 ? 2 : w > 200 ? 200 : w;
}

/* ---- the generator ---- */

typedef struct conn {
    int fd;
    uint32_t seen;    /* stamp of the round in which this connection got its reply */
    uint16_t rlen;    /* bytes in rbuf */
    uint16_t out_off; /* bytes of this round's arrival sent so far */
    uint8_t skip;     /* --data: discarding the rest of a release line (its gathered) */
    void *tls;        /* --tls: the session (bench_tls.h), else NULL */
    char rbuf[RBUF];
} conn;

typedef struct gen {
    server_kind proto;
    unsigned n;
    conn *c;
    int ep;
    struct epoll_event *evs;
    int maxev;
    uint32_t *idx_seen; /* stamp per arrival index */
    uint32_t stamp;     /* current round, from 1 */
    uint64_t round_id;  /* the "id" of this round's waits */
    int have_gen;       /* next_gen known (after the first round) */
    uint64_t next_gen, round_gen;
    int round_gen_set;
    unsigned replies; /* replies received in this round */
    unsigned *pending;
    unsigned n_pending;
    char line[160 + BENCH_DATA_MAX + 16];
    size_t line_len;
    uint64_t lost, bad, events;
    char first_bad[256];
} gen;

static void note_bad(gen *g, const char *what, const char *line, size_t len)
{
    if (g->bad++ == 0)
        snprintf(g->first_bad, sizeof g->first_bad, "round %u: %s: %.*s", (unsigned)g->stamp, what,
                 (int)(len > 160 ? 160 : len), line ? line : "");
}

/* One reply line (JSON protocol). */
static void handle_line(gen *g, conn *c, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return;
    if (bn_json_field(line, len, "event")) {
        g->events++; /* heartbeat etc.: not a reply (heartbeats are off in the bench) */
        return;
    }
    if (c->seen == g->stamp) {
        note_bad(g, "second reply on one connection", line, len);
        return;
    }
    c->seen = g->stamp;
    g->replies++;
    if (!bn_json_ok(line, len)) {
        note_bad(g, "error reply", line, len);
        return;
    }
    uint64_t id, index, generation;
    if (bn_json_u64(line, len, "id", &id) || bn_json_u64(line, len, "index", &index) ||
        bn_json_u64(line, len, "generation", &generation)) {
        note_bad(g, "reply without id/index/generation", line, len);
        return;
    }
    if (id != g->round_id) {
        note_bad(g, "reply for another round", line, len);
        return;
    }
    if (index >= g->n || g->idx_seen[index] == g->stamp) {
        note_bad(g, "index out of range or seen twice", line, len);
        return;
    }
    g->idx_seen[index] = g->stamp;
    if (!g->round_gen_set) {
        if (g->have_gen && generation != g->next_gen) {
            note_bad(g, "generation did not increase by one", line, len);
            return;
        }
        g->round_gen = generation;
        g->round_gen_set = 1;
    } else if (generation != g->round_gen) {
        note_bad(g, "two generations in one round", line, len);
    }
}

/* Data arrived on c. Returns 0, or -1 if the connection is gone. */
static int on_readable(gen *g, conn *c)
{
    ssize_t r = c->tls ? bench_tls_read(c->tls, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen)
                       : read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0) return -1;
    if (g->proto == K_FLOOR) {
        for (ssize_t i = 0; i < r; i++) {
            if (opt.floor_in && c->rbuf[c->rlen + i] != '\n')
                continue; /* --floor-sized: a release is a whole line */
            if (c->seen == g->stamp) {
                note_bad(g, "second release byte on one connection", NULL, 0);
            } else {
                c->seen = g->stamp;
                g->replies++;
            }
        }
        return 0;
    }
    c->rlen += (uint16_t)r;
    if (c->skip) { /* --data: the rest of a release line, its gathered array */
        char *nl = memchr(c->rbuf, '\n', c->rlen);
        size_t past = nl ? (size_t)(nl + 1 - c->rbuf) : c->rlen;
        memmove(c->rbuf, c->rbuf + past, c->rlen - past);
        c->rlen = (uint16_t)(c->rlen - past);
        c->skip = !nl;
    }
    char *p = c->rbuf, *end = c->rbuf + c->rlen;
    char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        handle_line(g, c, p, (size_t)(nl - p));
        p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    if (rest == sizeof c->rbuf && opt.data_bytes &&
        memmem(c->rbuf, rest, "\"gathered\":[", 12)) {
        /* --data: a release's head (id, index, generation) comes before its
         * gathered array, which is read past, not kept */
        handle_line(g, c, c->rbuf, rest);
        c->skip = 1;
        rest = 0;
    } else if (rest == sizeof c->rbuf) { /* a line longer than the buffer: not a release */
        note_bad(g, "overlong line", c->rbuf, 80);
        rest = 0;
    }
    if (rest && p != c->rbuf) memmove(c->rbuf, p, rest);
    c->rlen = (uint16_t)rest;
    return 0;
}

/* Send the rest of this round's arrival on c. 1 done, 0 would block, -1 error. */
static int send_arrival(gen *g, conn *c)
{
    while (c->out_off < g->line_len) {
        ssize_t w = c->tls ? bench_tls_write(c->tls, g->line + c->out_off, g->line_len - c->out_off)
                           : send(c->fd, g->line + c->out_off, g->line_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (uint16_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    return 1;
}

/* One round. Returns 0 (round complete, *round_ns set) or -1 (watchdog or a connection
 * lost: reported, the round's missing releases counted as lost). */
static int run_round(gen *g, uint64_t *round_ns)
{
    g->stamp++;
    g->round_id++;
    g->replies = 0;
    g->round_gen_set = 0;
    g->n_pending = 0;
    if (g->proto == K_BARRIERD && opt.data_bytes) {
        /* --data: the same wait with a "data" string of data_bytes */
        int k = snprintf(g->line, sizeof g->line,
                         "{\"op\":\"wait\",\"id\":%llu,\"barrier\":\"bench\",\"parties\":%u,"
                         "\"data\":\"", (unsigned long long)g->round_id, g->n);
        memset(g->line + k, 'd', opt.data_bytes);
        memcpy(g->line + k + opt.data_bytes, "\"}\n", 4);
        g->line_len = (size_t)k + opt.data_bytes + 3;
    } else if (g->proto == K_BARRIERD)
        g->line_len = (size_t)snprintf(g->line, sizeof g->line,
                                       "{\"op\":\"wait\",\"id\":%llu,\"barrier\":\"bench\","
                                       "\"parties\":%u}\n",
                                       (unsigned long long)g->round_id, g->n);
    else if (opt.floor_in) { /* --floor-sized: a line of barrierd's arrival's length */
        memset(g->line, 'a', opt.floor_in - 1);
        g->line[opt.floor_in - 1] = '\n';
        g->line_len = opt.floor_in;
    } else {
        g->line[0] = 'a';
        g->line_len = 1;
    }
    uint64_t t0 = ts_now_ns();
    uint64_t deadline = t0 + (uint64_t)(opt.watchdog_s * 1e9);
    for (unsigned i = 0; i < g->n; i++) {
        conn *c = &g->c[i];
        c->out_off = 0;
        int s = send_arrival(g, c);
        if (s < 0) {
            fprintf(stderr, "barrier-bench: round %u: send on connection %u: %s\n", g->stamp, i,
                    strerror(errno));
            g->lost += g->n - g->replies;
            return -1;
        }
        if (s == 0) g->pending[g->n_pending++] = i;
    }
    while (g->replies < g->n) {
        if (g->n_pending) {
            unsigned k = 0;
            for (unsigned j = 0; j < g->n_pending; j++) {
                int s = send_arrival(g, &g->c[g->pending[j]]);
                if (s < 0) {
                    fprintf(stderr, "barrier-bench: round %u: send: %s\n", g->stamp,
                            strerror(errno));
                    g->lost += g->n - g->replies;
                    return -1;
                }
                if (s == 0) g->pending[k++] = g->pending[j];
            }
            g->n_pending = k;
        }
        uint64_t now = ts_now_ns();
        if (now >= deadline) {
            fprintf(stderr,
                    "barrier-bench: WATCHDOG: %s N=%u round %u: %u of %u releases after %.1f s "
                    "(%u arrivals not fully sent)\n",
                    kind_name[g->proto], g->n, g->stamp, g->replies, g->n, opt.watchdog_s,
                    g->n_pending);
            g->lost += g->n - g->replies;
            return -1;
        }
        int tmo = g->n_pending ? 1 : (int)((deadline - now) / 1000000 + 1);
        if (tmo > 100) tmo = 100;
        int ne = epoll_wait(g->ep, g->evs, g->maxev, tmo);
        if (ne < 0 && errno != EINTR) {
            perror("barrier-bench: epoll_wait");
            g->lost += g->n - g->replies;
            return -1;
        }
        for (int i = 0; i < ne; i++) {
            conn *c = g->evs[i].data.ptr;
            if (on_readable(g, c) < 0) {
                fprintf(stderr,
                        "barrier-bench: %s N=%u round %u: connection %u closed by the server\n",
                        kind_name[g->proto], g->n, g->stamp, (unsigned)(c - g->c));
                g->lost += g->n - g->replies;
                return -1;
            }
        }
    }
    *round_ns = ts_now_ns() - t0;
    if (g->round_gen_set) {
        g->next_gen = g->round_gen + 1;
        g->have_gen = 1;
    }
    return 0;
}

static void gen_free(gen *g)
{
    if (g->c)
        for (unsigned i = 0; i < g->n; i++)
            if (g->c[i].fd >= 0) {
                bench_tls_free(g->c[i].tls);
                close(g->c[i].fd);
            }
    if (g->ep >= 0) close(g->ep);
    free(g->c);
    free(g->evs);
    free(g->idx_seen);
    free(g->pending);
    memset(g, 0, sizeof *g);
    g->ep = -1;
}

/* Wait until the server holds at least `want` fds; bounded. */
static int wait_server_fds(ts_server *s, long want, double timeout_s)
{
    uint64_t deadline = ts_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        long have = ts_proc_fd_count(s->pid);
        if (have >= want) return 0;
        if (ts_now_ns() >= deadline || !ts_server_alive(s)) {
            fprintf(stderr, "barrier-bench: %s holds %ld fds, expected %ld\n", s->name, have, want);
            return -1;
        }
        ts_sleep_ms(1);
    }
}

/* Open N connections, in batches so the listen backlog never overflows (an overflowing
 * SYN costs a 1 s retransmit). */
static int gen_connect(gen *g, server_kind kind, unsigned n, ts_server *s, long base_fds)
{
    memset(g, 0, sizeof *g);
    g->ep = -1;
    g->proto = kind;
    g->n = n;
    g->c = calloc(n, sizeof *g->c);
    g->maxev = n < 1024 ? (int)n : 1024;
    g->evs = calloc((size_t)g->maxev, sizeof *g->evs);
    g->idx_seen = calloc(n, sizeof *g->idx_seen);
    g->pending = calloc(n, sizeof *g->pending);
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!g->c || !g->evs || !g->idx_seen || !g->pending || g->ep < 0) {
        fprintf(stderr, "barrier-bench: out of memory\n");
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        g->c[i].fd = -1;
    const unsigned batch = 512;
    for (unsigned i = 0; i < n; i += batch) {
        unsigned hi = i + batch < n ? i + batch : n;
        for (unsigned k = i; k < hi; k++) {
            int tls = opt.tls && kind == K_BARRIERD;
            int fd = bn_connect_loopback(tls ? ts_server_port(s, "tls://") : s->port, 10.0);
            if (fd >= 0 && tls && bench_tls_handshake(fd, &g->c[k].tls, 10.0) < 0) {
                close(fd);
                return -1;
            }
            if (fd < 0) {
                fprintf(stderr, "barrier-bench: connect #%u to %s: %s\n", k, s->name,
                        strerror(errno));
                return -1;
            }
            g->c[k].fd = fd;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g->c[k]};
            if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                perror("barrier-bench: epoll_ctl");
                return -1;
            }
        }
        /* let the server's accept queue drain before the next batch */
        if (hi < n && wait_server_fds(s, base_fds + (long)hi - 2048, 10.0) < 0) return -1;
    }
    return wait_server_fds(s, base_fds + (long)n, 10.0);
}

/* ---- one measured run: a server, N connections, W + R rounds ---- */

typedef struct result {
    int done, ok;
    unsigned n, rounds;
    uint64_t med_ns, p99_ns, min_ns, max_ns;
    double rounds_per_s, cpu_ns_per_arrival;
    long rss_base_kb, rss_conn_kb, hwm_kb;
    uint64_t lost, bad;
} result;

/* Start a server of this kind for N connections (the launcher: port 0, ready file, dies
 * with the bench). 0, or -1 with its log on stderr. */
/* A member of an HA group (--server-arg --ha-etcd ...) serves only once etcd
 * elected it: ask its stats until it says "leader" (at most 15 s). */
static int await_leader(const ts_server *s)
{
    for (int64_t end = ts_now_ms() + 15000; ts_now_ms() < end; ts_sleep_ms(20)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        static const char ask[] = "{\"op\":\"stats\",\"id\":1}\n";
        char buf[2048] = "";
        ssize_t n = -1;
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            send(fd, ask, sizeof ask - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof ask - 1)) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 1000) > 0)
                n = recv(fd, buf, sizeof buf - 1, 0);
        }
        if (fd >= 0)
            close(fd);
        if (n > 0 && (buf[n] = '\0', strstr(buf, "\"role\":\"leader\"")))
            return 0;
    }
    fprintf(stderr, "barrier-bench: barrierd never led its HA group\n");
    return -1;
}

/* --placement split: the server on its own CPU, whatever CPU it started on. */
static void place_server(const ts_server *s)
{
    if (opt.pin && bn_pin_process(s->pid, opt.server_cpu) != 0)
        fprintf(stderr, "barrier-bench: pinning %s to CPU %d: %s\n", s->name, opt.server_cpu,
                strerror(errno));
}

/* Start barrierd with argv[0..a) and the --server-arg flags. Each HA server of
 * the bench leads a group of its own (a group's next leader would load the
 * barriers the last one left), and is waited for until it leads. */
static int launch(ts_server *s, const char **argv, int a)
{
    static char group[128];
    static unsigned starts;
    int ha = 0;
    if (opt.tls && (a = bench_tls_server_args(argv, a)) < 0)
        return -1;
    for (int i = 0; i < opt.n_server_args; i++) {
        argv[a++] = opt.server_args[i];
        ha |= strcmp(opt.server_args[i], "--ha-etcd") == 0;
        if (i > 0 && strcmp(opt.server_args[i - 1], "--ha-group") == 0) {
            snprintf(group, sizeof group, "%s-%ld-%u", opt.server_args[i], (long)getpid(),
                     ++starts);
            argv[a - 1] = group;
        }
    }
    argv[a] = NULL;
    int rc = ts_server_start(s, argv);
    if (rc == 0)
        place_server(s);
    return rc == 0 && ha ? await_leader(s) : rc;
}

static int start_server(ts_server *s, server_kind kind, unsigned n)
{
    char parties[32], maxconn[32];
    const char *argv[64];
    int a = 0;
    snprintf(parties, sizeof parties, "%u", n);
    snprintf(maxconn, sizeof maxconn, "%u", n + 16);
    memset(s, 0, sizeof *s);
    s->name = kind_name[kind];
    char out_bytes[16];
    if (kind == K_FLOOR) {
        s->bin = opt.floor;
        argv[a++] = "--parties";
        argv[a++] = parties;
        if (opt.floor_out) {
            snprintf(out_bytes, sizeof out_bytes, "%u", opt.floor_out);
            argv[a++] = "--sized";
            argv[a++] = out_bytes;
        }
    } else {
        argv[a++] = "--heartbeat";
        argv[a++] = "0";
        if (n + 16 > 10000) { /* past the defaults only: they may size things */
            argv[a++] = "--max-connections";
            argv[a++] = maxconn;
        }
        if (n > 100000) {
            argv[a++] = "--max-parties";
            argv[a++] = parties;
        }
        return launch(s, argv, a);
    }
    argv[a] = NULL;
    int rc = ts_server_start(s, argv);
    if (rc == 0)
        place_server(s);
    return rc;
}

/* One server under measurement: its process, the generator's connections to it, and
 * what has been measured so far. Measured rounds come in blocks; CPU is sampled around
 * each block, so when two servers are measured interleaved, neither is charged for the
 * time it sat idle while the other was driven. A side may be started more than once (a
 * fresh server each time, for the sequential A-B-A order); its measurements accumulate. */
typedef struct side {
    server_kind kind;
    unsigned n, rounds, done;
    ts_server s;
    gen g;
    uint64_t *times;
    uint64_t cpu_ns, wall_ns, lost, bad;
    int running, failed;
    double connect_s;
    char first_bad[256];
    result *res;
} side;

static int side_init(side *sd, server_kind kind, unsigned n, unsigned rounds, result *res)
{
    memset(sd, 0, sizeof *sd);
    sd->g.ep = -1;
    sd->kind = kind;
    sd->n = n;
    sd->rounds = rounds;
    sd->res = res;
    memset(res, 0, sizeof *res);
    res->n = n;
    res->rounds = rounds;
    res->rss_base_kb = res->rss_conn_kb = res->hwm_kb = -1;
    sd->times = calloc(rounds, sizeof *sd->times);
    if (!sd->times) sd->failed = 1;
    return sd->failed ? -1 : 0;
}

/* Start a server, connect N, run the warm-up rounds. */
static int side_start(side *sd)
{
    if (sd->failed) return -1;
    if (start_server(&sd->s, sd->kind, sd->n) < 0) {
        sd->failed = 1;
        return -1;
    }
    sd->running = 1;
    result *res = sd->res;
    ts_sleep_ms(20); /* let it finish starting before the idle RSS sample */
    long rss, hwm;
    ts_proc_mem_kb(sd->s.pid, &rss, &hwm);
    if (res->rss_base_kb < 0) res->rss_base_kb = rss;
    long base_fds = ts_proc_fd_count(sd->s.pid);
    uint64_t t = ts_now_ns();
    if (gen_connect(&sd->g, sd->kind, sd->n, &sd->s, base_fds) < 0) {
        sd->failed = 1;
        return -1;
    }
    sd->connect_s += (double)(ts_now_ns() - t) / 1e9;
    ts_sleep_ms(20);
    ts_proc_mem_kb(sd->s.pid, &rss, &hwm);
    if (res->rss_conn_kb < 0) res->rss_conn_kb = rss;
    unsigned warm = warmup_for(sd->rounds);
    uint64_t rt;
    for (unsigned r = 0; r < warm; r++)
        if (run_round(&sd->g, &rt) < 0) {
            sd->failed = 1;
            return -1;
        }
    return 0;
}

static int side_block(side *sd, unsigned count)
{
    if (sd->failed || !sd->running) return -1;
    /* One untimed round first: after the other server's block, this one's caches are
     * cold and its process asleep; that transition is not what we measure. */
    uint64_t rt;
    if (run_round(&sd->g, &rt) < 0) {
        sd->failed = 1;
        return -1;
    }
    uint64_t cpu0 = ts_proc_cpu_ns(sd->s.pid), t0 = ts_now_ns();
    for (unsigned i = 0; i < count && sd->done < sd->rounds; i++) {
        if (run_round(&sd->g, &sd->times[sd->done]) < 0) {
            sd->failed = 1; /* that round's missing releases are in g.lost */
            break;
        }
        sd->done++;
    }
    sd->wall_ns += ts_now_ns() - t0;
    sd->cpu_ns += ts_proc_cpu_ns(sd->s.pid) - cpu0;
    return sd->failed ? -1 : 0;
}

/* Sample the peak, stop the server, close the connections. */
static void side_stop(side *sd)
{
    if (sd->running && !sd->failed) {
        long rss, hwm;
        if (ts_proc_mem_kb(sd->s.pid, &rss, &hwm) == 0 && hwm > sd->res->hwm_kb)
            sd->res->hwm_kb = hwm;
    }
    if (sd->failed && sd->running) {
        fprintf(stderr, "barrier-bench: %s N=%u failed; server log %s:\n", kind_name[sd->kind],
                sd->n, sd->s.log_path);
        bn_server_log_tail(&sd->s, 10);
    }
    sd->lost += sd->g.lost;
    if (sd->g.bad && !sd->bad) snprintf(sd->first_bad, sizeof sd->first_bad, "%s", sd->g.first_bad);
    sd->bad += sd->g.bad;
    gen_free(&sd->g);
    if (sd->running) {
        int st = bn_server_stop(&sd->s, opt.keep_logs || sd->failed);
        if (st != 0 && !sd->failed)
            fprintf(stderr, "barrier-bench: %s exited with status %d after the run\n",
                    kind_name[sd->kind], st);
        sd->running = 0;
    }
}

static void side_finish(side *sd, const char *how)
{
    result *res = sd->res;
    unsigned n = sd->n, rounds = sd->rounds, done = sd->done;
    side_stop(sd);
    res->lost = sd->lost; /* releases missing from the rounds that ran */
    if (done < rounds)    /* and the run is a failure even if none went missing */
        fprintf(stderr, "barrier-bench: %s N=%u: only %u of %u rounds ran\n", kind_name[sd->kind],
                n, done, rounds);
    res->bad = sd->bad;
    if (sd->bad)
        fprintf(stderr, "barrier-bench: %s N=%u: %llu bad replies; first: %s\n",
                kind_name[sd->kind], n, (unsigned long long)sd->bad, sd->first_bad);
    if (done > 0) {
        res->done = 1;
        res->rounds = done;
        res->rounds_per_s = (double)done / ((double)sd->wall_ns / 1e9);
        res->cpu_ns_per_arrival = (double)sd->cpu_ns / ((double)done * n);
        res->med_ns = bn_percentile(sd->times, done, 50);
        res->p99_ns = bn_percentile(sd->times, done, 99);
        res->min_ns = sd->times[0];
        res->max_ns = sd->times[done - 1];
    }
    res->ok = !sd->failed && done == rounds && res->lost == 0 && res->bad == 0;
    fprintf(stderr,
            "  %-8s N=%-6u R=%-5u %s connect %.2fs  median %9.1f us  p99 %9.1f us  %8.0f "
            "rounds/s  cpu %6.0f ns/arrival  rss %ld->%ld kB hwm %ld kB  lost %llu bad %llu%s\n",
            kind_name[sd->kind], n, done, how, sd->connect_s, (double)res->med_ns / 1e3,
            (double)res->p99_ns / 1e3, res->rounds_per_s, res->cpu_ns_per_arrival, res->rss_base_kb,
            res->rss_conn_kb, res->hwm_kb, (unsigned long long)res->lost,
            (unsigned long long)res->bad, res->ok ? "" : "  FAILED");
    free(sd->times);
    sd->times = NULL;
}

static void pause_for_profiler(side *sides, int count)
{
    if (opt.pause_s <= 0) return;
    for (int k = 0; k < count; k++)
        if (sides[k].running)
            fprintf(stderr, "barrier-bench: %s N=%u: server pid %d\n", kind_name[sides[k].kind],
                    sides[k].n, (int)sides[k].s.pid);
    fprintf(stderr, "barrier-bench: pausing %.1f s before the measured rounds\n", opt.pause_s);
    ts_sleep_s(opt.pause_s);
}

/* Measure the servers at N. When both are measured and their connections fit under
 * RLIMIT_NOFILE together, both servers run at once and the rounds alternate in blocks
 * (interleaved: on a noisy machine both see the same noise). Otherwise one at a time, in
 * the order floor, barrierd, floor (half the floor's rounds each time), so slow drift
 * affects both alike. Returns 1 if interleaved. */
static int run_n(unsigned n, unsigned rounds, int both, server_kind only, long nofile,
                 result res[2])
{
    side sides[2];
    if (both && 2L * n + 64 <= nofile) {
        unsigned blocks = rounds / 10, per;
        blocks = blocks < 1 ? 1 : blocks > 100 ? 100 : blocks; /* short blocks pair better */
        per = (rounds + blocks - 1) / blocks;
        for (int k = 0; k < 2; k++)
            if (side_init(&sides[k], (server_kind)k, n, rounds, &res[k]) == 0)
                side_start(&sides[k]);
        pause_for_profiler(sides, 2);
        for (unsigned b = 0; b < blocks; b++) {
            /* alternate which goes first, so neither always follows the other */
            int first = (int)(b & 1);
            side_block(&sides[first], per);
            side_block(&sides[!first], per);
        }
        side_finish(&sides[K_FLOOR], "interleaved");
        side_finish(&sides[K_BARRIERD], "interleaved");
        return 1;
    }
    if (!both) {
        if (side_init(&sides[0], only, n, rounds, &res[only]) == 0 && side_start(&sides[0]) == 0) {
            pause_for_profiler(&sides[0], 1);
            side_block(&sides[0], rounds);
        }
        side_finish(&sides[0], "alone      ");
        return 0;
    }
    side *f = &sides[K_FLOOR], *b = &sides[K_BARRIERD];
    side_init(f, K_FLOOR, n, rounds, &res[K_FLOOR]);
    side_init(b, K_BARRIERD, n, rounds, &res[K_BARRIERD]);
    if (side_start(f) == 0) side_block(f, rounds / 2);
    side_stop(f);
    if (side_start(b) == 0) {
        pause_for_profiler(b, 1);
        side_block(b, rounds);
    }
    side_stop(b);
    if (side_start(f) == 0) side_block(f, rounds - rounds / 2);
    side_finish(f, "f-b-f      ");
    side_finish(b, "f-b-f      ");
    return 0;
}

/* ---- 2-process latency ---- */

/* One of the two processes. It holds one connection to each server and follows the same
 * schedule as its peer: warm-up rounds on each, then blocks of rounds alternating between
 * the servers (the first round of each block untimed). It records its per-round latency
 * (wait sent -> own release received) and, for barrierd, its arrival index per round.
 * Returns the number of bad or missing releases. */
typedef struct lat_plan {
    unsigned rounds, warm, blocks, per;
    unsigned total_b; /* barrierd rounds of all kinds, for the index array */
} lat_plan;

typedef struct party_conn {
    server_kind kind;
    bn_lines *lr;
    unsigned seq; /* rounds done on this connection */
    uint64_t next_gen;
    int have_gen;
} party_conn;

/* One round on one connection. Returns the latency in ns, or 0 on error. */
static uint64_t party_round(party_conn *pc, int8_t *idx, unsigned *errors)
{
    char line[128];
    size_t len = 1;
    unsigned id = ++pc->seq;
    line[0] = 'a';
    if (pc->kind == K_BARRIERD)
        len =
            (size_t)snprintf(line, sizeof line,
                             "{\"op\":\"wait\",\"id\":%u,\"barrier\":\"lat\",\"parties\":2}\n", id);
    int fd = pc->lr->fd;
    uint64_t t0 = ts_now_ns(), deadline = t0 + (uint64_t)(opt.watchdog_s * 1e9);
    if (bn_send_all(fd, line, len, deadline) < 0) {
        fprintf(stderr, "barrier-bench: latency %s round %u: send: %s\n", kind_name[pc->kind], id,
                strerror(errno));
        (*errors)++;
        return 0;
    }
    if (pc->kind == K_FLOOR) {
        char b;
        for (;;) {
            ssize_t got = read(fd, &b, 1);
            if (got == 1) return ts_now_ns() - t0;
            uint64_t now = ts_now_ns();
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR) || now >= deadline) {
                fprintf(stderr, "barrier-bench: latency floor round %u: %s\n", id,
                        now >= deadline ? "watchdog" : "connection lost");
                (*errors)++;
                return 0;
            }
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            poll(&pf, 1, (int)((deadline - now) / 1000000 + 1));
        }
    }
    size_t n;
    char *l = bn_read_line(pc->lr, &n, deadline);
    if (!l) {
        fprintf(stderr, "barrier-bench: latency barrierd round %u: %s\n", id,
                errno == ETIMEDOUT ? "watchdog"
                : errno            ? strerror(errno)
                                   : "connection closed");
        (*errors)++;
        return 0;
    }
    uint64_t lat = ts_now_ns() - t0, rid, index, generation;
    if (!bn_json_ok(l, n) || bn_json_u64(l, n, "id", &rid) || rid != id ||
        bn_json_u64(l, n, "index", &index) || index > 1 ||
        bn_json_u64(l, n, "generation", &generation) ||
        (pc->have_gen && generation != pc->next_gen)) {
        if ((*errors)++ == 0)
            fprintf(stderr, "barrier-bench: latency round %u: bad release %.*s\n", id,
                    (int)(n > 160 ? 160 : n), l);
        return lat ? lat : 1;
    }
    pc->next_gen = generation + 1;
    pc->have_gen = 1;
    idx[(size_t)(id - 1) * 2] = (int8_t)index;
    return lat ? lat : 1;
}

static unsigned party(const lat_plan *pl, const int ports[2], const int use[2], uint64_t *lat[2],
                      int8_t *idx)
{
    party_conn pc[2];
    unsigned errors = 0;
    memset(pc, 0, sizeof pc);
    for (int k = 0; k < 2; k++) {
        pc[k].kind = (server_kind)k;
        if (!use[k]) continue;
        pc[k].lr = malloc(sizeof *pc[k].lr);
        if (!pc[k].lr) return 1;
        pc[k].lr->len = pc[k].lr->start = 0;
        pc[k].lr->fd = bn_connect_loopback(ports[k], 10.0);
        if (pc[k].lr->fd < 0) {
            fprintf(stderr, "barrier-bench: latency: connect to %s: %s\n", kind_name[k],
                    strerror(errno));
            return 1;
        }
    }
    unsigned done[2] = {0, 0};
    for (int k = 0; k < 2 && !errors; k++)
        for (unsigned r = 0; use[k] && r < pl->warm && !errors; r++)
            party_round(&pc[k], idx, &errors);
    for (unsigned b = 0; b < pl->blocks && !errors; b++) {
        for (int j = 0; j < 2 && !errors; j++) {
            int k = (int)(b & 1) ^ j;
            if (!use[k]) continue;
            party_round(&pc[k], idx, &errors); /* untimed: the switch */
            for (unsigned r = 0; r < pl->per && done[k] < pl->rounds && !errors; r++)
                lat[k][done[k]++] = party_round(&pc[k], idx, &errors);
        }
    }
    for (int k = 0; k < 2; k++)
        if (pc[k].lr) {
            close(pc[k].lr->fd);
            free(pc[k].lr);
        }
    return errors;
}

static void run_latency(unsigned rounds, result res[2])
{
    int use[2] = {opt.only != K_BARRIERD, opt.only != K_FLOOR}, ports[2] = {0, 0};
    lat_plan pl;
    pl.rounds = rounds;
    pl.warm = warmup_for(rounds);
    pl.blocks = rounds / 50;
    pl.blocks = pl.blocks < 1 ? 1 : pl.blocks > 400 ? 400 : pl.blocks;
    pl.per = (rounds + pl.blocks - 1) / pl.blocks;
    pl.total_b = pl.warm + pl.blocks + rounds;
    ts_server s[2];
    uint64_t cpu0[2] = {0, 0}, cpu1[2] = {0, 0}, *lat[2] = {NULL, NULL};
    unsigned errors = 0;
    int started[2] = {0, 0};
    memset(res, 0, 2 * sizeof *res);
    /* shared: both processes' barrierd index per round, so the parent can check {0,1} */
    size_t idx_size = (size_t)pl.total_b * 2;
    int8_t *idx = mmap(NULL, idx_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (idx == MAP_FAILED) {
        perror("barrier-bench: mmap");
        return;
    }
    memset(idx, -1, idx_size);
    for (int k = 0; k < 2; k++) {
        res[k].n = 2;
        res[k].rss_base_kb = res[k].rss_conn_kb = res[k].hwm_kb = -1;
        if (!use[k]) continue;
        lat[k] = calloc(rounds, sizeof *lat[k]);
        if (!lat[k] || start_server(&s[k], (server_kind)k, 2) < 0) {
            errors++;
            continue;
        }
        started[k] = 1;
        ports[k] = s[k].port;
    }
    uint64_t t0 = ts_now_ns(), t1 = t0;
    if (!errors) {
        pid_t child = ts_fork();
        if (child == 0) {
            uint64_t *clat[2] = {calloc(rounds, sizeof(uint64_t)),
                                 calloc(rounds, sizeof(uint64_t))};
            unsigned e = clat[0] && clat[1] ? party(&pl, ports, use, clat, idx + 1) : 1;
            _exit(e ? 1 : 0);
        }
        for (int k = 0; k < 2; k++)
            if (started[k]) cpu0[k] = ts_proc_cpu_ns(s[k].pid);
        errors += child > 0 ? party(&pl, ports, use, lat, idx) : 1;
        t1 = ts_now_ns();
        for (int k = 0; k < 2; k++)
            if (started[k]) {
                long rss;
                cpu1[k] = ts_proc_cpu_ns(s[k].pid);
                ts_proc_mem_kb(s[k].pid, &rss, &res[k].hwm_kb);
            }
        if (child > 0) {
            /* bounded: the child has its own watchdog per round */
            int st = ts_reap(child, (int)((opt.watchdog_s + 5) * 1000));
            if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) errors++;
        }
        if (use[K_BARRIERD] && !errors)
            for (unsigned r = 0; r < pl.total_b; r++)
                if (idx[2 * r] < 0 || idx[2 * r + 1] < 0 || idx[2 * r] + idx[2 * r + 1] != 1) {
                    if (errors == 0)
                        fprintf(stderr, "barrier-bench: latency round %u: indices %d and %d\n",
                                r + 1, idx[2 * r], idx[2 * r + 1]);
                    errors++;
                }
    }
    for (int k = 0; k < 2; k++) {
        if (started[k]) bn_server_stop(&s[k], opt.keep_logs || errors);
        if (!use[k]) continue;
        result *x = &res[k];
        x->lost = errors;
        x->ok = errors == 0;
        x->done = errors == 0;
        x->rounds = rounds;
        if (x->done) {
            /* both servers' rounds share the wall time: count each one's own time */
            uint64_t sum = 0;
            for (unsigned r = 0; r < rounds; r++)
                sum += lat[k][r];
            x->rounds_per_s = (double)rounds / ((double)sum / 1e9);
            x->cpu_ns_per_arrival =
                (double)(cpu1[k] - cpu0[k]) / (2.0 * (pl.warm + pl.blocks + rounds));
            x->med_ns = bn_percentile(lat[k], rounds, 50);
            x->p99_ns = bn_percentile(lat[k], rounds, 99);
        }
        fprintf(stderr,
                "  %-8s 2 processes R=%u  median %7.1f us  p99 %7.1f us  %8.0f rounds/s  cpu "
                "%5.0f ns/arrival  errors %u%s\n",
                kind_name[k], rounds, (double)x->med_ns / 1e3, (double)x->p99_ns / 1e3,
                x->rounds_per_s, x->cpu_ns_per_arrival, errors, x->ok ? "" : "  FAILED");
        free(lat[k]);
    }
    (void)t1;
    munmap(idx, idx_size);
}

/* ---- idle barriers ---- */

typedef struct idle_result {
    int ok;
    unsigned barriers;
    long rss0_kb, rss1_kb, hwm_kb;
    double seconds;
} idle_result;

static void run_idle(unsigned k, idle_result *res)
{
    memset(res, 0, sizeof *res);
    res->barriers = k;
    char maxb[32];
    snprintf(maxb, sizeof maxb, "%u", k + 16);
    const char *argv[48];
    int a = 0;
    argv[a++] = "--heartbeat";
    argv[a++] = "0";
    argv[a++] = "--idle-ttl";
    argv[a++] = "0"; /* never reclaim: we are measuring what idle barriers cost */
    if (k + 16 > 100000) {
        argv[a++] = "--max-barriers";
        argv[a++] = maxb;
    }
    ts_server s = {.name = "barrierd"};
    bn_lines *lr = malloc(sizeof *lr);
    char *out = malloc(1 << 20);
    if (!lr || !out || launch(&s, argv, a) < 0) {
        free(lr);
        free(out);
        return;
    }
    lr->len = lr->start = 0;
    lr->fd = bn_connect_loopback(s.port, 10.0);
    int ok = lr->fd >= 0;
    uint64_t deadline = ts_now_ns() + (uint64_t)(60 * 1e9); /* the whole mode */
    /* one round trip so the connection is fully set up before the baseline */
    size_t n;
    char *l;
    if (ok) {
        const char ping[] = "{\"op\":\"ping\",\"id\":0}\n";
        ok = bn_send_all(lr->fd, ping, sizeof ping - 1, deadline) == 0 &&
             (l = bn_read_line(lr, &n, deadline)) != NULL && bn_json_ok(l, n);
    }
    ts_sleep_ms(20);
    long hwm;
    ts_proc_mem_kb(s.pid, &res->rss0_kb, &hwm);
    uint64_t t0 = ts_now_ns();
    /* Each barrier: two waits (parties 2) from this one connection: created, released
     * (generation 0 -> 1), left with no waiter. Pipelined, `batch` names at a time. */
    const unsigned batch = 1000;
    unsigned errors = 0;
    for (unsigned i = 0; ok && i < k; i += batch) {
        unsigned hi = i + batch < k ? i + batch : k;
        size_t len = 0;
        for (unsigned j = i; j < hi; j++)
            for (int t = 0; t < 2; t++)
                len += (size_t)snprintf(out + len, 256,
                                        "{\"op\":\"wait\",\"id\":%u,\"barrier\":\"idle-%07u\","
                                        "\"parties\":2}\n",
                                        j + 1, j);
        if (bn_send_all(lr->fd, out, len, deadline) < 0) {
            ok = 0;
            break;
        }
        for (unsigned j = 0; j < 2 * (hi - i); j++) {
            l = bn_read_line(lr, &n, deadline);
            if (!l) {
                fprintf(stderr, "barrier-bench: idle barriers: %s after %u barriers\n",
                        errno == ETIMEDOUT ? "watchdog" : "connection lost", i);
                ok = 0;
                break;
            }
            if (!bn_json_ok(l, n)) {
                if (errors++ == 0)
                    fprintf(stderr, "barrier-bench: idle barriers: %.*s\n",
                            (int)(n > 160 ? 160 : n), l);
            }
        }
    }
    res->seconds = (double)(ts_now_ns() - t0) / 1e9;
    uint64_t count = 0;
    if (ok) {
        const char stats[] = "{\"op\":\"stats\",\"id\":1}\n";
        ok = bn_send_all(lr->fd, stats, sizeof stats - 1, deadline) == 0 &&
             (l = bn_read_line(lr, &n, deadline)) != NULL &&
             bn_json_u64(l, n, "barriers", &count) == 0;
        if (ok && count != k) {
            fprintf(stderr, "barrier-bench: idle barriers: server holds %llu barriers, not %u\n",
                    (unsigned long long)count, k);
            ok = 0;
        }
    }
    ts_sleep_ms(20);
    ts_proc_mem_kb(s.pid, &res->rss1_kb, &res->hwm_kb);
    if (lr->fd >= 0) close(lr->fd);
    res->ok = ok && errors == 0;
    bn_server_stop(&s, opt.keep_logs || !res->ok);
    fprintf(stderr,
            "  idle barriers: %u in %.2fs, rss %ld -> %ld kB (hwm %ld kB): %.0f B/barrier%s\n", k,
            res->seconds, res->rss0_kb, res->rss1_kb, res->hwm_kb,
            (double)(res->rss1_kb - res->rss0_kb) * 1024.0 / k, res->ok ? "" : "  FAILED");
    free(lr);
    free(out);
}

/* The median over passes of each figure (one pass: that pass). */
static double median_d(double *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (unsigned j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void combine_passes(result (*rep)[MAX_RUNS][2], unsigned passes, unsigned i, int k,
                           result *out)
{
    double med[64], p99[64], cpu[64], rps[64], hwm[64], base[64], conn[64];
    unsigned m = 0;
    *out = rep[0][i][k];
    out->ok = 1;
    out->lost = out->bad = 0;
    for (unsigned t = 0; t < passes; t++) {
        result *x = &rep[t][i][k];
        out->ok &= x->ok;
        out->lost += x->lost;
        out->bad += x->bad;
        if (!x->done || m == 64) continue;
        med[m] = (double)x->med_ns;
        p99[m] = (double)x->p99_ns;
        cpu[m] = x->cpu_ns_per_arrival;
        rps[m] = x->rounds_per_s;
        hwm[m] = (double)x->hwm_kb;
        base[m] = (double)x->rss_base_kb;
        conn[m] = (double)x->rss_conn_kb;
        m++;
    }
    out->done = m > 0;
    if (!m) return;
    out->med_ns = (uint64_t)median_d(med, m);
    out->p99_ns = (uint64_t)median_d(p99, m);
    out->cpu_ns_per_arrival = median_d(cpu, m);
    out->rounds_per_s = median_d(rps, m);
    out->hwm_kb = (long)median_d(hwm, m);
    out->rss_base_kb = (long)median_d(base, m);
    out->rss_conn_kb = (long)median_d(conn, m);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: barrier-bench [options]\n"
               "  --barrierd PATH       the server to measure (sets $BARRIERD; default:\n"
               "                        $BARRIERD, else ../../server/barrierd next to this\n"
               "                        program)\n"
               "  --floor PATH          floor-server (default: next to this program)\n"
               "  --n LIST              connection counts (default 2,16,256,1024,10000)\n"
               "  --rounds R            rounds per N (default: 200000/N, 20..5000)\n"
               "  --scale F             multiply the default rounds\n"
               "  --only floor|barrierd measure one server only\n"
               "  --no-table --no-latency --no-idle   skip a part\n"
               "  --latency-rounds R    rounds of the 2-process test (default 20000)\n"
               "  --idle-barriers K     idle named barriers to create (default 100000)\n"
               "  --watchdog S          abort a round after S seconds (default 10)\n"
               "  --pause S             print the server pid and sleep S s before measuring\n"
               "                        (to attach perf: perf record -g -p PID)\n"
               "  --server-arg ARG      pass ARG to barrierd (repeatable)\n"
               "  --data BYTES          each arrival carries BYTES of rendezvous data (0..4096;\n"
               "                        default 0); mind barrierd's --max-gather\n"
               "  --repeat K            run the table K times (1..64); report each figure's\n"
               "                        median over the passes (a noisy machine)\n"
               "  --keep-logs           keep the servers' stderr logs in /tmp\n"
               "  --tls                 the N-connection rounds reach barrierd over TLS (a\n"
               "                        tls:// listener, a self-signed certificate); the\n"
               "                        floor, latency and idle tests stay plain\n"
               "  --placement split|free  split (the default with 2 CPUs or more): the load\n"
               "                        on one CPU, every server on another, so wake-ups\n"
               "                        cross CPUs alike for both servers; free: wherever\n"
               "                        the scheduler puts them\n"
               "  --floor-sized IN,OUT  the floor's arrival is a line of IN bytes and its\n"
               "                        release OUT bytes, barrierd's sizes (55,66 for the\n"
               "                        table's plain wait): what the bytes cost the kernel,\n"
               "                        apart from barrierd's code; skips the latency test\n"
               "  --quick               smoke test: N=2,16, R=50, 200 latency rounds, 1000\n"
               "                        idle barriers; exit 1 on any lost or bad release\n"
               "Exit status: 0 every release accounted for, 1 lost/bad releases or a failed\n"
               "run, 64 usage.\n");
}

static int parse_list(const char *s, unsigned *out, unsigned max)
{
    unsigned n = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > MAX_N || n == max) return -1;
        out[n++] = (unsigned)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return (int)n;
}

static void print_machine(void)
{
    struct utsname u;
    uname(&u);
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    printf("machine: %ld CPUs online, %s; %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname,
           u.release);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

int main(int argc, char **argv)
{
    static const unsigned default_ns[] = {2, 16, 256, 1024, 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV                                                                                      \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "barrier-bench: %s needs a value\n", a);                               \
            return 64;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--barrierd") == 0) {
            NEEDV;
            setenv("BARRIERD", v, 1);
        } else if (strcmp(a, "--floor") == 0) {
            NEEDV;
            opt.floor = v;
        } else if (strcmp(a, "--n") == 0) {
            NEEDV;
            int c = parse_list(v, opt.ns, MAX_RUNS);
            if (c <= 0) {
                fprintf(stderr, "barrier-bench: --n: a comma-separated list of 1..%u\n", MAX_N);
                return 64;
            }
            opt.n_ns = (unsigned)c;
        } else if (strcmp(a, "--rounds") == 0) {
            NEEDV;
            opt.rounds_fixed = (unsigned)strtoul(v, NULL, 10);
            if (opt.rounds_fixed < 1 || opt.rounds_fixed > 10000000) {
                fprintf(stderr, "barrier-bench: --rounds: 1..10000000\n");
                return 64;
            }
        } else if (strcmp(a, "--scale") == 0) {
            NEEDV;
            opt.scale = strtod(v, NULL);
            if (!(opt.scale > 0 && opt.scale <= 1000)) {
                fprintf(stderr, "barrier-bench: --scale: (0, 1000]\n");
                return 64;
            }
        } else if (strcmp(a, "--only") == 0) {
            NEEDV;
            if (strcmp(v, "floor") == 0)
                opt.only = K_FLOOR;
            else if (strcmp(v, "barrierd") == 0)
                opt.only = K_BARRIERD;
            else {
                fprintf(stderr, "barrier-bench: --only floor|barrierd\n");
                return 64;
            }
        } else if (strcmp(a, "--data") == 0) {
            NEEDV;
            char *e;
            unsigned long d = strtoul(v, &e, 10);
            if (*e || e == v || d > BENCH_DATA_MAX) {
                fprintf(stderr, "barrier-bench: --data: 0..%d bytes\n", BENCH_DATA_MAX);
                return 64;
            }
            opt.data_bytes = (unsigned)d;
        } else if (strcmp(a, "--no-table") == 0) {
            opt.table = 0;
        } else if (strcmp(a, "--no-latency") == 0) {
            opt.latency = 0;
        } else if (strcmp(a, "--no-idle") == 0) {
            opt.idle = 0;
        } else if (strcmp(a, "--latency-rounds") == 0) {
            NEEDV;
            opt.latency_rounds = (unsigned)strtoul(v, NULL, 10);
            if (opt.latency_rounds < 1 || opt.latency_rounds > 10000000) {
                fprintf(stderr, "barrier-bench: --latency-rounds: 1..10000000\n");
                return 64;
            }
        } else if (strcmp(a, "--idle-barriers") == 0) {
            NEEDV;
            opt.idle_barriers = (unsigned)strtoul(v, NULL, 10);
            if (opt.idle_barriers < 1 || opt.idle_barriers > 10000000) {
                fprintf(stderr, "barrier-bench: --idle-barriers: 1..10000000\n");
                return 64;
            }
        } else if (strcmp(a, "--watchdog") == 0) {
            NEEDV;
            opt.watchdog_s = strtod(v, NULL);
            if (!(opt.watchdog_s > 0 && opt.watchdog_s <= 3600)) {
                fprintf(stderr, "barrier-bench: --watchdog: (0, 3600] seconds\n");
                return 64;
            }
        } else if (strcmp(a, "--pause") == 0) {
            NEEDV;
            opt.pause_s = strtod(v, NULL);
            if (!(opt.pause_s >= 0 && opt.pause_s <= 600)) {
                fprintf(stderr, "barrier-bench: --pause: [0, 600] seconds\n");
                return 64;
            }
        } else if (strcmp(a, "--server-arg") == 0) {
            NEEDV;
            if (opt.n_server_args == 30) {
                fprintf(stderr, "barrier-bench: too many --server-arg\n");
                return 64;
            }
            opt.server_args[opt.n_server_args++] = (char *)v;
        } else if (strcmp(a, "--repeat") == 0) {
            NEEDV;
            opt.repeat = (unsigned)strtoul(v, NULL, 10);
            if (opt.repeat < 1 || opt.repeat > 64) {
                fprintf(stderr, "barrier-bench: --repeat: 1..64\n");
                return 64;
            }
        } else if (strcmp(a, "--keep-logs") == 0) {
            opt.keep_logs = 1;
        } else if (strcmp(a, "--quick") == 0) {
            opt.quick = 1;
        } else if (strcmp(a, "--tls") == 0) {
            opt.tls = 1;
        } else if (strcmp(a, "--floor-sized") == 0) {
            NEEDV;
            if (sscanf(v, "%u,%u", &opt.floor_in, &opt.floor_out) != 2 || opt.floor_in < 2 ||
                opt.floor_in > 4096 || opt.floor_out < 2 || opt.floor_out > 4096) {
                fprintf(stderr, "barrier-bench: --floor-sized IN,OUT (2..4096 each)\n");
                return 64;
            }
        } else if (strcmp(a, "--placement") == 0) {
            NEEDV;
            if (strcmp(v, "split") == 0)
                opt.pin = 1;
            else if (strcmp(v, "free") == 0)
                opt.pin = 0;
            else {
                fprintf(stderr, "barrier-bench: --placement split|free\n");
                return 64;
            }
        } else {
            fprintf(stderr, "barrier-bench: unknown argument '%s'\n", a);
            usage(stderr);
            return 64;
        }
#undef NEEDV
    }
    if (opt.floor_in)
        opt.latency = 0; /* its floor speaks one byte */
    if (opt.quick) {
        if (!opt.n_ns) {
            opt.ns[0] = 2;
            opt.ns[1] = 16;
            opt.n_ns = 2;
        }
        if (!opt.rounds_fixed) opt.rounds_fixed = 50;
        opt.latency_rounds = 200;
        opt.idle_barriers = 1000;
    }
    if (!opt.n_ns) {
        memcpy(opt.ns, default_ns, sizeof default_ns);
        opt.n_ns = sizeof default_ns / sizeof default_ns[0];
    }
    opt.barrierd = ts_barrierd_default(); /* what the launcher starts */
    if (!opt.floor) opt.floor = ts_sibling_path("floor-server");
    int need_b = opt.only != K_FLOOR, need_f = opt.only != K_BARRIERD && opt.table + opt.latency;
    if (need_b && (!opt.barrierd || access(opt.barrierd, X_OK) != 0)) {
        fprintf(stderr, "barrier-bench: barrierd not found at %s: set BARRIERD\n",
                opt.barrierd ? opt.barrierd : "(none)");
        return 64;
    }
    if (need_f && (!opt.floor || access(opt.floor, X_OK) != 0)) {
        fprintf(stderr, "barrier-bench: floor-server not found at %s: pass --floor PATH\n",
                opt.floor ? opt.floor : "(none)");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    long nofile = ts_raise_nofile();
    for (unsigned i = 0; i < opt.n_ns; i++)
        if ((long)opt.ns[i] + 64 > nofile) {
            fprintf(stderr, "barrier-bench: N=%u needs more than RLIMIT_NOFILE %ld descriptors\n",
                    opt.ns[i], nofile);
            return 64;
        }

    if (opt.pin && (bn_placement_cpus(&opt.load_cpu, &opt.server_cpu) != 0 ||
                    bn_pin_self(opt.load_cpu) != 0))
        opt.pin = 0; /* one CPU: nothing to split */

    setvbuf(stdout, NULL, _IOLBF, 0);
    print_machine();
    if (opt.pin)
        printf("placement: the load on CPU %d, the servers on CPU %d\n", opt.load_cpu,
               opt.server_cpu);
    else
        printf("placement: free (the scheduler's)\n");
    if (opt.floor_in)
        printf("floor: an arrival is a line of %u bytes, a release %u bytes (--floor-sized)\n",
               opt.floor_in, opt.floor_out);
    printf("barrierd: %s\nfloor:    %s\nRLIMIT_NOFILE %ld; round watchdog %.0f s\n",
           need_b ? opt.barrierd : "-", need_f ? opt.floor : "-", nofile, opt.watchdog_s);
    int all_ok = 1;
    uint64_t t_start = ts_now_ns();

    result res[MAX_RUNS][2];
    int interleaved[MAX_RUNS] = {0};
    memset(res, 0, sizeof res);
    if (opt.table) {
        result(*rep)[MAX_RUNS][2] = calloc(opt.repeat, sizeof *rep);
        if (!rep) {
            fprintf(stderr, "barrier-bench: out of memory\n");
            return 1;
        }
        for (unsigned t = 0; t < opt.repeat; t++) {
            fprintf(stderr, "barrier-bench: rounds (per N, both servers, same generator)%s:\n",
                    opt.repeat > 1 ? (t == 0 ? ", pass 1" : ", next pass") : "");
            for (unsigned i = 0; i < opt.n_ns; i++) {
                unsigned n = opt.ns[i], r = rounds_for(n);
                interleaved[i] =
                    run_n(n, r, opt.only < 0, (server_kind)(opt.only < 0 ? 0 : opt.only), nofile,
                          rep[t][i]);
                for (int k = 0; k < 2; k++)
                    if (opt.only < 0 || opt.only == k) all_ok &= rep[t][i][k].ok;
            }
        }
        for (unsigned i = 0; i < opt.n_ns; i++)
            for (int k = 0; k < 2; k++)
                combine_passes(rep, opt.repeat, i, k, &res[i][k]);
        free(rep);
    }
    result lat[2];
    memset(lat, 0, sizeof lat);
    if (opt.latency) {
        fprintf(stderr, "barrier-bench: 2-process latency:\n");
        run_latency(opt.latency_rounds, lat);
        for (int k = 0; k < 2; k++)
            if (opt.only < 0 || opt.only == k) all_ok &= lat[k].ok;
    }
    idle_result idle;
    memset(&idle, 0, sizeof idle);
    int did_idle = opt.idle && opt.only != K_FLOOR;
    if (did_idle) {
        fprintf(stderr, "barrier-bench: idle barriers:\n");
        run_idle(opt.idle_barriers, &idle);
        all_ok &= idle.ok;
    }

    /* ---- the report ---- */
    if (opt.table) {
        if (opt.repeat > 1) printf("\neach figure: the median over %u passes", opt.repeat);
        printf(
            "\nround time: first wait sent -> last release received (median, p99), in us;\n"
            "cpu/arr: the server process's CPU time over the measured rounds / (rounds x N)\n\n");
        printf("%6s %6s | %9s %9s | %9s %9s | %5s | %7s | %8s %8s %5s | %8s | %s\n", "N", "R",
               "floor", "p99", "barrierd", "p99", "ratio", "bd med", "floor", "barrierd", "ratio",
               "bd", "lost+bad");
        printf("%6s %6s | %9s %9s | %9s %9s | %5s | %7s | %8s %8s %5s | %8s |\n", "", "", "med us",
               "us", "med us", "us", "", "us/N", "ns/arr", "ns/arr", "", "rounds/s");
        for (unsigned i = 0; i < opt.n_ns; i++) {
            result *f = &res[i][K_FLOOR], *b = &res[i][K_BARRIERD];
            char fm[16] = "-", fp[16] = "-", bm[16] = "-", bp[16] = "-", rr[16] = "-", fc[16] = "-",
                 bc[16] = "-", cr[16] = "-", rps[16] = "-", pn[16] = "-", rs[16];
            if (f->done) {
                snprintf(fm, sizeof fm, "%.1f", (double)f->med_ns / 1e3);
                snprintf(fp, sizeof fp, "%.1f", (double)f->p99_ns / 1e3);
                snprintf(fc, sizeof fc, "%.0f", f->cpu_ns_per_arrival);
            }
            if (b->done) {
                snprintf(bm, sizeof bm, "%.1f", (double)b->med_ns / 1e3);
                snprintf(bp, sizeof bp, "%.1f", (double)b->p99_ns / 1e3);
                snprintf(pn, sizeof pn, "%.2f", (double)b->med_ns / 1e3 / b->n);
                snprintf(bc, sizeof bc, "%.0f", b->cpu_ns_per_arrival);
                snprintf(rps, sizeof rps, "%.0f", b->rounds_per_s);
            }
            if (f->done && b->done) {
                snprintf(rr, sizeof rr, "%.2f", ratio((double)b->med_ns, (double)f->med_ns));
                snprintf(cr, sizeof cr, "%.2f",
                         ratio(b->cpu_ns_per_arrival, f->cpu_ns_per_arrival));
            }
            snprintf(rs, sizeof rs, "%u%s", rounds_for(opt.ns[i]),
                     opt.only < 0 && !interleaved[i] ? "s" : "");
            int row_ok = (opt.only == K_BARRIERD || f->ok) && (opt.only == K_FLOOR || b->ok);
            printf("%6u %6s | %9s %9s | %9s %9s | %5s | %7s | %8s %8s %5s | %8s | %llu%s\n",
                   opt.ns[i], rs, fm, fp, bm, bp, rr, pn, fc, bc, cr, rps,
                   (unsigned long long)(f->lost + b->lost + f->bad + b->bad),
                   row_ok ? "" : " FAILED");
        }
        int any_seq = 0;
        for (unsigned i = 0; i < opt.n_ns; i++)
            any_seq |= opt.only < 0 && !interleaved[i];
        if (any_seq)
            printf("(R with 's': the two servers were measured one after the other, their "
                   "connections\n together exceeding RLIMIT_NOFILE; otherwise both ran at once, "
                   "rounds alternating in blocks)\n");
        printf("\nserver memory (KiB): idle = started, no connections; connected = N idle "
               "connections;\npeak = VmHWM after the rounds; B/conn = (connected - idle) / N and "
               "(peak - idle) / N\n\n");
        printf("%6s | %8s %8s | %8s %9s %8s %8s %8s\n", "N", "floor", "floor", "barrierd",
               "barrierd", "barrierd", "B/conn", "B/conn");
        printf("%6s | %8s %8s | %8s %9s %8s %8s %8s\n", "", "idle", "peak", "idle", "connected",
               "peak", "conn", "peak");
        for (unsigned i = 0; i < opt.n_ns; i++) {
            result *f = &res[i][K_FLOOR], *b = &res[i][K_BARRIERD];
            printf("%6u", opt.ns[i]);
            if (f->hwm_kb > 0 && f->rss_base_kb > 0)
                printf(" | %8ld %8ld", f->rss_base_kb, f->hwm_kb);
            else
                printf(" | %8s %8s", "-", "-");
            if (b->hwm_kb > 0 && b->rss_base_kb > 0)
                printf(" | %8ld %9ld %8ld %8.0f %8.0f\n", b->rss_base_kb, b->rss_conn_kb, b->hwm_kb,
                       (double)(b->rss_conn_kb - b->rss_base_kb) * 1024.0 / b->n,
                       (double)(b->hwm_kb - b->rss_base_kb) * 1024.0 / b->n);
            else
                printf(" | %8s %9s %8s %8s %8s\n", "-", "-", "-", "-", "-");
        }
    }
    if (opt.latency) {
        printf("\n2 processes, one barrier, %u rounds (wait sent -> own release received):\n",
               opt.latency_rounds);
        printf("%8s | %9s %9s | %9s | %8s | %s\n", "server", "median us", "p99 us", "rounds/s",
               "cpu/arr", "errors");
        for (int k = 0; k < 2; k++)
            if (opt.only < 0 || opt.only == k)
                printf("%8s | %9.1f %9.1f | %9.0f | %8.0f | %llu\n", kind_name[k],
                       (double)lat[k].med_ns / 1e3, (double)lat[k].p99_ns / 1e3,
                       lat[k].rounds_per_s, lat[k].cpu_ns_per_arrival,
                       (unsigned long long)lat[k].lost);
        if (opt.only < 0 && lat[0].med_ns)
            printf("%8s | %9.2f %9.2f |\n", "ratio",
                   ratio((double)lat[1].med_ns, (double)lat[0].med_ns),
                   ratio((double)lat[1].p99_ns, (double)lat[0].p99_ns));
    }
    if (did_idle)
        printf("\nidle barriers: %u named barriers (parties 2, each cycled once, no waiter): "
               "RSS %ld -> %ld KiB = %.0f bytes per barrier%s\n",
               idle.barriers, idle.rss0_kb, idle.rss1_kb,
               (double)(idle.rss1_kb - idle.rss0_kb) * 1024.0 / idle.barriers,
               idle.ok ? "" : " (FAILED)");
    printf("\ntotal %.1f s; %s\n", (double)(ts_now_ns() - t_start) / 1e9,
           all_ok ? "every release accounted for (0 lost)" : "FAILED: lost or bad releases");
    bench_tls_cleanup();
    return all_ok ? 0 : 1;
}
