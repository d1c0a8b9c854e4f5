/* tc_helpers.c - see tc_helpers.h. */
#include "tc_helpers.h"

#include "bd_fixture.h"

#include <check.h>
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
    double t0 = bd_now();
    w->rc = bc_wait(w->c, w->name, w->parties, w->timeout_s, w->action, w->action_arg, &w->res);
    w->elapsed_s = bd_now() - t0;
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

int tc_await_waiting(const char *addr, const char *name, unsigned n, double timeout_s)
{
    bc_client *c = tc_connect(addr);
    int ok = 0;
    for (double end = bd_now() + timeout_s; !ok && bd_now() < end;) {
        bc_status st;
        ok = bc_status_get(c, name, &st) == 0 && st.n_waiting == n;
        if (!ok) bd_sleep(0.02);
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

int tc_ctl_start(tc_ctl *r, const char *bin, const char *const *argv, int drop_token)
{
    memset(r, 0, sizeof *r);
    snprintf(r->out_path, sizeof r->out_path, "/tmp/tc-ctl-out-XXXXXX");
    snprintf(r->err_path, sizeof r->err_path, "/tmp/tc-ctl-err-XXXXXX");
    int out = mkstemp(r->out_path), err = mkstemp(r->err_path);
    if (out < 0 || err < 0 || !bin)
        return -1;
    fflush(NULL);
    r->pid = fork();
    if (r->pid < 0)
        return -1;
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
    return 0;
}

static void slurp_into(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    unlink(path);
}

int tc_ctl_finish(tc_ctl *r, double limit_s)
{
    int st = 0;
    double end = bd_now() + limit_s;
    while (waitpid(r->pid, &st, WNOHANG) == 0) {
        if (bd_now() > end) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &st, 0);
            break;
        }
        bd_sleep(0.005);
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp_into(r->out_path, r->out, sizeof r->out);
    slurp_into(r->err_path, r->err, sizeof r->err);
    return r->status;
}
