/* cmd_watch.c - barrierctl watch: print what happens at the barriers, live.
 *
 * Also opens the watch behind `barrierctl wait`'s progress line. */
#include "ctl.h"

#include "bp_token.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char help[] =
    "usage: barrierctl watch [NAME] [--json]\n"
    "\n"
    "Print every event of barrier NAME (no NAME: of every barrier) as it\n"
    "happens: a party arrives or leaves, a generation is released, the barrier\n"
    "breaks or is reset. Runs until interrupted, or until the server goes away\n"
    "(exit 4).\n"
    "\n"
    "  --json    print each event as the server sends it, one JSON object a line\n"
    "\n"
    "exit status: 4 when the server is unreachable or gone, 1 other errors.\n";

int ctl_watch_open(ctl *g, const char *name, bc_watch **out)
{
    char token[BP_TOKEN_MAX + 1], err[256];
    bc_options o = {0};
    if (g->token_file) {
        if (bp_token_read_file(g->token_file, token, err, sizeof err) < 0) {
            fprintf(stderr, "barrierctl: --token-file %s: %s\n", g->token_file, err);
            return CTL_EXIT_ERROR;
        }
        o.auth_token = token;
    }
    int rc = bc_watch_open(g->addr, &o, name, out);
    memset(token, 0, sizeof token);
    return rc;
}

/* "14:03:07.250" in local time. */
static void stamp(char *out, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ld", (long)(tv.tv_usec / 1000));
}

/* One human line: "14:03:07.250 b gen 4: arrive teller-2 [127.0.0.1:40112] (2/3 arrived)". */
static void print_human(const bc_watch *w, const bc_event *e)
{
    char t[32];
    stamp(t, sizeof t);
    printf("%s %s gen %llu: ", t, e->barrier, (unsigned long long)e->generation);
    const char *member = bc_watch_field(w, "member"), *peer = bc_watch_field(w, "peer");
    if (!strcmp(e->type, "arrive") || !strcmp(e->type, "leave")) {
        printf("%s %s", e->type, e->client[0] ? e->client : "anonymous");
        if (member[0]) printf(" (member %s)", member);
        if (peer[0]) printf(" [%s]", peer);
        printf(" (%u/%u arrived)\n", e->n_waiting, e->parties);
    } else if (!strcmp(e->type, "release")) {
        printf("released (%u/%u)\n", e->n_waiting, e->parties);
    } else {
        printf("%s (%s): %s\n", !strcmp(e->type, "break") ? "broken" : e->type, e->cause,
               bc_watch_field(w, "reason"));
    }
}

int ctl_cmd_watch(ctl *g, int argc, char **argv)
{
    int first;
    int rc = ctl_simple_opts(g, argc, argv, help, &first);
    if (rc >= 0) return rc;
    if (argc - first > 1) return ctl_usage_error("watch", "watch takes at most one barrier NAME");
    const char *name = argc - first == 1 ? argv[first] : NULL;
    bc_watch *w;
    rc = ctl_watch_open(g, name, &w);
    if (rc > 0) return rc; /* said what is wrong */
    if (rc < 0) return ctl_fail(g, rc, "watch");
    if (!g->json) {
        bc_status st;
        if (name && bc_watch_status(w, &st) == 0)
            printf("watching '%s': %u/%u arrived, generation %llu%s\n", name, st.n_waiting,
                   st.parties, (unsigned long long)st.generation, st.broken ? ", broken" : "");
        else
            printf("watching %s%s%s\n", name ? "'" : "every barrier", name ? name : "",
                   name ? "' (it does not exist yet)" : "");
        fflush(stdout);
    }
    bc_event e;
    while ((rc = bc_watch_next(w, -1, &e)) == BC_OK || rc == BC_ETIMEDOUT) {
        if (rc != BC_OK) continue;
        if (g->json)
            printf("%s\n", bc_watch_json(w));
        else
            print_human(w, &e);
        fflush(stdout);
    }
    bc_watch_close(w);
    return ctl_fail(g, rc, "watch");
}
