/* test_restart.c - restart transparency under fire (issue 9; docs/ha.md,
 * SPEC "Restart and failover").
 *
 * Eight parties run rounds of one cyclic barrier ("rs", 8 parties) while
 * barrierd is killed and started again on the same port behind their backs:
 *
 *   4 party processes, each with its own handle (default bc_options: resuming
 *   on): 2 processes x 1 thread + 2 processes x 3 threads sharing one handle.
 *
 * Every party does ROUNDS rounds of bc_wait. Before each wait it sleeps a
 * seeded pace (0..PACE_MS), so arrival orders vary and kills land in every
 * phase. One round in eight carries an action (every party passes it; the
 * last to arrive runs it): it sleeps a seeded 20-50 ms and reports that it
 * ran. Each party reports (round, generation, index, code, actions run) to
 * the test through a pipe of its process; the test checks at the end that
 *   - every party completed every round with BC_OK;
 *   - round k has one generation for all parties, and generations strictly
 *     increase from round to round (gaps are counted and reported);
 *   - the indexes of each generation are exactly {0..7}, except where a
 *     restarted server had to hand indexes out itself after a crash in the
 *     middle of a release (docs/ha.md): such generations are counted and
 *     reported, and may not outnumber the indexes handed out so;
 *   - an action ran exactly once in each round that has one, never in another.
 *
 * Faults (case restart_kill9), from a seeded schedule: after each restart, a
 * delay of 50-400 ms, then one of
 *   - a plain SIGKILL at that moment (the test polls stats just before);
 *   - "in the action": an action round a little ahead is armed; its action,
 *     when it runs, sleeps a seeded part of its duration and then SIGKILLs
 *     barrierd itself (from inside the callback: no round trip through the
 *     test, so the kill lands inside the action for sure);
 *   - "mid-release": a round a little ahead is armed; the first party whose
 *     bc_wait for it returns SIGKILLs barrierd at once, before it reports.
 *     This is best effort: the server writes a generation's releases in one
 *     go, so most of them are usually already in socket buffers; the other
 *     parties may or may not have read theirs, and fast ones may already have
 *     sent their next wait to the dying server.
 * barrierd then stays down 0 ms (most kills) or 10-300 ms, and is started
 * again on the same 127.0.0.1 port (ts_server_restart). Case
 * restart_graceful does the same with SIGTERM (the server must exit 0 each
 * time), half of the stops sent the moment an action starts.
 *
 * Every instance is polled for stats (every 20 ms, on a raw connection of its
 * own): resume_guessed and resume_collisions are summed over instances and
 * reported (a poll can miss what an instance counted in its last 20 ms).
 *
 * Bounds: 1000 rounds take about 30 s without faults, about 40 s with them; the whole
 * loop is bounded by RUN_BOUND_S; every wait by WAIT_TIMEOUT_S. ROUNDS is 1000
 * (400 when ts_slow(): ASan, BARRIERD_SLOW). Knobs for reproducing:
 *   TS_RESTART_SEED=N     the seed (printed at the start of each case)
 *   TS_RESTART_ROUNDS=N   another number of rounds
 *   TS_RESTART_NOKILL=1   no faults (to time the rounds alone)
 *   TS_RESTART_VERBOSE=1  print every fault, also on success
 *   TS_RESTART_LAYOUT=L   threads per party process, e.g. 1,1,1,1,1,1,1,1
 *   TS_RESTART_DUMP=FILE  every report: round party rc generation index runs t
 * When no release comes for STALL_S, the faults stop and the barrier's status
 * and the instance's stats are printed: the parties' own timeouts then end the
 * run (a barrier stuck in running_action has none: the run ends at its bound).
 * Only loopback is used.
 */
#include "faults_common.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_fork.h"
#include "ts_run.h"
#include "ts_slow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BARRIER "rs"
#define NPARTIES 8
#define NPROCS_MAX NPARTIES
/* Threads of each party process (each process has one handle). */
static int proc_threads[NPROCS_MAX] = {1, 1, 3, 3};
static int nprocs = 4;

/* $TS_RESTART_LAYOUT ("1,1,3,3", "8", "1,1,1,1,1,1,1,1"): another split of
 * the 8 parties into processes; 0 when it does not add up to 8. */
