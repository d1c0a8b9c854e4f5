/* barrier_soak.c - barrier-soak: a bounded soak of barrierd.
 *
 * One process, N non-blocking loopback connections on one epoll loop (a load
 * generator, not the library: a thousand threads would measure the scheduler).
 * The connections are split over B barriers (connection i joins barrier
 * i % B, so each has about N/B parties). Each connection runs R rounds: it
 * sends {"op":"wait","id":ROUND,"barrier":"soak-b","parties":P} and sends the
 * next one only once that wait is released. Every reply is checked:
 *
 *   - ok, with the id of the wait it answers;
 *   - generation == ROUND: a connection's generations run 0,1,2,... without
 *     gap (each barrier is fresh, and every release ends one generation);
 *   - index < P, and no index twice in one generation of one barrier;
 *   - at the end every generation of every barrier has all P indices, and
 *     every connection got exactly R releases.
 *
 * "Releases lost" = N x R minus the good releases received; it must be 0.
 * Also reported: the time, the rate, and barrierd's memory (VmRSS idle, with
 * the connections open, and VmHWM: the peak), plus its own stats counters.
 *
 * barrierd ($BARRIERD, else ../../server/barrierd next to this program) is
 * started here with tests/support's launcher (a free 127.0.0.1 port, ready
 * file, dies with the soak) unless --addr names a running one (then its memory is not reported). Every loop is
 * bounded in count and time: --timeout for the whole run, and a run in which
 * no release arrives for --stall seconds fails.
 *
 * Exit status: 0 all releases accounted for, 1 anything else, 64 usage.
 */
#include "ts_clock.h"
#include "ts_launch.h"
#include "ts_proc.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536
#define OUT_CAP 512

typedef struct conn {
    int fd;
    unsigned barrier;    /* which barrier */
    uint32_t round;      /* releases received = the generation expected next */
    int dead;            /* lost, or failed: no more waits */
    char *in;            /* a partial line */
    size_t in_len, in_cap;
    char out[OUT_CAP];   /* unsent bytes */
    size_t out_len, out_off;
    int want_out;        /* EPOLLOUT armed */
} conn;

typedef struct barrier {
    char name[32];
    unsigned parties;
    uint32_t *count;     /* [rounds]: releases seen per generation */
    uint8_t *seen;       /* [rounds][parties] bitmap of indices */
} barrier;

static struct {
    const char *addr;
    unsigned conns, rounds, barriers;
    double timeout_s, stall_s;
    const char *server_args[16];
    int n_server_args;
    int keep_log;
    int verbose;
} opt = {
    .conns = 1000,
    .rounds = 1000,
    .barriers = 4,
    .timeout_s = 900,
    .stall_s = 60,
};

static struct {
    uint64_t good, lost, duplicates, bad, errors, heartbeats, eofs;
    char first_problem[512];
} tally;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!tally.first_problem[0])
        snprintf(tally.first_problem, sizeof tally.first_problem, "%s", msg);
    static unsigned shown;
    if (shown++ < 10 || opt.verbose)
        fprintf(stderr, "barrier-soak: %s\n", msg);
}

/* ---- barrierd ---- */

static ts_server srv;

static int server_start(void)
{
    const char *argv[40];
    int n = 0;
    for (int i = 0; i < opt.n_server_args; i++)
        argv[n++] = opt.server_args[i];
    argv[n] = NULL;
    srv.keep_dir = opt.keep_log;
    return ts_server_start(&srv, argv);
}

/* SIGTERM and reap (bounded: SIGKILL after 15 s); returns the wait status or -1. */
static int server_stop(void)
{
    return ts_server_stop(&srv, 15000, NULL);
}

