/* test_abi.c - the public ABI's promises, against a real barrierd:
 *
 *   token_rule            bp_token_normalize and bp_token_read_file, by table
 *   token_everywhere      one token file holding "sekrit \n" works for barrierd,
 *                         barrierctl --token-file, $BARRIERD_TOKEN and
 *                         bc_options.auth_token (once read two ways)
 *   struct_sizes          the public structs keep their sizes; reserved words of
 *                         bc_options must be zero, those the library fills are
 *   status_reason         bc_status_detail's reason after an abort and a reset
 *   status_waiters        the waiting parties: index, client name, peer
 *   break_messages        the real formats of the break messages (as the
 *                         header documents them)
 *   list_entries          bc_list's entries, their stride and reserved words
 *   version               bc_version, the header's macros, barrierctl --version
 *   barrierctl_status     barrierctl status from the typed API; --json as is
 *
 * One ctest per case (ts_run, CK_RUN_CASE); $BARRIERD and $BARRIERCTL name
 * the binaries.
 */
#include "barrierclient.h"
#include "bp_error.h"
#include "bp_token.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_run.h"

#include <check.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The header's promise, checked where a caller compiles it. */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(bc_options) == 256, "bc_options size");
_Static_assert(sizeof(bc_wait_result) == 128, "bc_wait_result size");
_Static_assert(sizeof(bc_status) == 128, "bc_status size");
_Static_assert(sizeof(bc_stats) == 256, "bc_stats size");
_Static_assert(sizeof(bc_barrier_info) == 384, "bc_barrier_info size");
/* bc_wait_ex's arguments: the size, and where each field sits, for good. */
_Static_assert(sizeof(bc_wait_args) == 256, "bc_wait_args size");
_Static_assert(offsetof(bc_wait_args, name) == 0, "bc_wait_args.name");
_Static_assert(offsetof(bc_wait_args, parties) == 8, "bc_wait_args.parties");
_Static_assert(offsetof(bc_wait_args, has_timeout) == 12, "bc_wait_args.has_timeout");
_Static_assert(offsetof(bc_wait_args, timeout_s) == 16, "bc_wait_args.timeout_s");
_Static_assert(offsetof(bc_wait_args, data) == 24, "bc_wait_args.data");
_Static_assert(offsetof(bc_wait_args, data_len) == 32, "bc_wait_args.data_len");
_Static_assert(offsetof(bc_wait_args, member) == 40, "bc_wait_args.member");
_Static_assert(offsetof(bc_wait_args, members) == 48, "bc_wait_args.members");
_Static_assert(offsetof(bc_wait_args, n_members) == 56, "bc_wait_args.n_members");
_Static_assert(offsetof(bc_wait_args, action) == 64, "bc_wait_args.action");
_Static_assert(offsetof(bc_wait_args, action_arg) == 72, "bc_wait_args.action_arg");
_Static_assert(offsetof(bc_wait_args, reserved) == 80, "bc_wait_args.reserved");
#endif

/* ---- helpers ---- */

