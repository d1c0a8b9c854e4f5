/* test_rdv.c - libbarrierclient's rendezvous (bc_wait_ex, bc_rendezvous_*,
 * bc_action_set_result, bc_detail members), against a real barrierd:
 *
 *   gather_threads      3 threads on 3 handles with data, member names and a
 *                       member list: the same gathered array for all, each one's
 *                       own data at its own index; null for a party without data
 *   action_result       the last arriver's action sets a result every party gets;
 *                       the next generation has none
 *   errors              bad arguments (BC_EINVAL), a taken member name and an
 *                       outsider (BC_EMEMBER), another member list (BC_EPARTIES)
 *   status_members      bc_status_detail: members, who is missing, each waiting
 *                       party's member name; barrierctl status shows them
 *   restart             kill -9 while two parties wait with data: the waits are
 *                       re-announced with their data and member names, and the
 *                       release after the restart gathers everything
 *   barrierctl_wait     barrierctl wait --data --member --members --json
 *
 * One ctest per case (client_rdv_<case>); $BARRIERD and $BARRIERCTL name the
 * binaries.
 */
#include "barrierclient.h"
#include "tc_helpers.h"
#include "ts_check.h"
#include "ts_clock.h"
#include "ts_run.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const TELLERS[] = {"teller-1", "teller-2", "teller-3"};

/* A bc_wait_ex in a thread of its own. */
typedef struct rdv_waiter {
    bc_client *c;
    bc_wait_args args;
    int rc;
    bc_rendezvous *r;
    char msg[1024];
    pthread_t thread;
} rdv_waiter;

static void *rdv_main(void *p)
{
    rdv_waiter *w = p;
    w->rc = bc_wait_ex(w->c, &w->args, &w->r);
    snprintf(w->msg, sizeof w->msg, "%s", bc_last_error_message());
    return NULL;
}

static void rdv_start(rdv_waiter *w)
{
    ck_assert_int_eq(pthread_create(&w->thread, NULL, rdv_main, w), 0);
}

static void rdv_join_ok(rdv_waiter *w)
{
    ck_assert_int_eq(pthread_join(w->thread, NULL), 0);
    ck_assert_msg(w->rc == BC_OK, "%s: %s", bc_strerror(w->rc), w->msg);
}

static bc_client *connect_resume(const char *addr)
{
    bc_options o = {.connect_timeout_s = 2};
    bc_client *c = NULL;
    int rc = bc_connect(addr, &o, &c);
    ck_assert_msg(rc == BC_OK, "connect %s: %s", addr, bc_last_error_message());
    return c;
}

/* Every waiter got the same gathered array, with want[i] (NULL: none) at the
 * index of waiter i. */
static void check_gathered(rdv_waiter *w, int n, const char *const *want)
{
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(bc_rendezvous_n_gathered(w[i].r), (size_t)n);
        ck_assert_uint_eq(bc_rendezvous_generation(w[i].r), bc_rendezvous_generation(w[0].r));
        size_t len;
        const char *mine = bc_rendezvous_gathered(w[i].r, bc_rendezvous_index(w[i].r), &len);
        if (want[i]) {
            ck_assert_ptr_nonnull(mine);
            ck_assert_uint_eq(len, strlen(want[i]));
            ck_assert_str_eq(mine, want[i]);
        } else {
            ck_assert_ptr_null(mine);
            ck_assert_uint_eq(len, 0);
        }
        for (int k = 0; k < n; k++) {
            const char *a = bc_rendezvous_gathered(w[i].r, (size_t)k, NULL);
            const char *b = bc_rendezvous_gathered(w[0].r, (size_t)k, NULL);
            ck_assert_msg((!a && !b) || (a && b && strcmp(a, b) == 0),
                          "party %d's gathered[%d] differs", i, k);
        }
    }
}