/* ---- connections ---- */

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int dial(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    for (int tries = 0; connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0; tries++) {
        if (errno == EINTR && tries < 100)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int ep;
static unsigned n_active; /* connections neither dead nor done */
static conn *conns;
static barrier *bars;

static void arm(conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

static void kill_conn(conn *c, const char *why)
{
    if (c->dead)
        return;
    c->dead = 1;
    if (c->round < opt.rounds)
        n_active--;
    problem("connection %ld (barrier %s, round %u): %s", (long)(c - conns), bars[c->barrier].name,
            c->round, why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

static void flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            arm(c, 1);
            return;
        }
        kill_conn(c, w < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->out_len = c->out_off = 0;
    arm(c, 0);
}

static void queue_out(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void queue_out(conn *c, const char *fmt, ...)
{
    if (c->out_off == c->out_len)
        c->out_len = c->out_off = 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->out + c->out_len, OUT_CAP - c->out_len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= OUT_CAP - c->out_len) {
        kill_conn(c, "output buffer full (internal)");
        return;
    }
    c->out_len += (size_t)n;
    flush_out(c);
}

static void send_wait(conn *c)
{
    const barrier *b = &bars[c->barrier];
    queue_out(c, "{\"op\":\"wait\",\"id\":%u,\"barrier\":\"%s\",\"parties\":%u}\n", c->round,
              b->name, b->parties);
}

static double last_release_at;

static void handle_line(conn *c, const char *line, size_t len)
{
    if (len == 0)
        return;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j || !cJSON_IsObject(j)) {
        tally.bad++;
        kill_conn(c, "a line that is not a JSON object");
        cJSON_Delete(j);
        return;
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    if (cJSON_IsString(ev)) {
        if (strcmp(ev->valuestring, "heartbeat") == 0) {
            tally.heartbeats++;
            queue_out(c, "{\"op\":\"pong\"}\n");
        } else {
            tally.bad++;
            kill_conn(c, strcmp(ev->valuestring, "shutdown") == 0 ? "server shut down"
                                                                  : "an unexpected event");
        }
        cJSON_Delete(j);
        return;
    }
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(j, "index");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(j, "generation");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "barrier");
    barrier *b = &bars[c->barrier];
    if (!cJSON_IsTrue(ok)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        tally.errors++;
        char why[400];
        snprintf(why, sizeof why, "error reply %s: %s",
                 cJSON_IsString(err) ? err->valuestring : "?",
                 cJSON_IsString(msg) ? msg->valuestring : "");
        kill_conn(c, why);
        cJSON_Delete(j);
        return;
    }
    if (!cJSON_IsNumber(id) || !cJSON_IsNumber(ix) || !cJSON_IsNumber(gen) ||
        !cJSON_IsString(name) || strcmp(name->valuestring, b->name) != 0) {
        tally.bad++;
        kill_conn(c, "a release without id, index, generation or the right barrier");
        cJSON_Delete(j);
        return;
    }
    double idv = id->valuedouble, ixv = ix->valuedouble, gv = gen->valuedouble;
    cJSON_Delete(j);
    if (idv != (double)c->round) {
        tally.bad++;
        char why[128];
        snprintf(why, sizeof why, "a release with id %.0f, expected %u", idv, c->round);
        kill_conn(c, why);
        return;
    }
    if (gv != (double)c->round) { /* a gap, or a generation seen twice */
        tally.bad++;
        char why[128];
        snprintf(why, sizeof why, "generation %.0f, expected %u (gap)", gv, c->round);
        kill_conn(c, why);
        return;
    }
    if (!(ixv >= 0 && ixv < b->parties && ixv == (double)(unsigned)ixv)) {
        tally.bad++;
        char why[128];
        snprintf(why, sizeof why, "index %.0f out of 0..%u", ixv, b->parties - 1);
        kill_conn(c, why);
        return;
    }
    unsigned index = (unsigned)ixv;
    size_t bit = (size_t)c->round * b->parties + index;
    if (b->seen[bit / 8] & (1u << (bit % 8))) {
        tally.duplicates++;
        char why[128];
        snprintf(why, sizeof why, "index %u given twice in generation %u", index, c->round);
        kill_conn(c, why);
        return;
    }
    b->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
    b->count[c->round]++;
    tally.good++;
    last_release_at = ts_now_s();
    c->round++;
    if (c->round < opt.rounds)
        send_wait(c);
    else
        n_active--;
}

static char rbuf[65536];

static void on_readable(conn *c)
{
    for (int reads = 0; reads < 64 && !c->dead; reads++) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            tally.eofs++;
            kill_conn(c, n == 0 ? "closed by the server" : strerror(errno));
            return;
        }
        const char *p = rbuf, *end = rbuf + n;
        while (p < end && !c->dead) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (c->in_len == 0 && nl) { /* the common case: a whole line in the buffer */
                handle_line(c, p, take);
            } else {
                if (c->in_len + take > LINE_MAX_BYTES) {
                    tally.bad++;
                    kill_conn(c, "a line longer than 64 KiB");
                    return;
                }
                if (c->in_len + take > c->in_cap) {
                    size_t cap = c->in_cap ? c->in_cap * 2 : 256;
                    while (cap < c->in_len + take)
                        cap *= 2;
                    char *in = realloc(c->in, cap);
                    if (!in) {
                        kill_conn(c, "out of memory");
                        return;
                    }
                    c->in = in;
                    c->in_cap = cap;
                }
                memcpy(c->in + c->in_len, p, take);
                c->in_len += take;
                if (nl) {
                    handle_line(c, c->in, c->in_len);
                    c->in_len = 0;
                }
            }
            p += take + (nl ? 1 : 0);
        }
    }
}

