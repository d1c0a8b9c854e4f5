/* ts_check.c - see ts_check.h. */
#include "ts_check.h"

#include <check.h>
#include <stdarg.h>
#include <sys/wait.h>

void ts_server_upv(ts_server *s, const char *const *extra)
{
    ck_assert_msg(ts_server_start(s, extra) == 0, "%s did not come up (see above)",
                  s->name ? s->name : "barrierd");
}

void ts_server_up(ts_server *s, ...)
{
    const char *extra[TS_MAX_ARGS + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, s);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        ck_assert_msg(n < TS_MAX_ARGS, "too many barrierd arguments");
        extra[n++] = a;
    }
    va_end(ap);
    extra[n] = NULL;
    ts_server_upv(s, extra);
}

void ts_server_restart_up(ts_server *s)
{
    if (s->pid > 0) {
        int st = ts_server_stop(s, 10000, NULL);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            ts_server_dump_log(s);
            ck_assert_msg(0, "barrierd did not exit 0 on SIGTERM before the restart (wait status %d)",
                          st);
        }
    }
    ck_assert_msg(ts_server_restart(s) == 0, "%s did not come up again on %s (see above)",
                  s->name ? s->name : "barrierd", s->listen);
}

void ts_server_down(ts_server *s)
{
    int running = s->pid > 0;
    int st = running ? ts_server_stop(s, 10000, NULL) : s->status;
    int ok = !running || (WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!ok)
        ts_server_dump_log(s);
    ts_server_cleanup(s);
    ck_assert_msg(ok, "barrierd did not exit 0 on SIGTERM (wait status %d)", st);
}
