/* faults_common.c - see faults_common.h. */
#include "faults_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- parties ---- */

static int hang_action(void *arg)
{
    int fd = *(int *)arg;
    if (write(fd, "A", 1) != 1) {
    }
    for (int i = 0; i < 600; i++) /* bounded: 60 s, the test kills us long before */
        ts_sleep_s(0.1);
    return 0;
}

static int exit_action(void *arg)
{
    (void)arg;
    _exit(42);
}

static void party_main(const fx_party_spec *sp, int wfd, int nfd)
{
    fx_result r;
    memset(&r, 0, sizeof r);
    if (sp->netns) {
        int fd = open(sp->netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
            r.connected = BC_EINVAL;
            snprintf(r.msg, sizeof r.msg, "setns %s: %s", sp->netns, strerror(errno));
            if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r) {
            }
            _exit(3);
        }
        close(fd);
    }
    bc_options o = {0};
    o.client_name = sp->client_name;
    o.auth_token = sp->token;
    o.io_grace_s = sp->io_grace_s;
    o.connect_timeout_s = 10;
    /* Resuming off: a fault test sees a lost server (server_kill9_latency) or
     * a lost path as it happens, BC_ECONN at once, not after resume_s. */
    o.resume_s = -1;
    bc_client *c = NULL;
    r.connected = bc_connect(sp->addr, &o, &c);
    if (r.connected != BC_OK) {
        snprintf(r.msg, sizeof r.msg, "%s", bc_last_error_message());
        if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r) {
        }
        _exit(2);
    }
    bc_action_fn fn = NULL;
    void *arg = NULL;
    if (sp->action == FX_ACTION_EXIT)
        fn = exit_action;
    else if (sp->action == FX_ACTION_HANG) {
        fn = hang_action;
        arg = &nfd;
    }
    bc_wait_result res = {0};
    r.rc = bc_wait(c, sp->barrier, sp->parties, sp->timeout_s, fn, arg, &res);
    r.t_return = ts_now_s();
    r.index = res.index;
    r.generation = res.generation;
    if (r.rc != BC_OK)
        snprintf(r.msg, sizeof r.msg, "%s", bc_last_error_message());
    if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r) {
    }
    bc_close(c);
    _exit(0);
}

void fx_party_start(fx_party *p, const fx_party_spec *spec)
{
    int fds[2], nfds[2] = {-1, -1};
    memset(p, 0, sizeof *p);
    p->notify = -1;
    it_assert(pipe2(fds, O_CLOEXEC) == 0);
    if (spec->action == FX_ACTION_HANG)
        it_assert(pipe2(nfds, O_CLOEXEC) == 0);
    pid_t pid = ts_fork();
    it_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        if (nfds[0] >= 0)
            close(nfds[0]);
        party_main(spec, fds[1], nfds[1]);
        _exit(1);
    }
    close(fds[1]);
    if (nfds[1] >= 0)
        close(nfds[1]);
    p->pid = pid;
    p->rfd = fds[0];
    p->notify = nfds[0];
}

