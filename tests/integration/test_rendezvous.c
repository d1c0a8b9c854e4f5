/* test_rendezvous.c - data and identity at the barrier, against a real barrierd:
 *
 *   gather_3              3 parties with 64-byte data: each gets the same array,
 *                         its own data at its own index
 *   gather_1000           1,000 parties (1,000 connections from 4 processes),
 *                         64-byte data each, named members: the same
 *   plain_release_bytes   a release with nothing to deliver is byte for byte
 *                         what it always was
 *   action_result         the action's result reaches every party
 *   duplicate_member      a second wait with a taken member name is refused
 *                         ("member"), the barrier unharmed
 *   member_list           outsiders, waits without a name and other lists are
 *                         refused; status shows members and who is missing
 *   timeout_names_missing the timeout's message names the missing members
 *   limits                --max-data and --max-gather refuse with "limit",
 *                         the barrier unharmed
 *
 * One ctest per case (integration_<case>).
 */
#include "itest_fixture.h"
#include "ts_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA_LEN 64

/* Party i's 64 bytes: recognisable, and escaped on the wire ("\"" and "\\"). */
static void party_data(unsigned i, char out[DATA_LEN + 1])
{
    int n = snprintf(out, DATA_LEN + 1, "party-%04u \"q\" \\ ", i);
    memset(out + n, 'a' + (char)(i % 26), DATA_LEN - (size_t)n);
    out[DATA_LEN] = '\0';
}

/* A wait with rendezvous fields (any may be NULL; members: n packed names). */
static int send_rdv(it_conn *c, uint64_t id, const char *barrier, unsigned parties,
                    int64_t timeout_ms, const char *data, const char *member, const char *members,
                    size_t members_len, unsigned n_members)
{
    bp_request r;
    it_req_init(&r, BP_OP_WAIT, id);
    snprintf(r.barrier, sizeof r.barrier, "%s", barrier);
    r.barrier_len = strlen(r.barrier);
    r.parties = parties;
    r.timeout_ms = timeout_ms;
    r.data = data;
    r.data_len = data ? strlen(data) : 0;
    r.member = member;
    r.member_len = member ? strlen(member) : 0;
    r.members = members;
    r.members_len = members_len;
    r.n_members = n_members;
    return it_send_req(c, &r);
}

/* The gathered array of a release as one string (its JSON), or NULL. */
static char *gathered_text(const bp_reply *r)
{
    const cJSON *g = it_jget(r, "gathered");
    return g ? cJSON_PrintUnformatted(g) : NULL;
}

static const char *gathered_at(const bp_reply *r, unsigned i)
{
    const cJSON *it = cJSON_GetArrayItem(it_jget(r, "gathered"), (int)i);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

START_TEST(gather_3)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *c[3];
    char data[3][DATA_LEN + 1];
    for (unsigned i = 0; i < 3; i++) {
        c[i] = it_connect(&s);
        party_data(i, data[i]);
        it_assert(send_rdv(c[i], 10 + i, "g3", 3, -1, data[i], NULL, NULL, 0, 0) == 0);
        if (i < 2) {
            it_conn *admin = it_connect(&s);
            it_wait_n_waiting(admin, "g3", i + 1, IT_TIMEOUT_MS);
            it_close(admin);
        }
    }
    char *first = NULL;
    for (unsigned i = 0; i < 3; i++) {
        bp_reply r;
        it_expect_ok(c[i], 10 + i, IT_TIMEOUT_MS, &r);
        it_assert(r.has_index && r.index == i); /* they arrived in order */
        char *text = gathered_text(&r);
        it_assert_msg(text, "release without gathered");
        it_assert_msg(!first || strcmp(first, text) == 0, "party %u got another array", i);
        const char *mine = gathered_at(&r, r.index);
        it_assert_msg(mine && strcmp(mine, data[i]) == 0, "party %u: its own data not at its index",
                      i);
        it_assert(cJSON_GetArraySize(it_jget(&r, "gathered")) == 3);
        if (!first)
            first = text;
        else
            free(text);
        bp_reply_free(&r);
        it_close(c[i]);
    }
    free(first);
    ts_server_down(&s);
}
END_TEST

/* ---- 1,000 parties ---- */

#define N_BIG 1000
#define N_PROCS 4
#define PER_PROC (N_BIG / N_PROCS)

typedef struct big_result {
    int rc; /* 0, or where it went wrong */
    unsigned party;
    unsigned index;
    uint64_t hash; /* of the gathered array's JSON text */
} big_result;