/* A temporary file holding text; its path in path. */
static void temp_file(char *path, size_t cap, const char *text, size_t len)
{
    snprintf(path, cap, "/tmp/bc-abi-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static bc_client *connect_named(const char *addr, const char *name)
{
    bc_options o = {.client_name = name};
    bc_client *c = NULL;
    int rc = bc_connect(addr, &o, &c);
    ck_assert_msg(rc == BC_OK, "connect: %s", bc_last_error_message());
    return c;
}

/* Run barrierctl with the arguments (NULL-terminated) and this environment,
 * at most 30 s; returns its exit status, its output in r. */
static int ctl(tc_ctl *r, const char *const *args)
{
    tc_ctl_startv(r, 0, args);
    return tc_ctl_finish(r, 30);
}

/* 1 if s matches the extended regular expression re as a whole. */
static int matches(const char *s, const char *re)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

#define PEER "127\\.0\\.0\\.1:[0-9]+"

/* ---- the token rule ---- */

static const struct {
    const char *text;
    size_t len;        /* 0: strlen */
    const char *token; /* NULL: refused */
    const char *why;   /* part of the refusal */
} token_cases[] = {
    {"sekrit", 0, "sekrit", NULL},
    {"sekrit \n", 0, "sekrit", NULL},
    {"sekrit\r\n", 0, "sekrit", NULL},
    {" \t sekrit \t\r\n", 0, "sekrit", NULL},
    {"sekrit\nsecond line\n", 0, "sekrit", NULL},
    {"two words\n", 0, "two words", NULL},
    {"s\xc3\xa9krit\n", 0, "s\xc3\xa9krit", NULL},
    {"", 0, NULL, "empty"},
    {"\n", 0, NULL, "empty"},
    {" \t\r\n", 0, NULL, "empty"},
    {"\nsekrit\n", 0, NULL, "empty"},
    {"sek\trit\n", 0, NULL, "control"},
    {"sek\x01rit", 0, NULL, "control"},
    {"sek\0rit", 7, NULL, "control"},
    {"s\xff", 0, NULL, "UTF-8"},
};

START_TEST(token_rule)
{
    for (size_t i = 0; i < sizeof token_cases / sizeof token_cases[0]; i++) {
        const char *text = token_cases[i].text;
        size_t len = token_cases[i].len ? token_cases[i].len : strlen(text);
        char out[BP_TOKEN_MAX + 1], err[200] = "";
        int rc = bp_token_normalize(text, len, out, err, sizeof err);
        if (token_cases[i].token) {
            ck_assert_msg(rc == 0, "case %zu: %s", i, err);
            ck_assert_str_eq(out, token_cases[i].token);
        } else {
            ck_assert_msg(rc == BP_EINVAL, "case %zu accepted", i);
            ck_assert_msg(strstr(err, token_cases[i].why), "case %zu: %s", i, err);
            ck_assert_str_eq(out, "");
        }
        /* The file reader applies the same rule. */
        char path[64], fout[BP_TOKEN_MAX + 1], ferr[200] = "";
        temp_file(path, sizeof path, text, len);
        ck_assert_int_eq(bp_token_read_file(path, fout, ferr, sizeof ferr), rc);
        ck_assert_str_eq(fout, out);
        unlink(path);
    }

    /* Bounds: BP_TOKEN_MAX bytes pass, one more does not. */
    char big[BP_TOKEN_MAX + 3], out[BP_TOKEN_MAX + 1], err[200];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(bp_token_normalize(big, BP_TOKEN_MAX, out, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(out), BP_TOKEN_MAX);
    ck_assert_int_eq(bp_token_normalize(big, BP_TOKEN_MAX + 1, out, err, sizeof err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "longer than 256"));

    /* Files: missing, a directory, too large. */
    ck_assert_int_eq(bp_token_read_file("/nonexistent/token", out, err, sizeof err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    ck_assert_int_eq(bp_token_read_file("/tmp", out, err, sizeof err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
    static char huge[BP_TOKEN_FILE_MAX + 10];
    memset(huge, '\n', sizeof huge);
    huge[0] = 'x';
    char path[64];
    temp_file(path, sizeof path, huge, sizeof huge);
    ck_assert_int_eq(bp_token_read_file(path, out, err, sizeof err), BP_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "larger than"));
    unlink(path);
}
END_TEST

/* A regression: barrierd kept "sekrit " while barrierctl sent
 * "sekrit", and the library sent $BARRIERD_TOKEN as is. */
START_TEST(token_everywhere)
{
    char path[64];
    temp_file(path, sizeof path, "sekrit \n", 8);
    ts_server s = {0};
    const char *extra[] = {"--auth-token-file", path, NULL};
    tc_server_up(&s, extra);
    unsetenv("BARRIERD_TOKEN");
    bc_client *c = NULL;

    /* barrierctl --token-file */
    tc_ctl r;
    int st = ctl(&r, (const char *[]){"-a", s.addr, "--token-file", path, "ping", NULL});
    ck_assert_msg(st == 0, "barrierctl --token-file: exit %d: %s", st, r.err);

    /* $BARRIERD_TOKEN holding the file's content, for the library and for
     * barrierctl without --token-file */
    setenv("BARRIERD_TOKEN", "sekrit \n", 1);
    ck_assert_msg(bc_connect(s.addr, NULL, &c) == BC_OK, "%s", bc_last_error_message());
    ck_assert_int_eq(bc_wait(c, "tok", 1, 5, NULL, NULL, NULL), BC_OK);
    bc_close(c);
    st = ctl(&r, (const char *[]){"-a", s.addr, "ping", NULL});
    ck_assert_msg(st == 0, "barrierctl with $BARRIERD_TOKEN: exit %d: %s", st, r.err);

    /* bc_options.auth_token wins over the environment, same rule */
    setenv("BARRIERD_TOKEN", "not-it", 1);
    static const char *const good[] = {"sekrit", "sekrit \n", "\tsekrit\r\n", "sekrit\nmore"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bc_options o = {.auth_token = good[i]};
        ck_assert_msg(bc_connect(s.addr, &o, &c) == BC_OK, "token %zu: %s", i,
                      bc_last_error_message());
        bc_close(c);
    }
    ck_assert_int_eq(bc_connect(s.addr, NULL, &c), BC_EAUTH);
    bc_options o = {.auth_token = "sekrit x"};
    ck_assert_int_eq(bc_connect(s.addr, &o, &c), BC_EAUTH);

    /* Refused locally, before any connection: blank, control characters. */
    static const char *const bad[] = {"", " \r\n", "sek\trit"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.auth_token = bad[i];
        ck_assert_int_eq(bc_connect(s.addr, &o, &c), BC_EINVAL);
        ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "auth_token: the token"));
    }
    setenv("BARRIERD_TOKEN", " \n", 1);
    ck_assert_int_eq(bc_connect(s.addr, NULL, &c), BC_EINVAL);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "$BARRIERD_TOKEN: the token is empty"));
    setenv("BARRIERD_TOKEN", "", 1); /* set but empty: no token */
    ck_assert_int_eq(bc_connect(s.addr, NULL, &c), BC_EAUTH);
    unsetenv("BARRIERD_TOKEN");

    /* barrierctl: a blank token file is an error of its own, exit 1 */
    char blank[64];
    temp_file(blank, sizeof blank, " \n", 2);
    st = ctl(&r, (const char *[]){"-a", s.addr, "--token-file", blank, "ping", NULL});
    ck_assert_int_eq(st, 1);
    ck_assert_msg(strstr(r.err, "--token-file") && strstr(r.err, "empty"), "%s", r.err);
    ts_server_cleanup(&s);

    /* barrierd refuses to start with it, saying why */
    ck_assert_int_ne(ts_server_start(&s, (const char *[]){"--auth-token-file", blank, NULL}), 0);
    ts_server_cleanup(&s);
    unlink(blank);
    unlink(path);
}
END_TEST

/* ---- the structs ---- */

static int all_zero(const uint64_t *w, size_t size)
{
    for (size_t i = 0; i < size / sizeof *w; i++)
        if (w[i]) return 0;
    return 1;
}

START_TEST(struct_sizes)
{
    /* bc_options o = {0} is valid forever; reserved words must stay zero. */
    ck_assert_uint_eq(offsetof(bc_options, reserved) + sizeof(((bc_options *)0)->reserved),
                      sizeof(bc_options));
#if UINTPTR_MAX == UINT64_MAX
    /* Fields added later took reserved words: nothing before them moved. */
    ck_assert_uint_eq(offsetof(bc_options, resume_s), 32);
    ck_assert_uint_eq(offsetof(bc_options, tls_ca_file), 40);
    ck_assert_uint_eq(offsetof(bc_options, tls_server_name), 64);
    ck_assert_uint_eq(offsetof(bc_options, reserved), 72);
#endif
    ts_server s = {0};
    tc_server_up(&s, NULL);
    bc_client *c = NULL;
    bc_options o = {0};
    ck_assert_int_eq(bc_connect(s.addr, &o, &c), BC_OK);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i += 9) {
        bc_client *d = (bc_client *)&o;
        bc_options bad = {.client_name = "x"};
        bad.reserved[i] = 1;
        ck_assert_int_eq(bc_connect(s.addr, &bad, &d), BC_EINVAL);
        ck_assert_ptr_eq(d, (bc_client *)&o);
        ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "bc_options: reserved word"));
    }

    /* bc_wait_args a = {0} too: its reserved words must stay zero. */
    ck_assert_uint_eq(offsetof(bc_wait_args, reserved) + sizeof(((bc_wait_args *)0)->reserved),
                      sizeof(bc_wait_args));
    for (size_t i = 0; i < sizeof ((bc_wait_args *)0)->reserved / sizeof(uint64_t); i += 7) {
        bc_wait_args bad = {.name = "sz-args", .parties = 1};
        bad.reserved[i] = 1;
        ck_assert_int_eq(bc_wait_ex(c, &bad, NULL), BC_EINVAL);
        ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "bc_wait_args: reserved word"));
    }

    /* What the library fills, it fills whole: reserved words zeroed. */
    bc_wait_result res;
    memset(&res, 0xa5, sizeof res);
    ck_assert_int_eq(bc_wait(c, "sz", 1, 5, NULL, NULL, &res), BC_OK);
    ck_assert_uint_eq(res.index, 0);
    ck_assert(all_zero(res.reserved, sizeof res.reserved));
    bc_status st;
    memset(&st, 0xa5, sizeof st);
    ck_assert_int_eq(bc_status_get(c, "sz", &st), BC_OK);
    ck_assert_uint_eq(st.parties, 1);
    ck_assert_uint_eq(st.generation, 1);
    ck_assert(all_zero(st.reserved, sizeof st.reserved));
    bc_stats sx;
    memset(&sx, 0xa5, sizeof sx);
    ck_assert_int_eq(bc_stats_get(c, &sx), BC_OK);
    ck_assert_uint_eq(sx.barriers, 1);
    ck_assert(all_zero(sx.reserved, sizeof sx.reserved));
    bc_close(c);
    ts_server_cleanup(&s);
}
END_TEST