/* ---- stats from the server ---- */

static cJSON *server_stats(const struct sockaddr_in *sa)
{
    int fd = dial(sa);
    if (fd < 0)
        return NULL;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *req = "{\"op\":\"stats\",\"id\":1}\n";
    cJSON *j = NULL;
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        char buf[4096];
        size_t got = 0;
        while (got < sizeof buf - 1) {
            ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            if (memchr(buf, '\n', got))
                break;
        }
        buf[got] = '\0';
        j = cJSON_Parse(buf);
    }
    close(fd);
    return j;
}

static double jnum(const cJSON *j, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(it) ? it->valuedouble : -1;
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: barrier-soak [options]\n"
            "  --connections N   client connections (default 1000)\n"
            "  --rounds R        rounds: waits per connection (default 1000)\n"
            "  --barriers B      barriers the connections are split over (default 4)\n"
            "  --quick           100 connections x 100 rounds\n"
            "  --barrierd PATH   the server to start (sets $BARRIERD; default $BARRIERD,\n"
            "                    else ../../server/barrierd next to this program)\n"
            "  --addr HOST:PORT  use a running server instead (IPv4; memory not reported)\n"
            "  --server-arg ARG  pass ARG to the barrierd started here (repeatable)\n"
            "  --timeout S       give up after S seconds (default 900)\n"
            "  --stall S         fail if no release arrives for S seconds (default 60)\n"
            "  --keep-log        keep barrierd's log\n"
            "  -v, --verbose     report every problem\n");
}