START_TEST(gather_threads)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    const char *data[3] = {"10.0.0.1:5000", NULL, "caf\xc3\xa9 \"quoted\"\n"};
    rdv_waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (rdv_waiter){.c = tc_connect(s.addr),
                            .args = {.name = "gt",
                                     .data = data[i],
                                     .data_len = data[i] ? strlen(data[i]) : 0,
                                     .member = TELLERS[i],
                                     .members = TELLERS,
                                     .n_members = 3,
                                     .has_timeout = 1,
                                     .timeout_s = 30}};
        rdv_start(&w[i]);
    }
    for (int i = 0; i < 3; i++)
        rdv_join_ok(&w[i]);
    check_gathered(w, 3, data);
    ck_assert_ptr_null(bc_rendezvous_action_result(w[0].r, NULL));
    unsigned seen = 0;
    for (int i = 0; i < 3; i++) {
        seen |= 1u << bc_rendezvous_index(w[i].r);
        bc_rendezvous_free(w[i].r);
        bc_close(w[i].c);
    }
    ck_assert_uint_eq(seen, 7);
    /* Nobody sends data: nothing gathered. bc_wait on the same barrier, member-less,
     * is refused: the barrier admits only its members. */
    bc_client *c = tc_connect(s.addr);
    ck_assert_int_eq(bc_wait(c, "gt", 3, 5, NULL, NULL, NULL), BC_EMEMBER);
    bc_rendezvous *r;
    bc_wait_args one = {.name = "solo"};
    one.parties = 1;
    ck_assert_int_eq(bc_wait_ex(c, &one, &r), BC_OK);
    ck_assert_uint_eq(bc_rendezvous_n_gathered(r), 0);
    ck_assert_ptr_null(bc_rendezvous_gathered(r, 0, NULL));
    bc_rendezvous_free(r);
    ck_assert_int_eq(bc_wait_ex(c, &one, NULL), BC_OK); /* out may be NULL */
    bc_rendezvous_free(NULL);
    bc_close(c);
    ts_server_down(&s);
}
END_TEST

static int set_result(void *arg, bc_action_ctx *ctx)
{
    (void)arg;
    ck_assert_int_eq(bc_action_set_result(ctx, "first", 5), BC_OK);
    return bc_action_set_result(ctx, "leader=teller-3", 15); /* the last one counts */
}

START_TEST(action_result)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    rdv_waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (rdv_waiter){.c = tc_connect(s.addr),
                            .args = {.name = "ar", .parties = 3, .action = set_result}};
        rdv_start(&w[i]);
    }
    for (int i = 0; i < 3; i++) {
        rdv_join_ok(&w[i]);
        size_t len;
        const char *res = bc_rendezvous_action_result(w[i].r, &len);
        ck_assert_ptr_nonnull(res);
        ck_assert_str_eq(res, "leader=teller-3");
        ck_assert_uint_eq(len, 15);
        bc_rendezvous_free(w[i].r);
    }
    /* An action that sets nothing: no result. */
    for (int i = 0; i < 3; i++) {
        w[i].args.action = NULL;
        rdv_start(&w[i]);
    }
    for (int i = 0; i < 3; i++) {
        rdv_join_ok(&w[i]);
        ck_assert_ptr_null(bc_rendezvous_action_result(w[i].r, NULL));
        bc_rendezvous_free(w[i].r);
        bc_close(w[i].c);
    }
    ts_server_down(&s);
}
END_TEST