/* ---- status detail ---- */

START_TEST(status_reason)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    bc_client *w = connect_named(s.addr, "teller-1"), *adm = tc_connect(s.addr);
    tc_waiter tw = {.c = w, .name = "why", .parties = 2, .timeout_s = -1};
    tc_waiter_start(&tw);
    ck_assert(tc_await_waiting(s.addr, "why", 1, 10));

    bc_detail *d = NULL;
    ck_assert_int_eq(bc_status_detail(adm, "why", NULL, &d), BC_OK);
    ck_assert_str_eq(bc_detail_reason(d), ""); /* not broken */
    bc_detail_free(d);

    ck_assert_int_eq(bc_abort(adm, "why"), BC_OK);
    tc_waiter_join(&tw);
    ck_assert_int_eq(tw.rc, BC_EBROKEN);
    bc_status st;
    ck_assert_int_eq(bc_status_detail(adm, "why", &st, &d), BC_OK);
    ck_assert_int_eq(st.broken, 1);
    ck_assert_str_eq(st.state, "broken");
    ck_assert_uint_eq(bc_detail_n_waiters(d), 0);
    /* The reason is what the waiter was told. */
    ck_assert_str_eq(bc_detail_reason(d), tw.msg);
    ck_assert_msg(matches(bc_detail_reason(d),
                          "^aborted by " PEER ": 1/2 arrived \\(teller-1 \\[" PEER "\\]\\)$"),
                  "%s", bc_detail_reason(d));
    bc_detail_free(d);

    /* A reset clears it. */
    ck_assert_int_eq(bc_reset(adm, "why"), BC_OK);
    ck_assert_int_eq(bc_status_detail(adm, "why", &st, &d), BC_OK);
    ck_assert_int_eq(st.broken, 0);
    ck_assert_str_eq(bc_detail_reason(d), "");
    bc_detail_free(d);

    /* Failure leaves *out alone; NULL is fine to free. */
    d = (bc_detail *)&st;
    ck_assert_int_eq(bc_status_detail(adm, "nope", NULL, &d), BC_ENOTFOUND);
    ck_assert_ptr_eq(d, (bc_detail *)&st);
    ck_assert_int_eq(bc_status_detail(adm, "", NULL, &d), BC_EINVAL);
    bc_detail_free(NULL);
    bc_close(w);
    bc_close(adm);
    ts_server_cleanup(&s);
}
END_TEST

