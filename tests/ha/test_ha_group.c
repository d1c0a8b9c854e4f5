/* test_ha_group.c - the HA group (issue 10): three barrierd and a real etcd on
 * loopback, started by the test (tests/support's ts_launch and ts_etcd).
 *
 *   one_leader        exactly one member leads (stats role "leader", a term);
 *                     the others are standbys (stats) and answer every other
 *                     request notleader, naming it
 *   kill9_rounds      8 parties (processes, and threads sharing a handle) run
 *                     1,000 cyclic rounds on one barrier while the leader is
 *                     killed -9 three times: every round completes for every
 *                     party, no error, unique indexes, failover within ttl + 2 s
 *   abort_failover    an abort on the leader survives its kill -9: the new
 *                     leader reports the barrier broken with the same reason
 *   sigstop_fencing   a leader stopped past its lease serves nothing once it
 *                     continues; another member leads meanwhile
 *   party_lost_failover  a party killed with the leader is named in the break
 *                     the new leader makes after the resume window (2 x ttl)
 *   etcd_restart      etcd restarted on its ports and data while the leader
 *                     serves: service continues, parties see no error
 *   members_failover  a rendezvous member list survives the leader's kill -9:
 *                     the new leader shows it and refuses outsiders
 *
 * Parties use libbarrierclient with the list of all three members' addresses
 * and default bc_options (so they follow a standby's notleader and resume a
 * lost connection for 30 s, docs/ha.md). The other cases talk to the servers
 * over raw sockets (tests/integration's fixture). No etcd here: every case
 * skips (exit 77).
 */
#include "barrierclient.h"
#include "itest_fixture.h"
#include "ts_etcd.h"
#include "ts_slow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MEMBERS 3

/* ------------------------------------------------------------------------ */
/* the group: one etcd, three barrierd                                       */
/* ------------------------------------------------------------------------ */

typedef struct ha_group {
    ts_etcd etcd;
    ts_server m[N_MEMBERS];
    char addr[N_MEMBERS][32]; /* "127.0.0.1:PORT", also its --advertise */
    char list[128];           /* all three, comma-separated: what parties connect to */
    char group[64];
    int ttl_s;
    int up;
} ha_group;

static ha_group G; /* one group per case (each case runs in its own process) */

static double slow(void)
{
    return ts_slow();
}

/* 0 when the case must skip (no etcd), else 1 with the group up. */
static int group_up(ha_group *g, int ttl_s)
{
    memset(g, 0, sizeof *g);
    if (!ts_etcd_path()) {
        ts_skip("no etcd here (/usr/bin/etcd, Debian etcd-server; or set $ETCD)");
        return 0;
    }
    it_assert_msg(ts_etcd_start(&g->etcd) == 0, "etcd did not come up (see above)");
    g->ttl_s = ttl_s;
    snprintf(g->group, sizeof g->group, "t%d", (int)getpid());
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    int ports[N_MEMBERS];
    for (int i = 0; i < N_MEMBERS; i++) {
        int p;
        int clash;
        do {
            p = ts_free_port();
            clash = p == 0 || p == g->etcd.client_port || p == g->etcd.peer_port;
            for (int j = 0; j < i; j++)
                clash |= p == ports[j];
        } while (clash);
        ports[i] = p;
        snprintf(g->addr[i], sizeof g->addr[i], "127.0.0.1:%d", p);
    }
    snprintf(g->list, sizeof g->list, "%s,%s,%s", g->addr[0], g->addr[1], g->addr[2]);
    static const char *names[N_MEMBERS] = {"member-0", "member-1", "member-2"};
    for (int i = 0; i < N_MEMBERS; i++) {
        ts_server *s = &g->m[i];
        s->name = names[i];
        snprintf(s->listen, sizeof s->listen, "%s", g->addr[i]);
        ts_server_up(s, "--ha-etcd", g->etcd.url, "--ha-group", g->group, "--advertise", g->addr[i],
                     "--ha-ttl", ttl, NULL);
    }
    g->up = 1;
    return 1;
}

/* Stop every member (each must exit 0 on SIGTERM) and etcd. */
static void group_down(ha_group *g)
{
    if (!g->up)
        return;
    g->up = 0;
    for (int i = 0; i < N_MEMBERS; i++) {
        if (g->m[i].pid > 0 || g->m[i].registered)
            ts_server_down(&g->m[i]);
        else
            ts_server_cleanup(&g->m[i]);
    }
    ts_etcd_cleanup(&g->etcd);
}

/* A failing assertion: etcd's log, then the members' (ts_servers_fail kills
 * them and shows theirs). etcd dies with the case, and its directory goes. */
#define ha_assert_msg(expr, ...)                                                              \
    do {                                                                                      \
        if (!(expr)) {                                                                        \
            if (G.etcd.log_path[0])                                                           \
                ts_etcd_dump_log(&G.etcd);                                                    \
            it_assert_msg(0, __VA_ARGS__);                                                    \
        }                                                                                     \
    } while (0)

/* ---- asking a member who leads ---- */

enum { PROBE_DOWN = 0, PROBE_LEADER, PROBE_NOTLEADER, PROBE_OTHER };

typedef struct probe {
    int kind;
    char role[32];    /* stats "role" (PROBE_LEADER, PROBE_OTHER) */
    char leader[BP_NAME_MAX + 1]; /* stats "leader", or the notleader answer's "leader" */
    double term;
    int code;         /* the error code of PROBE_OTHER */
} probe;

static int port_of(const char *addr)
{
    const char *c = strrchr(addr, ':');
    return c ? atoi(c + 1) : 0;
}

