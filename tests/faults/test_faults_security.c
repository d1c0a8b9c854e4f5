/* test_faults_security.c - token authentication and limits, end to end:
 *
 *   auth_sources       the token from bc_options.auth_token, from
 *                      $BARRIERD_TOKEN and from barrierctl --token-file all
 *                      work (three parties of one barrier); wrong or missing
 *                      tokens get BC_EAUTH (barrierctl: exit 1).
 *   auth_raw           over raw sockets: every op but ping before hello gets
 *                      `auth` and the connection is closed; so does a wrong or
 *                      missing token (near misses included); nothing they
 *                      asked for happened.
 *   token_not_logged   the token never appears in barrierd's log at
 *                      --log-level debug, nor in stats (library, raw,
 *                      barrierctl --json).
 *   nonloopback_warning  0.0.0.0 without a token logs the warning; loopback,
 *                      or a token, does not. Runs in a private network
 *                      namespace when it can.
 *   limits_library     --max-parties, --max-barriers, name and client-name
 *                      lengths as the library reports them.
 */
#include "faults_common.h"
#include "ts_file.h"
#include "tc_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a token file with a fresh random token ---- */

typedef struct token_file {
    char path[64];
    char token[80];
} token_file;

/* Token files are removed when the test process exits, passed or failed. */
static char made_paths[8][64];
static int n_made;

static void remove_made(void)
{
    for (int i = 0; i < n_made; i++)
        unlink(made_paths[i]);
}

