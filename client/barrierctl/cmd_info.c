/* cmd_info.c - barrierctl status, list, stats and ping: read-only views.
 *
 * The human forms are aligned tables read through the typed API; --json
 * forwards the server's own reply object as is (bc_query_json), unparsed.
 */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print the server's reply to op as JSON. */
static int print_json(ctl *g, bc_client *c, const char *op, const char *name)
{
    char *json;
    int rc = bc_query_json(c, op, name, &json);
    if (rc < 0) return ctl_fail(g, rc, "%s%s%s", op, name ? " " : "", name ? name : "");
    puts(json);
    free(json);
    return CTL_EXIT_OK;
}

static void print_waiters(const bc_detail *d)
{
    size_t n = bc_detail_n_waiters(d);
    int wc = 6, mc = 0; /* "CLIENT"; "MEMBER" only when some party gave one */
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(bc_detail_waiter_client(d, i));
        wc = len > wc ? len : wc;
        len = (int)strlen(bc_detail_waiter_member(d, i));
        if (len) mc = (len < 6 ? 6 : len) > mc ? (len < 6 ? 6 : len) : mc;
    }
    if (mc) {
        printf("\n%-5s  %-*s  %-*s  %s\n", "INDEX", mc, "MEMBER", wc, "CLIENT", "PEER");
        for (size_t i = 0; i < n; i++)
            printf("%-5u  %-*s  %-*s  %s\n", bc_detail_waiter_index(d, i), mc,
                   bc_detail_waiter_member(d, i), wc, bc_detail_waiter_client(d, i),
                   bc_detail_waiter_peer(d, i));
        return;
    }
    printf("\n%-5s  %-*s  %s\n", "INDEX", wc, "CLIENT", "PEER");
    for (size_t i = 0; i < n; i++)
        printf("%-5u  %-*s  %s\n", bc_detail_waiter_index(d, i), wc, bc_detail_waiter_client(d, i),
               bc_detail_waiter_peer(d, i));
}

/* "members     a, b, c" and "missing     c": a rendezvous barrier's list. */
static void print_names(const char *label, size_t n, const char *(*at)(const bc_detail *, size_t),
                        const bc_detail *d)
{
    printf("%-12s", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", at(d, i));
    printf("%s\n", n ? "" : "(none)");
}

static int print_status(ctl *g, bc_client *c, const char *name)
{
    bc_status st;
    bc_detail *d;
    int rc = bc_status_detail(c, name, &st, &d);
    if (rc < 0) return ctl_fail(g, rc, "status '%s'", name);
    printf("barrier     %s\n", name);
    printf("parties     %u\n", st.parties);
    printf("waiting     %u\n", st.n_waiting);
    printf("state       %s\n", st.state);
    printf("generation  %" PRIu64 "\n", st.generation);
    if (bc_detail_reason(d)[0]) printf("reason      %s\n", bc_detail_reason(d));
    if (bc_detail_n_members(d)) {
        print_names("members", bc_detail_n_members(d), bc_detail_member, d);
        print_names("missing", bc_detail_n_missing(d), bc_detail_missing, d);
    }
    if (bc_detail_n_waiters(d) > 0) print_waiters(d);
    bc_detail_free(d);
    return CTL_EXIT_OK;
}

static int print_list(ctl *g, bc_client *c)
{
    bc_barrier_info *list;
    size_t n;
    int rc = bc_list(c, &list, &n);
    if (rc < 0) return ctl_fail(g, rc, "list");
    int w = 7; /* "BARRIER" */
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(list[i].name);
        w = len > w ? len : w;
    }
    printf("%-*s  %7s  %7s  %-14s  %10s\n", w, "BARRIER", "PARTIES", "WAITING", "STATE",
           "GENERATION");
    for (size_t i = 0; i < n; i++) {
        const bc_status *s = &list[i].status;
        printf("%-*s  %7u  %7u  %-14s  %10" PRIu64 "\n", w, list[i].name, s->parties, s->n_waiting,
               s->state, s->generation);
    }
    bc_list_free(list);
    return CTL_EXIT_OK;
}

