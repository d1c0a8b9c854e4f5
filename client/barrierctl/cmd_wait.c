/* cmd_wait.c - barrierctl wait: block at a barrier until it releases.
 *
 * When stderr is a terminal, a second connection watches the barrier and a
 * helper thread redraws "2/3 arrived" on stderr as parties come and go.
 */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: barrierctl wait NAME -n PARTIES [-t SECONDS] [--name CLIENT]\n"
    "                           [--data S] [--member M] [--members A,B,...]\n"
    "\n"
    "Wait at barrier NAME until PARTIES parties (this one included) have arrived,\n"
    "then print this party's arrival index and the generation released. The\n"
    "first wait on NAME creates the barrier with PARTIES; it is cyclic.\n"
    "\n"
    "  -n, --parties N     number of parties (required)\n"
    "  -t, --timeout SECS  give up after SECS (fractions allowed); the barrier\n"
    "                      then breaks for everyone (default: wait forever)\n"
    "  --name CLIENT       who is waiting, as status shows it (default host:pid)\n"
    "  --data S            this party's data: the release hands every party all of\n"
    "                      them, by arrival index (printed, and \"gathered\" in --json)\n"
    "  --member M          this party's name, unique in its generation\n"
    "  --members A,B,...   the member list the barrier is created with: it admits\n"
    "                      only those names (-n may be left out: it is their number)\n"
    "  --json              print {\"ok\":true,\"barrier\":..,\"index\":..,\"generation\":..}\n"
    "                      with \"gathered\" and \"action_result\" when there are any\n"
    "\n"
    "exit status: 0 released, 2 broken, 3 timed out, 4 server unreachable or\n"
    "gone, 1 other errors (e.g. the barrier has another number of parties).\n";

typedef struct wait_args {
    const char *name;
    unsigned long parties;
    double timeout_s;
    const char *client;
    const char *data;
    const char *member;
    char *members_text;   /* owned copy of --members, cut at the commas */
    const char **members; /* owned; n_members pointers into members_text */
    size_t n_members;
} wait_args;

/* Split --members A,B,C into names. -1 on a usage error (an empty name). */
static int split_members(wait_args *a, const char *text)
{
    free(a->members_text);
    free(a->members);
    a->n_members = 1;
    for (const char *p = text; *p; p++)
        a->n_members += *p == ',';
    a->members_text = strdup(text);
    a->members = calloc(a->n_members, sizeof *a->members);
    if (!a->members_text || !a->members) return -1;
    char *p = a->members_text;
    for (size_t i = 0; i < a->n_members; i++) {
        a->members[i] = p;
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p) return -1;
        p = comma ? comma + 1 : p + strlen(p);
    }
    return 0;
}

static int parse(ctl *g, int argc, char **argv, wait_args *a)
{
    static const struct option longs[] = {
        {"parties", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'N'},    {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {"data", required_argument, NULL, 'D'},
        {"member", required_argument, NULL, 'M'},  {"members", required_argument, NULL, 'L'},
        {0}};
    char *end;
    int ch;
    *a = (wait_args){.timeout_s = -1};
    optind = 0;
    while ((ch = getopt_long(argc, argv, "n:t:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'n':
            errno = 0;
            a->parties = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || a->parties < 1 || a->parties > 1000000)
                return ctl_usage_error("wait", "-n wants a number of parties, 1..1000000");
            break;
        case 't':
            a->timeout_s = strtod(optarg, &end);
            if (*end || end == optarg || !isfinite(a->timeout_s) || a->timeout_s < 0)
                return ctl_usage_error("wait", "-t wants seconds >= 0, e.g. 2.5");
            break;
        case 'N':
            a->client = optarg;
            break;
        case 'j':
            g->json = 1;
            break;
        case 'D':
            a->data = optarg;
            break;
        case 'M':
            a->member = optarg;
            break;
        case 'L':
            if (split_members(a, optarg) < 0)
                return ctl_usage_error("wait", "--members wants names separated by commas");
            break;
        case 'h':
            fputs(help, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_usage_error("wait", NULL);
        }
    }
    if (argc - optind != 1) return ctl_usage_error("wait", "wait takes one barrier NAME");
    if (!a->parties && a->n_members) a->parties = a->n_members;
    if (!a->parties) return ctl_usage_error("wait", "wait needs -n PARTIES");
    if (a->n_members && a->parties != a->n_members)
        return ctl_usage_error("wait", "-n %lu, but --members names %zu", a->parties,
                               a->n_members);
    a->name = argv[optind];
    return -1;
}

/* ---- the progress line ---- */

/* A watch on the barrier, opened before the wait so that this party's own
 * arrival is among its events, read by a helper thread that redraws the line. */
typedef struct progress {
    bc_watch *w;
    const char *name;
    unsigned parties;
    pthread_t thread;
    pthread_mutex_t mu;
    int done;
    int drawn;
} progress;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *progress_main(void *arg)
{
    progress *p = arg;
    bc_status st;
    unsigned n = bc_watch_status(p->w, &st) == 0 ? st.n_waiting : 0, shown = UINT32_MAX;
    int broken = 0, shown_broken = 0;
    /* A wait released at once never draws anything. */
    int64_t draw_from = now_ms() + 300;
    for (;;) {
        bc_event e;
        int rc = bc_watch_next(p->w, 0.1, &e);
        if (rc != BC_OK && rc != BC_ETIMEDOUT) break; /* the watch is over; the wait will tell */
        if (rc == BC_OK && strcmp(e.type, "release") != 0) { /* released: the wait returns */
            n = e.n_waiting;
            broken = !strcmp(e.type, "break") || !strcmp(e.type, "reset");
        }
        pthread_mutex_lock(&p->mu);
        int done = p->done;
        if (!done && now_ms() >= draw_from && (n != shown || broken != shown_broken)) {
            fprintf(stderr, "\r\033[Kwaiting at '%s': %u/%u arrived%s", p->name, n, p->parties,
                    broken ? " (broken)" : "");
            fflush(stderr);
            p->drawn = 1;
            shown = n;
            shown_broken = broken;
        }
        pthread_mutex_unlock(&p->mu);
        if (done) break;
    }
    return NULL;
}

static int progress_start(progress *p, ctl *g, const wait_args *a)
{
    *p = (progress){.name = a->name, .parties = (unsigned)a->parties};
    if (ctl_watch_open(g, a->name, &p->w) != 0) return 0; /* no line, the wait goes on */
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, progress_main, p) == 0) return 1;
    pthread_mutex_destroy(&p->mu);
    bc_watch_close(p->w);
    return 0;
}

