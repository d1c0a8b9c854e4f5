/* ts_fork.h - fork a child that dies with its parent.
 *
 * The child gets PR_SET_PDEATHSIG SIGKILL, then checks getppid(): a parent
 * that died between fork and prctl would otherwise leave it running for ever
 * (it exits 126 then). So a crashed test, bench or soak never leaves a server,
 * a party or a command behind.
 */
#ifndef TS_FORK_H
#define TS_FORK_H

#include <sys/types.h>

/* Like fork() (stdio flushed first); in the child, returns 0 only once the
 * death signal is armed. */
pid_t ts_fork(void);

/* Start argv[0] (a path) in a child that dies with us: stdin from /dev/null,
 * stdout and stderr appended to log_path (emptied first when truncate is set)
 * after a "# argv..." line, no other descriptor, SIGPIPE and SIGTERM at their
 * defaults, and no environment variable that starts with unset_prefix (NULL:
 * keep them all). Returns the pid, or -1 with a message on stderr. */
pid_t ts_spawn_logged(const char *const *argv, const char *log_path, int truncate,
                      const char *unset_prefix);

/* waitpid with a bound: the wait status, or -1 when it did not end within
 * timeout_ms (the child is then killed and reaped) or is not ours. */
int ts_reap(pid_t pid, int timeout_ms);

/* Run argv (PATH lookup) in a child that dies with us, stdin from /dev/null,
 * stdout and stderr to out_path/err_path (NULL: /dev/null; "-": ours), bounded
 * by timeout_ms. Returns the wait status, or -1. */
int ts_run_cmd(const char *const *argv, const char *out_path, const char *err_path,
               int timeout_ms);

#endif
