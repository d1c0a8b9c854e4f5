/* test_rdvlimit.c - a request too long for the server, and waits re-announced
 * to a server that keeps closing on them:
 *
 *   long_members_refused  a member list over the server's --max-line (as its
 *                         hello says) is refused by the library, BC_ELIMIT at
 *                         once, nothing sent; the handle works on
 *   old_server_gives_up   a server whose hello does not say its limit, and that
 *                         answers a long line with an error without id and a
 *                         close: the wait gets BC_ELIMIT after a few
 *                         connections, not a reconnect loop
 *   old_server_timeout    the same server closing silently: the wait's own
 *                         timeout still ends it (BC_ETIMEDOUT), on time
 *
 * The "old server" is a fake in a thread of the test (loopback, one connection
 * at a time). One ctest per case (client_rdvlimit_<case>).
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OLD_MAX_LINE 256

/* n_members names of about 20 bytes each. */
static const char **many_names(size_t n, char (**store)[32])
{
    *store = calloc(n, sizeof **store);
    const char **v = calloc(n, sizeof *v);
    ck_assert(*store && v);
    for (size_t i = 0; i < n; i++) {
        snprintf((*store)[i], sizeof (*store)[i], "member-%012zu", i);
        v[i] = (*store)[i];
    }
    return v;
}

START_TEST(long_members_refused)
{
    ts_server s = {0};
    const char *extra[] = {"--max-line", "4096", NULL};
    tc_server_up(&s, extra);
    bc_client *c = tc_connect(s.addr);
    char(*store)[32];
    const char **names = many_names(300, &store); /* ~7 KB of JSON */
    bc_wait_args a = {.name = "long", .member = names[0], .members = names, .n_members = 300,
                      .has_timeout = 1, .timeout_s = 5};
    int64_t t0 = ts_now_ms();
    int rc = bc_wait_ex(c, &a, NULL);
    int64_t took = ts_now_ms() - t0;
    ck_assert_msg(rc == BC_ELIMIT, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_msg(strstr(bc_last_error_message(), "--max-line"), "message: %s",
                  bc_last_error_message());
    ck_assert_msg(took < 1000, "refused after %lld ms", (long long)took);
    /* Nothing went out: no barrier, and the handle works on. */
    ck_assert_int_eq(bc_ping(c, NULL), BC_OK);
    bc_status st;
    ck_assert_int_eq(bc_status_get(c, "long", &st), BC_ENOTFOUND);
    bc_close(c);
    free(names);
    free(store);
    ts_server_down(&s);
}
END_TEST

/* ---- an old server ---- */

typedef struct old_server {
    int lfd;
    unsigned port;
    int silent;        /* close on a long line without saying why */
    int stop;          /* guarded by mu */
    unsigned accepted; /* guarded by mu */
    pthread_mutex_t mu;
    pthread_t thread;
} old_server;

static int old_stopped(old_server *o)
{
    pthread_mutex_lock(&o->mu);
    int s = o->stop;
    pthread_mutex_unlock(&o->mu);
    return s;
}

static void old_line(int fd, const char *line, size_t len)
{
    if (!strstr(line, "\"op\":\"hello\"")) return; /* the rest waits forever */
    const char *id = strstr(line, "\"id\":");
    char reply[200];
    int n = snprintf(reply, sizeof reply,
                     "{\"id\":%llu,\"ok\":true,\"version\":1,\"server\":\"barrierd 0.1\","
                     "\"heartbeat_ms\":0}\n",
                     id ? strtoull(id + 5, NULL, 10) : 0ull);
    ssize_t w = write(fd, reply, (size_t)n);
    (void)w;
    (void)len;
}

/* Serve one connection until it closes or sends a line over OLD_MAX_LINE. */
static void old_conn(old_server *o, int fd)
{
    char buf[OLD_MAX_LINE + 2];
    size_t have = 0;
    while (!old_stopped(o)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) return;
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            *nl = '\0';
            old_line(fd, buf, (size_t)(nl - buf));
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
        if (have > OLD_MAX_LINE) {
            static const char err[] =
                "{\"ok\":false,\"error\":\"limit\",\"message\":\"line longer than 256 bytes\"}\n";
            if (!o->silent) {
                ssize_t w = write(fd, err, sizeof err - 1);
                (void)w;
            }
            return;
        }
    }
}

static void *old_main(void *arg)
{
    old_server *o = arg;
    while (!old_stopped(o)) {
        struct pollfd p = {.fd = o->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        int fd = accept(o->lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&o->mu);
        o->accepted++;
        pthread_mutex_unlock(&o->mu);
        old_conn(o, fd);
        close(fd);
    }
    return NULL;
}

static void old_start(old_server *o, int silent)
{
    *o = (old_server){.silent = silent};
    pthread_mutex_init(&o->mu, NULL);
    o->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(o->lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(o->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(o->lfd, 16), 0);
    ck_assert_int_eq(getsockname(o->lfd, (struct sockaddr *)&a, &len), 0);
    o->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&o->thread, NULL, old_main, o), 0);
}

static unsigned old_stop(old_server *o)
{
    pthread_mutex_lock(&o->mu);
    o->stop = 1;
    unsigned n = o->accepted;
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);
    close(o->lfd);
    pthread_mutex_destroy(&o->mu);
    return n;
}

/* A wait with data over OLD_MAX_LINE to an old server: rc and how long. */
static int old_wait(old_server *o, double timeout_s, int64_t *took, unsigned *conns)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", o->port);
    bc_options opts = {.connect_timeout_s = 2, .resume_s = 30};
    bc_client *c = NULL;
    ck_assert_msg(bc_connect(addr, &opts, &c) == BC_OK, "%s", bc_last_error_message());
    char data[600];
    memset(data, 'd', sizeof data - 1);
    data[sizeof data - 1] = '\0';
    bc_wait_args a = {.name = "old", .parties = 2, .data = data, .data_len = strlen(data),
                      .has_timeout = timeout_s >= 0, .timeout_s = timeout_s};
    int64_t t0 = ts_now_ms();
    int rc = bc_wait_ex(c, &a, NULL);
    *took = ts_now_ms() - t0;
    bc_close(c);
    *conns = old_stop(o);
    return rc;
}

START_TEST(old_server_gives_up)
{
    old_server o;
    old_start(&o, 0);
    int64_t took;
    unsigned conns;
    int rc = old_wait(&o, -1, &took, &conns);
    ck_assert_msg(rc == BC_ELIMIT, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_msg(strstr(bc_last_error_message(), "line longer than 256 bytes"), "message: %s",
                  bc_last_error_message());
    ck_assert_msg(conns <= 6, "%u connections", conns);
    ck_assert_msg(took < 5000, "gave up after %lld ms", (long long)took);
}
END_TEST

START_TEST(old_server_timeout)
{
    old_server o;
    old_start(&o, 1);
    int64_t took;
    unsigned conns;
    int rc = old_wait(&o, 1.0, &took, &conns);
    ck_assert_msg(rc == BC_ETIMEDOUT, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_msg(took >= 900 && took < 3000, "timed out after %lld ms", (long long)took);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"long_members_refused", long_members_refused, 0},
        {"old_server_gives_up", old_server_gives_up, 0},
        {"old_server_timeout", old_server_timeout, 0},
    };
    unsetenv("BARRIERD_ADDR");
    return ts_run_cases("client_rdvlimit", cases, TS_NCASES(cases));
}