typedef struct big_arg {
    int port;
    unsigned first; /* its parties: first .. first + PER_PROC - 1 */
    int out_fd;
} big_arg;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int big_proc(void *p)
{
    big_arg *a = p;
    it_conn **c = calloc(PER_PROC, sizeof *c);
    int fail = !c;
    for (unsigned k = 0; k < PER_PROC && !fail; k++) {
        unsigned i = a->first + k;
        char data[DATA_LEN + 1], member[16];
        party_data(i, data);
        snprintf(member, sizeof member, "p%04u", i);
        c[k] = it_connect_tcp("127.0.0.1", a->port, 0);
        fail = !c[k] || send_rdv(c[k], 1 + i, "g1000", N_BIG, 60000, data, member, NULL, 0, 0);
    }
    for (unsigned k = 0; k < PER_PROC; k++) {
        unsigned i = a->first + k;
        big_result res = {fail ? -1 : 0, i, 0, 0};
        bp_reply r;
        int rc = fail || !c[k] ? IT_EOF : it_recv_skip(c[k], 60000, 0, NULL, &r);
        if (!fail && rc != IT_LINE) res.rc = -200 + rc;
        if (rc == IT_LINE) {
            char data[DATA_LEN + 1];
            party_data(i, data);
            const char *mine = r.has_index ? gathered_at(&r, r.index) : NULL;
            char *text = gathered_text(&r);
            if (r.code || !r.has_index || !r.has_id || r.id != 1 + i)
                res.rc = r.code ? r.code : -300;
            else if (!mine || strcmp(mine, data) != 0 ||
                     cJSON_GetArraySize(it_jget(&r, "gathered")) != N_BIG)
                res.rc = -400;
            res.index = r.index;
            res.hash = text ? fnv(text) : 0;
            free(text);
            bp_reply_free(&r);
        }
        if (c && c[k]) it_close(c[k]);
        if (write(a->out_fd, &res, sizeof res) != (ssize_t)sizeof res) return 1;
    }
    free(c);
    return 0;
}

START_TEST(gather_1000)
{
    if (ts_raise_nofile() < N_BIG + 200) {
        ts_skip("needs %d descriptors (RLIMIT_NOFILE)", N_BIG + 200);
        return;
    }
    ts_server s = {0};
    ts_server_up(&s, NULL);
    int fds[2];
    it_assert(pipe2(fds, O_CLOEXEC) == 0);
    pid_t pids[N_PROCS];
    big_arg args[N_PROCS];
    for (int p = 0; p < N_PROCS; p++) {
        args[p] = (big_arg){s.port, (unsigned)p * PER_PROC, fds[1]};
        pids[p] = it_fork(big_proc, &args[p]);
    }
    close(fds[1]);
    static unsigned char seen[N_BIG];
    memset(seen, 0, sizeof seen);
    uint64_t hash = 0;
    for (int k = 0; k < N_BIG; k++) {
        big_result res;
        ssize_t n = read(fds[0], &res, sizeof res);
        it_assert_msg(n == (ssize_t)sizeof res, "a party process reported nothing (%zd)", n);
        it_assert_msg(res.rc == 0, "party %u failed: %d", res.party, res.rc);
        it_assert_msg(res.index < N_BIG && !seen[res.index], "index %u twice or out of range",
                      res.index);
        seen[res.index] = 1;
        it_assert_msg(k == 0 || res.hash == hash, "party %u got another gathered array", res.party);
        hash = res.hash;
    }
    close(fds[0]);
    for (int p = 0; p < N_PROCS; p++) {
        int st = ts_reap(pids[p], 10000);
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d: %d", p, st);
    }
    ts_server_down(&s);
}
END_TEST

/* ---- what a release looks like ---- */

START_TEST(plain_release_bytes)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *c = it_connect(&s);
    it_sendf(c, "{\"op\":\"wait\",\"id\":7,\"barrier\":\"p\",\"parties\":1}");
    const char *line;
    size_t len;
    it_assert(it_read_line(c, IT_TIMEOUT_MS, &line, &len) == IT_LINE);
    static const char want[] =
        "{\"id\":7,\"index\":0,\"ok\":true,\"barrier\":\"p\",\"generation\":0}";
    it_assert_msg(len == strlen(want) && memcmp(line, want, len) == 0, "got %.*s", (int)len, line);
    /* With data: the same, and the gathered array. */
    it_sendf(c, "{\"op\":\"wait\",\"id\":8,\"barrier\":\"p\",\"parties\":1,\"data\":\"x\"}");
    it_assert(it_read_line(c, IT_TIMEOUT_MS, &line, &len) == IT_LINE);
    static const char want2[] = "{\"id\":8,\"index\":0,\"ok\":true,\"barrier\":\"p\","
                                "\"generation\":1,\"gathered\":[\"x\"]}";
    it_assert_msg(len == strlen(want2) && memcmp(line, want2, len) == 0, "got %.*s", (int)len,
                  line);
    it_close(c);
    ts_server_down(&s);
}
END_TEST

