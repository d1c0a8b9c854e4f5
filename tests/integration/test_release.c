/* test_release.c - N parties from several processes and threads are released
 * together with distinct indexes, and a barrier is reused cyclically. */
#include "itest_fixture.h"
#include "ts_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- 8 processes ---- */

#define NPROC 8

typedef struct proc_result {
    int rc;           /* 0, or what went wrong (an IT_* code or a BP_E* code) */
    unsigned index;
    uint64_t generation;
    int slot;
} proc_result;

typedef struct proc_arg {
    int port;
    int slot;
    int out_fd; /* write end of the results pipe */
} proc_arg;

static int party_proc(void *p)
{
    proc_arg *a = p;
    proc_result res = {0, 0, 0, a->slot};
    char client[32];
    snprintf(client, sizeof client, "proc%d", a->slot);
    it_conn *c = it_connect_tcp("127.0.0.1", a->port, 0);
    if (!c) {
        res.rc = -100;
    } else {
        bp_request q;
        it_req_init(&q, BP_OP_WAIT, 100 + (uint64_t)a->slot);
        strcpy(q.barrier, "procs");
        q.barrier_len = 5;
        q.parties = NPROC;
        strcpy(q.client, client);
        bp_reply r;
        int rc = it_send_req(c, &q) < 0 ? IT_EOF : it_recv_skip(c, IT_TIMEOUT_MS, 0, NULL, &r);
        if (rc != IT_LINE) {
            res.rc = -200 + rc;
        } else {
            if (r.kind != BP_MSG_REPLY || r.code != 0 || !r.has_index || !r.has_id ||
                r.id != 100 + (uint64_t)a->slot)
                res.rc = r.code ? r.code : -300;
            res.index = r.index;
            res.generation = r.generation;
            bp_reply_free(&r);
        }
        it_close(c);
    }
    ssize_t w = write(a->out_fd, &res, sizeof res); /* < PIPE_BUF: atomic */
    return w == (ssize_t)sizeof res ? 0 : 1;
}

START_TEST(parties_processes)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *admin = it_connect(&s);
    int fds[2];
    it_assert(pipe2(fds, O_CLOEXEC) == 0);
    pid_t pids[NPROC];
    proc_arg args[NPROC];
    /* All but the last: they must all be waiting, none released yet. */
    for (int i = 0; i < NPROC - 1; i++) {
        args[i] = (proc_arg){s.port, i, fds[1]};
        pids[i] = it_fork(party_proc, &args[i]);
    }
    it_wait_n_waiting(admin, "procs", NPROC - 1, IT_TIMEOUT_MS);
    int fl = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
    proc_result early;
    ssize_t n = read(fds[0], &early, sizeof early);
    it_assert_msg(n < 0 && errno == EAGAIN, "a party was released before the last arrived");
    fcntl(fds[0], F_SETFL, fl);

    args[NPROC - 1] = (proc_arg){s.port, NPROC - 1, fds[1]};
    pids[NPROC - 1] = it_fork(party_proc, &args[NPROC - 1]);
    close(fds[1]);

    int seen[NPROC] = {0};
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < NPROC; i++) {
        proc_result res;
        n = read(fds[0], &res, sizeof res);
        it_assert_msg(n == (ssize_t)sizeof res, "a party process reported nothing (%zd)", n);
        it_assert_msg(res.rc == 0, "party %d failed: %d", res.slot, res.rc);
        it_assert_msg(res.index < NPROC, "index %u out of range", res.index);
        it_assert_msg(!seen[res.index], "index %u given twice", res.index);
        seen[res.index] = 1;
        it_assert_msg(res.generation == 0, "party %d: generation %llu, expected 0", res.slot,
                      (unsigned long long)res.generation);
    }
    it_assert(ts_now_ms() - t0 < IT_TIMEOUT_MS);
    close(fds[0]);
    for (int i = 0; i < NPROC; i++) {
        int st = ts_reap(pids[i], 5000);
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "party %d exit status %d",
                      i, st);
    }
    bp_reply r;
    it_status(admin, "procs", &r);
    it_assert(it_jnum(&r, "generation") == 1);
    it_assert(it_jnum(&r, "n_waiting") == 0);
    it_assert(it_jbool(&r, "broken") == 0);
    bp_reply_free(&r);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

/* ---- 16 threads ---- */

#define NTHR 16

typedef struct thr_arg {
    int port;
    int slot;
    pthread_barrier_t *start;
    int rc;
    unsigned index;
    uint64_t generation;
} thr_arg;