static void token_make(token_file *t, const char *prefix)
{
    unsigned char rnd[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    it_assert(fd >= 0 && read(fd, rnd, sizeof rnd) == (ssize_t)sizeof rnd);
    close(fd);
    int n = snprintf(t->token, sizeof t->token, "%s", prefix);
    for (size_t i = 0; i < sizeof rnd; i++)
        n += snprintf(t->token + n, sizeof t->token - (size_t)n, "%02x", rnd[i]);
    snprintf(t->path, sizeof t->path, "/tmp/faults-token-XXXXXX");
    fd = mkstemp(t->path);
    it_assert(fd >= 0);
    if (n_made == 0)
        atexit(remove_made);
    if (n_made < 8)
        memcpy(made_paths[n_made++], t->path, sizeof t->path);
    it_assert(dprintf(fd, "%s\n", t->token) > 0);
    close(fd);
}

/* ---- barrierctl runs ---- */

typedef tc_ctl ctl_run;

/* Start barrierctl ARGS... (NULL-terminated) without $BARRIERD_TOKEN. */
#define ctl_start(r, ...) tc_ctl_start((r), 1, __VA_ARGS__)

static int ctl_finish(ctl_run *r)
{
    return tc_ctl_finish(r, 30);
}

#define CTL(r, ...) (ctl_start((r), __VA_ARGS__, (const char *)NULL), ctl_finish(r))

/* ---- auth through the library and barrierctl ---- */

static int connect_with(const char *addr, const char *token, bc_client **out)
{
    bc_options o = {0};
    o.auth_token = token;
    *out = NULL;
    return bc_connect(addr, &o, out);
}

START_TEST(auth_sources)
{
    token_file t;
    token_make(&t, "tok-");
    ts_server s = {0};
    ts_server_up(&s, "--auth-token-file", t.path, NULL);
    const char *addr = s.addr;
    unsetenv("BARRIERD_TOKEN");

    /* Refused: missing, wrong, a near miss either way, a wrong one from the
     * environment. */
    bc_client *c = NULL;
    int rc = connect_with(addr, NULL, &c);
    it_assert_msg(rc == BC_EAUTH, "no token: %s: %s", bc_strerror(rc), bc_last_error_message());
    fprintf(stderr, "auth_sources: no token: %s\n", bc_last_error_message());
    rc = connect_with(addr, "wrong", &c);
    it_assert_msg(rc == BC_EAUTH, "wrong token: %s", bc_strerror(rc));
    fprintf(stderr, "auth_sources: wrong token: %s\n", bc_last_error_message());
    char near[96];
    snprintf(near, sizeof near, "%.*s", (int)strlen(t.token) - 1, t.token);
    it_assert(connect_with(addr, near, &c) == BC_EAUTH);
    snprintf(near, sizeof near, "%sx", t.token);
    it_assert(connect_with(addr, near, &c) == BC_EAUTH);
    setenv("BARRIERD_TOKEN", "not-it", 1);
    it_assert(connect_with(addr, NULL, &c) == BC_EAUTH);
    /* bc_options wins over the environment. */
    bc_client *by_opts = NULL;
    it_assert(connect_with(addr, t.token, &by_opts) == BC_OK);
    /* The environment. */
    setenv("BARRIERD_TOKEN", t.token, 1);
    bc_client *by_env = NULL;
    it_assert(connect_with(addr, NULL, &by_env) == BC_OK);
    unsetenv("BARRIERD_TOKEN");

    /* Three parties of one barrier: options, environment, barrierctl. */
    tc_waiter w[2] = {
        {.c = by_opts, .name = "sec", .parties = 3, .timeout_s = 30},
        {.c = by_env, .name = "sec", .parties = 3, .timeout_s = 30},
    };
    tc_waiter_start(&w[0]);
    tc_waiter_start(&w[1]);
    unsigned seen = 0;
    if (ts_barrierctl_path()) {
        ctl_run r;
        int st = CTL(&r, "-a", addr, "--token-file", t.path, "--json", "wait", "sec", "-n", "3",
                     "-t", "30");
        it_assert_msg(st == 0, "barrierctl --token-file wait: exit %d: %s", st, r.err);
        const char *ix = strstr(r.out, "\"index\":");
        it_assert_msg(ix, "barrierctl output: %s", r.out);
        unsigned idx = (unsigned)atoi(ix + 8);
        it_assert(idx < 3);
        seen |= 1u << idx;
    } else {
        fprintf(stderr, "auth_sources: $BARRIERCTL not set; a third library party instead\n");
        bc_client *third = NULL;
        it_assert(connect_with(addr, t.token, &third) == BC_OK);
        bc_wait_result res;
        it_assert(bc_wait(third, "sec", 3, 30, NULL, NULL, &res) == BC_OK);
        seen |= 1u << res.index;
        bc_close(third);
    }
    for (int i = 0; i < 2; i++) {
        tc_waiter_join(&w[i]);
        it_assert_msg(w[i].rc == BC_OK, "waiter %d: %s: %s", i, bc_strerror(w[i].rc), w[i].msg);
        it_assert(w[i].res.index < 3 && !(seen & (1u << w[i].res.index)));
        seen |= 1u << w[i].res.index;
    }
    it_assert(seen == 7);

    if (ts_barrierctl_path()) {
        token_file wrong;
        token_make(&wrong, "other-");
        ctl_run r;
        int st = CTL(&r, "-a", addr, "--token-file", wrong.path, "ping");
        it_assert_msg(st == 1, "barrierctl with a wrong token file: exit %d", st);
        it_assert_msg(strstr(r.err, "auth") || strstr(r.err, "token"), "stderr: %s", r.err);
        st = CTL(&r, "-a", addr, "wait", "sec", "-n", "3", "-t", "1");
        it_assert_msg(st == 1, "barrierctl without a token: exit %d: %s", st, r.err);
        st = CTL(&r, "-a", addr, "--token-file", t.path, "stats");
        it_assert_msg(st == 0, "barrierctl stats with the token: exit %d: %s", st, r.err);
        unlink(wrong.path);
    }
    it_assert(ts_server_log_contains(&s, "authentication failed"));
    bc_close(by_opts);
    bc_close(by_env);
    ts_server_down(&s);
    unlink(t.path);
}
END_TEST

/* ---- auth over raw sockets ---- */

/* An op sent before hello: `auth` with its id, then the connection closes. */
static void expect_refused_then_closed(const ts_server *s, const char *line, int64_t id,
                                       const char *what)
{
    it_conn *c = it_connect(s);
    it_assert(it_sendf(c, "%s", line) == 0);
    char m[BP_MESSAGE_MAX];
    it_expect_err(c, id, BP_EAUTH, IT_TIMEOUT_MS, m, sizeof m);
    it_expect_eof(c, (int)(IT_TIMEOUT_MS * ts_slow()));
    if (id == 1)
        fprintf(stderr, "auth_raw: %s before hello: auth: %s; closed\n", what, m);
    it_close(c);
}

START_TEST(auth_raw)
{
    token_file t;
    token_make(&t, "raw-");
    ts_server s = {0};
    ts_server_up(&s, "--auth-token-file", t.path, NULL);
    static const struct {
        const char *what, *line;
    } before[] = {
        {"wait", "{\"op\":\"wait\",\"id\":1,\"barrier\":\"pre\",\"parties\":1}"},
        {"status", "{\"op\":\"status\",\"id\":2,\"barrier\":\"pre\"}"},
        {"list", "{\"op\":\"list\",\"id\":3}"},
        {"stats", "{\"op\":\"stats\",\"id\":4}"},
        {"abort", "{\"op\":\"abort\",\"id\":5,\"barrier\":\"pre\"}"},
        {"reset", "{\"op\":\"reset\",\"id\":6,\"barrier\":\"pre\"}"},
        {"action_done",
         "{\"op\":\"action_done\",\"id\":7,\"barrier\":\"pre\",\"generation\":0,\"success\":true}"},
    };
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        expect_refused_then_closed(&s, before[i].line, (int64_t)i + 1, before[i].what);

    /* Wrong, missing, near-miss tokens: auth, closed. */
    char line[256];
    const char *bad[4];
    char shorter[96], longer[96];
    snprintf(shorter, sizeof shorter, "%.*s", (int)strlen(t.token) - 1, t.token);
    snprintf(longer, sizeof longer, "%s0", t.token);
    bad[0] = "nope";
    bad[1] = shorter;
    bad[2] = longer;
    bad[3] = "";
    for (int i = 0; i < 4; i++) {
        snprintf(line, sizeof line, "{\"op\":\"hello\",\"id\":10,\"version\":1,\"token\":\"%s\"}",
                 bad[i]);
        expect_refused_then_closed(&s, line, 10, "a wrong token");
    }
    expect_refused_then_closed(&s, "{\"op\":\"hello\",\"id\":11,\"version\":1}", 11,
                               "hello without a token");
    /* A token of the wrong type is a bad field: inval, and still no entry. */
    {
        it_conn *c = it_connect(&s);
        it_assert(it_sendf(c, "{\"op\":\"hello\",\"id\":12,\"token\":42}") == 0);
        bp_reply r;
        it_expect_reply(c, IT_TIMEOUT_MS, &r);
        it_assert_msg(r.code == BP_EINVAL || r.code == BP_EAUTH, "token 42: code %d", r.code);
        int code = r.code;
        bp_reply_free(&r);
        if (code == BP_EINVAL) {
            it_assert(it_sendf(c, "{\"op\":\"list\",\"id\":13}") == 0);
            it_expect_err(c, 13, BP_EAUTH, IT_TIMEOUT_MS, NULL, 0);
        }
        it_expect_eof(c, IT_TIMEOUT_MS);
        it_close(c);
    }

    /* ping and pong before hello are fine; then hello with the token opens
     * everything. */
    it_conn *c = it_connect(&s);
    it_expect_ping(c, 20);
    it_assert(it_sendf(c, "{\"op\":\"pong\"}") == 0);
    it_expect_silence(c, 50);
    it_assert(it_sendf(c, "{\"op\":\"hello\",\"id\":21,\"version\":1,\"token\":\"%s\"}", t.token) ==
              0);
    bp_reply r;
    it_expect_ok(c, 21, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    /* Nothing the refused requests asked for happened. */
    it_send_op(c, BP_OP_STATUS, 22, "pre");
    it_expect_err(c, 22, BP_ENOTFOUND, IT_TIMEOUT_MS, NULL, 0);
    it_assert(it_stat(c, "waits") == 0);
    it_send_wait(c, 23, "post", 1, -1, NULL, 0);
    it_expect_release(c, 23, IT_TIMEOUT_MS, NULL, NULL);
    /* A second hello with a wrong token on an authenticated connection. */
    it_assert(it_sendf(c, "{\"op\":\"hello\",\"id\":24,\"token\":\"bad\"}") == 0);
    it_expect_err(c, 24, BP_EAUTH, IT_TIMEOUT_MS, NULL, 0);
    it_expect_eof(c, IT_TIMEOUT_MS);
    it_close(c);
    ts_server_down(&s);
    unlink(t.path);
}
END_TEST

/* ---- the token is never shown ---- */

/* The lines of text that contain needle, for the failure message. */
static void show_lines_with(const char *text, const char *needle, char *out, size_t cap)
{
    out[0] = '\0';
    size_t used = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++) {
        const char *a = p, *z = p;
        while (a > text && a[-1] != '\n')
            a--;
        while (*z && *z != '\n')
            z++;
        int w = snprintf(out + used, cap - used, "  %.*s\n", (int)(z - a > 300 ? 300 : z - a), a);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        p = z;
        if (!*z)
            break;
    }
}

START_TEST(token_not_logged)
{
    token_file t;
    token_make(&t, "secret-");
    ts_server s = {0};
    ts_server_up(&s, "--auth-token-file", t.path, "--log-level", "debug", NULL);
    const char *addr = s.addr;
    unsetenv("BARRIERD_TOKEN");
    /* Right and wrong tokens, through the library and raw. */
    bc_client *c = NULL;
    it_assert(connect_with(addr, t.token, &c) == BC_OK);
    it_assert(bc_wait(c, "logged", 1, 5, NULL, NULL, NULL) == BC_OK);
    const char *wrong = "wrong-token-7f3a9c";
    bc_client *x = NULL;
    it_assert(connect_with(addr, wrong, &x) == BC_EAUTH);
    it_conn *raw = it_connect(&s);
    it_assert(it_sendf(raw, "{\"op\":\"hello\",\"id\":1,\"token\":\"%s\"}", t.token) == 0);
    bp_reply r;
    it_expect_ok(raw, 1, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    /* stats, three ways. */
    char *json = NULL;
    it_assert(bc_query_json(c, "stats", NULL, &json) == BC_OK);
    it_assert_msg(!strstr(json, t.token), "stats shows the token: %s", json);
    free(json);
    it_send_op(raw, BP_OP_STATS, 2, NULL);
    const char *line;
    size_t len;
    it_assert(it_read_line(raw, IT_TIMEOUT_MS, &line, &len) == IT_LINE);
    it_assert_msg(!memmem(line, len, t.token, strlen(t.token)), "raw stats shows the token");
    if (ts_barrierctl_path()) {
        ctl_run cr;
        it_assert(CTL(&cr, "-a", addr, "--token-file", t.path, "--json", "stats") == 0);
        it_assert_msg(!strstr(cr.out, t.token) && !strstr(cr.err, t.token),
                      "barrierctl stats shows the token");
        it_assert(CTL(&cr, "-a", addr, "--token-file", t.path, "list") == 0);
        it_assert(!strstr(cr.out, t.token));
    }
    it_close(raw);
    bc_close(c);
    int st = ts_server_stop(&s, 5000, NULL);
    it_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *log = ts_slurp(s.log_path, NULL);
    it_assert(log != NULL);
    it_assert_msg(strstr(log, "<- "), "no request lines in the debug log?");
    char shown[4096];
    show_lines_with(log, t.token, shown, sizeof shown);
    int leaked = shown[0] != '\0';
    char shown_wrong[2048];
    show_lines_with(log, wrong, shown_wrong, sizeof shown_wrong);
    free(log);
    if (shown_wrong[0])
        fprintf(stderr, "token_not_logged: a WRONG token appears in the log too:\n%s",
                shown_wrong);
    it_assert_msg(!leaked, "the token appears in barrierd's log (--log-level debug):\n%s", shown);
    ts_server_down(&s);
    unlink(t.path);
}
END_TEST

/* ---- the non-loopback warning ---- */

static int lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return rc;
}

#define WARNING "WITHOUT an auth token"

static int warns(const char *const *extra, const char *what)
{
    ts_server s = {0};
    ts_server_upv(&s, extra);
    int w = ts_server_log_contains(&s, WARNING);
    if (w) {
        char *log = ts_slurp(s.log_path, NULL);
        char shown[1024];
        show_lines_with(log ? log : "", WARNING, shown, sizeof shown);
        fprintf(stderr, "nonloopback_warning: %s:\n%s", what, shown);
        free(log);
    }
    ts_server_down(&s);
    return w;
}

/* barrierd --listen 0.0.0.0:0 --log-level warn (its only listener): 1 if the
 * warning shows up within 5 s. */
static int warns_at_warn_level(void)
{
    ts_server s = {0};
    snprintf(s.listen, sizeof s.listen, "0.0.0.0:0");
    ts_server_up(&s, "--log-level", "warn", NULL);
    int found = 0;
    for (double end = ts_now_s() + 5 * ts_slow(); !found && ts_now_s() < end; ts_sleep_ms(10))
        found = ts_server_log_contains(&s, WARNING);
    ts_server_down(&s);
    return found;
}

START_TEST(nonloopback_warning)
{
    /* A private network namespace with only a loopback interface: 0.0.0.0
     * there reaches nothing outside the test. */
    int private_ns = unshare(CLONE_NEWNET) == 0 && lo_up() == 0;
    fprintf(stderr, "nonloopback_warning: %s\n",
            private_ns ? "in a private network namespace"
                       : "no private network namespace: binding 0.0.0.0:0 briefly");
    token_file t;
    token_make(&t, "w-");
    const char *any[] = {"--listen", "0.0.0.0:0", NULL};
    const char *loop_only[] = {NULL};
    const char *loop_name[] = {"--listen", "localhost:0", NULL};
    const char *any_tok[] = {"--listen", "0.0.0.0:0", "--auth-token-file", t.path, NULL};
    it_assert_msg(warns(any, "0.0.0.0 without a token"), "no warning for 0.0.0.0 without a token");
    it_assert_msg(!warns(loop_only, "127.0.0.1"), "a warning for 127.0.0.1");
    it_assert_msg(!warns(loop_name, "localhost"), "a warning for localhost");
    it_assert_msg(!warns(any_tok, "0.0.0.0 with a token"), "a warning for 0.0.0.0 with a token");
    /* It is at warn level: still shown with --log-level warn (where there is no
     * "listening on" line: the launcher waits for the ready file). */
    it_assert_msg(warns_at_warn_level(), "no warning with --log-level warn");
    unlink(t.path);
}
END_TEST

/* ---- limits as the library reports them ---- */

START_TEST(limits_library)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-parties", "10", "--max-barriers", "2", NULL);
    const char *addr = s.addr;
    bc_client *c = NULL;
    it_assert(bc_connect(addr, NULL, &c) == BC_OK);
    /* parties */
    int rc = bc_wait(c, "p", 11, 1, NULL, NULL, NULL);
    it_assert_msg(rc == BC_EINVAL, "parties 11 over --max-parties 10: %s", bc_strerror(rc));
    fprintf(stderr, "limits_library: parties: %s\n", bc_last_error_message());
    it_assert(bc_wait(c, "p", 10, 0, NULL, NULL, NULL) == BC_ETIMEDOUT);
    /* barriers: "p" exists (broken), one more may be made, the third not */
    it_assert(bc_wait(c, "b2", 1, 1, NULL, NULL, NULL) == BC_OK);
    rc = bc_wait(c, "b3", 1, 1, NULL, NULL, NULL);
    it_assert_msg(rc == BC_ELIMIT, "a third barrier over --max-barriers 2: %s", bc_strerror(rc));
    fprintf(stderr, "limits_library: barriers: %s\n", bc_last_error_message());
    it_assert(bc_wait(c, "b2", 1, 1, NULL, NULL, NULL) == BC_OK); /* existing ones work */
    /* name length: 255 bytes fine, 256 refused */
    char name[300];
    memset(name, 'n', sizeof name);
    name[256] = '\0';
    rc = bc_wait(c, name, 1, 1, NULL, NULL, NULL);
    it_assert_msg(rc == BC_EINVAL, "a 256-byte name: %s", bc_strerror(rc));
    name[255] = '\0';
    it_assert(bc_reset(c, "p") == BC_OK);
    rc = bc_wait(c, name, 1, 1, NULL, NULL, NULL); /* a new barrier: over the limit */
    it_assert_msg(rc == BC_ELIMIT, "255-byte name, third barrier: %s", bc_strerror(rc));
    bc_close(c);
    /* client name: 128 bytes fine, 129 refused (at connect or at wait) */
    char cname[200];
    memset(cname, 'c', sizeof cname);
    cname[129] = '\0';
    bc_options o = {0};
    o.client_name = cname;
    rc = bc_connect(addr, &o, &c);
    if (rc == BC_OK) {
        rc = bc_wait(c, "b2", 1, 1, NULL, NULL, NULL);
        bc_close(c);
    }
    it_assert_msg(rc == BC_EINVAL, "a 129-byte client name: %s", bc_strerror(rc));
    cname[128] = '\0';
    it_assert(bc_connect(addr, &o, &c) == BC_OK);
    it_assert(bc_wait(c, "b2", 1, 1, NULL, NULL, NULL) == BC_OK);
    bc_close(c);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"auth_sources", auth_sources, 0},
        {"auth_raw", auth_raw, 0},
        {"token_not_logged", token_not_logged, 0},
        {"nonloopback_warning", nonloopback_warning, 0},
        {"limits_library", limits_library, 0},
    };
    return ts_run_cases("faults_security", cases, TS_NCASES(cases));
}