START_TEST(action_result)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    it_assert(send_rdv(a, 1, "act", 2, -1, "from-a", NULL, NULL, 0, 0) == 0);
    it_wait_n_waiting(admin, "act", 1, IT_TIMEOUT_MS);
    it_sendf(b, "{\"op\":\"wait\",\"id\":2,\"barrier\":\"act\",\"parties\":2,\"action\":true}");
    bp_reply ev;
    it_assert(it_recv_skip(b, IT_TIMEOUT_MS, 0, NULL, &ev) == IT_LINE);
    it_assert(ev.kind == BP_MSG_RUN_ACTION && ev.generation == 0);
    bp_reply_free(&ev);
    it_sendf(b, "{\"op\":\"action_done\",\"id\":3,\"barrier\":\"act\",\"generation\":0,"
                "\"success\":true,\"result\":\"leader is b\"}");
    it_conn *conns[2] = {a, b};
    uint64_t ids[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        bp_reply r;
        it_expect_ok(conns[k], ids[k], IT_TIMEOUT_MS, &r);
        const char *res = it_jstr(&r, "action_result");
        it_assert_msg(res && strcmp(res, "leader is b") == 0, "action_result %s", res ? res : "-");
        it_assert(gathered_at(&r, 0) && strcmp(gathered_at(&r, 0), "from-a") == 0);
        it_assert(cJSON_IsNull(cJSON_GetArrayItem(it_jget(&r, "gathered"), 1)));
        bp_reply_free(&r);
    }
    bp_reply r;
    it_expect_ok(b, 3, IT_TIMEOUT_MS, &r);
    bp_reply_free(&r);
    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(duplicate_member)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    it_assert(send_rdv(a, 1, "dup", 2, -1, NULL, "alice", NULL, 0, 0) == 0);
    it_wait_n_waiting(admin, "dup", 1, IT_TIMEOUT_MS);
    char msg[256];
    it_assert(send_rdv(b, 2, "dup", 2, -1, NULL, "alice", NULL, 0, 0) == 0);
    it_expect_err(b, 2, BP_EMEMBER, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "'alice' is already waiting"), "message: %s", msg);
    bp_reply st;
    it_status(admin, "dup", &st);
    it_assert(it_jnum(&st, "n_waiting") == 1 && it_jbool(&st, "broken") == 0);
    const cJSON *w0 = cJSON_GetArrayItem(it_jget(&st, "waiting"), 0);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(w0, "member");
    it_assert(cJSON_IsString(m) && strcmp(m->valuestring, "alice") == 0);
    bp_reply_free(&st);
    it_assert(send_rdv(b, 3, "dup", 2, -1, NULL, "bob", NULL, 0, 0) == 0);
    it_expect_release(a, 1, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(b, 3, IT_TIMEOUT_MS, NULL, NULL);
    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

static const char TELLERS[] = "teller-1\0teller-2\0teller-3";

START_TEST(member_list)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    /* parties left out: the list's length */
    it_assert(send_rdv(a, 1, "bank", 0, -1, NULL, "teller-1", TELLERS, sizeof TELLERS, 3) == 0);
    it_wait_n_waiting(admin, "bank", 1, IT_TIMEOUT_MS);
    char msg[256];
    it_assert(send_rdv(b, 2, "bank", 3, -1, NULL, "robber", NULL, 0, 0) == 0);
    it_expect_err(b, 2, BP_EMEMBER, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "not a member"), "message: %s", msg);
    it_assert(send_rdv(b, 3, "bank", 3, -1, NULL, NULL, NULL, 0, 0) == 0);
    it_expect_err(b, 3, BP_EMEMBER, IT_TIMEOUT_MS, NULL, 0);
    it_assert(send_rdv(b, 4, "bank", 0, -1, NULL, "teller-2", "teller-2\0x\0y", 11, 3) == 0);
    it_expect_err(b, 4, BP_EPARTIES, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "another member list"), "message: %s", msg);
    it_assert(send_rdv(b, 5, "bank", 3, -1, NULL, "teller-3", NULL, 0, 0) == 0);
    it_wait_n_waiting(admin, "bank", 2, IT_TIMEOUT_MS);
    bp_reply st;
    it_status(admin, "bank", &st);
    it_assert(it_jnum(&st, "parties") == 3);
    const cJSON *members = it_jget(&st, "members"), *missing = it_jget(&st, "missing");
    it_assert(cJSON_GetArraySize(members) == 3 && cJSON_GetArraySize(missing) == 1);
    it_assert(strcmp(cJSON_GetArrayItem(missing, 0)->valuestring, "teller-2") == 0);
    bp_reply_free(&st);
    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(timeout_names_missing)
{
    ts_server s = {0};
    ts_server_up(&s, NULL);
    it_conn *a = it_connect(&s), *b = it_connect(&s), *admin = it_connect(&s);
    it_assert(send_rdv(a, 1, "tm", 3, -1, NULL, "teller-1", TELLERS, sizeof TELLERS, 3) == 0);
    it_wait_n_waiting(admin, "tm", 1, IT_TIMEOUT_MS);
    it_assert(send_rdv(b, 2, "tm", 3, 200, NULL, "teller-2", NULL, 0, 0) == 0);
    char msg[1024];
    it_expect_err(b, 2, BP_ETIMEDOUT, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "2/3 arrived") && strstr(msg, "; missing: teller-3"), "message: %s",
                  msg);
    it_expect_err(a, 1, BP_EBROKEN, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "; missing: teller-3"), "message: %s", msg);
    it_close(a);
    it_close(b);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