START_TEST(status_waiters)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    static const char *const names[] = {"teller-1", "teller-2", "teller \xc3\xa9"};
    bc_client *c[3];
    tc_waiter tw[3];
    for (int i = 0; i < 3; i++) {
        c[i] = connect_named(s.addr, names[i]);
        tw[i] = (tc_waiter){.c = c[i], .name = "who", .parties = 4, .timeout_s = -1};
        tc_waiter_start(&tw[i]);
        ck_assert(tc_await_waiting(s.addr, "who", (unsigned)i + 1, 10)); /* in this order */
    }
    bc_client *adm = tc_connect(s.addr);
    bc_status st;
    bc_detail *d;
    ck_assert_int_eq(bc_status_detail(adm, "who", &st, &d), BC_OK);
    ck_assert_uint_eq(st.n_waiting, 3);
    ck_assert_uint_eq(st.parties, 4);
    ck_assert_uint_eq(bc_detail_n_waiters(d), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(bc_detail_waiter_index(d, i), i);
        ck_assert_str_eq(bc_detail_waiter_client(d, i), names[i]);
        ck_assert_msg(matches(bc_detail_waiter_peer(d, i), "^" PEER "$"), "%s",
                      bc_detail_waiter_peer(d, i));
    }
    ck_assert_uint_eq(bc_detail_waiter_index(d, 3), UINT_MAX);
    ck_assert_str_eq(bc_detail_waiter_client(d, 3), "");
    ck_assert_str_eq(bc_detail_waiter_peer(d, 99), "");
    ck_assert_str_eq(bc_detail_reason(d), "");
    bc_detail_free(d);
    ck_assert_uint_eq(bc_detail_n_waiters(NULL), 0);

    ck_assert_int_eq(bc_reset(adm, "who"), BC_OK);
    for (int i = 0; i < 3; i++) {
        tc_waiter_join(&tw[i]);
        ck_assert_int_eq(tw[i].rc, BC_EBROKEN);
        ck_assert_msg(matches(tw[i].msg,
                              "^reset by " PEER ": 3/4 arrived \\(teller-1 \\[" PEER
                              "\\], teller-2 \\[" PEER "\\], teller \xc3\xa9 \\[" PEER "\\]\\)$"),
                      "%s", tw[i].msg);
        bc_close(c[i]);
    }
    bc_close(adm);
    ts_server_cleanup(&s);
}
END_TEST