static int read_within(int fd, void *buf, size_t len, double timeout_s)
{
    size_t got = 0;
    double end = ts_now_s() + timeout_s;
    while (got < len) {
        double left = end - ts_now_s();
        if (left < 0)
            return 0;
        struct pollfd pf = {fd, POLLIN, 0};
        int n = poll(&pf, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

int fx_party_result(fx_party *p, double timeout_s, fx_result *out)
{
    memset(out, 0, sizeof *out);
    return read_within(p->rfd, out, sizeof *out, timeout_s);
}

int fx_party_in_action(fx_party *p, double timeout_s)
{
    char c = 0;
    return p->notify >= 0 && read_within(p->notify, &c, 1, timeout_s) && c == 'A';
}

int fx_party_reap(fx_party *p, double timeout_s)
{
    if (p->reaped)
        return p->status;
    if (p->pid <= 0)
        return -1;
    double end = ts_now_s() + timeout_s;
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->reaped = 1;
            p->status = st;
            break;
        }
        if (r < 0 || ts_now_s() > end)
            return -1;
        ts_sleep_s(0.002);
    }
    if (p->rfd >= 0)
        close(p->rfd);
    if (p->notify >= 0)
        close(p->notify);
    p->rfd = p->notify = -1;
    return p->status;
}

void fx_party_kill(fx_party *p)
{
    if (p->pid <= 0 || p->reaped)
        return;
    kill(p->pid, SIGKILL);
    kill(p->pid, SIGCONT);
    if (fx_party_reap(p, 10) < 0)
        fprintf(stderr, "faults: party %ld did not die\n", (long)p->pid);
}

/* ---- background barrier ---- */

struct fx_bg_shared {
    atomic_int stop;
    atomic_int rc;              /* 0, or the first failing code */
    atomic_uint_fast64_t gens;  /* generations completed (by thread 0) */
    atomic_uint_fast64_t max_gap_us;
    char msg[512];
    char addr[64];
    char name[64];
};

typedef struct bg_thread {
    fx_bg_shared *sh;
    int which;
} bg_thread;

static void *bg_thread_main(void *arg)
{
    bg_thread *t = arg;
    fx_bg_shared *sh = t->sh;
    bc_options o = {0};
    o.client_name = t->which ? "bg-1" : "bg-0";
    o.resume_s = -1; /* a connection lost while the server lives is a fault to report, not hide */
    bc_client *c = NULL;
    int rc = bc_connect(sh->addr, &o, &c);
    if (rc != BC_OK) {
        int z = 0;
        if (atomic_compare_exchange_strong(&sh->rc, &z, rc))
            snprintf(sh->msg, sizeof sh->msg, "connect: %s", bc_last_error_message());
        return NULL;
    }
    double last = ts_now_s(), end = last + 170;
    for (uint64_t g = 0; g < 100000000 && ts_now_s() < end; g++) {
        bc_wait_result res;
        rc = bc_wait(c, sh->name, 2, 30, NULL, NULL, &res);
        if (atomic_load(&sh->stop)) /* the partner may have left: whatever happened is fine */
            break;
        if (rc != BC_OK || res.generation != g) {
            int z = 0;
            if (atomic_compare_exchange_strong(&sh->rc, &z, rc ? rc : -1000))
                snprintf(sh->msg, sizeof sh->msg, "generation %llu: %s (got generation %llu): %s",
                         (unsigned long long)g, bc_strerror(rc), (unsigned long long)res.generation,
                         rc ? bc_last_error_message() : "out of order");
            break;
        }
        double now = ts_now_s();
        if (t->which == 0) {
            uint64_t gap = (uint64_t)((now - last) * 1e6);
            if (gap > atomic_load(&sh->max_gap_us))
                atomic_store(&sh->max_gap_us, gap);
            atomic_store(&sh->gens, g + 1);
        }
        last = now;
    }
    bc_close(c);
    return NULL;
}

void fx_bg_start(fx_bg *bg, const char *addr, const char *name)
{
    fx_bg_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
    it_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    snprintf(sh->addr, sizeof sh->addr, "%s", addr);
    snprintf(sh->name, sizeof sh->name, "%s", name);
    bg->sh = sh;
    pid_t pid = ts_fork();
    it_assert(pid >= 0);
    if (pid == 0) {
        pthread_t th[2];
        bg_thread t[2] = {{sh, 0}, {sh, 1}};
        for (int i = 0; i < 2; i++)
            if (pthread_create(&th[i], NULL, bg_thread_main, &t[i]) != 0)
                _exit(3);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        _exit(0);
    }
    bg->pid = pid;
}

uint64_t fx_bg_generations(const fx_bg *bg)
{
    return atomic_load(&bg->sh->gens);
}

void fx_bg_check(fx_bg *bg, uint64_t min_generations, double max_gap_s, const char *what)
{
    fx_bg_shared *sh = bg->sh;
    /* On a loaded machine the test's own work may end first: give the barrier
     * a bounded moment to show that it still works. */
    for (double end = ts_now_s() + 10 * ts_slow();
         atomic_load(&sh->gens) < min_generations && atomic_load(&sh->rc) == 0 && ts_now_s() < end;)
        ts_sleep_s(0.005);
    uint64_t gens = atomic_load(&sh->gens);
    double gap = (double)atomic_load(&sh->max_gap_us) / 1e6;
    int rc = atomic_load(&sh->rc);
    char msg[sizeof sh->msg];
    memcpy(msg, sh->msg, sizeof msg);
    atomic_store(&sh->stop, 1);
    kill(bg->pid, SIGKILL); /* its threads may be blocked in bc_wait */
    waitpid(bg->pid, NULL, 0);
    munmap(sh, sizeof *sh);
    bg->sh = NULL;
    fprintf(stderr, "%s: background barrier: %llu generations, longest gap %.3f s\n", what,
            (unsigned long long)gens, gap);
    it_assert_msg(rc == 0, "%s: background barrier failed: %s", what, msg);
    it_assert_msg(gens >= min_generations, "%s: background barrier: only %llu generations", what,
                  (unsigned long long)gens);
    it_assert_msg(gap <= max_gap_s, "%s: background barrier stalled %.3f s (bound %.3f s)", what,
                  gap, max_gap_s);
}
