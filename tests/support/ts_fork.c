/* ts_fork.c - see ts_fork.h. */
#include "ts_fork.h"

#include "ts_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t ts_fork(void)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent is already gone: no signal will come */
            _exit(126);
    }
    return pid;
}

int ts_reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        if (ts_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        ts_sleep_ms(2);
    }
}

static void redirect(int fd, const char *path)
{
    if (path && strcmp(path, "-") == 0)
        return;
    int f = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
    if (f >= 0 && f != fd) {
        dup2(f, fd);
        close(f);
    }
}

int ts_run_cmd(const char *const *argv, const char *out_path, const char *err_path,
               int timeout_ms)
{
    pid_t pid = ts_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        redirect(1, out_path);
        redirect(2, err_path);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return ts_reap(pid, timeout_ms);
}

static void exec_logged(const char *const *argv, int logfd, const char *unset_prefix)
{
    dprintf(logfd, "#");
    for (int i = 0; argv[i]; i++)
        dprintf(logfd, " %s", argv[i]);
    dprintf(logfd, "\n");
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    close_range(3, ~0u, 0);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    extern char **environ;
    size_t plen = unset_prefix ? strlen(unset_prefix) : 0;
    for (char **v = environ; plen && *v; v++)
        if (strncmp(*v, unset_prefix, plen) == 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*v, "="), *v);
            unsetenv(name);
            v = environ - 1; /* unsetenv moved the rest down: start over */
        }
    execv(argv[0], (char *const *)argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t ts_spawn_logged(const char *const *argv, const char *log_path, int truncate,
                      const char *unset_prefix)
{
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
                     0600);
    if (logfd < 0) {
        fprintf(stderr, "ts: open %s: %s\n", log_path, strerror(errno));
        return -1;
    }
    pid_t pid = ts_fork();
    if (pid < 0)
        fprintf(stderr, "ts: fork: %s\n", strerror(errno));
    if (pid == 0)
        exec_logged(argv, logfd, unset_prefix);
    close(logfd);
    return pid;
}
