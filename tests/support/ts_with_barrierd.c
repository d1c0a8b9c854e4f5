/* ts_with_barrierd.c - ts-with-barrierd: run a command against a private
 * barrierd, for the shell tests.
 *
 *   ts-with-barrierd [BARRIERD-ARGS...] -- COMMAND [ARGS...]
 *
 * Starts $BARRIERD through the launcher (ts_launch.h: a free 127.0.0.1 port,
 * ready file, dies with us), runs COMMAND with $BARRIERD_ADDR set to its
 * address, then stops the server. Exit status: COMMAND's, or 1 when the server
 * did not come up or did not exit 0 on SIGTERM (its log is then on stderr).
 */
#include "ts_fork.h"
#include "ts_launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int sep = 1;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    if (sep + 1 >= argc) {
        fprintf(stderr, "usage: ts-with-barrierd [BARRIERD-ARGS...] -- COMMAND [ARGS...]\n");
        return 64;
    }
    argv[sep] = NULL;
    ts_server s = {0};
    if (ts_server_start(&s, (const char *const *)argv + 1) < 0)
        return 1;
    setenv("BARRIERD_ADDR", s.addr, 1);
    int st = ts_run_cmd((const char *const *)argv + sep + 1, "-", "-", 600000);
    int rc = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    int sst = ts_server_stop(&s, 10000, NULL);
    if (!(WIFEXITED(sst) && WEXITSTATUS(sst) == 0)) {
        fprintf(stderr, "ts-with-barrierd: barrierd did not exit 0 on SIGTERM (wait status %d)\n",
                sst);
        ts_server_dump_log(&s);
        rc = rc ? rc : 1;
    }
    ts_server_cleanup(&s);
    return rc;
}
