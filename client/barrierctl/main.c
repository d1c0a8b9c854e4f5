/* main.c - barrierctl: wait at, inspect and repair barrierd's barriers.
 *
 *   barrierctl [-a ADDR[,ADDR...]] [--token-file F] [--resume SECONDS] [--json] COMMAND [ARGS]
 */
#include "ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: barrierctl [-a ADDR[,ADDR...]] [--token-file F] [--resume SECONDS] [--json]\n"
    "                  [--tls-ca F] [--tls-cert F --tls-key F] COMMAND [ARGS]\n"
    "\n"
    "Wait at, inspect and repair the named barriers of a barrierd server.\n"
    "\n"
    "commands:\n"
    "  wait NAME -n PARTIES [-t SECONDS] [--name CLIENT]\n"
    "                     block until PARTIES parties have reached barrier NAME\n"
    "  status [NAME]      show one barrier (no NAME: all of them, like list)\n"
    "  list               show every barrier\n"
    "  abort NAME         break the barrier: its waiters fail until a reset\n"
    "  reset NAME         fail its current waiters and make it usable again\n"
    "  stats              show the server's counters\n"
    "  ping               check that the server answers\n"
    "  watch [NAME]       print what happens at the barriers (or one), live\n"
    "\n"
    "options:\n"
    "  -a, --addr ADDR    host:port, [v6addr]:port, tls://host:port or unix:/path,\n"
    "                     or a comma-\n"
    "                     separated list of them: the servers of one deployment,\n"
    "                     tried in order (default: $BARRIERD_ADDR, else\n"
    "                     127.0.0.1:7411)\n"
    "  --resume SECONDS   how long to keep reconnecting when the server is lost\n"
    "                     (restart, failover) before giving up with exit 4\n"
    "                     (default: $BARRIERD_RESUME, else 30; negative: never)\n"
    "  --token-file F     auth token for the server (default: $BARRIERD_TOKEN)\n"
    "  --tls-ca F         PEM CAs that tls:// servers' certificates must chain to\n"
    "                     (default: $BARRIERD_TLS_CA, else the system's store)\n"
    "  --tls-cert F       PEM client certificate, for servers that require one\n"
    "                     (default: $BARRIERD_TLS_CERT)\n"
    "  --tls-key F        its PEM key (default: $BARRIERD_TLS_KEY)\n"
    "  --json             machine-readable output on stdout\n"
    "  -h, --help         this help; 'barrierctl COMMAND --help' for a command's\n"
    "  --version          print the version (of libbarrierclient) and exit\n"
    "\n"
    "exit status: 0 ok or released, 1 other error, 2 broken (aborted, reset, a\n"
    "party lost, an action failed), 3 timed out, 4 server unreachable or gone,\n"
    "64 usage error.\n";

static const struct {
    const char *name;
    ctl_cmd_fn fn;
} commands[] = {
    {"wait", ctl_cmd_wait},   {"status", ctl_cmd_status}, {"list", ctl_cmd_list},
    {"abort", ctl_cmd_abort}, {"reset", ctl_cmd_reset},   {"stats", ctl_cmd_stats},
    {"ping", ctl_cmd_ping},   {"watch", ctl_cmd_watch},
};

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"addr", required_argument, NULL, 'a'}, {"token-file", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},    {"resume", required_argument, NULL, 'R'},
        {"tls-ca", required_argument, NULL, 'C'}, {"tls-cert", required_argument, NULL, 'E'},
        {"tls-key", required_argument, NULL, 'K'},
        {0}};
    ctl g = {0};
    int ch;
    /* '+': stop at the command; what follows belongs to it. */
    while ((ch = getopt_long(argc, argv, "+a:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'a':
            g.addr = optarg;
            break;
        case 'T':
            g.token_file = optarg;
            break;
        case 'j':
            g.json = 1;
            break;
        case 'R':
            g.resume = optarg;
            break;
        case 'C':
            g.tls_ca = optarg;
            break;
        case 'E':
            g.tls_cert = optarg;
            break;
        case 'K':
            g.tls_key = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return CTL_EXIT_OK;
        case 'V':
            printf("barrierctl %s\n", bc_version());
            return CTL_EXIT_OK;
        default:
            return ctl_usage_error(NULL, NULL);
        }
    }
    if (optind >= argc) return ctl_usage_error(NULL, "no command given");
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].fn(&g, argc - optind, argv + optind);
    return ctl_usage_error(NULL, "unknown command '%s'", name);
}
