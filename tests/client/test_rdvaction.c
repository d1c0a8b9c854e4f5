/* test_rdvaction.c - one bc_wait_ex asked to run its action for two
 * generations (a server that lost the first outcome may ask again), against a
 * scripted fake server in a thread of the test (loopback):
 *
 *   no_stale_result      the second run sets no result: its action_done carries
 *                        none (not the first run's)
 *   bad_gathered         a release whose gathered array bc_wait_ex cannot read:
 *                        still BC_OK (the party was released), *out NULL
 *   result_reannounced   the connection is lost while the second run is under way
 *                        (after it set a new result): the first action_done is
 *                        re-sent with the first run's result, intact; the
 *                        second goes with its own
 *
 * One ctest per case (client_rdvaction_<case>).
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a line-at-a-time fake server ---- */

typedef struct fake {
    int lfd, fd;
    unsigned port;
    int reconnect; /* close the connection during the second run */
    int bad_gathered; /* release the wait at once, with "gathered":[1] */
    char buf[65536];
    size_t have;
    /* what it saw */
    int ok;             /* the script ran to its end */
    char why[256];      /* else where it stopped */
    char result0[64];   /* the first action_done's result ("-": none) */
    char result0b[64];  /* the first action_done as re-sent ("-": none, "": not seen) */
    char result1[64];   /* the second action_done's result ("-": none) */
    pthread_t thread;
} fake;

/* The next line as JSON (NULL after 5 s or at the end). */
static cJSON *next_msg(fake *f)
{
    int64_t end = ts_now_ms() + 5000;
    for (;;) {
        char *nl = memchr(f->buf, '\n', f->have);
        if (nl) {
            *nl = '\0';
            cJSON *j = cJSON_Parse(f->buf);
            f->have -= (size_t)(nl + 1 - f->buf);
            memmove(f->buf, nl + 1, f->have);
            return j;
        }
        int64_t left = end - ts_now_ms();
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) return NULL;
        ssize_t n = read(f->fd, f->buf + f->have, sizeof f->buf - f->have);
        if (n <= 0) return NULL;
        f->have += (size_t)n;
    }
}

