/* ctl.h - what the files of barrierctl share. barrierctl uses the public
 * libbarrierclient API (the typed calls for its human output; --json forwards
 * bc_query_json's text unparsed) and proto's token-file reader, so that
 * --token-file follows the same rule as barrierd and the library. */
#ifndef CTL_H
#define CTL_H

#include "barrierclient.h"

/* Exit statuses (docs/barrierctl.md). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,  /* any other error */
    CTL_EXIT_BROKEN = 2, /* broken: aborted, reset, a party lost, an action failed */
    CTL_EXIT_TIMEDOUT = 3,
    CTL_EXIT_CONN = 4, /* server unreachable, connection lost, shutting down */
    CTL_EXIT_USAGE = 64,
};

/* Global options, shared by every command. */
typedef struct ctl {
    const char *addr;       /* -a; NULL = $BARRIERD_ADDR or the default */
    const char *token_file; /* --token-file */
    int json;               /* --json */
    const char *resume;     /* --resume SECONDS; NULL = $BARRIERD_RESUME or the library's */
    const char *tls_ca;     /* --tls-ca F; NULL = $BARRIERD_TLS_CA, else the system's CAs */
    const char *tls_cert;   /* --tls-cert F; NULL = $BARRIERD_TLS_CERT */
    const char *tls_key;    /* --tls-key F; NULL = $BARRIERD_TLS_KEY */
} ctl;

/* A command: parses its own argv (argv[0] is its name) and returns an exit status. */
typedef int (*ctl_cmd_fn)(ctl *g, int argc, char **argv);

int ctl_cmd_wait(ctl *g, int argc, char **argv);
int ctl_cmd_status(ctl *g, int argc, char **argv);
int ctl_cmd_list(ctl *g, int argc, char **argv);
int ctl_cmd_stats(ctl *g, int argc, char **argv);
int ctl_cmd_ping(ctl *g, int argc, char **argv);
int ctl_cmd_abort(ctl *g, int argc, char **argv);
int ctl_cmd_reset(ctl *g, int argc, char **argv);
int ctl_cmd_watch(ctl *g, int argc, char **argv);
/* Open a watch on name (NULL: every barrier) with the global options: 0, a
 * bc_ error code (< 0), or an exit status (> 0) after saying what is wrong. */
int ctl_watch_open(ctl *g, const char *name, bc_watch **out);

/* ---- util.c ---- */
/* Connect with the global options (and a client name, may be NULL). On failure
 * prints the error and returns its exit status (> 0); 0 on success. */
int ctl_connect(ctl *g, const char *client_name, bc_client **out);
/* Exit status for a bc_ return code. */
int ctl_exit_code(int rc);
/* Report a failed call ("barrierctl: what: description: detail") on stderr, and
 * as {"ok":false,...} on stdout with --json; returns the exit status. */
int ctl_fail(ctl *g, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print "barrierctl: message" (unless fmt is NULL) and the hint to use --help;
 * returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse the options every command accepts (--help, --json) when the command has
 * no others; on return *first is the index of the first operand. Returns -1 to
 * go on, else an exit status (help printed, or a usage error). */
int ctl_simple_opts(ctl *g, int argc, char **argv, const char *help, int *first);
/* Print s as a JSON string literal to stdout. */
void ctl_json_str(const char *s);

#endif
