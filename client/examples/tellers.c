/* tellers.c - the bank tellers of Python's threading.Barrier example, with
 * barrierd's barrier across processes.
 *
 * Three tellers prepare their counters (1-3 s each), wait at a barrier of three,
 * then all announce at the same second that they are ready to serve customers.
 *
 *   tellers                   three teller processes (forked), one barrier
 *   tellers --threads         three threads sharing one bc_client handle
 *   tellers --teller "Teller 1"   one teller only: run three of them anywhere
 *                             (see run-tellers.sh)
 * Options: -a ADDR (default $BARRIERD_ADDR, else 127.0.0.1:7411), --barrier NAME.
 */
#include "barrierclient.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_TELLERS 3

static const char *addr; /* NULL: $BARRIERD_ADDR or the default */
static const char *barrier = "tellers";

/* "10:19:42", like the Python original's time.strftime("%H:%M:%S"). */
static const char *now(char buf[16])
{
    time_t t = time(NULL);
    struct tm tm;
    strftime(buf, 16, "%H:%M:%S", localtime_r(&t, &tm));
    return buf;
}

/* Prepare, wait for the other tellers, announce. Uses c, shared or not. */
static int prepare_for_work(bc_client *c, const char *name, unsigned seed)
{
    char ts[16];
    printf("%s: %s is preparing their counter.\n", now(ts), name);
    /* Different tellers take a different time to prepare. */
    sleep(1 + rand_r(&seed) % 3);
    printf("%s: %s has finished preparing.\n", now(ts), name);

    /* Wait for the other tellers to finish preparing. */
    int rc = bc_wait(c, barrier, N_TELLERS, -1, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "%s: %s could not wait: %s (%s)\n", now(ts), name, bc_strerror(rc),
                bc_last_error_message());
        return 1;
    }
    printf("%s: %s is now ready to serve customers.\n", now(ts), name);
    return 0;
}

/* One teller with a connection of its own. */
static int teller(const char *name)
{
    bc_options o = {.client_name = name};
    bc_client *c;
    int rc = bc_connect(addr, &o, &c);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot connect: %s\n", name, bc_last_error_message());
        return 1;
    }
    /* Processes started together must not all draw the same delay. */
    rc = prepare_for_work(c, name, (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL));
    bc_close(c);
    return rc;
}

static int run_processes(void)
{
    pid_t pids[N_TELLERS];
    for (int i = 0; i < N_TELLERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "Teller %d", i + 1);
        fflush(stdout);
        if ((pids[i] = fork()) == 0) _exit(teller(name));
        if (pids[i] < 0) {
            perror("fork");
            return 1;
        }
    }
    int failed = 0;
    for (int i = 0; i < N_TELLERS; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    return failed;
}

typedef struct teller_thread {
    pthread_t thread;
    bc_client *c;
    char name[32];
    unsigned seed;
    int rc;
} teller_thread;

static void *teller_main(void *arg)
{
    teller_thread *t = arg;
    t->rc = prepare_for_work(t->c, t->name, t->seed);
    return NULL;
}

/* The threads variant: one handle, three threads blocked in bc_wait on it. */
static int run_threads(void)
{
    bc_options o = {.client_name = "tellers --threads"};
    bc_client *c;
    if (bc_connect(addr, &o, &c) < 0) {
        fprintf(stderr, "cannot connect: %s\n", bc_last_error_message());
        return 1;
    }
    teller_thread t[N_TELLERS];
    for (int i = 0; i < N_TELLERS; i++) {
        t[i] = (teller_thread){.c = c, .seed = (unsigned)time(NULL) + (unsigned)i * 7919u};
        snprintf(t[i].name, sizeof t[i].name, "Teller %d", i + 1);
        pthread_create(&t[i].thread, NULL, teller_main, &t[i]);
    }
    int failed = 0;
    for (int i = 0; i < N_TELLERS; i++) {
        pthread_join(t[i].thread, NULL);
        failed |= t[i].rc;
    }
    bc_close(c);
    return failed;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tellers [-a ADDR] [--barrier NAME] [--threads | --teller NAME]\n");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"addr", required_argument, NULL, 'a'}, {"barrier", required_argument, NULL, 'b'},
        {"threads", no_argument, NULL, 't'},    {"teller", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},       {0}};
    const char *one = NULL;
    int threads = 0, ch;
    while ((ch = getopt_long(argc, argv, "a:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'a':
            addr = optarg;
            break;
        case 'b':
            barrier = optarg;
            break;
        case 't':
            threads = 1;
            break;
        case 'T':
            one = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, even into a pipe */
    if (one) return teller(one);
    int rc = threads ? run_threads() : run_processes();
    if (rc == 0) {
        char ts[16];
        printf("%s: All tellers are ready to serve customers.\n", now(ts));
    }
    return rc;
}
