/* cmd_admin.c - barrierctl abort and reset. */
#include "ctl.h"

#include <stdio.h>

typedef int (*admin_fn)(bc_client *c, const char *name);

static int run(ctl *g, int argc, char **argv, const char *help, admin_fn fn)
{
    int first, rc = ctl_simple_opts(g, argc, argv, help, &first);
    if (rc >= 0) return rc;
    if (argc - first != 1) return ctl_usage_error(argv[0], "%s takes one barrier NAME", argv[0]);
    const char *name = argv[first];
    bc_client *c;
    if ((rc = ctl_connect(g, NULL, &c)) != 0) return rc;
    rc = fn(c, name);
    bc_close(c);
    if (rc < 0) return ctl_fail(g, rc, "%s '%s'", argv[0], name);
    if (g->json) printf("{\"ok\":true}\n");
    return CTL_EXIT_OK;
}

int ctl_cmd_abort(ctl *g, int argc, char **argv)
{
    static const char help[] =
        "usage: barrierctl abort NAME\n"
        "\n"
        "Break barrier NAME: its current waiters fail (exit status 2 for barrierctl\n"
        "wait), and so does every later wait until 'barrierctl reset NAME'.\n";
    return run(g, argc, argv, help, bc_abort);
}

int ctl_cmd_reset(ctl *g, int argc, char **argv)
{
    static const char help[] =
        "usage: barrierctl reset NAME\n"
        "\n"
        "Fail the current waiters of barrier NAME as broken and make it empty and\n"
        "usable again; this ends its current generation.\n";
    return run(g, argc, argv, help, bc_reset);
}