static int set_layout(void)
{
    const char *e = getenv("TS_RESTART_LAYOUT");
    if (!e || !*e)
        return 1;
    int n = 0, sum = 0;
    for (const char *p = e; *p && n < NPROCS_MAX;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1)
            return 0;
        proc_threads[n++] = (int)v;
        sum += (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    nprocs = n;
    return sum == NPARTIES;
}

#define ROUNDS_MAX 100000
#define PACE_MS 24            /* each party sleeps 0..PACE_MS before a wait */
#define ACTION_ONE_IN 8       /* rounds with an action */
#define ACTION_MIN_MS 20
#define ACTION_MAX_MS 50
#define GAP_MIN_MS 50         /* between a restart and the next fault */
#define GAP_MAX_MS 400
#define STATS_EVERY_MS 20
#define WAIT_TIMEOUT_S (ts_slow() > 1 ? 40.0 : 20.0)
#define RUN_BOUND_S 150.0     /* the whole run of rounds */
#define ARM_BOUND_S (3.0 * (ts_slow() > 1 ? 3 : 1)) /* an armed fault that does not fire */
#define STALL_S (5.0 * (ts_slow() > 1 ? 3 : 1)) /* no release for so long: stop the faults */

/* ---- seeded choices, the same in every process ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return mix(seed ^ mix(a ^ mix(b ^ mix(c))));
}

static int round_has_action(uint64_t seed, unsigned round)
{
    return hash3(seed, 1, round, 0) % ACTION_ONE_IN == 0;
}

static int action_ms(uint64_t seed, unsigned round)
{
    return ACTION_MIN_MS + (int)(hash3(seed, 2, round, 0) % (ACTION_MAX_MS - ACTION_MIN_MS + 1));
}

static int pace_ms(uint64_t seed, unsigned party, unsigned round)
{
    return (int)(hash3(seed, 3, round, party) % (PACE_MS + 1));
}

/* ---- what the parties report ---- */

enum { REC_READY = 1, REC_ROUND, REC_ACTION, REC_DONE };

typedef struct rec {
    uint8_t type;
    uint8_t party;
    uint16_t runs;    /* REC_ROUND: how often this party's action ran in that wait */
    int32_t rc;       /* REC_ROUND: bc_wait's code */
    uint32_t round;
    uint32_t index;
    uint64_t gen;
    double t;         /* ts_now_s(): the return, or the action's start */
    char msg[200];    /* bc_last_error_message() after a failure */
} rec;                /* well under PIPE_BUF: one write() is atomic */

/* ---- shared between the test and the parties ---- */

enum { ARM_NONE = 0, ARM_ACTION = 1, ARM_RELEASE = 2 };
#define ARM(kind, round, offset)                                                                  \
    (((uint64_t)(kind) << 56) | ((uint64_t)(offset) << 32) | (uint64_t)(round))
#define ARM_KIND(v) ((int)((v) >> 56))
#define ARM_OFFSET(v) ((int)(((v) >> 32) & 0xffffff))
#define ARM_ROUND(v) ((unsigned)((v)&0xffffffffu))

typedef struct shared {
    _Atomic uint64_t arm;       /* one armed fault; the party that CASes it to 0 fires it */
    _Atomic int server_pid;
    _Atomic uint64_t fired_ns;  /* when: ts_now_ns() just before the kill */
    _Atomic int fired_party;
    _Atomic int stop;           /* the test saw a failure: parties stop after this round */
    _Atomic int progress[NPARTIES]; /* last round each party completed, -1 none */
} shared;


typedef struct run_cfg {
    uint64_t seed;
    unsigned rounds;
    const char *addr;
    shared *sh;
} run_cfg;

/* ---- a party process ---- */

typedef struct party_thread {
    const run_cfg *cfg;
    bc_client *c;
    int party;
    int wfd;
    unsigned round; /* the round being waited in, for the action */
    unsigned runs;  /* action runs in this wait */
    pthread_t th;
} party_thread;

static void send_rec(int fd, const rec *r)
{
    ssize_t n;
    do
        n = write(fd, r, sizeof *r);
    while (n < 0 && errno == EINTR);
}

static void fire(shared *sh, uint64_t armed, int party)
{
    uint64_t expect = armed;
    if (!atomic_compare_exchange_strong(&sh->arm, &expect, 0))
        return; /* the test disarmed it, or another party fired it */
    atomic_store(&sh->fired_party, party);
    atomic_store(&sh->fired_ns, ts_now_ns());
    int pid = atomic_load(&sh->server_pid);
    if (pid > 0)
        kill(pid, SIGKILL);
}

static int party_action(void *arg)
{
    party_thread *pt = arg;
    const run_cfg *cfg = pt->cfg;
    pt->runs++;
    rec r = {.type = REC_ACTION, .party = (uint8_t)pt->party, .round = pt->round, .t = ts_now_s()};
    send_rec(pt->wfd, &r);
    int total = action_ms(cfg->seed, pt->round);
    uint64_t armed = atomic_load(&cfg->sh->arm);
    if (ARM_KIND(armed) == ARM_ACTION && ARM_ROUND(armed) == pt->round) {
        int off = ARM_OFFSET(armed) % (total + 1);
        ts_sleep_ms(off);
        fire(cfg->sh, armed, pt->party);
        ts_sleep_ms(total - off);
    } else {
        ts_sleep_ms(total);
    }
    return 0;
}

static void *party_thread_main(void *arg)
{
    party_thread *pt = arg;
    const run_cfg *cfg = pt->cfg;
    shared *sh = cfg->sh;
    for (unsigned k = 0; k < cfg->rounds && !atomic_load(&sh->stop); k++) {
        ts_sleep_ms(pace_ms(cfg->seed, (unsigned)pt->party, k));
        pt->round = k;
        pt->runs = 0;
        bc_wait_result res;
        memset(&res, 0, sizeof res);
        int act = round_has_action(cfg->seed, k);
        int rc = bc_wait(pt->c, BARRIER, NPARTIES, WAIT_TIMEOUT_S, act ? party_action : NULL, pt,
                         &res);
        double t = ts_now_s();
        if (rc == BC_OK) {
            uint64_t armed = atomic_load(&sh->arm);
            if (ARM_KIND(armed) == ARM_RELEASE && ARM_ROUND(armed) == k)
                fire(sh, armed, pt->party);
        }
        atomic_store(&sh->progress[pt->party], (int)k);
        rec r = {.type = REC_ROUND, .party = (uint8_t)pt->party, .runs = (uint16_t)pt->runs,
                 .rc = rc, .round = k, .index = res.index, .gen = res.generation, .t = t};
        if (rc != BC_OK)
            snprintf(r.msg, sizeof r.msg, "%s", bc_last_error_message());
        send_rec(pt->wfd, &r);
        if (rc != BC_OK)
            break;
    }
    rec d = {.type = REC_DONE, .party = (uint8_t)pt->party, .t = ts_now_s()};
    send_rec(pt->wfd, &d);
    return NULL;
}

static void party_process(const run_cfg *cfg, int first_party, int nthreads, int wfd)
{
    char name[64];
    snprintf(name, sizeof name, "restart-p%d", first_party);
    bc_options o;
    memset(&o, 0, sizeof o); /* resuming: on by default (docs/ha.md) */
    o.client_name = name;
    o.connect_timeout_s = 10;
    bc_client *c = NULL;
    int rc = BC_ECONN;
    for (int i = 0; i < 100 && rc != BC_OK; i++) { /* the server is up: this is slack */
        rc = bc_connect(cfg->addr, &o, &c);
        if (rc != BC_OK)
            ts_sleep_ms(100);
    }
    if (rc != BC_OK) {
        for (int p = first_party; p < first_party + nthreads; p++) {
            rec r = {.type = REC_ROUND, .party = (uint8_t)p, .rc = rc, .t = ts_now_s()};
            snprintf(r.msg, sizeof r.msg, "bc_connect: %s", bc_last_error_message());
            send_rec(wfd, &r);
            rec d = {.type = REC_DONE, .party = (uint8_t)p};
            send_rec(wfd, &d);
        }
        _exit(2);
    }
    for (int p = first_party; p < first_party + nthreads; p++) {
        rec r = {.type = REC_READY, .party = (uint8_t)p, .t = ts_now_s()};
        send_rec(wfd, &r);
    }
    party_thread pt[NPARTIES];
    for (int i = 0; i < nthreads; i++) {
        pt[i] = (party_thread){.cfg = cfg, .c = c, .party = first_party + i, .wfd = wfd};
        if (pthread_create(&pt[i].th, NULL, party_thread_main, &pt[i]) != 0)
            _exit(3);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(pt[i].th, NULL);
    bc_close(c);
    _exit(0);
}

/* ---- the test's side ---- */

typedef struct slot {
    int seen;
    int rc;
    unsigned index;
    unsigned runs;
    uint64_t gen;
    double t;
    char msg[200];
} slot;

enum { F_RANDOM = 0, F_ACTION, F_RELEASE, F_ON_ACTION, F_FALLBACK };
static const char *const fault_names[] = {"random", "in-action", "mid-release", "on-action-marker",
                                          "armed-timeout"};

typedef struct fault {
    int kind;
    double t;          /* since the start of the run */
    int progress;      /* the highest round completed by some party at that time */
    unsigned round;    /* armed faults: the round aimed at */
    int party;         /* who fired it (armed faults) */
    int down_ms;
    double restart_s;  /* how long ts_server_restart took */
    double up;         /* since the start: when it was back (0 while down) */
    double first_release; /* the first release after it, since the start; 0 none yet */
} fault;

typedef struct inst_stats {
    it_conn *conn;
    double next_poll;
    double guessed, collisions, proven, late, replaced; /* last values seen */
} inst_stats;

typedef struct run {
    const char *what;
    int graceful;
    run_cfg cfg;
    ts_server s;
    pid_t pids[NPROCS_MAX];
    int rfd[NPROCS_MAX];
    int open_fds;
    slot *slots;              /* [party][round] */
    unsigned *action_marks;   /* REC_ACTION records per round */
    int ready, done;
    int failed;               /* the first failure's party, or -1 */
    char fail_msg[512];
    double t0;
    double last_release, max_stall;
    unsigned releases_seen;   /* rounds whose first REC_ROUND came in */
    fault *faults;
    size_t n_faults, cap_faults;
    int waiting_marker;       /* graceful: stop at the next action start */
    double sum_guessed, sum_collisions, sum_proven, sum_late, sum_replaced;
    inst_stats st;
    uint64_t rng;
    int stalled;              /* no release for STALL_S: no more faults */
} run;

static uint64_t rnd(run *r)
{
    r->rng = mix(r->rng);
    return r->rng;
}

static int rnd_range(run *r, int lo, int hi)
{
    return lo + (int)(rnd(r) % (uint64_t)(hi - lo + 1));
}

static slot *slot_at(run *r, int party, unsigned round)
{
    return &r->slots[(size_t)party * r->cfg.rounds + round];
}

static int max_progress(const run *r)
{
    int m = -1;
    for (int p = 0; p < NPARTIES; p++) {
        int v = atomic_load(&r->cfg.sh->progress[p]);
        if (v > m)
            m = v;
    }
    return m;
}

static void handle_rec(run *r, const rec *x)
{
    if (x->party >= NPARTIES)
        return;
    switch (x->type) {
    case REC_READY:
        r->ready++;
        break;
    case REC_DONE:
        r->done++;
        break;
    case REC_ACTION:
        if (x->round < r->cfg.rounds)
            r->action_marks[x->round]++;
        if (r->waiting_marker == 1)
            r->waiting_marker = 2; /* stop now */
        break;
    case REC_ROUND: {
        if (x->rc != BC_OK && r->failed < 0) {
            r->failed = x->party;
            snprintf(r->fail_msg, sizeof r->fail_msg, "party %d round %u: %s (%s): %s", x->party,
                     x->round, bc_error_name(x->rc), bc_strerror(x->rc), x->msg);
            atomic_store(&r->cfg.sh->stop, 1);
        }
        if (x->round >= r->cfg.rounds)
            break;
        slot *sl = slot_at(r, x->party, x->round);
        sl->seen++;
        sl->rc = x->rc;
        sl->index = x->index;
        sl->gen = x->gen;
        sl->runs = x->runs;
        sl->t = x->t;
        snprintf(sl->msg, sizeof sl->msg, "%s", x->msg);
        if (x->rc == BC_OK) {
            if (r->last_release > 0 && x->t - r->last_release > r->max_stall)
                r->max_stall = x->t - r->last_release;
            if (x->t > r->last_release)
                r->last_release = x->t;
            for (size_t i = 0; i < r->n_faults; i++) {
                fault *f = &r->faults[i];
                if (f->up > 0 && f->first_release == 0 && x->t - r->t0 > f->up)
                    f->first_release = x->t - r->t0;
            }
        }
        break;
    }
    }
}

/* Read what is there (within wait_ms for the first record). */
static void drain(run *r, int wait_ms)
{
    struct pollfd pfd[NPROCS_MAX];
    int n = 0;
    for (int i = 0; i < nprocs; i++)
        if (r->rfd[i] >= 0) {
            pfd[n].fd = r->rfd[i];
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            n++;
        }
    if (n == 0) {
        ts_sleep_ms(wait_ms);
        return;
    }
    if (poll(pfd, (nfds_t)n, wait_ms) <= 0)
        return;
    for (int j = 0; j < n; j++) {
        if (!(pfd[j].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        for (int k = 0; k < 256; k++) { /* bounded; the rest on the next call */
            rec x;
            ssize_t got = read(pfd[j].fd, &x, sizeof x);
            if (got == (ssize_t)sizeof x) {
                handle_rec(r, &x);
                continue;
            }
            if (got == 0) { /* the process is gone */
                for (int i = 0; i < nprocs; i++)
                    if (r->rfd[i] == pfd[j].fd) {
                        close(r->rfd[i]);
                        r->rfd[i] = -1;
                    }
            }
            break; /* EAGAIN (records are written whole, so never a part) */
        }
    }
}

/* ---- stats of the current instance ---- */

static void stats_close(run *r)
{
    if (r->st.conn) {
        it_close(r->st.conn);
        r->st.conn = NULL;
    }
}

/* The instance is gone: add what it counted. */
static void stats_bank(run *r)
{
    stats_close(r);
    r->sum_guessed += r->st.guessed;
    r->sum_collisions += r->st.collisions;
    r->sum_proven += r->st.proven;
    r->sum_late += r->st.late;
    r->sum_replaced += r->st.replaced;
    r->st.guessed = r->st.collisions = r->st.proven = r->st.late = r->st.replaced = 0;
}

static void stats_open(run *r)
{
    stats_close(r);
    r->st.conn = it_connect_tcp("127.0.0.1", r->s.port, 0);
    r->st.next_poll = 0;
}

static void stats_poll(run *r, int force)
{
    static unsigned id = 1;
    double now = ts_now_s();
    if (!r->st.conn || (!force && now < r->st.next_poll))
        return;
    r->st.next_poll = now + STATS_EVERY_MS / 1e3;
    if (it_sendf(r->st.conn, "{\"op\":\"stats\",\"id\":%u}", id++) != 0) {
        stats_close(r);
        return;
    }
    for (int tries = 0; tries < 4; tries++) {
        bp_reply rep;
        int rc = it_recv_skip(r->st.conn, 500 * (int)ts_slow(), 1, NULL, &rep);
        if (rc != IT_LINE) {
            stats_close(r);
            return;
        }
        double g = it_jnum(&rep, "resume_guessed");
        if (!isnan(g)) {
            r->st.guessed = g;
            r->st.collisions = it_jnum(&rep, "resume_collisions");
            r->st.proven = it_jnum(&rep, "resume_proven");
            r->st.late = it_jnum(&rep, "resume_late");
            r->st.replaced = it_jnum(&rep, "resume_replaced");
            bp_reply_free(&rep);
            return;
        }
        bp_reply_free(&rep); /* a shutdown event, say */
    }
    stats_close(r);
}

/* One request on the stats connection; its reply line, raw, to stderr. */
static void dump_request(run *r, const char *req, unsigned id)
{
    if (!r->st.conn || it_sendf(r->st.conn, "%s", req) != 0) {
        fprintf(stderr, "(no connection)\n");
        return;
    }
    char tag[32];
    snprintf(tag, sizeof tag, "\"id\":%u", id);
    for (int tries = 0; tries < 8; tries++) {
        const char *line;
        size_t len;
        if (it_read_line(r->st.conn, 1000, &line, &len) != IT_LINE)
            break;
        if (memmem(line, len, tag, strlen(tag))) {
            fprintf(stderr, "%.*s\n", (int)len, line);
            return;
        }
    }
    fprintf(stderr, "(no answer)\n");
    stats_close(r);
}

/* The barrier and the counters as the current instance sees them (a stall). */
static void dump_status(run *r, const char *why)
{
    if (!r->st.conn)
        stats_open(r);
    fprintf(stderr, "%s: %s; status of '%s' now: ", r->what, why, BARRIER);
    dump_request(r, "{\"op\":\"status\",\"barrier\":\"" BARRIER "\",\"id\":1000001}", 1000001);
    fprintf(stderr, "%s: stats now: ", r->what);
    dump_request(r, "{\"op\":\"stats\",\"id\":1000002}", 1000002);
}

/* ---- faults ---- */

static fault *new_fault(run *r, int kind)
{
    if (r->n_faults == r->cap_faults) {
        r->cap_faults = r->cap_faults ? 2 * r->cap_faults : 256;
        r->faults = realloc(r->faults, r->cap_faults * sizeof *r->faults);
        it_assert(r->faults);
    }
    fault *f = &r->faults[r->n_faults++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->t = ts_now_s() - r->t0;
    f->progress = max_progress(r);
    f->party = -1;
    return f;
}

static void print_fault(FILE *out, const run *r, size_t i)
{
    const fault *f = &r->faults[i];
    fprintf(out, "  #%zu t=%.3f %s after round %d", i, f->t, fault_names[f->kind], f->progress);
    if (f->kind == F_ACTION || f->kind == F_RELEASE)
        fprintf(out, " (aimed at round %u, fired by party %d%s", f->round, f->party,
                f->kind == F_RELEASE ? "" : ")");
    if (f->kind == F_RELEASE)
        fprintf(out, ")");
    fprintf(out, " down %d ms, restart %.0f ms, next release %+.0f ms\n", f->down_ms,
            f->restart_s * 1e3, f->first_release > 0 ? (f->first_release - f->t) * 1e3 : -1.0);
}

/* The server is down (killed, or stopped): bank its stats, wait down_ms
 * while reading records, start it again on its port. */
static void restart(run *r, fault *f)
{
    stats_bank(r);
    f->down_ms = rnd(r) % 10 < 7 ? 0 : rnd_range(r, 10, 300);
    double until = ts_now_s() + f->down_ms / 1e3;
    while (ts_now_s() < until)
        drain(r, 2);
    double t = ts_now_s();
    int rc = ts_server_restart(&r->s);
    f->restart_s = ts_now_s() - t;
    f->up = ts_now_s() - r->t0;
    it_assert_msg(rc == 0, "%s: barrierd did not come back on %s after fault #%zu (seed %" PRIu64
                  ")", r->what, r->s.listen, r->n_faults - 1, r->cfg.seed);
    atomic_store(&r->cfg.sh->server_pid, (int)r->s.pid);
    stats_open(r);
}

static void kill_now(run *r, int kind)
{
    stats_poll(r, 1); /* the last word of this instance */
    stats_bank(r);    /* (and no connection of ours holds up a graceful exit) */
    fault *f = new_fault(r, kind);
    if (r->graceful) {
        int st = ts_server_stop(&r->s, 10000, NULL);
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s: barrierd did not exit 0 on SIGTERM (wait status %d)", r->what, st);
    } else {
        ts_server_kill9(&r->s);
    }
    restart(r, f);
}

/* An armed fault fired (a party took the arm back to 0): the server is
 * dying. Once it is reaped, what the party stored before its kill is there. */
static void fired(run *r, uint64_t armed)
{
    shared *sh = r->cfg.sh;
    int st = ts_server_wait(&r->s, 5000);
    if (st < 0) /* the arm was taken but no kill came: the party died in between? */
        ts_server_kill9(&r->s);
    fault *f = new_fault(r, ARM_KIND(armed) == ARM_ACTION ? F_ACTION : F_RELEASE);
    f->round = ARM_ROUND(armed);
    f->party = atomic_load(&sh->fired_party);
    f->t = (double)atomic_load(&sh->fired_ns) / 1e9 - r->t0;
    restart(r, f);
}

/* ---- one run ---- */

static uint64_t pick_seed(void)
{
    const char *e = getenv("TS_RESTART_SEED");
    if (e && *e)
        return strtoull(e, NULL, 0);
    return mix(ts_now_ns() ^ ((uint64_t)getpid() << 32));
}

static int env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

static void report_and_check(run *r)
{
    const unsigned rounds = r->cfg.rounds;
    const uint64_t seed = r->cfg.seed;
    double took = ts_now_s() - r->t0;
    size_t by_kind[5] = {0};
    double gap_max = 0, gap_sum = 0;
    size_t gap_n = 0;
    for (size_t i = 0; i < r->n_faults; i++) {
        const fault *f = &r->faults[i];
        by_kind[f->kind]++;
        if (f->first_release > 0) {
            double g = f->first_release - f->t;
            gap_sum += g;
            gap_n++;
            if (g > gap_max)
                gap_max = g;
        }
    }
    /* The checks, counted before anything is asserted. */
    size_t missing = 0, errors = 0, twice = 0, gen_split = 0, gen_back = 0, gen_gaps = 0;
    size_t idx_dup = 0, idx_missing = 0, idx_range = 0, act_bad = 0, act_rounds = 0;
    size_t idx_rounds = 0; /* complete rounds whose indexes were not {0..7} */
    size_t runner_not_last = 0;
    char first_bad[512] = "";
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (!first_bad[0])                                                                         \
            snprintf(first_bad, sizeof first_bad, __VA_ARGS__);                                    \
    } while (0)
    uint64_t prev_gen = 0;
    int have_prev = 0;
    for (unsigned k = 0; k < rounds; k++) {
        int complete = 1;
        unsigned mask = 0;
        unsigned runs = 0;
        uint64_t gen = 0;
        int have_gen = 0;
        for (int p = 0; p < NPARTIES; p++) {
            const slot *sl = slot_at(r, p, k);
            if (!sl->seen) {
                missing++;
                complete = 0;
                BAD("party %d has no report for round %u", p, k);
                continue;
            }
            if (sl->seen > 1) {
                twice++;
                BAD("party %d reported round %u %d times", p, k, sl->seen);
            }
            if (sl->rc != BC_OK) {
                errors++;
                complete = 0;
                BAD("party %d round %u: %s: %s", p, k, bc_error_name(sl->rc), sl->msg);
                continue;
            }
            if (!have_gen) {
                gen = sl->gen;
                have_gen = 1;
            } else if (sl->gen != gen) {
                gen_split++;
                BAD("round %u: party %d got generation %" PRIu64 ", another party %" PRIu64, k, p,
                    sl->gen, gen);
            }
            if (sl->index >= NPARTIES) {
                idx_range++;
                BAD("round %u: party %d got index %u", k, p, sl->index);
            } else if (mask & (1u << sl->index)) {
                idx_dup++;
                fprintf(stderr, "%s: note: round %u (generation %" PRIu64 "): index %u handed "
                        "out twice\n", r->what, k, sl->gen, sl->index);
            } else {
                mask |= 1u << sl->index;
            }
            runs += sl->runs;
            if (sl->runs && sl->index != NPARTIES - 1)
                runner_not_last++;
        }
        /* Each party's generations strictly increase (checked per party too). */
        for (int p = 0; p < NPARTIES && k > 0; p++) {
            const slot *a = slot_at(r, p, k - 1), *b = slot_at(r, p, k);
            if (a->seen && b->seen && a->rc == BC_OK && b->rc == BC_OK && b->gen <= a->gen) {
                gen_back++;
                BAD("party %d: round %u generation %" PRIu64 " after round %u generation %" PRIu64,
                    p, k, b->gen, k - 1, a->gen);
            }
        }
        if (complete) {
            for (unsigned i = 0; i < NPARTIES; i++)
                if (!(mask & (1u << i)))
                    idx_missing++;
            if (mask != (1u << NPARTIES) - 1)
                idx_rounds++;
            if (have_prev && gen > prev_gen + 1)
                gen_gaps++;
            prev_gen = gen;
            have_prev = 1;
            int want = round_has_action(seed, k);
            act_rounds += (size_t)want;
            if (runs != (unsigned)want || r->action_marks[k] != (unsigned)want) {
                act_bad++;
                BAD("round %u: action %s, ran %u times (%u starts reported)", k,
                    want ? "given" : "not given", runs, r->action_marks[k]);
            }
        }
    }
    char layout[64] = "";
    for (int i = 0; i < nprocs; i++)
        snprintf(layout + strlen(layout), sizeof layout - strlen(layout), "%s%d", i ? "," : "",
                 proc_threads[i]);
    uint64_t g_first = slot_at(r, 0, 0)->gen, g_last = slot_at(r, 0, rounds - 1)->gen;
    fprintf(stderr,
            "%s: seed %" PRIu64 ": %u rounds x %d parties (threads per process: %s) in %.1f s; "
            "generations %" PRIu64 "..%" PRIu64 "\n"
            "%s: %zu %s (random %zu, in-action %zu, mid-release %zu, on-action-marker %zu, "
            "armed-but-unfired %zu); kill to next release: mean %.0f ms, max %.0f ms; longest "
            "time without a release %.0f ms\n"
            "%s: resume stats summed over instances: guessed %.0f, collisions %.0f, proven %.0f, "
            "late %.0f, replaced %.0f\n"
            "%s: missing %zu, errors %zu, reported twice %zu, generation split %zu, not "
            "increasing %zu, gaps %zu; index duplicates %zu, missing %zu, out of range %zu; "
            "action rounds %zu, wrong action counts %zu, runner index != 7: %zu\n",
            r->what, seed, rounds, NPARTIES, layout, took, g_first, g_last, r->what, r->n_faults,
            r->graceful ? "graceful restarts" : "kill -9 restarts", by_kind[F_RANDOM],
            by_kind[F_ACTION], by_kind[F_RELEASE], by_kind[F_ON_ACTION], by_kind[F_FALLBACK],
            gap_n ? gap_sum / (double)gap_n * 1e3 : 0.0, gap_max * 1e3, r->max_stall * 1e3,
            r->what, r->sum_guessed, r->sum_collisions, r->sum_proven, r->sum_late,
            r->sum_replaced, r->what, missing, errors, twice, gen_split, gen_back, gen_gaps,
            idx_dup, idx_missing, idx_range, act_rounds, act_bad, runner_not_last);
    /* A generation whose indexes are not {0..7} can only come from indexes the
     * server had to hand out itself after a crash in the middle of a release
     * (docs/ha.md): counted, reported, and allowed only that far. */
    fprintf(stderr, "%s: generations whose indexes were not {0..7}: %zu of %u (indexes the "
            "restarted servers handed out: %.0f)\n", r->what, idx_rounds, rounds, r->sum_guessed);
    if (idx_rounds > (size_t)r->sum_guessed)
        BAD("%zu generations with wrong indexes, more than the %.0f indexes handed out after "
            "crashes", idx_rounds, r->sum_guessed);
    int ok = !first_bad[0] && r->failed < 0;
    const char *dump = getenv("TS_RESTART_DUMP");
    FILE *df = dump && *dump ? fopen(dump, "w") : NULL;
    if (df) { /* round party rc generation index runs t */
        for (unsigned k = 0; k < rounds; k++)
            for (int p = 0; p < NPARTIES; p++) {
                const slot *sl = slot_at(r, p, k);
                fprintf(df, "%u %d %d %" PRIu64 " %u %u %.6f\n", k, p, sl->seen ? sl->rc : 99,
                        sl->gen, sl->index, sl->runs, sl->seen ? sl->t - r->t0 : -1.0);
            }
        fclose(df);
    }
    if (!ok || env_flag("TS_RESTART_VERBOSE")) {
        fprintf(stderr, "%s: faults (seed %" PRIu64 "):\n", r->what, seed);
        for (size_t i = 0; i < r->n_faults; i++)
            print_fault(stderr, r, i);
    }
    it_assert_msg(r->failed < 0, "%s (seed %" PRIu64 "): %s", r->what, seed, r->fail_msg);
    it_assert_msg(!first_bad[0], "%s (seed %" PRIu64 "): %s", r->what, seed, first_bad);
#undef BAD
}

static void run_rounds(const char *what, int graceful, unsigned rounds_normal,
                       unsigned rounds_slow)
{
    run *r = calloc(1, sizeof *r);
    it_assert(r);
    r->what = what;
    r->graceful = graceful;
    r->failed = -1;
    r->waiting_marker = 0;
    r->cfg.seed = pick_seed();
    r->rng = mix(r->cfg.seed ^ 0x5eed);
    unsigned rounds = ts_slow() > 1 ? rounds_slow : rounds_normal;
    const char *re = getenv("TS_RESTART_ROUNDS");
    if (re && *re)
        rounds = (unsigned)strtoul(re, NULL, 10);
    it_assert(rounds >= 2 && rounds <= ROUNDS_MAX);
    it_assert_msg(set_layout(), "TS_RESTART_LAYOUT must add up to %d", NPARTIES);
    r->cfg.rounds = rounds;
    int nokill = env_flag("TS_RESTART_NOKILL");
    fprintf(stderr, "%s: seed %" PRIu64 " (TS_RESTART_SEED=%" PRIu64 " repeats the choices), %u rounds%s\n",
            what, r->cfg.seed, r->cfg.seed, rounds, nokill ? ", no faults" : "");

    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    it_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    for (int p = 0; p < NPARTIES; p++)
        atomic_store(&sh->progress[p], -1);
    r->cfg.sh = sh;
    r->slots = calloc((size_t)NPARTIES * rounds, sizeof *r->slots);
    r->action_marks = calloc(rounds, sizeof *r->action_marks);
    it_assert(r->slots && r->action_marks);

    ts_server_up(&r->s, NULL);
    r->cfg.addr = r->s.addr;
    atomic_store(&sh->server_pid, (int)r->s.pid);

    int first = 0;
    for (int i = 0; i < nprocs; i++) {
        int fds[2];
        it_assert(pipe(fds) == 0);
        pid_t pid = ts_fork();
        it_assert(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            for (int j = 0; j < i; j++)
                close(r->rfd[j]);
            party_process(&r->cfg, first, proc_threads[i], fds[1]);
        }
        close(fds[1]);
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        r->rfd[i] = fds[0];
        r->pids[i] = pid;
        first += proc_threads[i];
    }
    it_assert(first == NPARTIES);

    double deadline = ts_now_s() + 30 * ts_slow();
    while (r->ready < NPARTIES && r->failed < 0 && ts_now_s() < deadline)
        drain(r, 10);
    it_assert_msg(r->ready == NPARTIES, "%s: %d of %d parties connected: %s", what, r->ready,
                  NPARTIES, r->fail_msg);

    r->t0 = ts_now_s();
    stats_open(r);
    deadline = r->t0 + RUN_BOUND_S;
    double next_fault = r->t0 + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
    uint64_t armed = 0;
    double armed_until = 0;
    while (r->done < NPARTIES && ts_now_s() < deadline) {
        drain(r, 2);
        stats_poll(r, 0);
        double now = ts_now_s();
        if (!r->stalled && now - (r->last_release > 0 ? r->last_release : r->t0) > STALL_S) {
            r->stalled = 1;
            char why[128];
            snprintf(why, sizeof why, "no release for %.0f s (after fault #%zd): no more faults",
                     STALL_S, (ssize_t)r->n_faults - 1);
            if (armed) {
                uint64_t expect = armed;
                if (!atomic_compare_exchange_strong(&sh->arm, &expect, 0))
                    fired(r, armed);
                armed = 0;
            }
            r->waiting_marker = 0;
            dump_status(r, why);
            /* The parties' own timeouts may still end it; past them, stop. */
            if (deadline > now + WAIT_TIMEOUT_S + 5)
                deadline = now + WAIT_TIMEOUT_S + 5;
        }
        if (r->failed >= 0 || nokill || r->stalled)
            continue;
        int progress = max_progress(r);
        if (armed) {
            if (atomic_load(&sh->arm) == 0) { /* a party fired it */
                fired(r, armed);
                armed = 0;
                next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
            } else if (now > armed_until || progress >= (int)ARM_ROUND(armed) + 1) {
                uint64_t expect = armed;
                if (atomic_compare_exchange_strong(&sh->arm, &expect, 0))
                    kill_now(r, F_FALLBACK); /* its moment passed: a plain fault instead */
                else
                    fired(r, armed);
                armed = 0;
                next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
            }
            continue;
        }
        if (r->waiting_marker == 2) { /* graceful: an action just started */
            r->waiting_marker = 0;
            kill_now(r, F_ON_ACTION);
            next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
            continue;
        }
        if (r->waiting_marker == 1) {
            if (now > armed_until) { /* no action started in time */
                r->waiting_marker = 0;
                kill_now(r, F_FALLBACK);
                next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
            }
            continue;
        }
        if (now < next_fault || progress + 3 >= (int)r->cfg.rounds)
            continue;
        int pick = rnd_range(r, 0, 99);
        if (graceful) {
            if (pick < 50) {
                r->waiting_marker = 1;
                armed_until = now + ARM_BOUND_S;
            } else {
                kill_now(r, F_RANDOM);
                next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
            }
        } else if (pick < 30) {
            unsigned k = (unsigned)progress + 2;
            unsigned limit = k + 40;
            while (k < limit && k < r->cfg.rounds && !round_has_action(r->cfg.seed, k))
                k++;
            if (k >= limit || k >= r->cfg.rounds) {
                kill_now(r, F_RANDOM);
                next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
                continue;
            }
            armed = ARM(ARM_ACTION, k, rnd_range(r, 0, ACTION_MAX_MS));
            armed_until = now + ARM_BOUND_S;
            atomic_store(&sh->arm, armed);
        } else if (pick < 60) {
            armed = ARM(ARM_RELEASE, (unsigned)progress + 2, 0);
            armed_until = now + ARM_BOUND_S;
            atomic_store(&sh->arm, armed);
        } else {
            kill_now(r, F_RANDOM);
            next_fault = ts_now_s() + rnd_range(r, GAP_MIN_MS, GAP_MAX_MS) / 1e3;
        }
    }
    /* An arm left over (the last rounds): take it back. */
    atomic_store(&sh->arm, 0);
    if (r->failed >= 0) { /* let the others stop (bounded), for a complete picture */
        double until = ts_now_s() + 5;
        while (r->done < NPARTIES && ts_now_s() < until)
            drain(r, 10);
    }
    if (r->done < NPARTIES && r->failed < 0) {
        r->failed = NPARTIES;
        snprintf(r->fail_msg, sizeof r->fail_msg,
                 "only %d of %d parties finished in %.0f s (highest round %d)%s", r->done,
                 NPARTIES, ts_now_s() - r->t0, max_progress(r),
                 r->stalled ? ": stalled, see the status above" : "");
    }
    stats_poll(r, 1);
    stats_bank(r);
    report_and_check(r);
    for (int i = 0; i < nprocs; i++) {
        int st = ts_reap(r->pids[i], 10000);
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s: party process %d: wait status %d", what, i, st);
        if (r->rfd[i] >= 0)
            close(r->rfd[i]);
    }
    ts_server_down(&r->s);
    munmap(sh, sizeof *sh);
    free(r->slots);
    free(r->action_marks);
    free(r->faults);
    free(r);
}

START_TEST(restart_kill9)
{
    run_rounds("restart_kill9", 0, 1000, 400);
}
END_TEST

START_TEST(restart_graceful)
{
    run_rounds("restart_graceful", 1, 300, 150);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"restart_kill9", restart_kill9, 0},
        {"restart_graceful", restart_graceful, 0},
    };
    return ts_run(&(const ts_suite){.name = "faults_restart", .cases = cases,
                                    .n = TS_NCASES(cases), .timeout_s = 200});
}
