/* ts_launch.c - see ts_launch.h. */
#include "ts_launch.h"

#include "ts_clock.h"
#include "ts_file.h"
#include "ts_fork.h"
#include "ts_slow.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TS_LOG_SHOWN (64 * 1024) /* the tail of a long log is what matters */

/* ---- the servers of this process, for ts_servers_fail ---- */

static ts_server *live[16];

static void forget(ts_server *s)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (live[i] == s)
            live[i] = NULL;
    s->registered = 0;
}

static void remember(ts_server *s)
{
    for (size_t i = 0; !s->registered && i < sizeof live / sizeof live[0]; i++)
        if (!live[i]) {
            live[i] = s;
            s->registered = 1;
        }
}

void ts_servers_fail(void)
{
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        ts_server *s = live[i];
        if (!s || s->owner != getpid())
            continue;
        live[i] = NULL;
        s->registered = 0;
        if (s->pid > 0)
            s->status = ts_server_kill9(s);
        ts_server_dump_log(s);
    }
}

/* A crash of the test process itself: show the logs too (best effort: not
 * async-signal-safe, but the process is going down anyway), then die of the
 * same signal so Check reports it. */
static void on_crash(int sig)
{
    ts_servers_fail();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_crashes(void)
{
    static int done;
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_crash;
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- paths ---- */

static const char *env_path(const char *var)
{
    const char *p = getenv(var);
    return p && *p ? p : NULL;
}

const char *ts_barrierd_path(void)
{
    return env_path("BARRIERD");
}

const char *ts_barrierd_default(void)
{
    const char *p = ts_barrierd_path();
    if (p)
        return p;
    p = ts_sibling_path("../../server/barrierd"); /* build/tests/X/prog -> build/server/ */
    if (!p || access(p, X_OK) != 0)
        return NULL;
    setenv("BARRIERD", p, 1);
    return ts_barrierd_path();
}

const char *ts_barrierctl_path(void)
{
    return env_path("BARRIERCTL");
}

static const char *name_of(const ts_server *s)
{
    return s->name ? s->name : "barrierd";
}

int ts_server_prepare(ts_server *s)
{
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/ts-XXXXXX");
        if (!mkdtemp(s->dir)) {
            fprintf(stderr, "ts: mkdtemp: %s\n", strerror(errno));
            s->dir[0] = '\0';
            return -1;
        }
    }
    snprintf(s->log_path, sizeof s->log_path, "%s/log", s->dir);
    snprintf(s->ready_path, sizeof s->ready_path, "%s/ready", s->dir);
    return 0;
}

/* ---- the log ---- */

void ts_server_dump_log(const ts_server *s)
{
    ts_dump_log_tail(name_of(s), s->log_path, TS_LOG_SHOWN);
}

int ts_server_log_contains(const ts_server *s, const char *needle)
{
    char *log = ts_slurp(s->log_path, NULL);
    int found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

/* ---- addresses ---- */

const char *ts_server_addr(const ts_server *s, const char *prefix)
{
    for (int i = 0; i < s->n_addrs; i++)
        if (strncmp(s->addrs[i], prefix, strlen(prefix)) == 0)
            return s->addrs[i];
    return NULL;
}

static int port_of(const char *addr)
{
    if (!addr || strncmp(addr, "unix:", 5) == 0)
        return 0;
    const char *colon = strrchr(addr, ':');
    return colon ? atoi(colon + 1) : 0;
}

int ts_server_port(const ts_server *s, const char *prefix)
{
    return port_of(ts_server_addr(s, prefix));
}

/* The ready file, once it is there: 1 with s->addrs filled, else 0. */
static int read_ready(ts_server *s)
{
    char *text = ts_slurp(s->ready_path, NULL);
    if (!text)
        return 0;
    s->n_addrs = 0;
    for (char *line = strtok(text, "\r\n"); line && s->n_addrs < TS_MAX_ADDRS;
         line = strtok(NULL, "\r\n"))
        snprintf(s->addrs[s->n_addrs++], sizeof s->addrs[0], "%s", line);
    free(text);
    const char *main_addr = ts_server_addr(s, "127.0.0.1:");
    if (!main_addr && s->n_addrs)
        main_addr = s->addrs[0];
    snprintf(s->addr, sizeof s->addr, "%s", main_addr ? main_addr : "");
    s->port = port_of(main_addr);
    return 1;
}

/* ---- processes ---- */

/* BIN --listen LISTEN --ready-file DIR/ready EXTRA..., into argv[cap]. */
static void build_argv(const ts_server *s, const char *bin, const char **argv)
{
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = s->listen[0] ? s->listen : "127.0.0.1:0";
    argv[n++] = "--ready-file";
    argv[n++] = s->ready_path;
    for (int i = 0; i < s->n_args; i++)
        argv[n++] = s->argbuf + s->arg_off[i];
    argv[n] = NULL;
}

static void reaped(ts_server *s, int st)
{
    s->pid = 0;
    s->status = st;
}

/* Poll for the ready file; 0, or -1 with the reason on stderr. */
static int await_ready(ts_server *s)
{
    int bound_ms = ts_slow() > 1 ? 30000 : 10000;
    int64_t deadline = ts_now_ms() + bound_ms;
    for (;;) {
        if (read_ready(s))
            return 0;
        if (!ts_server_alive(s)) {
            int st = s->status;
            if (read_ready(s)) /* ready, then gone at once: the caller will see */
                return 0;
            fprintf(stderr, "ts: %s exited (wait status %d: %s %d) before it was ready\n",
                    name_of(s), st, WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return -1;
        }
        if (ts_now_ms() > deadline) {
            fprintf(stderr, "ts: %s did not write %s within %d ms\n", name_of(s), s->ready_path,
                    bound_ms);
            s->status = ts_server_kill9(s);
            return -1;
        }
        ts_sleep_ms(5);
    }
}

static int launch(ts_server *s, int first)
{
    const char *bin = s->bin ? s->bin : ts_barrierd_path();
    if (!bin) {
        fprintf(stderr, "ts: set BARRIERD to the barrierd executable\n");
        return -1;
    }
    if (ts_server_prepare(s) < 0)
        return -1;
    unlink(s->ready_path);
    s->n_addrs = 0;
    s->addr[0] = '\0';
    s->port = 0;
    s->status = 0;
    s->owner = getpid();
    const char *argv[TS_MAX_ARGS + 8];
    build_argv(s, bin, argv);
    /* A restart appends to the log, so it tells the whole story. */
    pid_t pid = ts_spawn_logged(argv, s->log_path, first, NULL);
    if (pid < 0)
        return -1;
    s->pid = pid;
    remember(s);
    catch_crashes();
    if (await_ready(s) < 0) {
        ts_server_dump_log(s);
        return -1;
    }
    return 0;
}

int ts_server_start(ts_server *s, const char *const *extra)
{
    if (s->registered)
        forget(s);
    size_t used = 0;
    s->n_args = 0;
    for (; extra && *extra; extra++) {
        size_t len = strlen(*extra) + 1;
        if (s->n_args == TS_MAX_ARGS || len > sizeof s->argbuf - used) {
            fprintf(stderr, "ts: too many arguments for %s\n", name_of(s));
            return -1;
        }
        memcpy(s->argbuf + used, *extra, len);
        s->arg_off[s->n_args++] = (int)used;
        used += len;
    }
    return launch(s, 1);
}

int ts_server_restart(ts_server *s)
{
    if (s->pid > 0)
        ts_server_stop(s, 10000, NULL);
    if (s->port > 0 && (!s->listen[0] || port_of(s->listen) == 0))
        snprintf(s->listen, sizeof s->listen, "%s", s->addr);
    return launch(s, 0);
}

int ts_server_wait(ts_server *s, int timeout_ms)
{
    if (s->pid <= 0)
        return s->status;
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        if (!ts_server_alive(s))
            return s->status;
        if (ts_now_ms() > deadline)
            return -1;
        ts_sleep_ms(5);
    }
}

int ts_server_kill9(ts_server *s)
{
    if (s->pid <= 0)
        return s->status;
    int st = 0;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    reaped(s, st);
    return st;
}

int ts_server_alive(ts_server *s)
{
    if (s->pid <= 0)
        return 0;
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
        reaped(s, st);
        return 0;
    }
    return 1;
}

int ts_server_stop(ts_server *s, int timeout_ms, int64_t *elapsed_ms)
{
    if (s->pid <= 0)
        return s->status;
    int64_t t0 = ts_now_ms();
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGTERM);
    int st = ts_server_wait(s, timeout_ms);
    if (st == -1) {
        fprintf(stderr, "ts: %s (pid %d) still running %d ms after SIGTERM: SIGKILL\n",
                name_of(s), (int)s->pid, timeout_ms);
        ts_server_kill9(s);
    }
    if (elapsed_ms)
        *elapsed_ms = ts_now_ms() - t0;
    return st;
}

int ts_server_cleanup(ts_server *s)
{
    int st = s->pid > 0 ? ts_server_stop(s, 10000, NULL) : s->status;
    forget(s);
    if (s->dir[0] && !s->keep_dir)
        ts_remove_dir(s->dir);
    if (!s->keep_dir)
        s->dir[0] = '\0';
    return st;
}