/* stats on a new connection, answered within timeout_ms. */
static void probe_member(const ha_group *g, int i, int timeout_ms, probe *p)
{
    memset(p, 0, sizeof *p);
    it_conn *c = it_connect_tcp("127.0.0.1", port_of(g->addr[i]), 0);
    if (!c)
        return;
    bp_request r;
    it_req_init(&r, BP_OP_STATS, 1);
    if (it_send_req(c, &r) < 0) {
        it_close(c);
        return;
    }
    bp_reply rep;
    if (it_recv_skip(c, timeout_ms, 1, NULL, &rep) == IT_LINE) {
        if (rep.kind == BP_MSG_REPLY && rep.code == 0) {
            const char *role = it_jstr(&rep, "role");
            const char *leader = it_jstr(&rep, "leader");
            snprintf(p->role, sizeof p->role, "%s", role ? role : "");
            snprintf(p->leader, sizeof p->leader, "%s", leader ? leader : "");
            p->term = it_jnum(&rep, "term");
            /* A standby answers stats (its role, and the leader it knows). */
            p->kind = strcmp(p->role, "leader") == 0    ? PROBE_LEADER
                      : strcmp(p->role, "standby") == 0 ? PROBE_NOTLEADER
                                                        : PROBE_OTHER;
        } else if (rep.kind == BP_MSG_REPLY && rep.code == BP_ENOTLEADER) {
            p->kind = PROBE_NOTLEADER;
            snprintf(p->leader, sizeof p->leader, "%s", rep.leader);
        } else {
            p->kind = PROBE_OTHER;
            p->code = rep.code;
        }
        bp_reply_free(&rep);
    }
    it_close(c);
}

/* The one member that answers as leader while every other member asked
 * answers notleader naming it (skip: a bit mask of members not to ask: dead
 * or stopped), within timeout_ms; -1 if that did not happen. */
static int await_leader(const ha_group *g, unsigned skip, int timeout_ms, int *term)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    do {
        int leader = -1, n_leaders = 0, agree = 1;
        probe p[N_MEMBERS];
        for (int i = 0; i < N_MEMBERS; i++) {
            if (skip & (1u << i))
                continue;
            probe_member(g, i, 2000, &p[i]);
            if (p[i].kind == PROBE_LEADER) {
                leader = i;
                n_leaders++;
                if (term)
                    *term = (int)p[i].term;
            }
        }
        for (int i = 0; i < N_MEMBERS && n_leaders == 1; i++)
            if (!(skip & (1u << i)) && i != leader &&
                !(p[i].kind == PROBE_NOTLEADER && strcmp(p[i].leader, g->addr[leader]) == 0))
                agree = 0;
        if (n_leaders == 1 && agree)
            return leader;
        ha_assert_msg(n_leaders <= 1, "two members answer as leader at once");
        ts_sleep_ms(50);
    } while (ts_now_ms() < deadline);
    return -1;
}

/* Any member answering as leader (skip as above), within timeout_ms; -1 if none. */
static int await_any_leader(const ha_group *g, unsigned skip, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    do {
        for (int i = 0; i < N_MEMBERS; i++) {
            if (skip & (1u << i))
                continue;
            probe p;
            probe_member(g, i, 1000, &p);
            if (p.kind == PROBE_LEADER)
                return i;
        }
        ts_sleep_ms(20);
    } while (ts_now_ms() < deadline);
    return -1;
}

static it_conn *connect_member(const ha_group *g, int i)
{
    it_conn *c = it_connect_tcp("127.0.0.1", port_of(g->addr[i]), 0);
    ha_assert_msg(c != NULL, "cannot connect to %s: %s", g->addr[i], strerror(errno));
    return c;
}

/* ---- the mirror, as etcd holds it ---- */

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

static size_t b64dec(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64val((unsigned char)*in);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 < cap)
                out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return n;
}

static void b64enc(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The mirror record of a barrier (cJSON, the caller frees it), or NULL. */
static cJSON *mirror_get(const ha_group *g, const char *barrier)
{
    char key[256], k64[400], body[512];
    snprintf(key, sizeof key, "barrierd/%s/barriers/%s", g->group, barrier);
    b64enc(key, k64);
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", k64);
    static char out[65536];
    if (ts_etcd_post(&g->etcd, "/v3/kv/range", body, out, sizeof out, 2000) != 200)
        return NULL;
    cJSON *root = cJSON_Parse(out);
    const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(root, "kvs");
    const cJSON *kv = cJSON_GetArrayItem(kvs, 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, "value");
    cJSON *rec = NULL;
    if (cJSON_IsString(v)) {
        static char dec[65536];
        b64dec(v->valuestring, dec, sizeof dec);
        rec = cJSON_Parse(dec);
    }
    cJSON_Delete(root);
    return rec;
}

/* Wait up to timeout_ms for the mirror of barrier to be broken (want_broken)
 * or to list n_waiting waiters (want_broken 0). 1 if it got there. */
static int await_mirror(const ha_group *g, const char *barrier, int want_broken, int n_waiting,
                        int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    do {
        cJSON *rec = mirror_get(g, barrier);
        int ok = 0;
        if (rec) {
            int broken = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "broken"));
            const cJSON *nw = cJSON_GetObjectItemCaseSensitive(rec, "n_waiting");
            ok = want_broken ? broken
                             : !broken && cJSON_IsNumber(nw) && (int)nw->valuedouble == n_waiting;
            cJSON_Delete(rec);
        }
        if (ok)
            return 1;
        ts_sleep_ms(20);
    } while (ts_now_ms() < deadline);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* parties: processes using libbarrierclient, some with threads sharing a    */
/* handle; what they saw lands in shared memory                              */
/* ------------------------------------------------------------------------ */

#define MAX_PARTIES 8
#define MAX_PROCS 8
#define MAX_ROUNDS 2000

typedef struct round_rec {
    uint64_t generation;
    int32_t index;
    int32_t rc;
    uint64_t t_ns; /* when bc_wait returned (CLOCK_MONOTONIC) */
} round_rec;

typedef struct party_shm {
    /* set before the start */
    char barrier[64];
    char addr[256];
    unsigned barrier_parties; /* the barrier's parties (may exceed the threads here) */
    int rounds;
    int pace_ms;              /* sleep before each wait (0: none) */
    double timeout_s;         /* of each wait (< 0: none) */
    int n_procs;
    int threads[MAX_PROCS];   /* threads of each process, sharing its handle */
    char client[MAX_PROCS][64]; /* bc_options.client_name ("" : default) */
    /* the controller may lower it while they run: rounds end there */
    atomic_int stop_at;
    /* written by the parties */
    atomic_int progress[MAX_PARTIES]; /* rounds completed */
    atomic_int failed[MAX_PARTIES];
    atomic_int connected[MAX_PROCS];  /* 1: bc_connect ok; -1: it failed */
    int fail_rc[MAX_PARTIES];
    int fail_round[MAX_PARTIES];
    char fail_msg[MAX_PARTIES][512];
    round_rec r[MAX_PARTIES][MAX_ROUNDS];
} party_shm;