static void *party_thread(void *p)
{
    thr_arg *a = p;
    it_conn *c = it_connect_tcp("127.0.0.1", a->port, 0);
    pthread_barrier_wait(a->start);
    if (!c) {
        a->rc = -100;
        return NULL;
    }
    char client[32];
    snprintf(client, sizeof client, "thread%d", a->slot);
    bp_request q;
    it_req_init(&q, BP_OP_WAIT, 7);
    strcpy(q.barrier, "threads");
    q.barrier_len = strlen(q.barrier);
    q.parties = NTHR;
    strcpy(q.client, client);
    bp_reply r;
    int rc = it_send_req(c, &q) < 0 ? IT_EOF : it_recv_skip(c, IT_TIMEOUT_MS, 0, NULL, &r);
    if (rc != IT_LINE) {
        a->rc = -200 + rc;
    } else {
        if (r.kind != BP_MSG_REPLY || r.code != 0 || !r.has_index || r.id != 7)
            a->rc = r.code ? r.code : -300;
        a->index = r.index;
        a->generation = r.generation;
        bp_reply_free(&r);
    }
    it_close(c);
    return NULL;
}

START_TEST(parties_threads)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHR);
    pthread_t th[NTHR];
    thr_arg args[NTHR];
    for (int i = 0; i < NTHR; i++) {
        args[i] = (thr_arg){s.port, i, &start, 0, 0, 0};
        it_assert(pthread_create(&th[i], NULL, party_thread, &args[i]) == 0);
    }
    int seen[NTHR] = {0};
    for (int i = 0; i < NTHR; i++) {
        pthread_join(th[i], NULL);
        it_assert_msg(args[i].rc == 0, "thread %d failed: %d", i, args[i].rc);
        it_assert_msg(args[i].index < NTHR && !seen[args[i].index], "thread %d: bad index %u", i,
                      args[i].index);
        seen[args[i].index] = 1;
        it_assert_msg(args[i].generation == 0, "thread %d: generation %llu", i,
                      (unsigned long long)args[i].generation);
    }
    pthread_barrier_destroy(&start);
    ts_server_down(&s);
}
END_TEST

/* ---- 200 generations from 4 threads ---- */

#define CYC_THREADS 4
#define CYC_GENS 200

typedef struct cyc_arg {
    int port;
    int slot;
    int rc;
    int failed_at;
    unsigned index[CYC_GENS];
    uint64_t gen[CYC_GENS];
} cyc_arg;

static void *cyclic_thread(void *p)
{
    cyc_arg *a = p;
    it_conn *c = it_connect_tcp("127.0.0.1", a->port, 0);
    if (!c) {
        a->rc = -100;
        return NULL;
    }
    int64_t deadline = ts_now_ms() + 30000;
    for (int g = 0; g < CYC_GENS; g++) {
        bp_request q;
        it_req_init(&q, BP_OP_WAIT, 1000 + (uint64_t)g);
        strcpy(q.barrier, "cyclic");
        q.barrier_len = strlen(q.barrier);
        q.parties = CYC_THREADS;
        snprintf(q.client, sizeof q.client, "cyc%d", a->slot);
        bp_reply r;
        int rc = it_send_req(c, &q) < 0 ? IT_EOF : it_recv_skip(c, IT_TIMEOUT_MS, 0, NULL, &r);
        if (rc != IT_LINE) {
            a->rc = -200 + rc;
            a->failed_at = g;
            break;
        }
        int bad = r.kind != BP_MSG_REPLY || r.code != 0 || !r.has_index || r.id != 1000 + (uint64_t)g;
        a->index[g] = r.index;
        a->gen[g] = r.generation;
        if (bad) {
            a->rc = r.code ? r.code : -300;
            a->failed_at = g;
        }
        bp_reply_free(&r);
        if (bad)
            break;
        if (ts_now_ms() > deadline) {
            a->rc = -400;
            a->failed_at = g;
            break;
        }
    }
    it_close(c);
    return NULL;
}

