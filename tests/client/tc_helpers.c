/* tc_helpers.c - see tc_helpers.h. */
#include "tc_helpers.h"

#include "ts_check.h"
#include "ts_clock.h"
#include "ts_file.h"
#include "ts_fork.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *waiter_main(void *arg)
{
    tc_waiter *w = arg;
    double t0 = ts_now_s();
    w->rc = bc_wait(w->c, w->name, w->parties, w->timeout_s, w->action, w->action_arg, &w->res);
    w->elapsed_s = ts_now_s() - t0;
    snprintf(w->msg, sizeof w->msg, "%s", w->rc < 0 ? bc_last_error_message() : "");
    return NULL;
}

void tc_waiter_start(tc_waiter *w)
{
    ck_assert_int_eq(pthread_create(&w->thread, NULL, waiter_main, w), 0);
    w->started = 1;
}

void tc_waiter_join(tc_waiter *w)
{
    if (w->started) pthread_join(w->thread, NULL);
    w->started = 0;
}

void tc_server_up(ts_server *s, const char *const *extra)
{
    const char *args[TS_MAX_ARGS + 1] = {"--heartbeat", "0.2"};
    size_t n = 2;
    for (; extra && *extra; extra++) {
        ck_assert_msg(n < TS_MAX_ARGS, "too many barrierd arguments");
        args[n++] = *extra;
    }
    args[n] = NULL;
    ts_server_upv(s, args);
}

int tc_await_waiting(const char *addr, const char *name, unsigned n, double timeout_s)
{
    bc_client *c = NULL;
    if (bc_connect(addr, NULL, &c) != BC_OK)
        return 0;
    int ok = 0;
    for (double end = ts_now_s() + timeout_s; !ok && ts_now_s() < end;) {
        bc_status st;
        int rc = bc_status_get(c, name, &st);
        ok = (rc == BC_OK && st.n_waiting == n) || (rc == BC_ENOTFOUND && n == 0);
        if (!ok)
            ts_sleep_s(0.005);
    }
    bc_close(c);
    return ok;
}

bc_client *tc_connect(const char *addr)
{
    bc_client *c = NULL;
    int rc = bc_connect(addr, NULL, &c);
    ck_assert_msg(rc == 0, "connect %s: %s (%s)", addr, bc_strerror(rc), bc_last_error_message());
    return c;
}

/* ---- barrierctl runs ---- */

void tc_ctl_start(tc_ctl *r, int drop_token, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, drop_token);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    tc_ctl_startv(r, drop_token, args);
}

void tc_ctl_startv(tc_ctl *r, int drop_token, const char *const *args)
{
    const char *argv[32] = {"barrierctl"};
    int n = 1;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    const char *bin = ts_barrierctl_path();
    ck_assert_msg(bin != NULL, "set BARRIERCTL to the barrierctl executable");
    memset(r, 0, sizeof *r);
    snprintf(r->out_path, sizeof r->out_path, "/tmp/tc-ctl-out-XXXXXX");
    snprintf(r->err_path, sizeof r->err_path, "/tmp/tc-ctl-err-XXXXXX");
    int out = mkstemp(r->out_path), err = mkstemp(r->err_path);
    ck_assert_msg(out >= 0 && err >= 0, "mkstemp: %s", strerror(errno));
    r->pid = ts_fork();
    ck_assert_msg(r->pid >= 0, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        if (drop_token)
            unsetenv("BARRIERD_TOKEN");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out);
    close(err);
}

/* The captured output, then the file is gone. */
static void take_output(char *path, char *buf, size_t cap)
{
    ts_read_small(path, buf, cap);
    unlink(path);
}

int tc_ctl_finish(tc_ctl *r, double limit_s)
{
    int st = ts_reap(r->pid, (int)(limit_s * 1000));
    r->status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    take_output(r->out_path, r->out, sizeof r->out);
    take_output(r->err_path, r->err, sizeof r->err);
    return r->status;
}