START_TEST(limits)
{
    ts_server s = {0};
    ts_server_up(&s, "--max-data", "100", "--max-gather", "250", NULL);
    it_conn *c[3], *admin = it_connect(&s);
    char big[102], hundred[101], fifty[51];
    memset(big, 'x', 101);
    big[101] = '\0';
    memset(hundred, 'h', 100);
    hundred[100] = '\0';
    memset(fifty, 'f', 50);
    fifty[50] = '\0';
    for (int i = 0; i < 3; i++)
        c[i] = it_connect(&s);
    char msg[256];
    it_assert(send_rdv(c[0], 1, "lim", 3, -1, big, NULL, NULL, 0, 0) == 0);
    it_expect_err(c[0], 1, BP_ELIMIT, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "--max-data"), "message: %s", msg);
    it_assert(send_rdv(c[0], 2, "lim", 3, -1, hundred, NULL, NULL, 0, 0) == 0);
    it_assert(send_rdv(c[1], 3, "lim", 3, -1, hundred, NULL, NULL, 0, 0) == 0);
    it_wait_n_waiting(admin, "lim", 2, IT_TIMEOUT_MS);
    it_assert(send_rdv(c[2], 4, "lim", 3, -1, hundred, NULL, NULL, 0, 0) == 0);
    it_expect_err(c[2], 4, BP_ELIMIT, IT_TIMEOUT_MS, msg, sizeof msg);
    it_assert_msg(strstr(msg, "--max-gather"), "message: %s", msg);
    bp_reply st;
    it_status(admin, "lim", &st);
    it_assert(it_jnum(&st, "n_waiting") == 2 && it_jbool(&st, "broken") == 0);
    bp_reply_free(&st);
    it_assert(send_rdv(c[2], 5, "lim", 3, -1, fifty, NULL, NULL, 0, 0) == 0); /* 250: fits */
    it_expect_release(c[0], 2, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(c[1], 3, IT_TIMEOUT_MS, NULL, NULL);
    it_expect_release(c[2], 5, IT_TIMEOUT_MS, NULL, NULL);
    for (int i = 0; i < 3; i++)
        it_close(c[i]);
    it_close(admin);
    ts_server_down(&s);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"gather_3", gather_3, 0},
        {"gather_1000", gather_1000, 0},
        {"plain_release_bytes", plain_release_bytes, 0},
        {"action_result", action_result, 0},
        {"duplicate_member", duplicate_member, 0},
        {"member_list", member_list, 0},
        {"timeout_names_missing", timeout_names_missing, 0},
        {"limits", limits, 0},
    };
    return ts_run_cases("rendezvous", cases, TS_NCASES(cases));
}