START_TEST(cyclic_200)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    static cyc_arg args[CYC_THREADS];
    pthread_t th[CYC_THREADS];
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < CYC_THREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].port = s.port;
        args[i].slot = i;
        it_assert(pthread_create(&th[i], NULL, cyclic_thread, &args[i]) == 0);
    }
    for (int i = 0; i < CYC_THREADS; i++)
        pthread_join(th[i], NULL);
    int64_t took = ts_now_ms() - t0;
    for (int i = 0; i < CYC_THREADS; i++)
        it_assert_msg(args[i].rc == 0, "thread %d failed at generation %d: %d", i,
                      args[i].failed_at, args[i].rc);
    for (int g = 0; g < CYC_GENS; g++) {
        unsigned seen = 0;
        for (int i = 0; i < CYC_THREADS; i++) {
            it_assert_msg(args[i].gen[g] == (uint64_t)g,
                          "thread %d: wait %d released generation %llu (a gap or a repeat)", i, g,
                          (unsigned long long)args[i].gen[g]);
            it_assert_msg(args[i].index[g] < CYC_THREADS, "index %u", args[i].index[g]);
            seen |= 1u << args[i].index[g];
        }
        it_assert_msg(seen == (1u << CYC_THREADS) - 1, "generation %d: indexes not distinct", g);
    }
    it_conn *admin = it_connect(&s);
    bp_reply r;
    it_status(admin, "cyclic", &r);
    it_assert(it_jnum(&r, "generation") == CYC_GENS);
    bp_reply_free(&r);
    it_assert(it_stat(admin, "releases") == CYC_GENS);
    it_assert(it_stat(admin, "waits") == CYC_GENS * CYC_THREADS);
    it_close(admin);
    fprintf(stderr, "cyclic_200: %d generations x %d threads in %lld ms\n", CYC_GENS, CYC_THREADS,
            (long long)took);
    ts_server_down(&s);
}
END_TEST

/* ---- several waits multiplexed on one connection ---- */