START_TEST(errors)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    bc_client *c = tc_connect(s.addr);
    bc_wait_args a = {.name = "e", .parties = 2};
    ck_assert_int_eq(bc_wait_ex(c, NULL, NULL), BC_EINVAL);
    a.reserved[3] = 1;
    ck_assert_int_eq(bc_wait_ex(c, &a, NULL), BC_EINVAL);
    a.reserved[3] = 0;
    a.data = "nul\0inside";
    a.data_len = 10;
    ck_assert_int_eq(bc_wait_ex(c, &a, NULL), BC_EINVAL);
    a.data = "\xff";
    a.data_len = 1;
    ck_assert_int_eq(bc_wait_ex(c, &a, NULL), BC_EINVAL);
    a.data = NULL;
    a.data_len = 0;
    a.member = "tab\there";
    ck_assert_int_eq(bc_wait_ex(c, &a, NULL), BC_EINVAL);
    a.member = NULL;
    a.members = TELLERS;
    a.n_members = 3; /* parties 2 */
    ck_assert_int_eq(bc_wait_ex(c, &a, NULL), BC_EINVAL);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "members names 3"));
    a.members = NULL;
    a.n_members = 0;

    /* A taken member name, an outsider, another list. */
    rdv_waiter first = {.c = tc_connect(s.addr),
                        .args = {.name = "dup", .parties = 2, .member = "alice"}};
    rdv_start(&first);
    ck_assert(tc_await_waiting(s.addr, "dup", 1, 10));
    bc_wait_args dup = {.name = "dup", .parties = 2, .member = "alice"};
    ck_assert_int_eq(bc_wait_ex(c, &dup, NULL), BC_EMEMBER);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "already waiting"));
    ck_assert_str_eq(bc_error_name(BC_EMEMBER), "member");
    dup.member = "bob";
    ck_assert_int_eq(bc_wait_ex(c, &dup, NULL), BC_OK);
    rdv_join_ok(&first);
    bc_rendezvous_free(first.r);

    bc_wait_args m = {.name = "club",
                      .member = "teller-1",
                      .members = TELLERS,
                      .n_members = 3,
                      .has_timeout = 1,
                      .timeout_s = 0};
    ck_assert_int_eq(bc_wait_ex(c, &m, NULL), BC_ETIMEDOUT);
    ck_assert_int_eq(bc_reset(c, "club"), BC_OK);
    m.member = "stranger";
    ck_assert_int_eq(bc_wait_ex(c, &m, NULL), BC_EMEMBER);
    ck_assert_ptr_nonnull(strstr(bc_last_error_message(), "not a member"));
    const char *const other[] = {"teller-1", "teller-2", "teller-4"};
    m.member = "teller-1";
    m.members = other;
    ck_assert_int_eq(bc_wait_ex(c, &m, NULL), BC_EPARTIES);
    bc_close(first.c);
    bc_close(c);
    ts_server_down(&s);
}
END_TEST

START_TEST(status_members)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    rdv_waiter w = {
        .c = tc_connect(s.addr),
        .args = {.name = "sm", .member = "teller-2", .members = TELLERS, .n_members = 3}};
    rdv_start(&w);
    ck_assert(tc_await_waiting(s.addr, "sm", 1, 10));
    bc_client *c = tc_connect(s.addr);
    bc_status st;
    bc_detail *d;
    ck_assert_int_eq(bc_status_detail(c, "sm", &st, &d), BC_OK);
    ck_assert_uint_eq(st.parties, 3);
    ck_assert_uint_eq(bc_detail_n_members(d), 3);
    ck_assert_str_eq(bc_detail_member(d, 2), "teller-3");
    ck_assert_uint_eq(bc_detail_n_missing(d), 2);
    ck_assert_str_eq(bc_detail_missing(d, 0), "teller-1");
    ck_assert_str_eq(bc_detail_missing(d, 1), "teller-3");
    ck_assert_str_eq(bc_detail_missing(d, 2), "");
    ck_assert_str_eq(bc_detail_waiter_member(d, 0), "teller-2");
    bc_detail_free(d);

    tc_ctl ctl;
    tc_ctl_start(&ctl, 1, "-a", s.addr, "status", "sm", NULL);
    ck_assert_int_eq(tc_ctl_finish(&ctl, 20), 0);
    ck_assert_msg(strstr(ctl.out, "missing     teller-1, teller-3") && strstr(ctl.out, "MEMBER") &&
                      strstr(ctl.out, "teller-2"),
                  "status said:\n%s", ctl.out);
    /* A barrier without a list says nothing of members. */
    ck_assert_int_eq(bc_abort(c, "sm"), BC_OK);
    pthread_join(w.thread, NULL);
    ck_assert_int_eq(w.rc, BC_EBROKEN);
    ck_assert_ptr_nonnull(strstr(w.msg, "missing: teller-1, teller-3"));
    bc_close(w.c);
    bc_close(c);
    ts_server_down(&s);
}
END_TEST