static int failing_action(void *arg)
{
    (void)arg;
    return 1;
}

START_TEST(break_messages)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);

    /* timed out: the header's example, verbatim but for the ports */
    bc_client *t1 = connect_named(s.addr, "teller-1"), *t2 = connect_named(s.addr, "teller-2");
    tc_waiter w1 = {.c = t1, .name = "tmo", .parties = 3, .timeout_s = -1};
    tc_waiter_start(&w1);
    ck_assert(tc_await_waiting(s.addr, "tmo", 1, 10));
    ck_assert_int_eq(bc_wait(t2, "tmo", 3, 0.2, NULL, NULL, NULL), BC_ETIMEDOUT);
    const char *re = "^timed out \\(teller-2 \\[" PEER "\\] reached its timeout\\): 2/3 arrived "
                     "\\(teller-1 \\[" PEER "\\], teller-2 \\[" PEER "\\]\\)$";
    ck_assert_msg(matches(bc_last_error_message(), re), "%s", bc_last_error_message());
    tc_waiter_join(&w1);
    ck_assert_int_eq(w1.rc, BC_EBROKEN);
    ck_assert_msg(matches(w1.msg, re), "%s", w1.msg);

    /* action failed in NAME [PEER] */
    tc_waiter w2 = {.c = t1, .name = "act", .parties = 2, .timeout_s = 30};
    tc_waiter_start(&w2);
    ck_assert(tc_await_waiting(s.addr, "act", 1, 10));
    ck_assert_int_eq(bc_wait(t2, "act", 2, 30, failing_action, NULL, NULL), BC_EACTION);
    ck_assert_msg(matches(bc_last_error_message(), "^action failed in teller-2 \\[" PEER
                                                   "\\]: 2/2 arrived \\(teller-1 \\[" PEER
                                                   "\\], teller-2 \\[" PEER "\\]\\)$"),
                  "%s", bc_last_error_message());
    tc_waiter_join(&w2);
    ck_assert_int_eq(w2.rc, BC_EBROKEN);

    /* party lost (NAME [PEER] disconnected): a child process killed in its wait */
    tc_waiter w3 = {.c = t1, .name = "lost", .parties = 3, .timeout_s = 30};
    tc_waiter_start(&w3);
    ck_assert(tc_await_waiting(s.addr, "lost", 1, 10));
    fflush(NULL);
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        bc_options o = {.client_name = "teller-3"};
        bc_client *k;
        if (bc_connect(s.addr, &o, &k) == 0) bc_wait(k, "lost", 3, -1, NULL, NULL, NULL);
        _exit(0);
    }
    ck_assert(tc_await_waiting(s.addr, "lost", 2, 10));
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    tc_waiter_join(&w3);
    ck_assert_int_eq(w3.rc, BC_EBROKEN);
    ck_assert_msg(matches(w3.msg,
                          "^party lost \\(teller-3 \\[" PEER "\\] disconnected\\): 2/3 "
                          "arrived \\(teller-1 \\[" PEER "\\], teller-3 \\[" PEER "\\]\\)$"),
                  "%s", w3.msg);
    /* A later wait is told the reason it first broke for. */
    ck_assert_int_eq(bc_wait(t2, "lost", 3, 5, NULL, NULL, NULL), BC_EBROKEN);
    ck_assert_msg(strstr(bc_last_error_message(), w3.msg), "%s", bc_last_error_message());
    bc_close(t1);
    bc_close(t2);
    ts_server_cleanup(&s);
}
END_TEST