typedef struct party_thread {
    party_shm *sh;
    bc_client *c;
    int party;
    pthread_t th;
} party_thread;

static void *party_thread_main(void *arg)
{
    party_thread *t = arg;
    party_shm *sh = t->sh;
    for (int round = 0; round < sh->rounds && round < atomic_load(&sh->stop_at); round++) {
        if (sh->pace_ms > 0)
            ts_sleep_ms(sh->pace_ms);
        bc_wait_result res;
        memset(&res, 0, sizeof res);
        int rc = bc_wait(t->c, sh->barrier, sh->barrier_parties, sh->timeout_s, NULL, NULL, &res);
        round_rec *r = &sh->r[t->party][round < MAX_ROUNDS ? round : MAX_ROUNDS - 1];
        r->t_ns = ts_now_ns();
        r->rc = rc;
        r->generation = res.generation;
        r->index = rc == 0 ? (int32_t)res.index : -1;
        if (rc != BC_OK) {
            sh->fail_rc[t->party] = rc;
            sh->fail_round[t->party] = round;
            snprintf(sh->fail_msg[t->party], sizeof sh->fail_msg[0], "%s", bc_last_error_message());
            atomic_store(&sh->failed[t->party], 1);
            return NULL;
        }
        atomic_store(&sh->progress[t->party], round + 1);
    }
    return NULL;
}

static int party_proc_main(party_shm *sh, int proc, int first_party)
{
    bc_options o;
    memset(&o, 0, sizeof o); /* defaults: resume_s 30 s once the library resumes */
    if (sh->client[proc][0])
        o.client_name = sh->client[proc];
    bc_client *c = NULL;
    int rc = bc_connect(sh->addr, &o, &c);
    if (rc != BC_OK) {
        for (int k = 0; k < sh->threads[proc]; k++) {
            int p = first_party + k;
            sh->fail_rc[p] = rc;
            sh->fail_round[p] = -1;
            snprintf(sh->fail_msg[p], sizeof sh->fail_msg[0], "bc_connect(\"%s\"): %s", sh->addr,
                     bc_last_error_message());
            atomic_store(&sh->failed[p], 1);
        }
        atomic_store(&sh->connected[proc], -1);
        return 1;
    }
    atomic_store(&sh->connected[proc], 1);
    party_thread t[MAX_PARTIES];
    for (int k = 0; k < sh->threads[proc]; k++) {
        t[k].sh = sh;
        t[k].c = c;
        t[k].party = first_party + k;
        if (pthread_create(&t[k].th, NULL, party_thread_main, &t[k]) != 0)
            _exit(3);
    }
    for (int k = 0; k < sh->threads[proc]; k++)
        pthread_join(t[k].th, NULL);
    bc_close(c);
    return 0;
}

typedef struct party_set {
    party_shm *sh;
    pid_t pid[MAX_PROCS];
    int first[MAX_PROCS]; /* first party number of each process */
    int n_parties;
} party_set;