START_TEST(restart)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    const char *data[3] = {"a-data", "b-data", "c-data"};
    rdv_waiter w[3];
    for (int i = 0; i < 3; i++)
        w[i] = (rdv_waiter){.c = connect_resume(s.addr),
                            .args = {.name = "rr",
                                     .data = data[i],
                                     .data_len = strlen(data[i]),
                                     .member = TELLERS[i],
                                     .members = TELLERS,
                                     .n_members = 3}};
    for (int i = 0; i < 2; i++)
        rdv_start(&w[i]);
    ck_assert(tc_await_waiting(s.addr, "rr", 2, 10));
    int st = ts_server_kill9(&s);
    ck_assert(WIFSIGNALED(st));
    ts_sleep_s(0.3);
    ts_server_restart_up(&s);
    /* Re-announced, with their member names: a restarted server knows who is missing. */
    ck_assert_msg(tc_await_waiting(s.addr, "rr", 2, 10), "waits not re-announced");
    bc_client *c = tc_connect(s.addr);
    bc_detail *d;
    ck_assert_int_eq(bc_status_detail(c, "rr", NULL, &d), BC_OK);
    ck_assert_uint_eq(bc_detail_n_missing(d), 1);
    ck_assert_str_eq(bc_detail_missing(d, 0), "teller-3");
    bc_detail_free(d);
    bc_close(c);
    rdv_start(&w[2]);
    for (int i = 0; i < 3; i++)
        rdv_join_ok(&w[i]);
    check_gathered(w, 3, data);
    for (int i = 0; i < 3; i++) {
        bc_rendezvous_free(w[i].r);
        bc_close(w[i].c);
    }
    ts_server_down(&s);
}
END_TEST

START_TEST(barrierctl_wait)
{
    ts_server s = {0};
    tc_server_up(&s, NULL);
    tc_ctl a, b;
    tc_ctl_start(&a, 1, "-a", s.addr, "--json", "wait", "cw", "--members", "x,y", "--member", "x",
                 "--data", "from \"x\"", NULL);
    ck_assert(tc_await_waiting(s.addr, "cw", 1, 10));
    tc_ctl_start(&b, 1, "-a", s.addr, "wait", "cw", "--member", "y", "-n", "2", NULL);
    ck_assert_int_eq(tc_ctl_finish(&a, 20), 0);
    ck_assert_int_eq(tc_ctl_finish(&b, 20), 0);
    cJSON *j = cJSON_Parse(a.out);
    ck_assert_msg(j, "not JSON: %s", a.out);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "gathered");
    ck_assert_int_eq(cJSON_GetArraySize(g), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(g, 0)->valuestring, "from \"x\"");
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(g, 1)));
    cJSON_Delete(j);
    ck_assert_msg(strstr(b.out, "gathered 0: from \"x\"") && strstr(b.out, "gathered 1: (none)"),
                  "barrierctl said:\n%s", b.out);
    /* An outsider: exit 1, the server's reason on stderr. */
    tc_ctl o;
    tc_ctl_start(&o, 1, "-a", s.addr, "wait", "cw", "-n", "2", "--member", "z", NULL);
    ck_assert_int_eq(tc_ctl_finish(&o, 20), 1);
    ck_assert_msg(strstr(o.err, "not a member"), "stderr: %s", o.err);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"gather_threads", gather_threads, 0},
        {"action_result", action_result, 0},
        {"errors", errors, 0},
        {"status_members", status_members, 0},
        {"restart", restart, 0},
        {"barrierctl_wait", barrierctl_wait, 0},
    };
    unsetenv("BARRIERD_ADDR");
    return ts_run_cases("client_rdv", cases, TS_NCASES(cases));
}