/* ---- list, version, barrierctl ---- */

START_TEST(list_entries)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    bc_client *c = tc_connect(s.addr);
    ck_assert_int_eq(bc_wait(c, "one", 1, 5, NULL, NULL, NULL), BC_OK);
    ck_assert_int_eq(bc_wait(c, "two", 2, 0, NULL, NULL, NULL), BC_ETIMEDOUT);
    bc_barrier_info *list;
    size_t n;
    ck_assert_int_eq(bc_list(c, &list, &n), BC_OK);
    ck_assert_uint_eq(n, 2);
    /* The stride the caller's header says is the library's. */
    ck_assert_uint_eq((size_t)((char *)&list[1] - (char *)&list[0]), sizeof(bc_barrier_info));
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        const bc_status *st = &list[i].status;
        ck_assert(all_zero(st->reserved, sizeof st->reserved));
        if (strcmp(list[i].name, "one") == 0) {
            ck_assert_uint_eq(st->parties, 1);
            ck_assert_uint_eq(st->generation, 1);
            ck_assert_str_eq(st->state, "filling");
            seen |= 1;
        } else {
            ck_assert_str_eq(list[i].name, "two");
            ck_assert_int_eq(st->broken, 1);
            ck_assert_str_eq(st->state, "broken");
            seen |= 2;
        }
    }
    ck_assert_int_eq(seen, 3);
    bc_list_free(list);
    bc_close(c);
    ts_server_cleanup(&s);
}
END_TEST

START_TEST(version)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", BC_VERSION_MAJOR, BC_VERSION_MINOR, BC_VERSION_PATCH);
    ck_assert_str_eq(bc_version(), want);
    tc_ctl r;
    ck_assert_int_eq(ctl(&r, (const char *[]){"--version", NULL}), 0);
    char line[80];
    snprintf(line, sizeof line, "barrierctl %s\n", want);
    ck_assert_str_eq(r.out, line);
}
END_TEST

START_TEST(barrierctl_status)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    bc_client *w = connect_named(s.addr, "teller-7");
    tc_waiter tw = {.c = w, .name = "shown", .parties = 2, .timeout_s = -1};
    tc_waiter_start(&tw);
    ck_assert(tc_await_waiting(s.addr, "shown", 1, 10));
    tc_ctl r;
    ck_assert_int_eq(ctl(&r, (const char *[]){"-a", s.addr, "status", "shown", NULL}), 0);
    ck_assert_msg(matches(r.out,
                          "parties     2\nwaiting     1\nstate       filling\n"
                          "generation  0\n\nINDEX  CLIENT    PEER\n0      teller-7  " PEER "\n$"),
                  "%s", r.out);
    ck_assert_ptr_null(strstr(r.out, "reason"));
    /* --json: the server's object, forwarded */
    ck_assert_int_eq(ctl(&r, (const char *[]){"-a", s.addr, "--json", "status", "shown", NULL}), 0);
    ck_assert_msg(strstr(r.out, "\"waiting\":[{\"index\":0,\"client\":\"teller-7\""), "%s", r.out);

    ck_assert_int_eq(ctl(&r, (const char *[]){"-a", s.addr, "abort", "shown", NULL}), 0);
    tc_waiter_join(&tw);
    ck_assert_int_eq(ctl(&r, (const char *[]){"-a", s.addr, "status", "shown", NULL}), 0);
    ck_assert_msg(matches(r.out, "state       broken\n.*reason      aborted by " PEER
                                 ": 1/2 arrived \\(teller-7 \\[" PEER "\\]\\)\n$"),
                  "%s", r.out);
    ck_assert_int_eq(ctl(&r, (const char *[]){"-a", s.addr, "status", "nope", NULL}), 1);
    bc_close(w);
    ts_server_cleanup(&s);
}
END_TEST

/* ---- running ---- */

int main(void)
{
    unsetenv("BARRIERD_ADDR");
    unsetenv("BARRIERD_TOKEN");
    const ts_case cases[] = {
        {"token_rule", token_rule, 0},
        {"token_everywhere", token_everywhere, 0},
        {"struct_sizes", struct_sizes, 0},
        {"status_reason", status_reason, 0},
        {"status_waiters", status_waiters, 0},
        {"break_messages", break_messages, 0},
        {"list_entries", list_entries, 0},
        {"version", version, 0},
        {"barrierctl_status", barrierctl_status, 0},
    };
    return ts_run_cases("client_abi", cases, TS_NCASES(cases));
}
