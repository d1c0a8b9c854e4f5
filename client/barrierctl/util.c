/* util.c - connecting, exit statuses and error reports for barrierctl. */
#include "ctl.h"

#include "bp_token.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --resume, else $BARRIERD_RESUME (when set and not empty), else 0: the
 * library's default. Returns 0, or -1 after saying what is wrong. */
static int pick_resume(const ctl *g, double *out)
{
    const char *text = g->resume, *what = "--resume";
    if (!text) {
        text = getenv("BARRIERD_RESUME");
        what = "$BARRIERD_RESUME";
    }
    *out = 0;
    if (!text || !*text) return 0;
    char *end;
    *out = strtod(text, &end);
    if (*end || end == text || !isfinite(*out)) {
        fprintf(stderr, "barrierctl: %s wants seconds (negative: never reconnect), not '%s'\n",
                what, text);
        return -1;
    }
    /* 0 would mean the default to the library; "--resume 0" means no time at all. */
    if (*out == 0) *out = -1;
    return 0;
}

/* A flag's value, else the environment variable when set and not empty. */
static const char *env_or(const char *flag, const char *var)
{
    const char *v = flag ? flag : getenv(var);
    return v && *v ? v : NULL;
}

int ctl_connect(ctl *g, const char *client_name, bc_client **out)
{
    char token[BP_TOKEN_MAX + 1], err[256];
    bc_options o = {.client_name = client_name};
    if (pick_resume(g, &o.resume_s) < 0) return CTL_EXIT_USAGE;
    if (g->token_file) {
        if (bp_token_read_file(g->token_file, token, err, sizeof err) < 0) {
            fprintf(stderr, "barrierctl: --token-file %s: %s\n", g->token_file, err);
            return CTL_EXIT_ERROR;
        }
        o.auth_token = token;
    }
    o.tls_ca_file = env_or(g->tls_ca, "BARRIERD_TLS_CA");
    o.tls_cert_file = env_or(g->tls_cert, "BARRIERD_TLS_CERT");
    o.tls_key_file = env_or(g->tls_key, "BARRIERD_TLS_KEY");
    int rc = bc_connect(g->addr, &o, out);
    memset(token, 0, sizeof token);
    if (rc < 0) return ctl_fail(g, rc, "connect");
    return 0;
}

int ctl_exit_code(int rc)
{
    switch (rc) {
    case BC_OK:
        return CTL_EXIT_OK;
    case BC_EBROKEN:
    case BC_EACTION:
        return CTL_EXIT_BROKEN;
    case BC_ETIMEDOUT:
        return CTL_EXIT_TIMEDOUT;
    case BC_ECONN:
    case BC_ESHUTDOWN:
        return CTL_EXIT_CONN;
    default:
        return CTL_EXIT_ERROR;
    }
}

void ctl_json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

int ctl_fail(ctl *g, int rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *desc = bc_strerror(rc), *detail = bc_last_error_message();
    if (!detail[0] || strcmp(detail, desc) == 0)
        fprintf(stderr, "barrierctl: %s: %s\n", what, desc);
    else
        fprintf(stderr, "barrierctl: %s: %s: %s\n", what, desc, detail);
    if (g->json) {
        printf("{\"ok\":false,\"error\":");
        ctl_json_str(bc_error_name(rc));
        printf(",\"message\":");
        ctl_json_str(detail[0] ? detail : desc);
        printf("}\n");
    }
    return ctl_exit_code(rc);
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    if (fmt) { /* NULL: getopt has already said what is wrong */
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "barrierctl: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    fprintf(stderr, "Try 'barrierctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CTL_EXIT_USAGE;
}

int ctl_simple_opts(ctl *g, int argc, char **argv, const char *help, int *first)
{
    static const struct option longs[] = {
        {"help", no_argument, NULL, 'h'}, {"json", no_argument, NULL, 'j'}, {0}};
    int ch;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (ch == 'h') {
            fputs(help, stdout);
            return CTL_EXIT_OK;
        }
        if (ch != 'j') return ctl_usage_error(argv[0], NULL);
        g->json = 1;
    }
    *first = optind;
    return -1;
}