static void parties_init(party_set *ps, const char *addr, const char *barrier,
                         unsigned barrier_parties, int rounds, const int *threads, int n_procs)
{
    memset(ps, 0, sizeof *ps);
    ps->sh = mmap(NULL, sizeof *ps->sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ha_assert_msg(ps->sh != MAP_FAILED, "mmap: %s", strerror(errno));
    party_shm *sh = ps->sh;
    snprintf(sh->barrier, sizeof sh->barrier, "%s", barrier);
    snprintf(sh->addr, sizeof sh->addr, "%s", addr);
    sh->barrier_parties = barrier_parties;
    sh->rounds = rounds;
    sh->timeout_s = -1;
    sh->n_procs = n_procs;
    atomic_store(&sh->stop_at, rounds);
    for (int i = 0; i < n_procs; i++) {
        sh->threads[i] = threads[i];
        ps->first[i] = ps->n_parties;
        ps->n_parties += threads[i];
    }
    ha_assert_msg(ps->n_parties <= MAX_PARTIES && rounds <= MAX_ROUNDS, "too many parties/rounds");
}

static void parties_start(party_set *ps)
{
    for (int i = 0; i < ps->sh->n_procs; i++) {
        pid_t pid = ts_fork();
        ha_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            _exit(party_proc_main(ps->sh, i, ps->first[i]));
        ps->pid[i] = pid;
    }
}

static int parties_min_progress(const party_set *ps)
{
    int m = INT32_MAX;
    for (int p = 0; p < ps->n_parties; p++) {
        int v = atomic_load(&ps->sh->progress[p]);
        m = v < m ? v : m;
    }
    return m;
}

static int parties_max_progress(const party_set *ps)
{
    int m = 0;
    for (int p = 0; p < ps->n_parties; p++) {
        int v = atomic_load(&ps->sh->progress[p]);
        m = v > m ? v : m;
    }
    return m;
}

/* The first party that failed, or -1. */
static int parties_failed(const party_set *ps)
{
    for (int p = 0; p < ps->n_parties; p++)
        if (atomic_load(&ps->sh->failed[p]))
            return p;
    return -1;
}

static void parties_describe_failure(const party_set *ps, char *out, size_t cap)
{
    size_t o = 0;
    int n = 0;
    out[0] = '\0';
    for (int p = 0; p < ps->n_parties; p++) {
        if (!atomic_load(&ps->sh->failed[p]))
            continue;
        /* the first failure in full, then who else failed and how */
        if (n++ == 0)
            o += (size_t)snprintf(out + o, cap - o, "party %d, round %d: %s (%s)", p,
                                  ps->sh->fail_round[p], bc_error_name(ps->sh->fail_rc[p]),
                                  ps->sh->fail_msg[p]);
        else if (o + 1 < cap)
            o += (size_t)snprintf(out + o, cap - o, "; party %d, round %d: %s", p,
                                  ps->sh->fail_round[p], bc_error_name(ps->sh->fail_rc[p]));
        if (o >= cap)
            break;
    }
}

/* For a failure's report: the first round whose parties saw different
 * generations (or a repeated index), with what each party saw around it. */
static void parties_diagnose(const party_set *ps)
{
    const party_shm *sh = ps->sh;
    int np = ps->n_parties, done = INT32_MAX;
    for (int p = 0; p < np; p++) {
        int v = atomic_load(&sh->progress[p]);
        done = v < done ? v : done;
    }
    for (int r = 0; r < done && r < MAX_ROUNDS; r++) {
        unsigned seen = 0;
        int odd = 0;
        for (int p = 0; p < np; p++) {
            const round_rec *x = &sh->r[p][r];
            odd |= x->generation != sh->r[0][r].generation || x->index < 0 ||
                   x->index >= np || (seen & (1u << x->index));
            if (x->index >= 0 && x->index < 32)
                seen |= 1u << x->index;
        }
        if (!odd)
            continue;
        fprintf(stderr, "rounds: round %d is the first that is not one generation with unique "
                        "indexes; generation/index per party:\n", r);
        for (int k = r > 2 ? r - 2 : 0; k <= r + 2 && k < MAX_ROUNDS; k++) {
            fprintf(stderr, "  round %d:", k);
            for (int p = 0; p < np; p++)
                fprintf(stderr, " %llu/%d", (unsigned long long)sh->r[p][k].generation,
                        sh->r[p][k].index);
            fprintf(stderr, "\n");
        }
        return;
    }
    fprintf(stderr, "rounds: rounds 0..%d completed by all were consistent\n", done - 1);
}

/* Wait for every process to exit (up to timeout_ms each), then kill what is left. */
static void parties_reap(party_set *ps, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (int i = 0; i < ps->sh->n_procs; i++) {
        if (ps->pid[i] <= 0)
            continue;
        int64_t left = deadline - ts_now_ms();
        ts_reap(ps->pid[i], left > 0 ? (int)left : 0);
        ps->pid[i] = 0;
    }
}

static void parties_kill(party_set *ps)
{
    for (int i = 0; i < ps->sh->n_procs; i++)
        if (ps->pid[i] > 0) {
            kill(ps->pid[i], SIGKILL);
            ts_reap(ps->pid[i], 5000);
            ps->pid[i] = 0;
        }
}

static void parties_free(party_set *ps)
{
    parties_kill(ps);
    munmap(ps->sh, sizeof *ps->sh);
    ps->sh = NULL;
}

/* Every party completed rounds 0..n-1; in each, all parties saw the same
 * generation and the indexes 0..n_parties-1 once each, generations growing.
 * The one exception (docs/ha.md, "Indexes stay unique ... except"): a leader
 * killed in the middle of a release's fan-out may leave an index handed out
 * twice in that generation. The rounds in flight at a kill (kill_round[k] and
 * the one after) are allowed that; *dup_rounds counts them. Returns the longest
 * gap (s) between the releases of two rounds (a round is released when its
 * first party returns), and the three longest in top[]. */
static double check_rounds(const party_set *ps, int n, double top[3], int top_round[3],
                           int *skipped_generations, const int *kill_round, int n_kills,
                           int *dup_rounds)
{
    const party_shm *sh = ps->sh;
    int np = ps->n_parties;
    uint64_t prev_gen = 0, prev_t = 0;
    double worst = 0;
    *skipped_generations = 0;
    *dup_rounds = 0;
    for (int k = 0; k < 3; k++)
        top[k] = 0, top_round[k] = -1;
    for (int r = 0; r < n; r++) {
        unsigned seen = 0;
        int at_kill = 0, dup = 0;
        for (int k = 0; k < n_kills; k++)
            at_kill |= r == kill_round[k] || r == kill_round[k] + 1;
        uint64_t gen = sh->r[0][r].generation, t = UINT64_MAX;
        for (int p = 0; p < np; p++) {
            const round_rec *x = &sh->r[p][r];
            ha_assert_msg(x->rc == 0, "party %d round %d: %s", p, r, bc_error_name(x->rc));
            ha_assert_msg(x->generation == gen,
                          "round %d: party %d saw generation %llu, party 0 %llu", r, p,
                          (unsigned long long)x->generation, (unsigned long long)gen);
            ha_assert_msg(x->index >= 0 && x->index < np, "round %d: party %d got index %d", r,
                          p, x->index);
            ha_assert_msg(at_kill || !(seen & (1u << x->index)),
                          "round %d (generation %llu): party %d got index %d, not unique "
                          "(seen mask %#x)",
                          r, (unsigned long long)gen, p, x->index, seen);
            dup |= (seen & (1u << x->index)) != 0;
            seen |= 1u << x->index;
            t = x->t_ns < t ? x->t_ns : t;
        }
        *dup_rounds += dup;
        if (r > 0) {
            ha_assert_msg(gen > prev_gen, "round %d: generation %llu after %llu", r,
                          (unsigned long long)gen, (unsigned long long)prev_gen);
            *skipped_generations += (int)(gen - prev_gen - 1);
            double gap = (double)(t - prev_t) / 1e9;
            worst = gap > worst ? gap : worst;
            for (int k = 0; k < 3; k++)
                if (gap > top[k]) {
                    for (int j = 2; j > k; j--)
                        top[j] = top[j - 1], top_round[j] = top_round[j - 1];
                    top[k] = gap;
                    top_round[k] = r;
                    break;
                }
        }
        prev_gen = gen;
        prev_t = t;
    }
    return worst;
}

/* ------------------------------------------------------------------------ */
/* 1. exactly one leads                                                      */
/* ------------------------------------------------------------------------ */

START_TEST(one_leader)
{
    if (!group_up(&G, 2))
        return;
    int64_t t0 = ts_now_ms();
    int term = 0;
    int l = await_leader(&G, 0, (int)(15000 * slow()), &term);
    ha_assert_msg(l >= 0, "no single leader that the others name within 15 s");
    fprintf(stderr, "one_leader: %s leads (term %d) after %lld ms\n", G.addr[l], term,
            (long long)(ts_now_ms() - t0));
    ha_assert_msg(term > 0, "the leader reports term %d", term);

    /* The leader names itself; standbys answer stats with their role and the
     * leader, and every other request with notleader naming it, with the
     * request's id. */
    probe p;
    probe_member(&G, l, 2000, &p);
    ha_assert_msg(p.kind == PROBE_LEADER && strcmp(p.leader, G.addr[l]) == 0,
                  "the leader's stats name '%s' as leader", p.leader);
    for (int i = 0; i < N_MEMBERS; i++) {
        if (i == l)
            continue;
        probe_member(&G, i, 2000, &p);
        ha_assert_msg(strcmp(p.role, "standby") == 0 && strcmp(p.leader, G.addr[l]) == 0,
                      "%s: stats say role '%s', leader '%s'", G.addr[i], p.role, p.leader);
        it_conn *c = connect_member(&G, i);
        static const bp_op ops[] = {BP_OP_HELLO, BP_OP_PING, BP_OP_LIST, BP_OP_STATUS,
                                    BP_OP_ABORT, BP_OP_RESET};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            it_send_op(c, ops[k], 10 + k, "b1");
            bp_reply rep;
            it_expect_reply(c, 2000, &rep);
            ha_assert_msg(rep.code == BP_ENOTLEADER && rep.has_id && rep.id == 10 + k &&
                              strcmp(rep.leader, G.addr[l]) == 0,
                          "%s: op %d answered code %d id %llu leader '%s' (%s)", G.addr[i],
                          (int)ops[k], rep.code, (unsigned long long)rep.id, rep.leader,
                          rep.message);
            bp_reply_free(&rep);
        }
        it_send_wait(c, 20, "b1", 2, -1, "w", 0);
        char msg[256];
        it_expect_err(c, 20, BP_ENOTLEADER, 2000, msg, sizeof msg);
        it_close(c);
    }
    /* The leader serves: a barrier of one releases at once. */
    it_conn *c = connect_member(&G, l);
    it_send_wait(c, 1, "b1", 1, -1, "w", 0);
    it_expect_release(c, 1, 2000, NULL, NULL);
    it_close(c);

    /* It stays so: still one leader, the same, a lease period later. */
    ts_sleep_ms(G.ttl_s * 1000 + 500);
    int again = await_leader(&G, 0, 5000, NULL);
    ha_assert_msg(again == l, "leadership moved from %d to %d with nothing failing", l, again);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 2. kill -9 of the leader, three times, during 1,000 rounds                */
/* ------------------------------------------------------------------------ */

#define K2_ROUNDS 1000
#define K2_KILLS 3

START_TEST(kill9_rounds)
{
    const int ttl = 2;
    if (!group_up(&G, ttl))
        return;
    int64_t t_start = ts_now_ms();
    int64_t case_deadline = t_start + (int64_t)(85000 * (slow() > 1 ? 2 : 1));
    ha_assert_msg(await_leader(&G, 0, 15000, NULL) >= 0, "no leader");

    /* 8 parties: two processes of three threads sharing one handle each, two
     * processes of one. */
    static const int threads[] = {3, 3, 1, 1};
    party_set ps;
    parties_init(&ps, G.list, "rounds", 8, K2_ROUNDS, threads, 4);
    ps.sh->timeout_s = 15; /* a server-side bound, well past a failover */
    parties_start(&ps);

    static const int kill_at[K2_KILLS] = {200, 500, 800};
    int64_t t_kill[K2_KILLS] = {0};
    int killed[K2_KILLS], kill_round[K2_KILLS];
    int kills = 0;
    char why[4096];
    while (parties_min_progress(&ps) < K2_ROUNDS) {
        if (parties_failed(&ps) >= 0) {
            ts_sleep_ms(200); /* let the others say what they saw */
            parties_describe_failure(&ps, why, sizeof why);
            parties_diagnose(&ps);
            ha_assert_msg(0, "a party failed (after %d kills): %s", kills, why);
        }
        ha_assert_msg(ts_now_ms() < case_deadline,
                      "the rounds did not finish in time: %d..%d of %d rounds done, %d kills",
                      parties_min_progress(&ps), parties_max_progress(&ps), K2_ROUNDS, kills);
        if (kills < K2_KILLS && parties_min_progress(&ps) >= kill_at[kills]) {
            int l = await_any_leader(&G, 0, 10000);
            ha_assert_msg(l >= 0, "no leader to kill");
            t_kill[kills] = ts_now_ms();
            ts_server_kill9(&G.m[l]);
            killed[kills] = l;
            kill_round[kills] = parties_min_progress(&ps);
            fprintf(stderr, "kill9_rounds: kill -9 of leader %s at round %d (%.1f s)\n",
                    G.addr[l], parties_min_progress(&ps), (double)(t_kill[kills] - t_start) / 1e3);
            kills++;
            /* It comes back as a new member (a standby: the others' lease
             * runs out first). */
            ha_assert_msg(ts_server_restart(&G.m[l]) == 0, "%s did not come back", G.addr[l]);
            continue;
        }
        ts_sleep_ms(5);
    }
    ha_assert_msg(kills == K2_KILLS, "only %d kills happened", kills);
    parties_reap(&ps, 10000);
    double top[3];
    int top_round[3], skipped, dups;
    double worst = check_rounds(&ps, K2_ROUNDS, top, top_round, &skipped, kill_round, kills, &dups);
    /* each kill may spoil at most the one generation it cut in half */
    ha_assert_msg(dups <= kills, "%d generations with an index given twice after %d kills", dups,
                  kills);
    fprintf(stderr, "kill9_rounds: generations with an index given twice (a kill during the "
                    "release's fan-out): %d\n", dups);
    fprintf(stderr,
            "kill9_rounds: %d rounds x 8 parties in %.1f s; killed %d, %d, %d; longest gaps "
            "%.3f s (round %d), %.3f s (round %d), %.3f s (round %d); generations skipped: %d\n",
            K2_ROUNDS, (double)(ts_now_ms() - t_start) / 1e3, killed[0], killed[1], killed[2],
            top[0], top_round[0], top[1], top_round[1], top[2], top_round[2], skipped);
    double bound = ttl + 2.0;
    if (ts_asan())
        bound *= 2; /* ASan: slower servers and clients, same failover logic */
    ha_assert_msg(worst <= bound, "a failover took %.3f s between releases (bound %.1f s)", worst,
                  bound);
    parties_free(&ps);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. an abort survives the failover                                        */
/* ------------------------------------------------------------------------ */

START_TEST(abort_failover)
{
    if (!group_up(&G, 2))
        return;
    int l = await_leader(&G, 0, 15000, NULL);
    ha_assert_msg(l >= 0, "no leader");
    it_conn *w = connect_member(&G, l), *a = connect_member(&G, l);
    it_send_wait(w, 1, "ab", 3, -1, "waiter-1", 0);
    it_wait_n_waiting(a, "ab", 1, 5000);
    it_send_op(a, BP_OP_ABORT, 2, "ab");
    bp_reply rep;
    it_expect_ok(a, 2, 2000, &rep);
    bp_reply_free(&rep);
    char msg[512];
    it_expect_err(w, 1, BP_EBROKEN, 2000, msg, sizeof msg);
    it_status(a, "ab", &rep);
    ha_assert_msg(it_jbool(&rep, "broken") == 1, "not broken after the abort");
    char reason[512];
    snprintf(reason, sizeof reason, "%s", it_jstr(&rep, "reason") ? it_jstr(&rep, "reason") : "");
    bp_reply_free(&rep);
    ha_assert_msg(strstr(reason, "aborted") != NULL, "reason '%s'", reason);
    it_close(w);
    it_close(a);

    /* The mirror has it before the leader goes. */
    ha_assert_msg(await_mirror(&G, "ab", 1, 0, 5000), "the abort never reached etcd's mirror");
    ts_server_kill9(&G.m[l]);
    int64_t t_kill = ts_now_ms();
    int n = await_leader(&G, 1u << l, (int)(15000 * slow()), NULL);
    ha_assert_msg(n >= 0, "no new leader after the kill");
    fprintf(stderr, "abort_failover: %s leads %lld ms after the kill of %s\n", G.addr[n],
            (long long)(ts_now_ms() - t_kill), G.addr[l]);

    a = connect_member(&G, n);
    it_status(a, "ab", &rep);
    const char *r2 = it_jstr(&rep, "reason");
    ha_assert_msg(it_jbool(&rep, "broken") == 1 && r2 && strcmp(r2, reason) == 0,
                  "the new leader: broken %d, reason '%s' (was '%s')", it_jbool(&rep, "broken"),
                  r2 ? r2 : "(none)", reason);
    bp_reply_free(&rep);
    /* A wait there is refused as broken, with that reason. */
    it_send_wait(a, 3, "ab", 3, 5000, "waiter-2", 0);
    it_expect_err(a, 3, BP_EBROKEN, 2000, msg, sizeof msg);
    ha_assert_msg(strstr(msg, "aborted") != NULL, "the wait's message '%s'", msg);
    it_close(a);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. SIGSTOP of the leader past its lease, then SIGCONT: it serves nothing  */
/* ------------------------------------------------------------------------ */

/* Everything c gets within ms: only notleader errors (with their request's
 * id), stats that say it is not the leader, or the connection closing.
 * Returns how many such answers came. */
static int expect_not_served(it_conn *c, int ms, const char *what)
{
    int64_t deadline = ts_now_ms() + ms;
    int n = 0;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        if (left <= 0)
            return n;
        bp_reply rep;
        int rc = it_recv_skip(c, (int)left, 0, NULL, &rep);
        if (rc == IT_EOF || rc == IT_TIMEOUT)
            return n;
        ha_assert_msg(rc == IT_LINE, "%s: unreadable answer", what);
        const char *role = rep.code == 0 ? it_jstr(&rep, "role") : NULL;
        int ok = rep.kind == BP_MSG_SHUTDOWN ||
                 (rep.kind == BP_MSG_REPLY && rep.code == BP_ENOTLEADER) ||
                 (rep.kind == BP_MSG_REPLY && role && strcmp(role, "leader") != 0);
        ha_assert_msg(ok, "%s: the stopped leader served after SIGCONT: kind %d code %d id %llu "
                          "(%s)",
                      what, (int)rep.kind, rep.code, (unsigned long long)rep.id, rep.message);
        n += rep.kind == BP_MSG_REPLY;
        bp_reply_free(&rep);
    }
}

START_TEST(sigstop_fencing)
{
    const int ttl = 2;
    if (!group_up(&G, ttl))
        return;
    int l = await_leader(&G, 0, 15000, NULL);
    ha_assert_msg(l >= 0, "no leader");
    it_conn *old = connect_member(&G, l);
    it_expect_ping(old, 1);
    it_send_wait(old, 2, "st", 2, -1, "waiter", 0); /* a party waiting when it stops */
    it_conn *adm = connect_member(&G, l);
    it_wait_n_waiting(adm, "st", 1, 5000);
    it_close(adm);

    kill(G.m[l].pid, SIGSTOP);
    int64_t t_stop = ts_now_ms();
    int n = await_leader(&G, 1u << l, (int)(20000 * slow()), NULL);
    ha_assert_msg(n >= 0, "no other member leads while %s is stopped", G.addr[l]);
    int64_t t_new = ts_now_ms();
    ts_sleep_ms(300); /* well past its lease now */

    /* Requests that reach it while it is stopped (the kernel queues them) and
     * right after it continues. */
    bp_request r;
    it_req_init(&r, BP_OP_STATS, 3);
    it_send_req(old, &r);
    it_send_wait(old, 4, "st", 2, -1, "late", 0); /* would release "st" if served */
    it_conn *queued = it_connect_tcp("127.0.0.1", port_of(G.addr[l]), 0);
    ha_assert_msg(queued != NULL, "connect to the stopped leader (backlog): %s", strerror(errno));
    it_send_wait(queued, 5, "st", 2, -1, "late-2", 0);
    it_send_op(queued, BP_OP_STATS, 6, NULL);

    kill(G.m[l].pid, SIGCONT);
    int64_t t_cont = ts_now_ms();
    it_conn *fresh = it_connect_tcp("127.0.0.1", port_of(G.addr[l]), 0);
    ha_assert_msg(fresh != NULL, "connect after SIGCONT: %s", strerror(errno));
    it_send_op(fresh, BP_OP_STATS, 7, NULL);
    it_send_wait(fresh, 8, "st", 2, -1, "late-3", 0);

    int n_old = expect_not_served(old, 3000, "a connection made before the stop");
    int n_queued = expect_not_served(queued, 3000, "a connection queued while stopped");
    int n_fresh = expect_not_served(fresh, 3000, "a connection made right after SIGCONT");
    fprintf(stderr,
            "sigstop_fencing: stopped %s; %s led %lld ms later; after SIGCONT the old "
            "connection got %d notleader, the queued one %d, the fresh one %d (the rest closed)\n",
            G.addr[l], G.addr[n], (long long)(t_new - t_stop), n_old, n_queued, n_fresh);
    (void)t_cont;
    it_close(old);
    it_close(queued);
    it_close(fresh);
    ha_assert_msg(ts_server_log_contains(&G.m[l], "stop leading"),
                  "the stopped leader never said it stopped leading");

    /* The other still leads, and the old one becomes a standby naming it. */
    int again = await_leader(&G, 0, (int)(10000 * slow()), NULL);
    ha_assert_msg(again == n, "after SIGCONT the leader is %d, not %d", again, n);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 5. a party killed with the leader is named after the resume window        */
/* ------------------------------------------------------------------------ */

START_TEST(party_lost_failover)
{
    const int ttl = 2;
    if (!group_up(&G, ttl))
        return;
    int l = await_leader(&G, 0, 15000, NULL);
    ha_assert_msg(l >= 0, "no leader");
    /* Three of four parties wait, each its own process and client name. */
    static const int threads[] = {1, 1, 1};
    party_set ps;
    parties_init(&ps, G.list, "lost", 4, 1, threads, 3);
    snprintf(ps.sh->client[0], sizeof ps.sh->client[0], "party-A");
    snprintf(ps.sh->client[1], sizeof ps.sh->client[1], "party-B");
    snprintf(ps.sh->client[2], sizeof ps.sh->client[2], "party-C-lost");
    parties_start(&ps);
    char why[4096];
    int64_t deadline = ts_now_ms() + 10000;
    while (!await_mirror(&G, "lost", 0, 3, 100)) {
        if (parties_failed(&ps) >= 0) {
            parties_describe_failure(&ps, why, sizeof why);
            ha_assert_msg(0, "a party failed before the kill: %s", why);
        }
        ha_assert_msg(ts_now_ms() < deadline, "the mirror never listed 3 waiters on 'lost'");
    }
    /* Leader and party C die together. */
    kill(ps.pid[2], SIGKILL);
    ts_server_kill9(&G.m[l]);
    int64_t t_kill = ts_now_ms();
    ts_reap(ps.pid[2], 5000);
    ps.pid[2] = 0;
    int n = await_leader(&G, 1u << l, (int)(15000 * slow()), NULL);
    ha_assert_msg(n >= 0, "no new leader");
    int64_t t_lead = ts_now_ms();

    /* A and B come back to the new leader and are broken once the resume
     * window (2 x ttl) is over, naming C. */
    double bound_s = (ttl + 2) + 2 * ttl + 3;
    deadline = t_kill + (int64_t)(bound_s * 1000 * (slow() > 1 ? 2 : 1));
    while (!(atomic_load(&ps.sh->failed[0]) && atomic_load(&ps.sh->failed[1]))) {
        ha_assert_msg(ts_now_ms() < deadline,
                      "A and B not broken %.1f s after the kill (A failed %d, B failed %d)",
                      bound_s, atomic_load(&ps.sh->failed[0]), atomic_load(&ps.sh->failed[1]));
        ts_sleep_ms(20);
    }
    double t_a = (double)ps.sh->r[0][0].t_ns / 1e9 - (double)t_kill / 1e3;
    double t_b = (double)ps.sh->r[1][0].t_ns / 1e9 - (double)t_kill / 1e3;
    fprintf(stderr,
            "party_lost_failover: new leader %s after %lld ms; A broken after %.2f s: %s (%s); "
            "B after %.2f s: %s\n",
            G.addr[n], (long long)(t_lead - t_kill), t_a, bc_error_name(ps.sh->fail_rc[0]),
            ps.sh->fail_msg[0], t_b, ps.sh->fail_msg[1]);
    for (int p = 0; p < 2; p++) {
        ha_assert_msg(ps.sh->fail_rc[p] == BC_EBROKEN, "party %c: %s (%s), not broken", 'A' + p,
                      bc_error_name(ps.sh->fail_rc[p]), ps.sh->fail_msg[p]);
        ha_assert_msg(strstr(ps.sh->fail_msg[p], "party-C-lost") &&
                          strstr(ps.sh->fail_msg[p], "did not come back"),
                      "party %c's message does not name party-C-lost: %s", 'A' + p,
                      ps.sh->fail_msg[p]);
    }
    /* Not before the resume window: A and B were waiting on the new leader meanwhile. */
    double t_first = t_a < t_b ? t_a : t_b;
    ha_assert_msg(t_first >= 2 * ttl - 0.2 + (double)(t_lead - t_kill) / 1e3 - 1.0,
                  "broken %.2f s after the kill: before the resume window (2 x %d s) was over",
                  t_first, ttl);
    /* The new leader says so too, and names only C as lost ("party lost (...)";
     * A and B are among those who arrived, after it). */
    it_conn *a = connect_member(&G, n);
    bp_reply rep;
    it_status(a, "lost", &rep);
    const char *reason = it_jstr(&rep, "reason");
    char lost[512] = "";
    if (reason && strncmp(reason, "party lost (", 12) == 0)
        snprintf(lost, sizeof lost, "%.*s", (int)strcspn(reason, ")"), reason);
    ha_assert_msg(it_jbool(&rep, "broken") == 1 && strstr(lost, "party-C-lost") &&
                      !strstr(lost, "party-A") && !strstr(lost, "party-B"),
                  "status on the new leader: broken %d, reason '%s'", it_jbool(&rep, "broken"),
                  reason ? reason : "");
    bp_reply_free(&rep);
    it_close(a);
    parties_free(&ps);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 6. etcd restarted while the leader serves                                 */
/* ------------------------------------------------------------------------ */

START_TEST(etcd_restart)
{
    const int ttl = 4;
    if (!group_up(&G, ttl))
        return;
    int l = await_leader(&G, 0, 15000, NULL);
    ha_assert_msg(l >= 0, "no leader");
    /* Four parties, paced (10 ms a round), until told to stop. */
    static const int threads[] = {2, 2};
    party_set ps;
    parties_init(&ps, G.list, "steady", 4, MAX_ROUNDS, threads, 2);
    ps.sh->pace_ms = 10;
    ps.sh->timeout_s = 30;
    parties_start(&ps);
    char why[4096];
    int64_t deadline = ts_now_ms() + 10000;
    while (parties_min_progress(&ps) < 20) {
        if (parties_failed(&ps) >= 0) {
            ts_sleep_ms(200);
            parties_describe_failure(&ps, why, sizeof why);
            ha_assert_msg(0, "a party failed before etcd's restart: %s", why);
        }
        ha_assert_msg(ts_now_ms() < deadline, "the rounds do not start");
        ts_sleep_ms(10);
    }
    int before = parties_min_progress(&ps);
    int64_t t0 = ts_now_ms();
    int st = ts_etcd_stop(&G.etcd, 5000);
    int64_t t_down = ts_now_ms();
    ha_assert_msg(st != -1, "etcd did not stop on SIGTERM");
    ha_assert_msg(ts_etcd_launch(&G.etcd) == 0, "etcd did not start again");
    ha_assert_msg(ts_etcd_await(&G.etcd, (int)(15000 * slow())) == 0, "etcd did not answer again");
    int64_t t_up = ts_now_ms();
    int during = parties_min_progress(&ps);
    fprintf(stderr,
            "etcd_restart: etcd stopped in %lld ms, answering again %lld ms later (%lld ms in "
            "all, ttl %d s); rounds %d -> %d meanwhile\n",
            (long long)(t_down - t0), (long long)(t_up - t_down), (long long)(t_up - t0), ttl,
            before, during);

    /* Service goes on past two leases. */
    int64_t until = ts_now_ms() + 2 * ttl * 1000;
    while (ts_now_ms() < until) {
        if (parties_failed(&ps) >= 0) {
            ts_sleep_ms(200);
            parties_describe_failure(&ps, why, sizeof why);
            parties_diagnose(&ps);
            ha_assert_msg(0, "a party saw an error across etcd's restart: %s", why);
        }
        ha_assert_msg(parties_min_progress(&ps) < MAX_ROUNDS - 50, "out of rounds");
        ts_sleep_ms(20);
    }
    int l2 = await_leader(&G, 0, 10000, NULL);
    ha_assert_msg(l2 >= 0, "no single leader after etcd's restart");
    int after = parties_min_progress(&ps);
    ha_assert_msg(after > during + 10, "rounds stalled after etcd came back: %d -> %d", during,
                  after);
    /* Stop them at a common round a little ahead, and check every round. */
    int stop = parties_max_progress(&ps) + 5;
    atomic_store(&ps.sh->stop_at, stop);
    deadline = ts_now_ms() + 10000;
    while (parties_min_progress(&ps) < stop && parties_failed(&ps) < 0 && ts_now_ms() < deadline)
        ts_sleep_ms(10);
    parties_describe_failure(&ps, why, sizeof why);
    ha_assert_msg(parties_failed(&ps) < 0, "a party failed: %s", why);
    ha_assert_msg(parties_min_progress(&ps) >= stop, "the parties did not reach round %d", stop);
    parties_reap(&ps, 10000);
    double top[3];
    int top_round[3], skipped;
    int dups;
    double worst = check_rounds(&ps, stop, top, top_round, &skipped, NULL, 0, &dups);
    fprintf(stderr,
            "etcd_restart: %d rounds, leader %s before and %s after; longest gap %.3f s "
            "(round %d); generations skipped %d; %s fenced\n",
            stop, G.addr[l], G.addr[l2], worst, top_round[0], skipped,
            ts_server_log_contains(&G.m[l], "stop leading") ? "the leader" : "nobody");
    ha_assert_msg(worst <= ttl + 2.0 + (ts_asan() ? ttl : 0), "a gap of %.3f s between releases",
                  worst);
    parties_free(&ps);
    group_down(&G);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 7. A rendezvous member list survives a failover (the mirror records it)   */
/* ------------------------------------------------------------------------ */

START_TEST(members_failover)
{
    if (!group_up(&G, 2))
        return;
    int l = await_leader(&G, 0, 15000, NULL);
    ha_assert_msg(l >= 0, "no leader");
    it_conn *w = connect_member(&G, l);
    it_sendf(w, "{\"op\":\"wait\",\"id\":1,\"barrier\":\"mf\",\"members\":[\"t1\",\"t2\",\"t3\"],"
                "\"member\":\"t1\"}");
    ha_assert_msg(await_mirror(&G, "mf", 0, 1, 5000), "the wait never reached etcd's mirror");
    cJSON *rec = mirror_get(&G, "mf");
    ha_assert_msg(rec && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "members")) == 3,
                  "the mirror record has no member list");
    cJSON_Delete(rec);
    ts_server_kill9(&G.m[l]);
    it_close(w);
    int n = await_leader(&G, 1u << l, (int)(15000 * slow()), NULL);
    ha_assert_msg(n >= 0, "no new leader after the kill");
    /* The new leader knows the list before any member comes back. */
    it_conn *a = connect_member(&G, n);
    bp_reply rep;
    it_status(a, "mf", &rep);
    const cJSON *members = it_jget(&rep, "members"), *missing = it_jget(&rep, "missing");
    ha_assert_msg(cJSON_GetArraySize(members) == 3 && cJSON_GetArraySize(missing) == 3,
                  "the new leader lost the member list");
    bp_reply_free(&rep);
    it_sendf(a, "{\"op\":\"wait\",\"id\":2,\"barrier\":\"mf\",\"parties\":3,\"member\":\"t9\"}");
    char msg[256];
    it_expect_err(a, 2, BP_EMEMBER, 2000, msg, sizeof msg);
    ha_assert_msg(strstr(msg, "not a member") != NULL, "the outsider's message '%s'", msg);
    it_close(a);
    group_down(&G);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"one_leader", one_leader, 0},
        {"kill9_rounds", kill9_rounds, 0},
        {"abort_failover", abort_failover, 0},
        {"sigstop_fencing", sigstop_fencing, 0},
        {"party_lost_failover", party_lost_failover, 0},
        {"etcd_restart", etcd_restart, 0},
        {"members_failover", members_failover, 0},
    };
    const ts_suite s = {.name = "ha", .cases = cases, .n = TS_NCASES(cases), .timeout_s = 120};
    return ts_run(&s);
}