static void say(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(fake *f, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ssize_t w = write(f->fd, line, (size_t)n);
    (void)w;
}

static const char *str_of(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Accept and answer hello. */
static int fake_accept(fake *f)
{
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};
    if (poll(&p, 1, 5000) <= 0) return 0;
    f->fd = accept(f->lfd, NULL, NULL);
    f->have = 0;
    cJSON *h = next_msg(f);
    int ok = h && str_of(h, "op") && strcmp(str_of(h, "op"), "hello") == 0;
    if (ok)
        say(f, "{\"id\":%.0f,\"ok\":true,\"version\":1,\"server\":\"fake\",\"heartbeat_ms\":0}\n",
            num_of(h, "id"));
    cJSON_Delete(h);
    return ok;
}

/* Read until an action_done of generation gen; answer it; its result into out. */
static int take_done(fake *f, double gen, char *out, size_t cap, double *wait_id)
{
    for (;;) {
        cJSON *m = next_msg(f);
        if (!m) return 0;
        const char *op = str_of(m, "op");
        if (op && strcmp(op, "wait") == 0 && wait_id) *wait_id = num_of(m, "id");
        if (op && strcmp(op, "action_done") == 0 && num_of(m, "generation") == gen) {
            const char *r = str_of(m, "result");
            snprintf(out, cap, "%s", r ? r : "-");
            say(f, "{\"id\":%.0f,\"ok\":true}\n", num_of(m, "id"));
            cJSON_Delete(m);
            return 1;
        }
        cJSON_Delete(m);
    }
}

#define FAIL_AT(what)                                                                             \
    do {                                                                                          \
        snprintf(f->why, sizeof f->why, "%s", what);                                              \
        return NULL;                                                                              \
    } while (0)

static void *fake_main(void *arg)
{
    fake *f = arg;
    if (!fake_accept(f)) FAIL_AT("no hello");
    cJSON *w = next_msg(f);
    double id = w ? num_of(w, "id") : -1;
    cJSON_Delete(w);
    if (id < 0) FAIL_AT("no wait");
    if (f->bad_gathered) {
        say(f, "{\"id\":%.0f,\"index\":0,\"ok\":true,\"barrier\":\"b\",\"generation\":0,"
               "\"gathered\":[1]}\n", id);
        f->ok = 1;
        return NULL;
    }
    say(f, "{\"event\":\"run_action\",\"id\":%.0f,\"barrier\":\"b\",\"generation\":0}\n", id);
    if (!take_done(f, 0, f->result0, sizeof f->result0, NULL)) FAIL_AT("no action_done 0");
    say(f, "{\"event\":\"run_action\",\"id\":%.0f,\"barrier\":\"b\",\"generation\":1}\n", id);
    if (f->reconnect) {
        ts_sleep_ms(150); /* the action has set its new result by now */
        close(f->fd);
        if (!fake_accept(f)) FAIL_AT("no hello after the close");
        if (!take_done(f, 0, f->result0b, sizeof f->result0b, &id))
            FAIL_AT("action_done 0 not re-sent");
    }
    if (!take_done(f, 1, f->result1, sizeof f->result1, NULL)) FAIL_AT("no action_done 1");
    say(f, "{\"id\":%.0f,\"index\":0,\"ok\":true,\"barrier\":\"b\",\"generation\":1}\n", id);
    f->ok = 1;
    return NULL;
}

static void fake_start(fake *f, int reconnect)
{
    memset(f, 0, sizeof *f);
    f->reconnect = reconnect;
    f->bad_gathered = reconnect < 0;
    f->fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(f->lfd, 4), 0);
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_join(fake *f)
{
    pthread_join(f->thread, NULL);
    if (f->fd >= 0) close(f->fd);
    close(f->lfd);
}

/* ---- the client ---- */

typedef struct runs {
    int n;
    int second_sets; /* the second run sets "second" (then takes a while) */
} runs;

static int action(void *arg, bc_action_ctx *ctx)
{
    runs *r = arg;
    if (++r->n == 1) return bc_action_set_result(ctx, "first", 5) == BC_OK ? 0 : 1;
    if (r->second_sets) {
        if (bc_action_set_result(ctx, "second", 6) != BC_OK) return 1;
        ts_sleep_ms(600); /* the connection goes meanwhile */
    }
    return 0;
}

static void run_case(int reconnect, fake *f)
{
    fake_start(f, reconnect);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", f->port);
    bc_options o = {.connect_timeout_s = 2, .resume_s = 10};
    bc_client *c = NULL;
    ck_assert_msg(bc_connect(addr, &o, &c) == BC_OK, "%s", bc_last_error_message());
    runs r = {.second_sets = reconnect};
    bc_wait_args a = {.name = "b", .parties = 1, .action = action, .action_arg = &r};
    bc_rendezvous *out = NULL;
    int rc = bc_wait_ex(c, &a, &out);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", bc_last_error_message());
    bc_close(c);
    fake_join(f);
    ck_assert_msg(f->ok, "the fake server stopped: %s", f->why);
    ck_assert_msg(rc == BC_OK, "%s: %s", bc_strerror(rc), msg);
    ck_assert_int_eq(r.n, 2);
    bc_rendezvous_free(out);
}

START_TEST(no_stale_result)
{
    fake f;
    run_case(0, &f);
    ck_assert_str_eq(f.result0, "first");
    ck_assert_msg(strcmp(f.result1, "-") == 0, "the second run set none, yet sent '%s'",
                  f.result1);
}
END_TEST

START_TEST(bad_gathered)
{
    fake f;
    fake_start(&f, -1);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", f.port);
    bc_options o = {.connect_timeout_s = 2, .resume_s = 10};
    bc_client *c = NULL;
    ck_assert_msg(bc_connect(addr, &o, &c) == BC_OK, "%s", bc_last_error_message());
    bc_wait_args a = {.name = "b", .parties = 1};
    bc_rendezvous *out = (bc_rendezvous *)&f; /* must become NULL */
    int rc = bc_wait_ex(c, &a, &out);
    bc_close(c);
    fake_join(&f);
    ck_assert_msg(f.ok, "the fake server stopped: %s", f.why);
    ck_assert_msg(rc == BC_OK, "%s: %s", bc_strerror(rc), bc_last_error_message());
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(bc_last_error_message(), "gathered"), "message: %s",
                  bc_last_error_message());
}
END_TEST

START_TEST(result_reannounced)
{
    fake f;
    run_case(1, &f);
    ck_assert_str_eq(f.result0, "first");
    ck_assert_msg(strcmp(f.result0b, "first") == 0, "the first outcome re-sent with '%s'",
                  f.result0b);
    ck_assert_str_eq(f.result1, "second");
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"no_stale_result", no_stale_result, 0},
        {"result_reannounced", result_reannounced, 0},
        {"bad_gathered", bad_gathered, 0},
    };
    unsetenv("BARRIERD_ADDR");
    return ts_run_cases("client_rdvaction", cases, TS_NCASES(cases));
}
