/* bd_fixture.c - see bd_fixture.h. */
#include "bd_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bd_sleep(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void exec_server(const bd_server *s, const char *const *extra)
{
    const char *argv[32] = {"barrierd", "--listen", "127.0.0.1:0", "--heartbeat", "0.2"};
    int n = 5;
    for (; extra && *extra && n < 30; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    int fd = open(s->log, O_WRONLY | O_TRUNC);
    if (fd >= 0) dup2(fd, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *bin = getenv("BARRIERD_BIN");
    execv(bin ? bin : "barrierd", (char *const *)argv);
    _exit(127);
}

/* Read the log until the port shows up. */
static int find_port(bd_server *s)
{
    for (double end = bd_now() + 20; bd_now() < end;) {
        char buf[8192] = "";
        FILE *f = fopen(s->log, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        const char *p = strstr(buf, "listening on 127.0.0.1:");
        if (p) {
            int port = atoi(p + strlen("listening on 127.0.0.1:"));
            if (port > 0) {
                snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", port);
                return 0;
            }
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            fprintf(stderr, "barrierd exited early:\n%s\n", buf);
            s->pid = 0;
            return -1;
        }
        bd_sleep(0.02);
    }
    fprintf(stderr, "barrierd did not report its port\n");
    return -1;
}

int bd_start(bd_server *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "/tmp/bd-test-XXXXXX");
    int fd = mkstemp(s->log);
    if (fd < 0) {
        perror("mkstemp");
        return -1;
    }
    close(fd);
    s->pid = fork();
    if (s->pid < 0) {
        perror("fork");
        return -1;
    }
    if (s->pid == 0) exec_server(s, extra);
    if (find_port(s) < 0) {
        bd_stop(s);
        return -1;
    }
    return 0;
}

int bd_wait_exit(bd_server *s, double timeout_s)
{
    for (double end = bd_now() + timeout_s; s->pid;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return st;
        }
        if (bd_now() > end) return -1;
        bd_sleep(0.01);
    }
    return -1;
}

int bd_stop(bd_server *s)
{
    int st = -1;
    if (s->pid) {
        kill(s->pid, SIGCONT); /* in case a test stopped it */
        kill(s->pid, SIGTERM);
        st = bd_wait_exit(s, 10);
        if (st == -1 && s->pid) {
            kill(s->pid, SIGKILL);
            st = bd_wait_exit(s, 10);
        }
    }
    if (s->log[0]) unlink(s->log);
    s->log[0] = '\0';
    return st;
}

int bd_log_contains(const bd_server *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int bd_log_addr(const bd_server *s, const char *prefix, char *out, size_t cap)
{
    char needle[128];
    snprintf(needle, sizeof needle, "listening on %s", prefix);
    FILE *f = fopen(s->log, "r");
    if (!f) return -1;
    char line[4096];
    int rc = -1;
    while (rc < 0 && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, needle);
        if (p) {
            p += strlen("listening on ");
            snprintf(out, cap, "%.*s", (int)strcspn(p, " \r\n"), p);
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}