START_TEST(multiplexed_waits)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *m = it_connect(&s), *o = it_connect(&s);
    bp_reply r;
    /* Two waits of one connection fill a barrier of 2 between them. */
    it_send_wait(m, 1, "mx", 2, -1, "m1", 0);
    it_send_wait(m, 2, "mx", 2, -1, "m2", 0);
    unsigned seen = 0;
    for (int i = 0; i < 2; i++) {
        it_expect_reply(m, IT_TIMEOUT_MS, &r);
        it_assert(r.code == 0 && r.has_index && r.has_id && (r.id == 1 || r.id == 2));
        it_assert(r.generation == 0 && r.index < 2);
        seen |= 1u << r.index;
        bp_reply_free(&r);
    }
    it_assert(seen == 3);

    /* Waits on two barriers, released in the other order: matched by id. A
     * ping meanwhile is answered at once. */
    it_send_wait(m, 3, "my", 2, -1, "m3", 0);
    it_send_wait(m, 4, "mz", 2, -1, "m4", 0);
    it_expect_ping(m, 5);
    it_wait_n_waiting(o, "my", 1, IT_TIMEOUT_MS);
    it_wait_n_waiting(o, "mz", 1, IT_TIMEOUT_MS);
    it_send_wait(o, 6, "mz", 2, -1, "o", 0);
    it_expect_release(m, 4, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(o, 6, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_silence(m, 50);
    it_send_wait(o, 7, "my", 2, -1, "o", 0);
    it_expect_release(m, 3, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(o, 7, IT_TIMEOUT_MS, NULL, NULL);

    /* A connection with two waits on one barrier closes: the others are told once. */
    it_conn *q = it_connect(&s);
    it_send_wait(q, 8, "mq", 3, -1, "q1", 0);
    it_send_wait(q, 9, "mq", 3, -1, "q2", 0);
    it_wait_n_waiting(o, "mq", 2, IT_TIMEOUT_MS);
    it_close(q);
    int64_t deadline = ts_now_ms() + IT_TIMEOUT_MS;
    for (;;) { /* the close is noticed asynchronously */
        it_status(o, "mq", &r);
        int broken = it_jbool(&r, "broken");
        bp_reply_free(&r);
        if (broken == 1)
            break;
        it_assert_msg(ts_now_ms() < deadline, "closing a connection with two waits did not break");
        ts_sleep_ms(10);
    }
    it_expect_ping(o, 10);
    it_close(m);
    it_close(o);
    ts_server_down(&s);
}
END_TEST

/* ---- one release owes a connection several replies ---- */

/* Read k replies from c: each a release of generation gen with an id in
 * [id0, id0 + k); marks each index in seen (asserting no index twice). */
static void expect_k_releases(it_conn *c, unsigned k, uint64_t id0, uint64_t gen,
                              unsigned char *seen, unsigned n_seen)
{
    for (unsigned i = 0; i < k; i++) {
        bp_reply r;
        it_expect_reply(c, IT_TIMEOUT_MS, &r);
        it_assert_msg(r.code == 0 && r.has_index && r.has_id && r.id >= id0 && r.id < id0 + k,
                      "reply %u of %u: code %d id %llu", i, k, r.code, (unsigned long long)r.id);
        it_assert_msg(r.generation == gen, "generation %llu, expected %llu",
                      (unsigned long long)r.generation, (unsigned long long)gen);
        it_assert(r.index < n_seen && !seen[r.index]);
        seen[r.index] = 1;
        bp_reply_free(&r);
    }
}

#define SH_CONNS 4
#define SH_WAITS 5

/* Connections carrying five waits each: every wait gets its own reply (its id,
 * a distinct index) from one release, round after round; a break tells each
 * of a connection's waits. */
START_TEST(shared_connections)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *c[SH_CONNS];
    for (int i = 0; i < SH_CONNS; i++)
        c[i] = it_connect(&s);
    enum { N = SH_CONNS * SH_WAITS };
    for (uint64_t gen = 0; gen < 20; gen++) {
        for (int i = 0; i < SH_CONNS; i++)
            for (int j = 0; j < SH_WAITS; j++)
                it_send_wait(c[i], gen * 1000 + (uint64_t)i * 100 + (uint64_t)j, "sh", N, -1, "p",
                             0);
        unsigned char seen[N] = {0};
        for (int i = 0; i < SH_CONNS; i++)
            expect_k_releases(c[i], SH_WAITS, gen * 1000 + (uint64_t)i * 100, gen, seen, N);
        for (int k = 0; k < N; k++)
            it_assert(seen[k]);
    }
    /* Three waits on one connection and one on another; an abort tells all four. */
    for (uint64_t j = 0; j < 3; j++)
        it_send_wait(c[0], 5000 + j, "shb", 5, -1, "p", 0);
    it_send_wait(c[1], 5003, "shb", 5, -1, "p", 0);
    it_wait_n_waiting(c[2], "shb", 4, IT_TIMEOUT_MS);
    it_send_op(c[2], BP_OP_ABORT, 7, "shb");
    bp_reply ok;
    it_expect_ok(c[2], 7, IT_TIMEOUT_MS, &ok);
    bp_reply_free(&ok);
    for (uint64_t j = 0; j < 3; j++) {
        bp_reply r;
        it_expect_reply(c[0], IT_TIMEOUT_MS, &r);
        it_assert(r.code == BP_EBROKEN && r.has_id && r.id >= 5000 && r.id < 5003);
        bp_reply_free(&r);
    }
    it_expect_err(c[1], 5003, BP_EBROKEN, IT_TIMEOUT_MS, NULL, 0);
    for (int i = 0; i < SH_CONNS; i++)
        it_close(c[i]);
    ts_server_down(&s);
}
END_TEST

#define BK_WAITS 100
#define BK_ROUNDS 600 /* 5.7 MB of replies: more than the kernel buffers hold */

/* A connection holding every party of a barrier reads nothing for 600 rounds
 * (a small receive buffer): its replies back up in the server, which queues
 * them (the shared body referenced, never copied per reply) and delivers every
 * one, in order of generation, once the reader reads. */
START_TEST(backed_up_shared_connection)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-output", "67108864", NULL);
    it_conn *a = it_connect_tcp("127.0.0.1", s.port, 4096);
    it_assert(a);
    for (uint64_t gen = 0; gen < BK_ROUNDS; gen++)
        for (uint64_t j = 0; j < BK_WAITS; j++)
            it_send_wait(a, gen * 1000 + j, "bk", BK_WAITS, -1, "a", 0);
    it_conn *o = it_connect(&s);
    int64_t deadline = ts_now_ms() + IT_TIMEOUT_MS;
    for (;;) { /* every round released (the server has read every wait) */
        bp_reply r;
        it_status(o, "bk", &r);
        double g = it_jnum(&r, "generation");
        bp_reply_free(&r);
        if (g == BK_ROUNDS)
            break;
        it_assert_msg(ts_now_ms() < deadline, "only %g of %d rounds released", g, BK_ROUNDS);
        ts_sleep_ms(10);
    }
    for (uint64_t gen = 0; gen < BK_ROUNDS; gen++) {
        unsigned char seen[BK_WAITS] = {0};
        expect_k_releases(a, BK_WAITS, gen * 1000, gen, seen, BK_WAITS);
    }
    it_expect_ping(a, 1);
    it_close(a);
    it_close(o);
    ts_server_down(&s);
}
END_TEST