int main(int argc, char **argv)
{
    enum { O_CONNS = 256, O_ROUNDS, O_BARRIERS, O_QUICK, O_BARRIERD, O_ADDR, O_SARG, O_TIMEOUT,
           O_STALL, O_KEEP };
    static const struct option longopts[] = {
        {"connections", required_argument, 0, O_CONNS},
        {"rounds", required_argument, 0, O_ROUNDS},
        {"barriers", required_argument, 0, O_BARRIERS},
        {"quick", no_argument, 0, O_QUICK},
        {"barrierd", required_argument, 0, O_BARRIERD},
        {"addr", required_argument, 0, O_ADDR},
        {"server-arg", required_argument, 0, O_SARG},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"stall", required_argument, 0, O_STALL},
        {"keep-log", no_argument, 0, O_KEEP},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case O_CONNS: opt.conns = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_ROUNDS: opt.rounds = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_BARRIERS: opt.barriers = (unsigned)strtoul(optarg, NULL, 10); break;
        case O_QUICK: opt.conns = 100; opt.rounds = 100; break;
        case O_BARRIERD: setenv("BARRIERD", optarg, 1); break;
        case O_ADDR: opt.addr = optarg; break;
        case O_SARG:
            if (opt.n_server_args >= 16) {
                fprintf(stderr, "barrier-soak: too many --server-arg\n");
                return 64;
            }
            opt.server_args[opt.n_server_args++] = optarg;
            break;
        case O_TIMEOUT: opt.timeout_s = atof(optarg); break;
        case O_STALL: opt.stall_s = atof(optarg); break;
        case O_KEEP: opt.keep_log = 1; break;
        case 'v': opt.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 64;
        }
    }
    if (optind != argc || opt.conns < 1 || opt.conns > 1000000 || opt.rounds < 1 ||
        opt.rounds > 100000000 || opt.barriers < 1 || opt.barriers > opt.conns ||
        opt.timeout_s <= 0 || opt.stall_s <= 0) {
        usage(stderr);
        return 64;
    }
    if (!opt.addr && !ts_barrierd_default()) {
        fprintf(stderr, "barrier-soak: no barrierd: set BARRIERD (or --barrierd PATH)\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Descriptors: as many as allowed; barrierd inherits the limit. */
    long nofile = ts_raise_nofile();
    long need = (long)opt.conns * (opt.addr ? 1 : 2) + 64;
    if (nofile < need) {
        fprintf(stderr,
                "barrier-soak: RLIMIT_NOFILE is %ld, %ld needed for %u connections (raise the "
                "hard limit, or fewer --connections)\n",
                nofile, need, opt.conns);
        return 1;
    }

    /* Barriers: connection i joins barrier i % B. */
    bars = calloc(opt.barriers, sizeof *bars);
    conns = calloc(opt.conns, sizeof *conns);
    if (!bars || !conns) {
        fprintf(stderr, "barrier-soak: out of memory\n");
        return 1;
    }
    for (unsigned b = 0; b < opt.barriers; b++) {
        snprintf(bars[b].name, sizeof bars[b].name, "soak-%u", b);
        bars[b].parties = opt.conns / opt.barriers + (b < opt.conns % opt.barriers ? 1 : 0);
        bars[b].count = calloc(opt.rounds, sizeof *bars[b].count);
        bars[b].seen = calloc(((size_t)opt.rounds * bars[b].parties + 7) / 8, 1);
        if (!bars[b].count || !bars[b].seen) {
            fprintf(stderr, "barrier-soak: out of memory\n");
            return 1;
        }
    }
    printf("barrier-soak: %u connections x %u rounds on %u barrier%s of %u%s parties\n",
           opt.conns, opt.rounds, opt.barriers, opt.barriers > 1 ? "s" : "", bars[0].parties,
           opt.conns % opt.barriers ? "/fewer" : "");
    fflush(stdout);

    struct sockaddr_in sa;
    char addrbuf[sizeof srv.addr];
    if (opt.addr) {
        snprintf(addrbuf, sizeof addrbuf, "%s", opt.addr);
    } else {
        if (server_start() < 0)
            return 1;
        snprintf(addrbuf, sizeof addrbuf, "%s", srv.addr);
    }
    if (parse_addr(addrbuf, &sa) < 0) {
        fprintf(stderr, "barrier-soak: bad address %s\n", addrbuf);
        server_stop();
        return 64;
    }
    long rss_idle = srv.pid ? ts_proc_kb(srv.pid, 0) : -1;

    double t_start = ts_now_s(), deadline = t_start + opt.timeout_s;
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (unsigned i = 0; i < opt.conns; i++) {
        conn *c = &conns[i];
        c->barrier = i % opt.barriers;
        c->fd = dial(&sa);
        if (c->fd < 0) {
            fprintf(stderr, "barrier-soak: connection %u: %s\n", i, strerror(errno));
            server_stop();
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    double t_connected = ts_now_s();
    long rss_connected = srv.pid ? ts_proc_kb(srv.pid, 0) : -1;
    printf("  connected %u in %.2f s (barrierd VmRSS %ld kB idle, %ld kB connected)\n", opt.conns,
           t_connected - t_start, rss_idle, rss_connected);
    fflush(stdout);

    n_active = opt.conns;
    for (unsigned i = 0; i < opt.conns; i++)
        send_wait(&conns[i]);
    last_release_at = ts_now_s();
    uint64_t expected = (uint64_t)opt.conns * opt.rounds;
    double next_report = ts_now_s() + 10;
    struct epoll_event evs[1024];
    const char *stop_why = NULL;
    for (uint64_t iter = 0; tally.good < expected; iter++) {
        if (!n_active) {
            stop_why = "every connection is done or dead";
            break;
        }
        int n = epoll_wait(ep, evs, 1024, 1000);
        if (n < 0 && errno != EINTR) {
            stop_why = "epoll_wait failed";
            break;
        }
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (c->dead)
                continue;
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            if (!c->dead && (evs[k].events & EPOLLOUT))
                flush_out(c);
        }
        double t = ts_now_s();
        if (t > deadline) {
            stop_why = "--timeout reached";
            break;
        }
        if (t - last_release_at > opt.stall_s) {
            stop_why = "no release for --stall seconds";
            break;
        }
        if (t >= next_report) {
            printf("  %5.0f s: %llu/%llu releases (%.0f/s)%s\n", t - t_start,
                   (unsigned long long)tally.good, (unsigned long long)expected,
                   (double)tally.good / (t - t_connected),
                   tally.errors + tally.bad + tally.duplicates ? " PROBLEMS" : "");
            fflush(stdout);
            next_report = t + 10;
        }
        if (iter > 1000000000ull) {
            stop_why = "loop bound";
            break;
        }
    }
    double t_done = ts_now_s();
    if (stop_why)
        problem("stopped early: %s", stop_why);

    /* Every generation of every barrier complete, every connection at R. */
    uint64_t incomplete_gens = 0, short_conns = 0;
    for (unsigned b = 0; b < opt.barriers; b++)
        for (unsigned g = 0; g < opt.rounds; g++)
            if (bars[b].count[g] != bars[b].parties) {
                if (!incomplete_gens)
                    problem("barrier %s generation %u: %u of %u releases", bars[b].name, g,
                            bars[b].count[g], bars[b].parties);
                incomplete_gens++;
            }
    for (unsigned i = 0; i < opt.conns; i++)
        short_conns += conns[i].round != opt.rounds;
    tally.lost = expected - tally.good;

    cJSON *st = server_stats(&sa);
    long hwm = srv.pid ? ts_proc_kb(srv.pid, 1) : -1;
    long rss_end = srv.pid ? ts_proc_kb(srv.pid, 0) : -1;
    for (unsigned i = 0; i < opt.conns; i++) {
        close(conns[i].fd);
        free(conns[i].in);
    }
    close(ep);
    int exit_ok = 1;
    if (srv.pid) {
        int ws = server_stop();
        exit_ok = ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
        if (!exit_ok)
            problem("barrierd did not exit 0 on SIGTERM (wait status %d)", ws);
    }

    double secs = t_done - t_connected;
    printf("  releases: expected %llu, good %llu, LOST %llu; duplicates %llu, bad %llu, error "
           "replies %llu, connections lost %llu\n",
           (unsigned long long)expected, (unsigned long long)tally.good,
           (unsigned long long)tally.lost, (unsigned long long)tally.duplicates,
           (unsigned long long)tally.bad, (unsigned long long)tally.errors,
           (unsigned long long)tally.eofs);
    printf("  generations: %u per barrier, %llu incomplete; connections short of %u rounds: %llu\n",
           opt.rounds, (unsigned long long)incomplete_gens, opt.rounds,
           (unsigned long long)short_conns);
    printf("  time: %.1f s of rounds (%.0f releases/s, %.2f ms per generation per barrier), "
           "%.1f s in all; %llu heartbeats answered\n",
           secs, (double)tally.good / (secs > 0 ? secs : 1),
           secs * 1e3 / (opt.rounds ? opt.rounds : 1), t_done - t_start,
           (unsigned long long)tally.heartbeats);
    if (st) {
        printf("  barrierd stats: waits %.0f, releases %.0f, breaks %.0f, errors %.0f, "
               "dropped_slow %.0f, dropped_silent %.0f\n",
               jnum(st, "waits"), jnum(st, "releases"), jnum(st, "breaks"), jnum(st, "errors"),
               jnum(st, "dropped_slow"), jnum(st, "dropped_silent"));
        if (!stop_why && (jnum(st, "breaks") != 0 ||
                          jnum(st, "releases") != (double)opt.barriers * opt.rounds))
            problem("server counted %.0f releases and %.0f breaks, expected %llu and 0",
                    jnum(st, "releases"), jnum(st, "breaks"),
                    (unsigned long long)opt.barriers * opt.rounds);
        cJSON_Delete(st);
    } else {
        problem("no stats reply from the server");
    }
    if (hwm >= 0)
        printf("  barrierd memory: VmRSS %ld kB idle, %ld kB connected, %ld kB at the end; "
               "PEAK (VmHWM) %ld kB\n",
               rss_idle, rss_connected, rss_end, hwm);
    int pass = tally.lost == 0 && tally.duplicates == 0 && tally.bad == 0 && tally.errors == 0 &&
               incomplete_gens == 0 && short_conns == 0 && !tally.first_problem[0] && exit_ok;
    printf("  RESULT: %s%s%s\n", pass ? "PASS" : "FAIL", pass ? "" : ": ",
           pass ? "" : tally.first_problem);
    if (srv.dir[0]) {
        srv.keep_dir = !pass || opt.keep_log;
        if (srv.keep_dir)
            printf("  barrierd log: %s\n", srv.log_path);
        ts_server_cleanup(&srv);
    }
    for (unsigned b = 0; b < opt.barriers; b++) {
        free(bars[b].count);
        free(bars[b].seen);
    }
    free(bars);
    free(conns);
    return pass ? 0 : 1;
}