static void progress_stop(progress *p)
{
    pthread_mutex_lock(&p->mu);
    p->done = 1;
    if (p->drawn) fprintf(stderr, "\r\033[K");
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL); /* within its 0.1 s read */
    pthread_mutex_destroy(&p->mu);
    bc_watch_close(p->w);
}

/* ---- the command ---- */

/* ---- rendezvous: --data, --member, --members ---- */

static void print_rendezvous_json(const bc_rendezvous *r)
{
    size_t n = bc_rendezvous_n_gathered(r), len;
    if (n) {
        printf(",\"gathered\":[");
        for (size_t i = 0; i < n; i++) {
            const char *d = bc_rendezvous_gathered(r, i, &len);
            if (i) putchar(',');
            if (d) ctl_json_str(d);
            else fputs("null", stdout);
        }
        putchar(']');
    }
    const char *res = bc_rendezvous_action_result(r, &len);
    if (res) {
        printf(",\"action_result\":");
        ctl_json_str(res);
    }
}

static void print_rendezvous(const bc_rendezvous *r)
{
    size_t n = bc_rendezvous_n_gathered(r), len;
    for (size_t i = 0; i < n; i++) {
        const char *d = bc_rendezvous_gathered(r, i, &len);
        if (d) printf("gathered %zu: %s\n", i, d);
        else printf("gathered %zu: (none)\n", i);
    }
    const char *res = bc_rendezvous_action_result(r, &len);
    if (res) printf("action result: %s\n", res);
}

static int wait_rendezvous(ctl *g, bc_client *c, const wait_args *a)
{
    bc_wait_args wa = {.name = a->name,
                       .parties = (unsigned)a->parties,
                       .has_timeout = a->timeout_s >= 0,
                       .timeout_s = a->timeout_s,
                       .data = a->data,
                       .data_len = a->data ? strlen(a->data) : 0,
                       .member = a->member,
                       .members = a->members,
                       .n_members = a->n_members};
    bc_rendezvous *r;
    int rc = bc_wait_ex(c, &wa, &r);
    bc_close(c);
    if (rc < 0) return ctl_fail(g, rc, "wait '%s'", a->name);
    if (g->json) {
        printf("{\"ok\":true,\"barrier\":");
        ctl_json_str(a->name);
        printf(",\"parties\":%lu,\"index\":%u,\"generation\":%" PRIu64, a->parties,
               bc_rendezvous_index(r), bc_rendezvous_generation(r));
        print_rendezvous_json(r);
        printf("}\n");
    } else {
        printf("released: index %u of %lu, generation %" PRIu64 "\n", bc_rendezvous_index(r),
               a->parties, bc_rendezvous_generation(r));
        print_rendezvous(r);
    }
    bc_rendezvous_free(r);
    return CTL_EXIT_OK;
}

static void args_free(wait_args *a)
{
    free(a->members_text);
    free(a->members);
}

int ctl_cmd_wait(ctl *g, int argc, char **argv)
{
    wait_args a;
    int rc = parse(g, argc, argv, &a);
    if (rc < 0 && (a.data || a.member || a.n_members)) {
        bc_client *c;
        if ((rc = ctl_connect(g, a.client, &c)) == 0) rc = wait_rendezvous(g, c, &a);
        args_free(&a);
        return rc;
    }
    if (rc >= 0) {
        args_free(&a);
        return rc;
    }
    bc_client *c;
    if ((rc = ctl_connect(g, a.client, &c)) != 0) return rc;
    progress p;
    int show = isatty(STDERR_FILENO) && progress_start(&p, g, &a);
    bc_wait_result r;
    rc = bc_wait(c, a.name, (unsigned)a.parties, a.timeout_s, NULL, NULL, &r);
    if (show) progress_stop(&p);
    bc_close(c);
    if (rc < 0) return ctl_fail(g, rc, "wait '%s'", a.name);
    if (g->json) {
        printf("{\"ok\":true,\"barrier\":");
        ctl_json_str(a.name);
        printf(",\"parties\":%lu,\"index\":%u,\"generation\":%" PRIu64 "}\n", a.parties, r.index,
               r.generation);
    } else {
        printf("released: index %u of %lu, generation %" PRIu64 "\n", r.index, a.parties,
               r.generation);
    }
    return CTL_EXIT_OK;
}