/* A release's replies go in one io_uring submission, each sent without
 * waiting. A connection that stops reading (a 4 KiB receive buffer) beside one
 * that reads: its sends come back short or refused, and the rest must be
 * queued and delivered whole and in order, each round's reply to it intact.
 * Long barrier names make ~310-byte replies, and enough rounds to pass the
 * largest send buffer the kernel grows to (net.ipv4.tcp_wmem's third field,
 * 4 MiB by default) by a quarter. */
#define UB_NAME "ub-%u-%0240u" /* ~250 bytes: a ~310-byte reply, still one slot */
#define UB_REPLY 310

static unsigned ub_rounds(void)
{
    unsigned long lo, def, max = 4194304;
    char *w = ts_slurp("/proc/sys/net/ipv4/tcp_wmem", NULL);
    if (w && sscanf(w, "%lu %lu %lu", &lo, &def, &max) != 3)
        max = 4194304;
    free(w);
    unsigned long r = max / UB_REPLY * 5 / 4;
    return r < 16000 ? 16000 : r > 90000 ? 90000 : (unsigned)r; /* under --max-barriers */
}

START_TEST(uring_backed_up_beside_a_reader)
{
    ts_server s = {0};
    const unsigned rounds = ub_rounds();
    char max_waits[32];
    snprintf(max_waits, sizeof max_waits, "%u", rounds + 16);
    ts_server_up(&s, "--log-level", "debug", "--max-output", "268435456", "--max-waits", max_waits,
                 NULL);
    it_conn *a = it_connect_tcp("127.0.0.1", s.port, 4096), *b = it_connect(&s);
    it_assert(a && b);
    char name[256];
    for (unsigned gen = 0; gen < rounds; gen++) { /* a barrier per round: a never pairs with itself */
        snprintf(name, sizeof name, UB_NAME, gen, 0u);
        it_send_wait(a, gen, name, 2, -1, "a", 0);
    }
    for (unsigned gen = 0; gen < rounds; gen++) {
        snprintf(name, sizeof name, UB_NAME, gen, 0u);
        it_send_wait(b, 100000 + gen, name, 2, -1, "b", 0);
        unsigned idx;
        uint64_t g;
        it_expect_release(b, 100000 + gen, IT_TIMEOUT_MS, &idx, &g);
        it_assert(g == 0);
    }
    for (unsigned gen = 0; gen < rounds; gen++) {
        unsigned idx;
        uint64_t g;
        it_expect_release(a, gen, IT_TIMEOUT_MS, &idx, &g);
        it_assert(g == 0 && idx <= 1);
    }
    it_expect_ping(a, 1);
    if (ts_server_log_contains(&s, "io_uring on"))
        it_assert_msg(ts_server_log_contains(&s, "the rest is queued"),
                      "the reader-less connection never backed up through io_uring");
    else
        it_assert(ts_server_log_contains(&s, "io_uring unavailable"));
    it_close(a);
    it_close(b);
    ts_server_down(&s);
}
END_TEST

/* --no-io-uring: the same releases, each connection written on its own. */
START_TEST(plain_writes_without_uring)
{
    ts_server s = {0};
    ts_server_up(&s, "--no-io-uring", NULL);
    enum { N = 24, ROUNDS = 40 };
    it_conn *c[N];
    for (int i = 0; i < N; i++)
        c[i] = it_connect(&s);
    for (uint64_t gen = 0; gen < ROUNDS; gen++) {
        for (int i = 0; i < N; i++)
            it_send_wait(c[i], gen * 100 + (uint64_t)i, "pw", N, -1, "p", 0);
        unsigned char seen[N] = {0};
        for (int i = 0; i < N; i++) {
            unsigned idx;
            uint64_t g;
            it_expect_release(c[i], gen * 100 + (uint64_t)i, IT_TIMEOUT_MS, &idx, &g);
            it_assert(g == gen && idx < N && !seen[idx]);
            seen[idx] = 1;
        }
    }
    it_assert(ts_server_log_contains(&s, "io_uring off"));
    for (int i = 0; i < N; i++)
        it_close(c[i]);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"parties_processes", parties_processes, 0},
        {"parties_threads", parties_threads, 0},
        {"cyclic_200", cyclic_200, 0},
        {"multiplexed_waits", multiplexed_waits, 0},
        {"shared_connections", shared_connections, 0},
        {"backed_up_shared_connection", backed_up_shared_connection, 0},
        {"uring_backed_up_beside_a_reader", uring_backed_up_beside_a_reader, 0},
        {"plain_writes_without_uring", plain_writes_without_uring, 0},
    };
    return ts_run_cases("release", cases, TS_NCASES(cases));
}
