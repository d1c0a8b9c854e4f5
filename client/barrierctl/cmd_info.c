/* cmd_info.c - barrierctl status, list, stats and ping: read-only views.
 *
 * --json prints the server's own reply object (via bc_query_json); the human
 * forms are aligned tables.
 */
#include "ctl.h"

#include <cjson/cJSON.h>
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

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : "";
}

static double num_field(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

static void print_waiting(const cJSON *waiting)
{
    int wc = 6; /* "CLIENT" */
    const cJSON *w;
    cJSON_ArrayForEach(w, waiting)
    {
        int n = (int)strlen(str_field(w, "client"));
        wc = n > wc ? n : wc;
    }
    printf("\n%-5s  %-*s  %s\n", "INDEX", wc, "CLIENT", "PEER");
    cJSON_ArrayForEach(w, waiting)
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(w, "index");
        printf("%-5d  %-*s  %s\n", cJSON_IsNumber(idx) ? idx->valueint : -1, wc,
               str_field(w, "client"), str_field(w, "peer"));
    }
}

static int print_status(ctl *g, bc_client *c, const char *name)
{
    char *json;
    int rc = bc_query_json(c, "status", name, &json);
    if (rc < 0) return ctl_fail(g, rc, "status '%s'", name);
    cJSON *o = cJSON_Parse(json);
    free(json);
    if (!o) return ctl_fail(g, BC_ENOMEM, "status '%s'", name);
    printf("barrier     %s\n", name);
    printf("parties     %.0f\n", num_field(o, "parties"));
    printf("waiting     %.0f\n", num_field(o, "n_waiting"));
    printf("state       %s\n", str_field(o, "state"));
    printf("generation  %.0f\n", num_field(o, "generation"));
    const char *reason = str_field(o, "reason");
    if (reason[0]) printf("reason      %s\n", reason);
    const cJSON *waiting = cJSON_GetObjectItemCaseSensitive(o, "waiting");
    if (cJSON_GetArraySize(waiting) > 0) print_waiting(waiting);
    cJSON_Delete(o);
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