/* Connect, run the view, close: the shared frame of every command here. */
static int view(ctl *g, int argc, char **argv, const char *help, int max_operands,
                int (*fn)(ctl *g, bc_client *c, const char *name))
{
    int first, rc = ctl_simple_opts(g, argc, argv, help, &first);
    if (rc >= 0) return rc;
    if (argc - first > max_operands)
        return ctl_usage_error(argv[0], "too many arguments for %s", argv[0]);
    const char *name = first < argc ? argv[first] : NULL;
    bc_client *c;
    if ((rc = ctl_connect(g, NULL, &c)) != 0) return rc;
    rc = fn(g, c, name);
    bc_close(c);
    return rc;
}

static int do_status(ctl *g, bc_client *c, const char *name)
{
    if (!name) return g->json ? print_json(g, c, "list", NULL) : print_list(g, c);
    return g->json ? print_json(g, c, "status", name) : print_status(g, c, name);
}

static int do_list(ctl *g, bc_client *c, const char *name)
{
    return do_status(g, c, name);
}

static int do_stats(ctl *g, bc_client *c, const char *name)
{
    (void)name;
    if (g->json) return print_json(g, c, "stats", NULL);
    bc_stats s;
    int rc = bc_stats_get(c, &s);
    if (rc < 0) return ctl_fail(g, rc, "stats");
    printf("connections  %" PRIu64 "\n", s.connections);
    printf("barriers     %" PRIu64 "\n", s.barriers);
    printf("waiting      %" PRIu64 "\n", s.waiting);
    printf("waits        %" PRIu64 "\n", s.waits);
    printf("releases     %" PRIu64 "\n", s.releases);
    printf("breaks       %" PRIu64 "\n", s.breaks);
    printf("errors       %" PRIu64 "\n", s.errors);
    printf("uptime_s     %.1f\n", s.uptime_s);
    return CTL_EXIT_OK;
}

static int do_ping(ctl *g, bc_client *c, const char *name)
{
    (void)name;
    double rtt;
    int rc = bc_ping(c, &rtt);
    if (rc < 0) return ctl_fail(g, rc, "ping");
    if (g->json)
        printf("{\"ok\":true,\"rtt_ms\":%.3f}\n", rtt * 1000);
    else
        printf("pong in %.3f ms\n", rtt * 1000);
    return CTL_EXIT_OK;
}

int ctl_cmd_status(ctl *g, int argc, char **argv)
{
    static const char help[] =
        "usage: barrierctl status [NAME]\n"
        "\n"
        "Show barrier NAME: parties, how many are waiting, its state (filling,\n"
        "running_action, broken), generation, why it broke, and who is waiting.\n"
        "Without NAME, show every barrier as 'barrierctl list' does.\n"
        "Exit status 1 if NAME does not exist.\n";
    return view(g, argc, argv, help, 1, do_status);
}

int ctl_cmd_list(ctl *g, int argc, char **argv)
{
    static const char help[] =
        "usage: barrierctl list\n"
        "\n"
        "Show every barrier: name, parties, waiting, state and generation.\n";
    return view(g, argc, argv, help, 0, do_list);
}

int ctl_cmd_stats(ctl *g, int argc, char **argv)
{
    static const char help[] =
        "usage: barrierctl stats\n"
        "\n"
        "Show the server's counters: connections, barriers, parties waiting, and\n"
        "waits, releases, breaks and errors since it started.\n";
    return view(g, argc, argv, help, 0, do_stats);
}

int ctl_cmd_ping(ctl *g, int argc, char **argv)
{
    static const char help[] = "usage: barrierctl ping\n"
                               "\n"
                               "Check that the server answers, and show the round-trip time.\n"
                               "Exit status 0 if it does, 4 if it cannot be reached.\n";
    return view(g, argc, argv, help, 0, do_ping);
}
