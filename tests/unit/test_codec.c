/* test_codec.c - Check suite for the message codec and error table
 * (proto/bp_msg.h, proto/bp_error.h).
 *
 * - bp_request_decode: every op, and every rejection with its exact code, the
 *   field it names and whether the id is echoed; tables of named cases.
 * - The same lines fed through the framer byte by byte and split at every point
 *   decode identically.
 * - bp_request_encode -> bp_request_decode round trips for every op.
 * - Reply and event encoders read back by bp_reply_decode, escaping included.
 * - bp_err_name / bp_err_from_name / bp_strerror over the whole table.
 *
 * Every line is decoded from an exactly-sized heap copy (no NUL after it), as the
 * framer hands them out, so a sanitizer build catches any read past the line.
 *
 * Regression tests for fixed proto bugs say what they once did wrong.
 */
#include "bp_error.h"
#include "bp_frame.h"
#include "bp_msg.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON line written as itself: J({"op":"ping"}) is "{\"op\":\"ping\"}". Escapes
 * such as \u0000 or \" stay JSON escapes. Raw bytes need plain C strings. */
#define J(...) #__VA_ARGS__

/* ---- helpers ---- */

/* Failure notes: a table test checks every case, notes each mismatch, and fails
 * once at the end listing them all (one fork per table, not per case, which
 * matters under LeakSanitizer). */
static char notes[16384];
static size_t n_notes;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t used = strlen(notes);
    va_list ap;
    va_start(ap, fmt);
    if (used + 2 < sizeof notes) {
        vsnprintf(notes + used, sizeof notes - used - 1, fmt, ap);
        strcat(notes, "\n");
    }
    va_end(ap);
    n_notes++;
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) note(__VA_ARGS__);                                                            \
    } while (0)

/* Fail the test if anything was noted. */
static void assert_no_notes(void)
{
    ck_assert_msg(n_notes == 0, "%zu mismatch(es):\n%s", n_notes, notes);
}

/* Decode from an exact-size copy: the framer's lines are not NUL-terminated. */
static int decode_n(const char *line, size_t len, unsigned maxp, bp_request *r, bp_decode_error *e)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, line, len);
    int rc = bp_request_decode(copy, len, maxp, r, e);
    free(copy);
    return rc;
}

static int decode(const char *line, unsigned maxp, bp_request *r, bp_decode_error *e)
{
    return decode_n(line, strlen(line), maxp, r, e);
}

/* What a decoded request should hold. timeout_ms is -1 unless has_timeout. */
typedef struct want {
    bp_op op;
    int has_id;
    uint64_t id;
    const char *barrier;
    unsigned parties;
    int has_timeout;
    int64_t timeout_ms;
    int action;
    const char *client;
    uint64_t generation;
    int success;
    unsigned version;
    int has_token;
    const char *token;
} want;

/* The struct bp_request_decode would produce: zeroed, then the fields set. */
static void make_req(const want *w, bp_request *r)
{
    memset(r, 0, sizeof *r);
    r->op = w->op;
    r->has_id = w->has_id;
    r->id = w->id;
    if (w->barrier) {
        ck_assert_uint_le(strlen(w->barrier), BP_NAME_MAX);
        strcpy(r->barrier, w->barrier);
        r->barrier_len = strlen(w->barrier);
    }
    r->parties = w->parties;
    r->timeout_ms = w->has_timeout ? w->timeout_ms : -1;
    r->action = w->action;
    if (w->client) strcpy(r->client, w->client);
    r->generation = w->generation;
    r->success = w->success;
    r->version = w->version;
    r->has_token = w->has_token;
    if (w->token) strcpy(r->token, w->token);
}

/* Note every field that differs, then any other difference in the struct. */
static void req_diff(const bp_request *got, const bp_request *want, const char *what)
{
    size_t before = n_notes;
    EXPECT(got->op == want->op, "%s: op %d, want %d", what, got->op, want->op);
    EXPECT(got->has_id == want->has_id, "%s: has_id %d", what, got->has_id);
    EXPECT(got->id == want->id, "%s: id %llu, want %llu", what, (unsigned long long)got->id,
           (unsigned long long)want->id);
    EXPECT(strcmp(got->barrier, want->barrier) == 0, "%s: barrier '%s', want '%s'", what,
           got->barrier, want->barrier);
    EXPECT(got->barrier_len == want->barrier_len, "%s: barrier_len %zu, want %zu", what,
           got->barrier_len, want->barrier_len);
    EXPECT(got->parties == want->parties, "%s: parties %u, want %u", what, got->parties,
           want->parties);
    EXPECT(got->timeout_ms == want->timeout_ms, "%s: timeout_ms %lld, want %lld", what,
           (long long)got->timeout_ms, (long long)want->timeout_ms);
    EXPECT(got->action == want->action, "%s: action %d", what, got->action);
    EXPECT(strcmp(got->client, want->client) == 0, "%s: client '%s', want '%s'", what, got->client,
           want->client);
    EXPECT(got->generation == want->generation, "%s: generation %llu", what,
           (unsigned long long)got->generation);
    EXPECT(got->success == want->success, "%s: success %d", what, got->success);
    EXPECT(got->version == want->version, "%s: version %u", what, got->version);
    EXPECT(got->has_token == want->has_token, "%s: has_token %d", what, got->has_token);
    EXPECT(strcmp(got->token, want->token) == 0, "%s: token '%s'", what, got->token);
    if (n_notes == before) EXPECT(memcmp(got, want, sizeof *got) == 0, "%s: structs differ", what);
}

static void assert_req_eq(const bp_request *got, const bp_request *want, const char *what)
{
    req_diff(got, want, what);
    assert_no_notes();
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

/* ---- valid requests ---- */

// clang-format off
static const struct {
    const char *name;
    const char *line;
    unsigned maxp;
    want w;
} ok_cases[] = {
    {"hello bare", J({"op":"hello"}), 0, {.op = BP_OP_HELLO}},
    {"hello full", J({"op":"hello","id":1,"version":1,"token":"s3cret"}), 0,
     {.op = BP_OP_HELLO, .has_id = 1, .id = 1, .version = 1, .has_token = 1, .token = "s3cret"}},
    {"hello empty token", J({"op":"hello","token":""}), 0,
     {.op = BP_OP_HELLO, .has_token = 1, .token = ""}},
    {"hello version max", J({"op":"hello","version":65535}), 0,
     {.op = BP_OP_HELLO, .version = 65535}},
    {"hello token is not a name", J({"op":"hello","token":"a\tb\u0001 \u00e9"}), 0,
     {.op = BP_OP_HELLO, .has_token = 1, .token = "a\tb\x01 \xc3\xa9"}},
    {"wait as in the nc example", J({"op":"wait","id":1,"barrier":"b","parties":2}), 0,
     {.op = BP_OP_WAIT, .has_id = 1, .id = 1, .barrier = "b", .parties = 2}},
    {"wait without id", J({"op":"wait","barrier":"b","parties":3}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 3}},
    {"wait all fields",
     J({"op":"wait","id":9,"barrier":"stage-2","parties":3,"timeout_ms":1500,"action":true,
        "client":"tellerA"}),
     0,
     {.op = BP_OP_WAIT, .has_id = 1, .id = 9, .barrier = "stage-2", .parties = 3, .has_timeout = 1,
      .timeout_ms = 1500, .action = 1, .client = "tellerA"}},
    {"wait action false", J({"op":"wait","barrier":"b","parties":2,"action":false}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2}},
    {"wait timeout 0", J({"op":"wait","barrier":"b","parties":2,"timeout_ms":0}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2, .has_timeout = 1, .timeout_ms = 0}},
    {"wait timeout max", J({"op":"wait","barrier":"b","parties":2,"timeout_ms":31536000000000}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2, .has_timeout = 1,
      .timeout_ms = BP_TIMEOUT_MAX_MS}},
    {"wait parties 1", J({"op":"wait","barrier":"b","parties":1}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 1}},
    {"wait parties at hard max", J({"op":"wait","barrier":"b","parties":1000000}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = BP_PARTIES_MAX}},
    {"wait parties at max_parties", J({"op":"wait","barrier":"b","parties":10}), 10,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 10}},
    {"wait parties as 2.0", J({"op":"wait","barrier":"b","parties":2.0}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2}},
    {"wait parties as 3e0", J({"op":"wait","barrier":"b","parties":3e0}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 3}},
    {"wait empty client", J({"op":"wait","barrier":"b","parties":2,"client":""}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2}},
    {"wait raw utf8 name",
     "{\"op\":\"wait\",\"barrier\":\"caf\xc3\xa9-\xf0\x9f\x98\x80\",\"parties\":2}", 0,
     {.op = BP_OP_WAIT, .barrier = "caf\xc3\xa9-\xf0\x9f\x98\x80", .parties = 2}},
    {"wait escaped utf8 name", J({"op":"wait","barrier":"caf\u00e9\u20ac","parties":2}), 0,
     {.op = BP_OP_WAIT, .barrier = "caf\xc3\xa9\xe2\x82\xac", .parties = 2}},
    {"wait surrogate pair escape", J({"op":"wait","barrier":"\ud83d\ude00","parties":2}), 0,
     {.op = BP_OP_WAIT, .barrier = "\xf0\x9f\x98\x80", .parties = 2}},
    {"wait quote backslash slash", J({"op":"wait","barrier":"a\"b\\c\/d","parties":2}), 0,
     {.op = BP_OP_WAIT, .barrier = "a\"b\\c/d", .parties = 2}},
    {"wait name with spaces", J({"op":"wait","barrier":" a b ","parties":2}), 0,
     {.op = BP_OP_WAIT, .barrier = " a b ", .parties = 2}},
    /* bp_utf8_clean refuses C0 and DEL only (see bp_buf.h); U+0085 is C1 */
    {"wait c1 control in name", J({"op":"wait","barrier":"a\u0085","parties":2}), 0,
     {.op = BP_OP_WAIT, .barrier = "a\xc2\x85", .parties = 2}},
    {"wait utf8 client",
     J({"op":"wait","barrier":"b","parties":2,"client":"J\u00fcrgen@host1 pid 9"}), 0,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 2, .client = "J\xc3\xbcrgen@host1 pid 9"}},
    {"wait fields in any order", J({"parties":4,"client":"c","barrier":"z","id":3,"op":"wait"}), 0,
     {.op = BP_OP_WAIT, .has_id = 1, .id = 3, .barrier = "z", .parties = 4, .client = "c"}},
    {"action_done success",
     J({"op":"action_done","id":4,"barrier":"b","generation":7,"success":true}), 0,
     {.op = BP_OP_ACTION_DONE, .has_id = 1, .id = 4, .barrier = "b", .generation = 7,
      .success = 1}},
    {"action_done failure", J({"op":"action_done","barrier":"b","generation":0,"success":false}), 0,
     {.op = BP_OP_ACTION_DONE, .barrier = "b"}},
    {"action_done generation max",
     J({"op":"action_done","barrier":"b","generation":9007199254740991,"success":true}), 0,
     {.op = BP_OP_ACTION_DONE, .barrier = "b", .generation = BP_ID_MAX, .success = 1}},
    {"abort", J({"op":"abort","id":5,"barrier":"b"}), 0,
     {.op = BP_OP_ABORT, .has_id = 1, .id = 5, .barrier = "b"}},
    {"reset", J({"op":"reset","id":6,"barrier":"b"}), 0,
     {.op = BP_OP_RESET, .has_id = 1, .id = 6, .barrier = "b"}},
    {"status", J({"op":"status","id":2,"barrier":"b"}), 0,
     {.op = BP_OP_STATUS, .has_id = 1, .id = 2, .barrier = "b"}},
    {"list", J({"op":"list","id":3}), 0, {.op = BP_OP_LIST, .has_id = 1, .id = 3}},
    {"stats", J({"op":"stats","id":4}), 0, {.op = BP_OP_STATS, .has_id = 1, .id = 4}},
    {"ping", J({"op":"ping","id":5}), 0, {.op = BP_OP_PING, .has_id = 1, .id = 5}},
    {"pong", J({"op":"pong"}), 0, {.op = BP_OP_PONG}},
    {"id zero", J({"op":"ping","id":0}), 0, {.op = BP_OP_PING, .has_id = 1, .id = 0}},
    {"id max 2^53-1", J({"op":"ping","id":9007199254740991}), 0,
     {.op = BP_OP_PING, .has_id = 1, .id = BP_ID_MAX}},
    {"id as 1e3", J({"op":"ping","id":1e3}), 0, {.op = BP_OP_PING, .has_id = 1, .id = 1000}},
    {"id as 5.0", J({"op":"ping","id":5.0}), 0, {.op = BP_OP_PING, .has_id = 1, .id = 5}},
    {"id as -0", J({"op":"ping","id":-0}), 0, {.op = BP_OP_PING, .has_id = 1, .id = 0}},
    {"unknown fields ignored", J({"op":"ping","extra":[1,{"a":null}],"v2":"x","id":8}), 0,
     {.op = BP_OP_PING, .has_id = 1, .id = 8}},
    {"other ops' fields ignored", J({"op":"ping","barrier":5,"parties":"x","timeout_ms":-3}), 0,
     {.op = BP_OP_PING}},
    {"abort ignores wait fields", J({"op":"abort","barrier":"b","parties":0,"action":"x"}), 0,
     {.op = BP_OP_ABORT, .barrier = "b"}},
    {"hello ignores barrier", J({"op":"hello","barrier":""}), 0, {.op = BP_OP_HELLO}},
    {"whitespace around", "  {\"op\":\"ping\"} \t\r\n", 0, {.op = BP_OP_PING}},
    {"trailing cr", "{\"op\":\"ping\",\"id\":1}\r", 0, {.op = BP_OP_PING, .has_id = 1, .id = 1}},
    {"pretty printed", J({"op" : "status" , "barrier" : "b" , "id" : 3}), 0,
     {.op = BP_OP_STATUS, .has_id = 1, .id = 3, .barrier = "b"}},
    {"max_parties above hard max clamps", J({"op":"wait","barrier":"b","parties":1000000}), 2000000,
     {.op = BP_OP_WAIT, .barrier = "b", .parties = BP_PARTIES_MAX}},
};
// clang-format on
#define N_OK (sizeof ok_cases / sizeof ok_cases[0])

START_TEST(t_decode_ok)
{
    for (size_t i = 0; i < N_OK; i++) {
        bp_request got, want;
        bp_decode_error err;
        int rc = decode(ok_cases[i].line, ok_cases[i].maxp, &got, &err);
        EXPECT(rc == 0 && err.code == 0, "%s: rc %d (%s)", ok_cases[i].name, rc, err.message);
        if (rc) continue;
        make_req(&ok_cases[i].w, &want);
        req_diff(&got, &want, ok_cases[i].name);
    }
    assert_no_notes();
}
END_TEST

/* ---- rejected requests ---- */

// clang-format off
static const struct {
    const char *name;
    const char *line;
    size_t len; /* 0: strlen(line) */
    unsigned maxp;
    int code;
    int has_id; /* the id is echoed in the error */
    uint64_t id;
    const char *field; /* BP_EINVAL: the message says "field '<field>'" */
    const char *msg;   /* a substring of the message */
} err_cases[] = {
    /* not a JSON object */
    {"not json", "hello", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"empty line", "", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"whitespace only", "  \t ", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"truncated object", J({"op":"ping","id":1), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"unterminated string", "{\"op\":\"ping", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"array", J([{"op":"ping"}]), 0, 0, BP_EPROTO, 0, 0, NULL, "JSON object"},
    {"string", J("ping"), 0, 0, BP_EPROTO, 0, 0, NULL, "JSON object"},
    {"number", "7", 0, 0, BP_EPROTO, 0, 0, NULL, "JSON object"},
    {"null", "null", 0, 0, BP_EPROTO, 0, 0, NULL, "JSON object"},
    {"true", "true", 0, 0, BP_EPROTO, 0, 0, NULL, "JSON object"},
    {"trailing bytes", J({"op":"ping","id":5} x), 0, 0, BP_EPROTO, 0, 0, NULL, "trailing"},
    {"two objects", J({"op":"ping"}{"op":"ping"}), 0, 0, BP_EPROTO, 0, 0, NULL, "trailing"},
    {"trailing nul byte", "{\"op\":\"ping\"}\0", 14, 0, BP_EPROTO, 0, 0, NULL, "NUL"},
    {"trailing comma", J({"op":"ping",}), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"single quotes", "{'op':'ping'}", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"bare key", J({op:"ping"}), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"bad escape", "{\"op\":\"p\\qing\"}", 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"lone high surrogate", J({"op":"ping","x":"\ud800"}), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid"},
    {"lone low surrogate", J({"op":"ping","x":"\udc00"}), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid"},
    {"NaN", J({"op":"ping","id":NaN}), 0, 0, BP_EPROTO, 0, 0, NULL, "invalid JSON"},
    {"nul escape in barrier", J({"op":"wait","id":1,"barrier":"a\u0000b","parties":2}), 0, 0,
     BP_EPROTO, 0, 0, NULL, "\\u0000"},
    {"nul escape in ignored field", J({"op":"ping","x":"\u0000"}), 0, 0, BP_EPROTO, 0, 0, NULL,
     "\\u0000"},
    {"nul escape as whole op", J({"op":"\u0000"}), 0, 0, BP_EPROTO, 0, 0, NULL, "\\u0000"},
    /* op */
    {"empty object", "{}", 0, 0, BP_EINVAL, 0, 0, "op", "required"},
    {"missing op", J({"id":1}), 0, 0, BP_EINVAL, 1, 1, "op", "required"},
    {"op null", J({"id":2,"op":null}), 0, 0, BP_EINVAL, 1, 2, "op", "must be a string"},
    {"op number", J({"id":2,"op":1}), 0, 0, BP_EINVAL, 1, 2, "op", "must be a string"},
    {"op bool", J({"op":true}), 0, 0, BP_EINVAL, 0, 0, "op", "must be a string"},
    {"op array", J({"op":["ping"]}), 0, 0, BP_EINVAL, 0, 0, "op", "must be a string"},
    {"op object", J({"op":{"name":"ping"}}), 0, 0, BP_EINVAL, 0, 0, "op", "must be a string"},
    {"op unknown", J({"op":"jump","id":3}), 0, 0, BP_EINVAL, 1, 3, "op", "unknown op 'jump'"},
    {"op uppercase", J({"op":"WAIT","id":3}), 0, 0, BP_EINVAL, 1, 3, "op", "unknown op 'WAIT'"},
    {"op empty", J({"op":""}), 0, 0, BP_EINVAL, 0, 0, "op", "unknown op ''"},
    {"op padded", J({"op":" ping"}), 0, 0, BP_EINVAL, 0, 0, "op", "unknown op ' ping'"},
    {"op control char hidden", J({"op":"pi\nng"}), 0, 0, BP_EINVAL, 0, 0, "op", "unknown op '?'"},
    {"op invalid utf8 hidden", "{\"op\":\"\xff\xfe\"}", 0, 0, BP_EINVAL, 0, 0, "op",
     "unknown op '?'"},
    /* id: unreadable, so not echoed */
    {"id string", J({"op":"ping","id":"1"}), 0, 0, BP_EINVAL, 0, 0, "id", "must be a number"},
    {"id bool", J({"op":"ping","id":true}), 0, 0, BP_EINVAL, 0, 0, "id", "must be a number"},
    {"id null", J({"op":"ping","id":null}), 0, 0, BP_EINVAL, 0, 0, "id", "must be a number"},
    {"id array", J({"op":"ping","id":[1]}), 0, 0, BP_EINVAL, 0, 0, "id", "must be a number"},
    {"id negative", J({"op":"ping","id":-1}), 0, 0, BP_EINVAL, 0, 0, "id", "0..9007199254740991"},
    {"id fraction", J({"op":"ping","id":1.5}), 0, 0, BP_EINVAL, 0, 0, "id", "must be an integer"},
    {"id 2^53", J({"op":"ping","id":9007199254740992}), 0, 0, BP_EINVAL, 0, 0, "id",
     "must be an integer"},
    {"id huge", J({"op":"ping","id":1e300}), 0, 0, BP_EINVAL, 0, 0, "id", "must be an integer"},
    {"id overflow to inf", J({"op":"ping","id":1e400}), 0, 0, BP_EINVAL, 0, 0, "id",
     "must be an integer"},
    {"bad id before unknown op", J({"op":"jump","id":-1}), 0, 0, BP_EINVAL, 0, 0, "id",
     "must be an integer"},
    /* barrier */
    {"wait missing barrier", J({"op":"wait","id":7,"parties":2}), 0, 0, BP_EINVAL, 1, 7, "barrier",
     "required"},
    {"barrier number", J({"op":"wait","id":7,"barrier":5,"parties":2}), 0, 0, BP_EINVAL, 1, 7,
     "barrier", "must be a string"},
    {"barrier null", J({"op":"wait","id":7,"barrier":null,"parties":2}), 0, 0, BP_EINVAL, 1, 7,
     "barrier", "must be a string"},
    {"barrier empty", J({"op":"wait","id":7,"barrier":"","parties":2}), 0, 0, BP_EINVAL, 1, 7,
     "barrier", "must not be empty"},
    {"barrier escaped control", J({"op":"wait","id":7,"barrier":"a\u0001","parties":2}), 0, 0,
     BP_EINVAL, 1, 7, "barrier", "valid UTF-8 without control characters"},
    {"barrier escaped newline", J({"op":"wait","id":7,"barrier":"a\nb","parties":2}), 0, 0,
     BP_EINVAL, 1, 7, "barrier", "control characters"},
    {"barrier escaped tab", J({"op":"wait","id":7,"barrier":"\t","parties":2}), 0, 0, BP_EINVAL, 1,
     7, "barrier", "control characters"},
    {"barrier raw tab", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"a\tb\",\"parties\":2}", 0, 0,
     BP_EINVAL, 1, 7, "barrier", "control characters"},
    {"barrier escaped DEL", J({"op":"wait","id":7,"barrier":"a\u007f","parties":2}), 0, 0,
     BP_EINVAL, 1, 7, "barrier", "control characters"},
    {"barrier raw DEL", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"a\x7f\",\"parties\":2}", 0, 0,
     BP_EINVAL, 1, 7, "barrier", "control characters"},
    {"barrier invalid utf8", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"a\xff\",\"parties\":2}", 0, 0,
     BP_EINVAL, 1, 7, "barrier", "valid UTF-8"},
    {"barrier latin-1", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"caf\xe9\",\"parties\":2}", 0, 0,
     BP_EINVAL, 1, 7, "barrier", "valid UTF-8"},
    {"barrier overlong", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"\xc0\xaf\",\"parties\":2}", 0, 0,
     BP_EINVAL, 1, 7, "barrier", "valid UTF-8"},
    {"barrier raw surrogate",
     "{\"op\":\"wait\",\"id\":7,\"barrier\":\"\xed\xa0\x80\",\"parties\":2}", 0, 0, BP_EINVAL, 1, 7,
     "barrier", "valid UTF-8"},
    {"barrier above U+10FFFF",
     "{\"op\":\"wait\",\"id\":7,\"barrier\":\"\xf4\x90\x80\x80\",\"parties\":2}", 0, 0, BP_EINVAL,
     1, 7, "barrier", "valid UTF-8"},
    {"barrier truncated utf8", "{\"op\":\"wait\",\"id\":7,\"barrier\":\"\xe2\x82\",\"parties\":2}",
     0, 0, BP_EINVAL, 1, 7, "barrier", "valid UTF-8"},
    /* parties */
    {"parties missing", J({"op":"wait","id":8,"barrier":"b"}), 0, 0, BP_EINVAL, 1, 8, "parties",
     "required"},
    {"parties zero", J({"op":"wait","id":8,"barrier":"b","parties":0}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "1..1000000"},
    {"parties negative", J({"op":"wait","id":8,"barrier":"b","parties":-2}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "1..1000000"},
    {"parties fraction", J({"op":"wait","id":8,"barrier":"b","parties":1.5}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "must be an integer"},
    {"parties string", J({"op":"wait","id":8,"barrier":"b","parties":"2"}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "must be a number"},
    {"parties bool", J({"op":"wait","id":8,"barrier":"b","parties":true}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "must be a number"},
    {"parties null", J({"op":"wait","id":8,"barrier":"b","parties":null}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "must be a number"},
    {"parties above hard max", J({"op":"wait","id":8,"barrier":"b","parties":1000001}), 0, 0,
     BP_EINVAL, 1, 8, "parties", "1..1000000"},
    {"parties wraps unsigned", J({"op":"wait","id":8,"barrier":"b","parties":4294967298}), 0, 0,
     BP_EINVAL, 1, 8, "parties", "1..1000000"},
    {"parties huge", J({"op":"wait","id":8,"barrier":"b","parties":1e300}), 0, 0, BP_EINVAL, 1, 8,
     "parties", "1..1000000"},
    {"parties above max_parties", J({"op":"wait","id":8,"barrier":"b","parties":11}), 0, 10,
     BP_EINVAL, 1, 8, "parties", "1..10"},
    {"parties above clamped max_parties", J({"op":"wait","id":8,"barrier":"b","parties":1000001}),
     0, 2000000, BP_EINVAL, 1, 8, "parties", "1..1000000"},
    {"parties max_parties 1", J({"op":"wait","barrier":"b","parties":2}), 0, 1, BP_EINVAL, 0, 0,
     "parties", "1..1"},
    /* timeout_ms */
    {"timeout negative", J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":-1}), 0, 0,
     BP_EINVAL, 1, 9, "timeout_ms", "must be an integer"},
    {"timeout fraction", J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":0.5}), 0, 0,
     BP_EINVAL, 1, 9, "timeout_ms", "must be an integer"},
    {"timeout string", J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":"10"}), 0, 0,
     BP_EINVAL, 1, 9, "timeout_ms", "must be a number"},
    {"timeout bool", J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":true}), 0, 0,
     BP_EINVAL, 1, 9, "timeout_ms", "must be a number"},
    {"timeout null", J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":null}), 0, 0,
     BP_EINVAL, 1, 9, "timeout_ms", "must be a number"},
    {"timeout above max",
     J({"op":"wait","id":9,"barrier":"b","parties":2,"timeout_ms":31536000000001}), 0, 0, BP_EINVAL,
     1, 9, "timeout_ms", "0..31536000000000"},
    /* action */
    {"action string", J({"op":"wait","id":10,"barrier":"b","parties":2,"action":"yes"}), 0, 0,
     BP_EINVAL, 1, 10, "action", "must be true or false"},
    {"action number", J({"op":"wait","id":10,"barrier":"b","parties":2,"action":1}), 0, 0,
     BP_EINVAL, 1, 10, "action", "must be true or false"},
    {"action null", J({"op":"wait","id":10,"barrier":"b","parties":2,"action":null}), 0, 0,
     BP_EINVAL, 1, 10, "action", "must be true or false"},
    /* client */
    {"client number", J({"op":"wait","id":11,"barrier":"b","parties":2,"client":5}), 0, 0,
     BP_EINVAL, 1, 11, "client", "must be a string"},
    {"client control", J({"op":"wait","id":11,"barrier":"b","parties":2,"client":"a\u001b[0m"}), 0,
     0, BP_EINVAL, 1, 11, "client", "control characters"},
    {"client invalid utf8",
     "{\"op\":\"wait\",\"id\":11,\"barrier\":\"b\",\"parties\":2,\"client\":\"\xc3\x28\"}", 0, 0,
     BP_EINVAL, 1, 11, "client", "valid UTF-8"},
    /* action_done */
    {"action_done missing generation", J({"op":"action_done","id":12,"barrier":"b","success":true}),
     0, 0, BP_EINVAL, 1, 12, "generation", "required"},
    {"action_done generation negative",
     J({"op":"action_done","id":12,"barrier":"b","generation":-1,"success":true}), 0, 0, BP_EINVAL,
     1, 12, "generation", "must be an integer"},
    {"action_done generation fraction",
     J({"op":"action_done","id":12,"barrier":"b","generation":1.5,"success":true}), 0, 0, BP_EINVAL,
     1, 12, "generation", "must be an integer"},
    {"action_done generation string",
     J({"op":"action_done","id":12,"barrier":"b","generation":"1","success":true}), 0, 0, BP_EINVAL,
     1, 12, "generation", "must be a number"},
    {"action_done generation 2^53",
     J({"op":"action_done","id":12,"barrier":"b","generation":9007199254740992,"success":true}), 0,
     0, BP_EINVAL, 1, 12, "generation", "must be an integer"},
    {"action_done missing success", J({"op":"action_done","id":12,"barrier":"b","generation":1}), 0,
     0, BP_EINVAL, 1, 12, "success", "required"},
    {"action_done success string",
     J({"op":"action_done","id":12,"barrier":"b","generation":1,"success":"true"}), 0, 0, BP_EINVAL,
     1, 12, "success", "must be true or false"},
    {"action_done success number",
     J({"op":"action_done","id":12,"barrier":"b","generation":1,"success":1}), 0, 0, BP_EINVAL, 1,
     12, "success", "must be true or false"},
    {"action_done missing barrier", J({"op":"action_done","id":12,"generation":1,"success":false}),
     0, 0, BP_EINVAL, 1, 12, "barrier", "required"},
    {"action_done empty barrier",
     J({"op":"action_done","id":12,"barrier":"","generation":1,"success":false}), 0, 0, BP_EINVAL,
     1, 12, "barrier", "must not be empty"},
    /* abort, reset, status */
    {"abort missing barrier", J({"op":"abort","id":13}), 0, 0, BP_EINVAL, 1, 13, "barrier",
     "required"},
    {"reset missing barrier", J({"op":"reset","id":14}), 0, 0, BP_EINVAL, 1, 14, "barrier",
     "required"},
    {"status missing barrier", J({"op":"status","id":15}), 0, 0, BP_EINVAL, 1, 15, "barrier",
     "required"},
    {"status empty barrier", J({"op":"status","id":15,"barrier":""}), 0, 0, BP_EINVAL, 1, 15,
     "barrier", "must not be empty"},
    {"reset barrier number", J({"op":"reset","id":14,"barrier":1}), 0, 0, BP_EINVAL, 1, 14,
     "barrier", "must be a string"},
    {"abort barrier control", J({"op":"abort","id":13,"barrier":"x\r"}), 0, 0, BP_EINVAL, 1, 13,
     "barrier", "control characters"},
    /* hello */
    {"hello version string", J({"op":"hello","id":16,"version":"1"}), 0, 0, BP_EINVAL, 1, 16,
     "version", "must be a number"},
    {"hello version zero", J({"op":"hello","id":16,"version":0}), 0, 0, BP_EINVAL, 1, 16, "version",
     "1..65535"},
    {"hello version too big", J({"op":"hello","id":16,"version":65536}), 0, 0, BP_EINVAL, 1, 16,
     "version", "1..65535"},
    {"hello version fraction", J({"op":"hello","id":16,"version":1.5}), 0, 0, BP_EINVAL, 1, 16,
     "version", "must be an integer"},
    {"hello version bool", J({"op":"hello","id":16,"version":true}), 0, 0, BP_EINVAL, 1, 16,
     "version", "must be a number"},
    {"hello token number", J({"op":"hello","id":16,"token":12345}), 0, 0, BP_EINVAL, 1, 16, "token",
     "must be a string"},
    {"hello token null", J({"op":"hello","id":16,"token":null}), 0, 0, BP_EINVAL, 1, 16, "token",
     "must be a string"},
};
// clang-format on
#define N_ERR (sizeof err_cases / sizeof err_cases[0])

START_TEST(t_decode_error)
{
    for (size_t i = 0; i < N_ERR; i++) {
        bp_request r;
        bp_decode_error err;
        const char *name = err_cases[i].name, *line = err_cases[i].line;
        size_t len = err_cases[i].len ? err_cases[i].len : strlen(line);
        int rc = decode_n(line, len, err_cases[i].maxp, &r, &err);
        EXPECT(rc == err_cases[i].code, "%s: rc %d, want %d (%s)", name, rc, err_cases[i].code,
               err.message);
        EXPECT(err.code == rc, "%s: err.code %d", name, err.code);
        EXPECT(err.has_id == err_cases[i].has_id, "%s: has_id %d, want %d", name, err.has_id,
               err_cases[i].has_id);
        EXPECT(err.id == err_cases[i].id, "%s: id %llu", name, (unsigned long long)err.id);
        EXPECT(strlen(err.message) > 0, "%s: empty message", name);
        if (err_cases[i].field) {
            char f[64];
            snprintf(f, sizeof f, "field '%s'", err_cases[i].field);
            EXPECT(strstr(err.message, f), "%s: message '%s' does not name %s", name, err.message,
                   f);
        }
        EXPECT(strstr(err.message, err_cases[i].msg), "%s: message '%s' lacks '%s'", name,
               err.message, err_cases[i].msg);
    }
    assert_no_notes();
}
END_TEST

/* Exact messages for the common mistakes, as someone typing into nc sees them. */
// clang-format off
static const struct {
    const char *line;
    const char *message;
} exact_msgs[] = {
    {J({"op":"wait","barrier":"b","parties":0}),
     "field 'parties': must be an integer in 1..1000000"},
    {J({"op":"wait","barrier":"b"}), "field 'parties': required"},
    {J({"op":"wait","parties":2}), "field 'barrier': required"},
    {J({"op":"wait","barrier":"","parties":2}), "field 'barrier': must not be empty"},
    {J({"op":"jump"}), "field 'op': unknown op 'jump'"},
    {J({"id":1}), "field 'op': required"},
    {J({"op":7}), "field 'op': must be a string"},
    {J({"id":-1,"op":"ping"}), "field 'id': must be an integer in 0..9007199254740991"},
    {J({"op":"wait","barrier":"b","parties":2,"action":1}),
     "field 'action': must be true or false"},
    {J({"op":"wait","barrier":"b","parties":2,"timeout_ms":"5"}),
     "field 'timeout_ms': must be a number"},
    {J({"op":"wait","barrier":"\u0001","parties":2}),
     "field 'barrier': must be valid UTF-8 without control characters"},
    {J([1]), "a request must be a JSON object"},
    {J({"op":"ping"} x), "invalid JSON: trailing bytes after the object"},
    {J({"op":"ping","x":"\u0000"}), "invalid JSON: \\u0000 is not allowed"},
};
// clang-format on

START_TEST(t_decode_exact_message)
{
    for (size_t i = 0; i < sizeof exact_msgs / sizeof exact_msgs[0]; i++) {
        bp_request r;
        bp_decode_error err;
        int rc = decode(exact_msgs[i].line, 0, &r, &err);
        EXPECT(rc < 0, "%s: accepted", exact_msgs[i].line);
        EXPECT(strcmp(err.message, exact_msgs[i].message) == 0, "%s: message '%s', want '%s'",
               exact_msgs[i].line, err.message, exact_msgs[i].message);
    }
    assert_no_notes();
}
END_TEST

START_TEST(t_decode_error_offset)
{
    /* "invalid JSON near byte N": N points into the line. */
    static const char *lines[] = {"{\"op\":", "{\"op\":\"ping\",x}", "x", "{", "{\"a\":tru}"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        bp_request r;
        bp_decode_error err;
        long off = -2;
        ck_assert_int_eq(decode(lines[i], 0, &r, &err), BP_EPROTO);
        ck_assert_msg(sscanf(err.message, "invalid JSON near byte %ld", &off) == 1, "%s",
                      err.message);
        ck_assert_msg(off >= 0 && (size_t)off <= strlen(lines[i]), "%s: offset %ld", lines[i], off);
    }
}
END_TEST

/* ---- length limits, built at run time ---- */

/* {"op":"wait","id":21,"barrier":NAME,"parties":2,"client":CLIENT} */
static int decode_wait(const char *barrier, const char *client, bp_request *r, bp_decode_error *err)
{
    size_t n = strlen(barrier) + (client ? strlen(client) : 0) + 128;
    char *line = malloc(n);
    if (client)
        snprintf(line, n,
                 "{\"op\":\"wait\",\"id\":21,\"barrier\":\"%s\",\"parties\":2,\"client\":\"%s\"}",
                 barrier, client);
    else
        snprintf(line, n, "{\"op\":\"wait\",\"id\":21,\"barrier\":\"%s\",\"parties\":2}", barrier);
    int rc = decode(line, 0, r, err);
    free(line);
    return rc;
}

// clang-format off
static const struct {
    const char *name;
    const char *unit; /* as written in JSON */
    size_t times;
    size_t bytes; /* decoded length */
    int ok;
} name_len_cases[] = {
    {"255 ascii", "n", 255, 255, 1},
    {"256 ascii", "n", 256, 256, 0},
    {"1000 ascii", "n", 1000, 1000, 0},
    {"1 ascii", "n", 1, 1, 1},
    {"85 euro signs = 255 bytes", "\xe2\x82\xac", 85, 255, 1},
    {"86 euro signs = 258 bytes", "\xe2\x82\xac", 86, 258, 0},
    {"limit counts decoded bytes: 127 x \\u00e9 + x", "\\u00e9", 127, 254, 1},
    {"limit counts decoded bytes: 128 x \\u00e9", "\\u00e9", 128, 256, 0},
    {"escaped quotes 255", "\\\"", 255, 255, 1},
    {"escaped quotes 256", "\\\"", 256, 256, 0},
};
// clang-format on

START_TEST(t_barrier_length)
{
    char *name = repeat(name_len_cases[_i].unit, name_len_cases[_i].times);
    bp_request r;
    bp_decode_error err;
    int rc = decode_wait(name, NULL, &r, &err);
    if (name_len_cases[_i].ok) {
        ck_assert_msg(rc == 0, "%s: rc %d (%s)", name_len_cases[_i].name, rc, err.message);
        ck_assert_uint_eq(r.barrier_len, name_len_cases[_i].bytes);
        ck_assert_uint_eq(strlen(r.barrier), name_len_cases[_i].bytes);
    } else {
        ck_assert_msg(rc == BP_EINVAL, "%s: rc %d", name_len_cases[_i].name, rc);
        ck_assert_str_eq(err.message, "field 'barrier': longer than 255 bytes");
        ck_assert_int_eq(err.has_id, 1);
        ck_assert_uint_eq(err.id, 21);
    }
    free(name);
}
END_TEST

START_TEST(t_client_length)
{
    bp_request r;
    bp_decode_error err;
    char *c128 = repeat("c", 128), *c129 = repeat("c", 129), *u = repeat("\xc3\xa9", 65);
    ck_assert_int_eq(decode_wait("b", c128, &r, &err), 0);
    ck_assert_str_eq(r.client, c128);
    ck_assert_int_eq(decode_wait("b", c129, &r, &err), BP_EINVAL);
    ck_assert_str_eq(err.message, "field 'client': longer than 128 bytes");
    ck_assert_int_eq(err.has_id, 1);
    ck_assert_int_eq(decode_wait("b", u, &r, &err), BP_EINVAL); /* 130 bytes */
    ck_assert_str_eq(err.message, "field 'client': longer than 128 bytes");
    u[128] = '\0'; /* 64 x U+00E9 = 128 bytes */
    ck_assert_int_eq(decode_wait("b", u, &r, &err), 0);
    ck_assert_uint_eq(strlen(r.client), 128);
    free(c128);
    free(c129);
    free(u);
}
END_TEST

START_TEST(t_token_length)
{
    bp_request r;
    bp_decode_error err;
    char line[600];
    char *t256 = repeat("t", 256), *t257 = repeat("t", 257);
    snprintf(line, sizeof line, "{\"op\":\"hello\",\"id\":3,\"token\":\"%s\"}", t256);
    ck_assert_int_eq(decode(line, 0, &r, &err), 0);
    ck_assert_int_eq(r.has_token, 1);
    ck_assert_str_eq(r.token, t256);
    snprintf(line, sizeof line, "{\"op\":\"hello\",\"id\":3,\"token\":\"%s\"}", t257);
    ck_assert_int_eq(decode(line, 0, &r, &err), BP_EINVAL);
    ck_assert_str_eq(err.message, "field 'token': longer than 256 bytes");
    ck_assert_int_eq(err.has_id, 1);
    ck_assert_uint_eq(err.id, 3);
    free(t256);
    free(t257);
}
END_TEST

START_TEST(t_unknown_op_shown_up_to_40)
{
    bp_request r;
    bp_decode_error err;
    char line[200];
    char *op40 = repeat("o", 40), *op41 = repeat("o", 41);
    snprintf(line, sizeof line, "{\"op\":\"%s\"}", op40);
    ck_assert_int_eq(decode(line, 0, &r, &err), BP_EINVAL);
    ck_assert(strstr(err.message, op40) != NULL);
    snprintf(line, sizeof line, "{\"op\":\"%s\"}", op41);
    ck_assert_int_eq(decode(line, 0, &r, &err), BP_EINVAL);
    ck_assert_str_eq(err.message, "field 'op': unknown op '?'");
    free(op40);
    free(op41);
}
END_TEST

START_TEST(t_long_line_message_fits)
{
    /* A 64 KiB line of nonsense: the error message stays within its buffer. */
    size_t n = 65536;
    char *line = repeat("x", n);
    bp_request r;
    bp_decode_error err;
    ck_assert_int_eq(decode(line, 0, &r, &err), BP_EPROTO);
    ck_assert_uint_lt(strlen(err.message), sizeof err.message);
    memcpy(line, "{\"x\":\"", 6);
    line[n - 2] = '"', line[n - 1] = '}';
    ck_assert_int_eq(decode(line, 0, &r, &err), BP_EINVAL); /* object without op */
    free(line);
}
END_TEST

START_TEST(t_deep_nesting)
{
    /* cJSON's nesting limit turns a bomb into a protocol error, not a crash. */
    size_t depth = 100000;
    char *line = malloc(2 * depth + 32);
    size_t n = 0;
    n += (size_t)sprintf(line, "{\"op\":\"ping\",\"x\":");
    for (size_t i = 0; i < depth; i++)
        line[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        line[n++] = ']';
    line[n++] = '}';
    bp_request r;
    bp_decode_error err;
    ck_assert_int_eq(decode_n(line, n, 0, &r, &err), BP_EPROTO);
    free(line);
}
END_TEST

START_TEST(t_decode_not_nul_terminated)
{
    /* The line is followed by bytes that would change the result if read. */
    const char buf[] = "{\"op\":\"ping\",\"id\":1}99, junk";
    bp_request r;
    bp_decode_error err;
    ck_assert_int_eq(bp_request_decode(buf, 20, 0, &r, &err), 0);
    ck_assert_int_eq(r.op, BP_OP_PING);
    ck_assert_uint_eq(r.id, 1);
    const char num[] = "78";
    ck_assert_int_eq(bp_request_decode(num, 1, 0, &r, &err), BP_EPROTO);
}
END_TEST

START_TEST(t_decode_cr_same_as_without)
{
    /* The framer keeps a '\r' before '\n'; decoding must not care. */
    for (size_t i = 0; i < N_OK; i++) {
        const char *line = ok_cases[i].line;
        size_t n = strlen(line);
        char *cr = malloc(n + 1);
        memcpy(cr, line, n);
        cr[n] = '\r';
        bp_request a, b;
        bp_decode_error ea, eb;
        ck_assert_int_eq(decode_n(line, n, ok_cases[i].maxp, &a, &ea), 0);
        ck_assert_int_eq(decode_n(cr, n + 1, ok_cases[i].maxp, &b, &eb), 0);
        assert_req_eq(&b, &a, ok_cases[i].name);
        free(cr);
    }
}
END_TEST

/* ---- through the framer ---- */

typedef struct stream {
    char *bytes;
    size_t n;
    size_t nlines;
    char **lines; /* as the framer should hand them out */
    size_t *lens;
} stream;

/* Every stride-th table line (valid and invalid) that holds no '\n', each
 * terminated by "\n" or "\r\n", with blank lines in between. */
static void stream_build(stream *s, size_t stride)
{
    memset(s, 0, sizeof *s);
    size_t cap = 1 << 16, max_lines = 4 * (N_OK + N_ERR);
    s->bytes = malloc(cap);
    s->lines = calloc(max_lines, sizeof *s->lines);
    s->lens = calloc(max_lines, sizeof *s->lens);
    for (size_t k = 0; k < N_OK + N_ERR; k++) {
        const char *line = k < N_OK ? ok_cases[k].line : err_cases[k - N_OK].line;
        size_t len = k < N_OK ? strlen(line) : err_cases[k - N_OK].len;
        if (!len) len = strlen(line);
        if (k % stride || memchr(line, '\n', len)) continue;
        ck_assert_uint_lt(s->n + len + 4, cap);
        const char *term = k % 3 == 1 ? "\r\n" : "\n";
        memcpy(s->bytes + s->n, line, len);
        s->lines[s->nlines] = s->bytes + s->n;
        s->lens[s->nlines++] = len + (k % 3 == 1);
        s->n += len;
        memcpy(s->bytes + s->n, term, strlen(term));
        s->n += strlen(term);
        if (k % 7 == 0) { /* a blank line: the framer hands it out as empty */
            s->bytes[s->n++] = '\n';
            s->lines[s->nlines] = s->bytes + s->n - 1;
            s->lens[s->nlines++] = 0;
        }
    }
}

static void stream_free(stream *s)
{
    free(s->bytes);
    free(s->lines);
    free(s->lens);
}

typedef struct result {
    int rc;
    bp_request r;
    bp_decode_error e;
} result;

static void decode_all_direct(const stream *s, result *out)
{
    for (size_t i = 0; i < s->nlines; i++)
        out[i].rc = decode_n(s->lines[i], s->lens[i], 0, &out[i].r, &out[i].e);
}

/* Feed s->bytes in the pieces cut at cuts[0..ncuts), decoding every line the
 * framer gives; compare with the direct decode. */
static void check_framed(const stream *s, const result *want, const size_t *cuts, size_t ncuts,
                         result *got)
{
    bp_framer f;
    bp_framer_init(&f, 65536);
    size_t k = 0, prev = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : s->n;
        ck_assert_int_eq(bp_framer_feed(&f, s->bytes + prev, end - prev), 0);
        prev = end;
        const char *line;
        size_t len;
        int rc;
        while ((rc = bp_framer_next(&f, &line, &len)) == 1) {
            ck_assert_uint_lt(k, s->nlines);
            got[k].rc = decode_n(line, len, 0, &got[k].r, &got[k].e);
            ck_assert_msg(got[k].rc == want[k].rc, "line %zu: rc %d, want %d", k, got[k].rc,
                          want[k].rc);
            ck_assert_msg(memcmp(&got[k].e, &want[k].e, sizeof got[k].e) == 0,
                          "line %zu: error differs: '%s' vs '%s'", k, got[k].e.message,
                          want[k].e.message);
            if (want[k].rc == 0)
                ck_assert_msg(memcmp(&got[k].r, &want[k].r, sizeof got[k].r) == 0,
                              "line %zu: request differs", k);
            k++;
        }
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_uint_eq(k, s->nlines);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    bp_framer_free(&f);
}

START_TEST(t_framed_byte_by_byte)
{
    stream s;
    stream_build(&s, 1);
    result *want = calloc(s.nlines, sizeof *want), *got = calloc(s.nlines, sizeof *got);
    decode_all_direct(&s, want);
    size_t *cuts = malloc(s.n * sizeof *cuts);
    for (size_t i = 0; i < s.n; i++)
        cuts[i] = i + 1;
    check_framed(&s, want, cuts, s.n - 1, got);
    free(cuts);
    free(want);
    free(got);
    stream_free(&s);
}
END_TEST

START_TEST(t_framed_every_split)
{
    /* every cut of a stream mixing valid, invalid and blank lines */
    stream s;
    stream_build(&s, 5);
    ck_assert_uint_gt(s.nlines, 30);
    result *want = calloc(s.nlines, sizeof *want), *got = calloc(s.nlines, sizeof *got);
    decode_all_direct(&s, want);
    for (size_t i = 0; i <= s.n; i++)
        check_framed(&s, want, &i, 1, got);
    free(want);
    free(got);
    stream_free(&s);
}
END_TEST

START_TEST(t_framed_each_line_every_split)
{
    /* every table line on its own, cut at every byte */
    stream s;
    stream_build(&s, 1);
    for (size_t k = 0; k < s.nlines; k++) {
        stream one = {.bytes = s.lines[k],
                      .n = s.lens[k] + 1,
                      .nlines = 1,
                      .lines = &s.lines[k],
                      .lens = &s.lens[k]};
        result want, got;
        decode_all_direct(&one, &want);
        for (size_t i = 0; i <= one.n; i++)
            check_framed(&one, &want, &i, 1, &got);
    }
    stream_free(&s);
}
END_TEST

START_TEST(t_framed_random_splits)
{
    stream s;
    stream_build(&s, 1);
    result *want = calloc(s.nlines, sizeof *want), *got = calloc(s.nlines, sizeof *got);
    decode_all_direct(&s, want);
    uint32_t x = 88172645u;
    size_t cuts[64];
    for (int round = 0; round < 200; round++) {
        size_t ncuts = 0, at = 0;
        while (ncuts < 64) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            at += x % 97;
            if (at >= s.n) break;
            cuts[ncuts++] = at;
        }
        check_framed(&s, want, cuts, ncuts, got);
    }
    free(want);
    free(got);
    stream_free(&s);
}
END_TEST

/* ---- request round trips ---- */

// clang-format off
static const struct {
    const char *name;
    want w;
    const char *exact; /* the encoded line, when worth pinning down */
} rt_cases[] = {
    {"wait nc example", {.op = BP_OP_WAIT, .has_id = 1, .id = 1, .barrier = "b", .parties = 2},
     "{\"op\":\"wait\",\"id\":1,\"barrier\":\"b\",\"parties\":2}\n"},
    {"wait all fields",
     {.op = BP_OP_WAIT, .has_id = 1, .id = 77, .barrier = "stage", .parties = 5, .has_timeout = 1,
      .timeout_ms = 2500, .action = 1, .client = "tellerA@host1 pid 812"},
     "{\"op\":\"wait\",\"id\":77,\"barrier\":\"stage\",\"parties\":5,\"timeout_ms\":2500,"
     "\"action\":true,\"client\":\"tellerA@host1 pid 812\"}\n"},
    {"wait no id timeout 0", {.op = BP_OP_WAIT, .barrier = "b", .parties = 1, .has_timeout = 1},
     NULL},
    {"wait timeout max",
     {.op = BP_OP_WAIT, .barrier = "b", .parties = 1, .has_timeout = 1,
      .timeout_ms = BP_TIMEOUT_MAX_MS}, NULL},
    {"wait parties max", {.op = BP_OP_WAIT, .barrier = "b", .parties = BP_PARTIES_MAX}, NULL},
    {"wait id max", {.op = BP_OP_WAIT, .has_id = 1, .id = BP_ID_MAX, .barrier = "b", .parties = 2},
     NULL},
    {"wait id 0", {.op = BP_OP_WAIT, .has_id = 1, .id = 0, .barrier = "b", .parties = 2}, NULL},
    {"wait quotes and backslashes",
     {.op = BP_OP_WAIT, .barrier = "a\"b\\c\\\"", .parties = 2, .client = "\"q\\"}, NULL},
    {"wait non-ascii",
     {.op = BP_OP_WAIT, .barrier = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5",
      .parties = 2, .client = "J\xc3\xbcrgen"}, NULL},
    {"wait slash and json-looking name",
     {.op = BP_OP_WAIT, .barrier = "a/b {\"op\":\"x\"} \\n", .parties = 3}, NULL},
    {"action_done true",
     {.op = BP_OP_ACTION_DONE, .has_id = 1, .id = 4, .barrier = "b", .generation = 7, .success = 1},
     "{\"op\":\"action_done\",\"id\":4,\"barrier\":\"b\",\"generation\":7,\"success\":true}\n"},
    {"action_done false gen max",
     {.op = BP_OP_ACTION_DONE, .barrier = "\xc3\xa9", .generation = BP_ID_MAX}, NULL},
    {"abort", {.op = BP_OP_ABORT, .has_id = 1, .id = 5, .barrier = "x"},
     "{\"op\":\"abort\",\"id\":5,\"barrier\":\"x\"}\n"},
    {"reset", {.op = BP_OP_RESET, .barrier = "x"}, "{\"op\":\"reset\",\"barrier\":\"x\"}\n"},
    {"status", {.op = BP_OP_STATUS, .has_id = 1, .id = 2, .barrier = "\"quoted\""}, NULL},
    {"list", {.op = BP_OP_LIST, .has_id = 1, .id = 3}, "{\"op\":\"list\",\"id\":3}\n"},
    {"stats", {.op = BP_OP_STATS, .has_id = 1, .id = 4}, NULL},
    {"ping", {.op = BP_OP_PING, .has_id = 1, .id = 5}, "{\"op\":\"ping\",\"id\":5}\n"},
    {"pong", {.op = BP_OP_PONG}, "{\"op\":\"pong\"}\n"},
    {"hello bare", {.op = BP_OP_HELLO}, "{\"op\":\"hello\"}\n"},
    {"hello version and token",
     {.op = BP_OP_HELLO, .has_id = 1, .id = 1, .version = BP_PROTOCOL_VERSION, .has_token = 1,
      .token = "s3cret"}, "{\"op\":\"hello\",\"id\":1,\"version\":1,\"token\":\"s3cret\"}\n"},
    {"hello empty token", {.op = BP_OP_HELLO, .has_token = 1, .token = ""}, NULL},
    {"hello token with controls",
     {.op = BP_OP_HELLO, .version = 65535, .has_token = 1, .token = "a\"\\\t\n\x01\x1f\x7f z"},
     NULL},
};
// clang-format on

START_TEST(t_request_roundtrip)
{
    bp_request in, out;
    bp_decode_error err;
    make_req(&rt_cases[_i].w, &in);
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &in);
    ck_assert_int_eq(b.oom, 0);
    const char *name = rt_cases[_i].name;
    /* one line: a single '\n', at the end, and no other raw control byte */
    ck_assert_msg(b.len > 0 && b.data[b.len - 1] == '\n', "%s: no newline", name);
    for (size_t i = 0; i + 1 < b.len; i++)
        ck_assert_msg((unsigned char)b.data[i] >= 0x20 && b.data[i] != 0x7f,
                      "%s: raw control byte 0x%02x at %zu", name, (unsigned char)b.data[i], i);
    if (rt_cases[_i].exact) ck_assert_str_eq(b.data, rt_cases[_i].exact);
    /* strict JSON as far as cJSON is concerned */
    cJSON *j = cJSON_ParseWithLength(b.data, b.len - 1);
    ck_assert_msg(cJSON_IsObject(j), "%s: not a JSON object: %s", name, b.data);
    cJSON_Delete(j);
    int rc = decode_n(b.data, b.len - 1, 0, &out, &err);
    ck_assert_msg(rc == 0, "%s: rc %d (%s) for %s", name, rc, err.message, b.data);
    assert_req_eq(&out, &in, name);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_request_roundtrip_longest_names)
{
    bp_request in, out;
    bp_decode_error err;
    want w = {.op = BP_OP_WAIT, .has_id = 1, .id = 3, .barrier = "x", .parties = 2};
    make_req(&w, &in);
    memset(in.barrier, 'n', BP_NAME_MAX);
    in.barrier[BP_NAME_MAX] = '\0';
    in.barrier_len = BP_NAME_MAX;
    memset(in.client, 'c', BP_CLIENT_MAX);
    in.client[BP_CLIENT_MAX] = '\0';
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &in);
    ck_assert_int_eq(decode_n(b.data, b.len - 1, 0, &out, &err), 0);
    assert_req_eq(&out, &in, "255-byte name, 128-byte client");
    /* a 255-byte name of 2-byte characters with one escape-heavy byte */
    bp_buf_reset(&b);
    for (int i = 0; i < 127; i++)
        memcpy(in.barrier + 2 * i, "\xc3\xa9", 2);
    in.barrier[254] = '"';
    in.barrier[255] = '\0';
    in.barrier_len = 255;
    bp_request_encode(&b, &in);
    ck_assert_int_eq(decode_n(b.data, b.len - 1, 0, &out, &err), 0);
    assert_req_eq(&out, &in, "255 bytes of utf8 and a quote");
    /* every token byte from 0x01 to 0xff would not be UTF-8; use 0x01..0x7f */
    bp_buf_reset(&b);
    w = (want){.op = BP_OP_HELLO, .has_token = 1};
    make_req(&w, &in);
    for (int c = 1; c < 0x80; c++)
        in.token[c - 1] = (char)c;
    in.token[0x7f] = '\0';
    bp_request_encode(&b, &in);
    ck_assert_int_eq(decode_n(b.data, b.len - 1, 0, &out, &err), 0);
    assert_req_eq(&out, &in, "token of every ascii byte");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_request_encode_leaves_out_foreign_fields)
{
    /* Fields that do not belong to the op are not written. */
    bp_request r;
    want w = {.op = BP_OP_PING,
              .has_id = 1,
              .id = 3,
              .barrier = "b",
              .parties = 5,
              .has_timeout = 1,
              .timeout_ms = 10,
              .action = 1,
              .client = "c",
              .generation = 9,
              .success = 1,
              .version = 1,
              .has_token = 1,
              .token = "t"};
    make_req(&w, &r);
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    ck_assert_str_eq(b.data, "{\"op\":\"ping\",\"id\":3}\n");
    bp_buf_reset(&b);
    r.op = BP_OP_ABORT;
    bp_request_encode(&b, &r);
    ck_assert_str_eq(b.data, "{\"op\":\"abort\",\"id\":3,\"barrier\":\"b\"}\n");
    bp_buf_reset(&b);
    r.op = BP_OP_HELLO;
    bp_request_encode(&b, &r);
    ck_assert_str_eq(b.data, "{\"op\":\"hello\",\"id\":3,\"version\":1,\"token\":\"t\"}\n");
    bp_buf_reset(&b);
    r.op = BP_OP_ACTION_DONE;
    bp_request_encode(&b, &r);
    ck_assert_str_eq(b.data, "{\"op\":\"action_done\",\"id\":3,\"barrier\":\"b\",\"generation\":9,"
                             "\"success\":true}\n");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_request_roundtrip_through_framer)
{
    /* Every round-trip line concatenated, fed byte by byte, decodes to its request. */
    bp_buf all = BP_BUF_INIT;
    size_t n = sizeof rt_cases / sizeof rt_cases[0];
    bp_request in[sizeof rt_cases / sizeof rt_cases[0]];
    for (size_t i = 0; i < n; i++) {
        make_req(&rt_cases[i].w, &in[i]);
        bp_request_encode(&all, &in[i]);
    }
    bp_framer f;
    bp_framer_init(&f, 65536);
    size_t k = 0;
    for (size_t i = 0; i < all.len; i++) {
        ck_assert_int_eq(bp_framer_feed(&f, all.data + i, 1), 0);
        const char *line;
        size_t len;
        while (bp_framer_next(&f, &line, &len) == 1) {
            bp_request out;
            bp_decode_error err;
            ck_assert_uint_lt(k, n);
            ck_assert_int_eq(decode_n(line, len, 0, &out, &err), 0);
            assert_req_eq(&out, &in[k], rt_cases[k].name);
            k++;
        }
    }
    ck_assert_uint_eq(k, n);
    bp_framer_free(&f);
    bp_buf_free(&all);
}
END_TEST

/* ---- ops ---- */

static const struct {
    bp_op op;
    const char *name;
} op_table[] = {
    {BP_OP_HELLO, "hello"}, {BP_OP_WAIT, "wait"},   {BP_OP_ACTION_DONE, "action_done"},
    {BP_OP_ABORT, "abort"}, {BP_OP_RESET, "reset"}, {BP_OP_STATUS, "status"},
    {BP_OP_LIST, "list"},   {BP_OP_STATS, "stats"}, {BP_OP_PING, "ping"},
    {BP_OP_PONG, "pong"},   {BP_OP_WATCH, "watch"},
};

START_TEST(t_op_names)
{
    bp_op op = op_table[_i].op;
    const char *name = op_table[_i].name;
    ck_assert_ptr_nonnull(bp_op_name(op));
    ck_assert_str_eq(bp_op_name(op), name);
    /* the name decodes back to the op, given every field any op requires */
    char line[256];
    snprintf(line, sizeof line,
             "{\"op\":\"%s\",\"barrier\":\"b\",\"parties\":1,\"generation\":0,\"success\":true}",
             name);
    bp_request r;
    bp_decode_error err;
    ck_assert_int_eq(decode(line, 0, &r, &err), 0);
    ck_assert_int_eq(r.op, op);
}
END_TEST

START_TEST(t_op_name_none)
{
    ck_assert_ptr_null(bp_op_name(BP_OP_NONE));
    ck_assert_ptr_null(bp_op_name((bp_op)(BP_OP_WATCH + 1)));
    ck_assert_ptr_null(bp_op_name((bp_op)1000));
    /* the table above lists every op exactly once */
    ck_assert_uint_eq(sizeof op_table / sizeof op_table[0], BP_OP_WATCH);
}
END_TEST

/* ---- replies and events ---- */

/* Decode a whole line as the client would: through the framer, exact-size. */
static int reply_decode_line(const bp_buf *b, bp_reply *out)
{
    ck_assert_msg(b->len > 0 && b->data[b->len - 1] == '\n', "no newline: %s", b->data);
    ck_assert_msg(memchr(b->data, '\n', b->len - 1) == NULL, "two lines: %s", b->data);
    /* strict JSON: nothing but the object before the newline */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(b->data, b->len - 1, &end, 0);
    ck_assert_msg(cJSON_IsObject(j), "not an object: %s", b->data);
    ck_assert_msg(end == b->data + b->len - 1, "trailing bytes: %s", b->data);
    cJSON_Delete(j);
    char *copy = malloc(b->len - 1);
    memcpy(copy, b->data, b->len - 1);
    int rc = bp_reply_decode(copy, b->len - 1, out);
    free(copy);
    return rc;
}

// clang-format off
static const struct {
    const char *name;
    const char *barrier;
    size_t len; /* 0: strlen */
    int has_id;
    uint64_t id;
    unsigned index;
    uint64_t generation;
    const char *exact;
} rel_cases[] = {
    {"doc example", "b", 0, 1, 7, 2, 4,
     "{\"id\":7,\"index\":2,\"ok\":true,\"barrier\":\"b\",\"generation\":4}\n"},
    {"no id", "b", 0, 0, 0, 0, 0, "{\"index\":0,\"ok\":true,\"barrier\":\"b\",\"generation\":0}\n"},
    {"id 0", "b", 0, 1, 0, 1, 1,
     "{\"id\":0,\"index\":1,\"ok\":true,\"barrier\":\"b\",\"generation\":1}\n"},
    {"big numbers", "g", 0, 1, BP_ID_MAX, BP_PARTIES_MAX - 1, BP_ID_MAX, NULL},
    {"quote and backslash", "a\"b\\c", 0, 1, 1, 0, 3,
     "{\"id\":1,\"index\":0,\"ok\":true,\"barrier\":\"a\\\"b\\\\c\",\"generation\":3}\n"},
    {"non-ascii", "caf\xc3\xa9 \xf0\x9f\x98\x80", 0, 1, 2, 1, 5, NULL},
    {"control chars escaped", "a\nb\r\x01\x7f", 0, 1, 3, 0, 6,
     "{\"id\":3,\"index\":0,\"ok\":true,\"barrier\":\"a\\nb\\r\\u0001\\u007f\",\"generation\":6}"
     "\n"},
    {"len shorter than string", "abcdef", 3, 1, 4, 0, 0, NULL},
};
// clang-format on

START_TEST(t_release_roundtrip)
{
    const char *bar = rel_cases[_i].barrier;
    size_t blen = rel_cases[_i].len ? rel_cases[_i].len : strlen(bar);
    bp_buf b = BP_BUF_INIT;
    bp_enc_release_prefix(&b, rel_cases[_i].has_id, rel_cases[_i].id, rel_cases[_i].index);
    bp_enc_release_shared(&b, bar, blen, rel_cases[_i].generation);
    ck_assert_int_eq(b.oom, 0);
    if (rel_cases[_i].exact) ck_assert_str_eq(b.data, rel_cases[_i].exact);
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_REPLY);
    ck_assert_int_eq(r.code, 0);
    ck_assert_int_eq(r.has_id, rel_cases[_i].has_id);
    ck_assert_uint_eq(r.id, rel_cases[_i].id);
    ck_assert_int_eq(r.has_index, 1);
    ck_assert_uint_eq(r.index, rel_cases[_i].index);
    ck_assert_uint_eq(r.generation, rel_cases[_i].generation);
    ck_assert_uint_eq(strlen(r.barrier), blen);
    ck_assert_mem_eq(r.barrier, bar, blen);
    ck_assert_str_eq(r.message, "");
    ck_assert_ptr_nonnull(r.json);
    bp_reply_free(&r);
    ck_assert_ptr_null(r.json);
    bp_reply_free(&r); /* twice is harmless */
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_release_shared_once)
{
    /* The shared part is encoded once; each waiter's line is its own prefix
     * followed by the same bytes. */
    char name[BP_NAME_MAX + 1];
    memset(name, 'w', BP_NAME_MAX);
    name[BP_NAME_MAX] = '\0';
    bp_buf shared = BP_BUF_INIT;
    bp_enc_release_shared(&shared, name, BP_NAME_MAX, 12345);
    ck_assert_int_eq(shared.data[0], '"'); /* continues a prefix ending in ',' */
    ck_assert_int_eq(shared.data[shared.len - 1], '\n');
    for (unsigned idx = 0; idx < 50; idx++) {
        bp_buf line = BP_BUF_INIT;
        bp_enc_release_prefix(&line, 1, 1000 + idx, idx);
        ck_assert_int_eq(line.data[line.len - 1], ',');
        bp_buf_append(&line, shared.data, shared.len);
        bp_reply r;
        ck_assert_int_eq(reply_decode_line(&line, &r), 0);
        ck_assert_uint_eq(r.id, 1000 + idx);
        ck_assert_uint_eq(r.index, idx);
        ck_assert_uint_eq(r.generation, 12345);
        ck_assert_str_eq(r.barrier, name);
        bp_reply_free(&r);
        bp_buf_free(&line);
    }
    bp_buf_free(&shared);
}
END_TEST

/* Every code of the table, as an error reply, decodes to itself. */
#define ERR_ENTRY(name, val, wire, desc) {BP_E##name, wire, desc},
static const struct {
    int code;
    const char *wire;
    const char *desc;
} err_table[] = {BP_ERRORS(ERR_ENTRY)};
#undef ERR_ENTRY
#define N_ERRTAB (sizeof err_table / sizeof err_table[0])

START_TEST(t_error_reply_roundtrip)
{
    int code = err_table[_i].code;
    static const char *messages[] = {
        "",
        "timed out: 2/3 arrived (tellerA@host1 pid 812, tellerB@host2 pid 90)",
        "barrier 'a\"b\\c' has 2 parties, not 3",
        "line\nbreak\ttab\r\x01\x1f\x7f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    };
    for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
        for (int has_id = 0; has_id < 2; has_id++) {
            bp_buf b = BP_BUF_INIT;
            bp_enc_error(&b, has_id, 99, code, messages[m]);
            bp_reply r;
            ck_assert_int_eq(reply_decode_line(&b, &r), 0);
            ck_assert_int_eq(r.kind, BP_MSG_REPLY);
            ck_assert_msg(r.code == code, "%s: code %d", err_table[_i].wire, r.code);
            ck_assert_str_eq(r.message, messages[m]);
            ck_assert_int_eq(r.has_id, has_id);
            ck_assert_uint_eq(r.id, has_id ? 99 : 0);
            ck_assert_int_eq(r.has_index, 0);
            cJSON *e = cJSON_GetObjectItemCaseSensitive(r.json, "error");
            ck_assert(cJSON_IsString(e));
            ck_assert_str_eq(e->valuestring, err_table[_i].wire);
            bp_reply_free(&r);
            bp_buf_free(&b);
        }
    }
}
END_TEST

START_TEST(t_error_reply_exact)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_error(&b, 1, 1, BP_EBROKEN, "timed out");
    ck_assert_str_eq(b.data,
                     "{\"id\":1,\"ok\":false,\"error\":\"broken\",\"message\":\"timed out\"}\n");
    bp_buf_reset(&b);
    bp_enc_error(&b, 0, 0, BP_EPARTIES, "barrier 'b' has 2 parties, not 3");
    ck_assert_str_eq(b.data, "{\"ok\":false,\"error\":\"parties\",\"message\":\"barrier 'b' has 2 "
                             "parties, not 3\"}\n");
    /* shared the same way as a release: reply_start + error_shared */
    bp_buf_reset(&b);
    bp_enc_reply_start(&b, 1, 5);
    ck_assert_str_eq(b.data, "{\"id\":5,");
    bp_enc_error_shared(&b, BP_ESHUTDOWN, "bye");
    ck_assert_str_eq(b.data,
                     "{\"id\":5,\"ok\":false,\"error\":\"shutdown\",\"message\":\"bye\"}\n");
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.code, BP_ESHUTDOWN);
    ck_assert_uint_eq(r.id, 5);
    bp_reply_free(&r);
    bp_buf_reset(&b);
    bp_enc_reply_start(&b, 0, 0);
    ck_assert_str_eq(b.data, "{");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_ok_reply)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_ok(&b, 1, 3);
    ck_assert_str_eq(b.data, "{\"id\":3,\"ok\":true}\n");
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_REPLY);
    ck_assert_int_eq(r.code, 0);
    ck_assert_int_eq(r.has_id, 1);
    ck_assert_uint_eq(r.id, 3);
    ck_assert_int_eq(r.has_index, 0);
    ck_assert_str_eq(r.barrier, "");
    bp_reply_free(&r);
    bp_buf_reset(&b);
    bp_enc_ok(&b, 0, 0);
    ck_assert_str_eq(b.data, "{\"ok\":true}\n");
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.has_id, 0);
    bp_reply_free(&r);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_event_heartbeat)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_event_heartbeat(&b);
    ck_assert_str_eq(b.data, "{\"event\":\"heartbeat\"}\n");
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_HEARTBEAT);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "ok"));
    bp_reply_free(&r);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_event_shutdown)
{
    static const char *messages[] = {"", "server is shutting down", "q\"b\\n\n\x01\xc3\xa9"};
    for (size_t m = 0; m < sizeof messages / sizeof messages[0]; m++) {
        bp_buf b = BP_BUF_INIT;
        bp_enc_event_shutdown(&b, messages[m]);
        bp_reply r;
        ck_assert_int_eq(reply_decode_line(&b, &r), 0);
        ck_assert_int_eq(r.kind, BP_MSG_SHUTDOWN);
        ck_assert_str_eq(r.message, messages[m]);
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "ok"));
        bp_reply_free(&r);
        bp_buf_free(&b);
    }
    bp_buf b = BP_BUF_INIT;
    bp_enc_event_shutdown(&b, "bye");
    ck_assert_str_eq(b.data, "{\"event\":\"shutdown\",\"message\":\"bye\"}\n");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_event_run_action)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_event_run_action(&b, 1, 7, "b", 1, 4);
    ck_assert_str_eq(b.data,
                     "{\"event\":\"run_action\",\"id\":7,\"barrier\":\"b\",\"generation\":4}\n");
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_RUN_ACTION);
    ck_assert_int_eq(r.has_id, 1);
    ck_assert_uint_eq(r.id, 7);
    ck_assert_uint_eq(r.generation, 4);
    ck_assert_str_eq(r.barrier, "b");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r.json, "ok"));
    bp_reply_free(&r);

    const char *odd = "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80";
    bp_buf_reset(&b);
    bp_enc_event_run_action(&b, 1, BP_ID_MAX, odd, strlen(odd), BP_ID_MAX);
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_RUN_ACTION);
    ck_assert_uint_eq(r.id, BP_ID_MAX);
    ck_assert_uint_eq(r.generation, BP_ID_MAX);
    ck_assert_str_eq(r.barrier, odd);
    bp_reply_free(&r);
    bp_buf_free(&b);
}
END_TEST

/* bp_reply_decode on lines the encoders never write. */
// clang-format off
static const struct {
    const char *name;
    const char *line;
    int rc;   /* bp_reply_decode's return */
    int kind; /* when rc == 0 */
    int code; /* when a reply */
    int has_id;
    int has_index;
} rd_cases[] = {
    {"not json", "nope", BP_EPROTO, 0, 0, 0, 0},
    {"empty", "", BP_EPROTO, 0, 0, 0, 0},
    {"array", J([{"ok":true}]), BP_EPROTO, 0, 0, 0, 0},
    {"string", J("ok"), BP_EPROTO, 0, 0, 0, 0},
    {"neither ok nor event", J({"id":1}), BP_EPROTO, 0, 0, 0, 0},
    {"ok not bool", J({"id":1,"ok":"true"}), BP_EPROTO, 0, 0, 0, 0},
    {"ok number", J({"id":1,"ok":1}), BP_EPROTO, 0, 0, 0, 0},
    {"unknown event", J({"event":"reboot"}), BP_EPROTO, 0, 0, 0, 0},
    {"run_action without generation", J({"event":"run_action","id":1,"barrier":"b"}), BP_EPROTO, 0,
     0, 0, 0},
    {"run_action bad generation", J({"event":"run_action","id":1,"generation":-1}), BP_EPROTO, 0, 0,
     0, 0},
    {"event not a string is a reply", J({"event":5,"ok":true}), 0, BP_MSG_REPLY, 0, 0, 0},
    {"event wins over ok", J({"event":"heartbeat","ok":false}), 0, BP_MSG_HEARTBEAT, 0, 0, 0},
    {"error missing", J({"id":1,"ok":false}), 0, BP_MSG_REPLY, BP_EPROTO, 1, 0},
    {"error unknown name", J({"id":1,"ok":false,"error":"weird"}), 0, BP_MSG_REPLY, BP_EPROTO, 1,
     0},
    {"error not a string", J({"id":1,"ok":false,"error":5}), 0, BP_MSG_REPLY, BP_EPROTO, 1, 0},
    {"error case matters", J({"ok":false,"error":"BROKEN"}), 0, BP_MSG_REPLY, BP_EPROTO, 0, 0},
    {"id negative ignored", J({"id":-1,"ok":true}), 0, BP_MSG_REPLY, 0, 0, 0},
    {"id fraction ignored", J({"id":1.5,"ok":true}), 0, BP_MSG_REPLY, 0, 0, 0},
    {"id string ignored", J({"id":"1","ok":true}), 0, BP_MSG_REPLY, 0, 0, 0},
    {"id above 2^53-1 ignored", J({"id":9007199254740992,"ok":true}), 0, BP_MSG_REPLY, 0, 0, 0},
    {"index string ignored", J({"id":1,"index":"0","ok":true}), 0, BP_MSG_REPLY, 0, 1, 0},
    {"index above parties max ignored", J({"id":1,"index":1000001,"ok":true}), 0, BP_MSG_REPLY, 0,
     1, 0},
    {"index at parties max", J({"id":1,"index":1000000,"ok":true}), 0, BP_MSG_REPLY, 0, 1, 1},
    {"index on an error reply ignored", J({"id":1,"index":0,"ok":false,"error":"broken"}), 0,
     BP_MSG_REPLY, BP_EBROKEN, 1, 0},
};
// clang-format on

START_TEST(t_reply_decode_cases)
{
    for (size_t i = 0; i < sizeof rd_cases / sizeof rd_cases[0]; i++) {
        bp_reply r;
        const char *line = rd_cases[i].line, *name = rd_cases[i].name;
        size_t len = strlen(line);
        char *copy = malloc(len ? len : 1);
        memcpy(copy, line, len);
        int rc = bp_reply_decode(copy, len, &r);
        free(copy);
        EXPECT(rc == rd_cases[i].rc, "%s: rc %d, want %d", name, rc, rd_cases[i].rc);
        if (rc) {
            EXPECT(r.json == NULL, "%s: json kept after a failure", name);
            bp_reply_free(&r); /* harmless after a failure */
            continue;
        }
        EXPECT((int)r.kind == rd_cases[i].kind, "%s: kind %d", name, r.kind);
        EXPECT(r.code == rd_cases[i].code, "%s: code %d", name, r.code);
        EXPECT(r.has_id == rd_cases[i].has_id, "%s: has_id %d", name, r.has_id);
        EXPECT(r.has_index == rd_cases[i].has_index, "%s: has_index %d", name, r.has_index);
        bp_reply_free(&r);
    }
    assert_no_notes();
}
END_TEST

START_TEST(t_reply_keeps_json)
{
    /* status/list/stats fields are read from the kept cJSON object. */
    // clang-format off
    const char *line = J({"id":2,"ok":true,"barrier":"b","parties":3,"n_waiting":2,"broken":false,
                          "generation":5,"state":"filling","reason":"",
                          "waiting":[{"index":0,"client":"tellerA","peer":"127.0.0.1:40112"}]});
    // clang-format on
    bp_reply r;
    ck_assert_int_eq(bp_reply_decode(line, strlen(line), &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_REPLY);
    ck_assert_int_eq(r.code, 0);
    ck_assert_uint_eq(r.generation, 5);
    ck_assert_str_eq(r.barrier, "b");
    ck_assert_int_eq(r.has_index, 0);
    cJSON *nw = cJSON_GetObjectItemCaseSensitive(r.json, "n_waiting");
    ck_assert(cJSON_IsNumber(nw));
    ck_assert_int_eq(nw->valueint, 2);
    cJSON *w = cJSON_GetObjectItemCaseSensitive(r.json, "waiting");
    ck_assert_int_eq(cJSON_GetArraySize(w), 1);
    bp_reply_free(&r);
}
END_TEST

START_TEST(t_reply_long_message_truncated)
{
    /* A message longer than BP_MESSAGE_MAX is cut to fit, NUL-terminated. */
    char *msg = repeat("m", 5000);
    bp_buf b = BP_BUF_INIT;
    bp_enc_error(&b, 1, 1, BP_EBROKEN, msg);
    bp_reply r;
    ck_assert_int_eq(reply_decode_line(&b, &r), 0);
    ck_assert_int_eq(r.code, BP_EBROKEN);
    ck_assert_uint_eq(strlen(r.message), BP_MESSAGE_MAX - 1);
    ck_assert_mem_eq(r.message, msg, BP_MESSAGE_MAX - 1);
    bp_reply_free(&r);
    bp_buf_free(&b);
    free(msg);
}
END_TEST

START_TEST(t_replies_through_framer)
{
    /* A server's output stream, fed to the client's framer byte by byte. */
    bp_buf out = BP_BUF_INIT;
    bp_enc_event_heartbeat(&out);
    bp_enc_release_prefix(&out, 1, 1, 0);
    bp_enc_release_shared(&out, "b\n", 2, 0);
    bp_enc_error(&out, 1, 2, BP_ETIMEDOUT, "line\nbreak");
    bp_enc_event_run_action(&out, 1, 3, "b", 1, 1);
    bp_enc_ok(&out, 1, 4);
    bp_enc_event_shutdown(&out, "bye\n");
    static const int kinds[] = {BP_MSG_HEARTBEAT,  BP_MSG_REPLY, BP_MSG_REPLY,
                                BP_MSG_RUN_ACTION, BP_MSG_REPLY, BP_MSG_SHUTDOWN};
    static const int codes[] = {0, 0, BP_ETIMEDOUT, 0, 0, 0};
    bp_framer f;
    bp_framer_init(&f, 65536);
    size_t k = 0;
    for (size_t i = 0; i < out.len; i++) {
        ck_assert_int_eq(bp_framer_feed(&f, out.data + i, 1), 0);
        const char *line;
        size_t len;
        while (bp_framer_next(&f, &line, &len) == 1) {
            bp_reply r;
            ck_assert_uint_lt(k, 6);
            ck_assert_int_eq(bp_reply_decode(line, len, &r), 0);
            ck_assert_int_eq(r.kind, kinds[k]);
            ck_assert_int_eq(r.code, codes[k]);
            if (k == 1) ck_assert_str_eq(r.barrier, "b\n");
            if (k == 2) ck_assert_str_eq(r.message, "line\nbreak");
            if (k == 5) ck_assert_str_eq(r.message, "bye\n");
            bp_reply_free(&r);
            k++;
        }
    }
    ck_assert_uint_eq(k, 6);
    bp_framer_free(&f);
    bp_buf_free(&out);
}
END_TEST

/* ---- the error table ---- */

static const struct {
    int code;
    const char *wire;
} wire_names[] = {
    /* from docs/protocol.md, "Replies and errors", plus conn (client side only) */
    {BP_EBROKEN, "broken"},   {BP_ETIMEDOUT, "timedout"}, {BP_EACTION, "action"},
    {BP_EPARTIES, "parties"}, {BP_EINVAL, "inval"},       {BP_ENOTFOUND, "notfound"},
    {BP_ECONN, "conn"},       {BP_EPROTO, "proto"},       {BP_EAUTH, "auth"},
    {BP_ELIMIT, "limit"},     {BP_ESHUTDOWN, "shutdown"}, {BP_ENOMEM, "nomem"},
    {BP_ENOTLEADER, "notleader"}, {BP_EMEMBER, "member"},
};

START_TEST(t_err_table_entry)
{
    int code = err_table[_i].code;
    ck_assert_int_lt(code, 0);
    ck_assert_int_ge(code, BP_ERR_MIN);
    ck_assert_str_eq(bp_err_name(code), err_table[_i].wire);
    ck_assert_str_eq(bp_strerror(code), err_table[_i].desc);
    ck_assert_int_eq(bp_err_from_name(err_table[_i].wire), code);
    ck_assert_str_ne(bp_err_name(code), "unknown");
    ck_assert_str_ne(bp_strerror(code), "unknown error");
    ck_assert_uint_gt(strlen(bp_strerror(code)), 0);
    /* names and descriptions are unique */
    for (size_t j = 0; j < N_ERRTAB; j++) {
        if (j == (size_t)_i) continue;
        ck_assert_int_ne(err_table[j].code, code);
        ck_assert_str_ne(err_table[j].wire, err_table[_i].wire);
        ck_assert_str_ne(err_table[j].desc, err_table[_i].desc);
    }
}
END_TEST

START_TEST(t_err_wire_names)
{
    ck_assert_uint_eq(sizeof wire_names / sizeof wire_names[0], N_ERRTAB);
    for (size_t i = 0; i < N_ERRTAB; i++) {
        ck_assert_str_eq(bp_err_name(wire_names[i].code), wire_names[i].wire);
        ck_assert_int_eq(bp_err_from_name(wire_names[i].wire), wire_names[i].code);
    }
}
END_TEST

START_TEST(t_err_range_contiguous)
{
    /* BP_ERR_MIN is the lowest code, and every code from -1 down to it is named. */
    int min = 0;
    for (size_t i = 0; i < N_ERRTAB; i++)
        if (err_table[i].code < min) min = err_table[i].code;
    ck_assert_int_eq(min, BP_ERR_MIN);
    for (int c = -1; c >= BP_ERR_MIN; c--) {
        ck_assert_str_ne(bp_err_name(c), "unknown");
        ck_assert_int_eq(bp_err_from_name(bp_err_name(c)), c);
    }
    ck_assert_uint_eq(N_ERRTAB, (size_t)-BP_ERR_MIN);
}
END_TEST

START_TEST(t_err_ok_and_unknown)
{
    ck_assert_str_eq(bp_err_name(BP_OK), "ok");
    ck_assert_str_eq(bp_strerror(BP_OK), "success");
    static const int unknown[] = {1, 2, 100, BP_ERR_MIN - 1, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_str_eq(bp_err_name(unknown[i]), "unknown");
        ck_assert_str_eq(bp_strerror(unknown[i]), "unknown error");
    }
    static const char *bad[] = {"",   "Broken",  "BROKEN",  "broken ", " broken",
                                "ok", "unknown", "timeout", "EPROTO",  "broke"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(bp_err_from_name(bad[i]) == BP_EPROTO, "'%s'", bad[i]);
}
END_TEST

/* ---- regressions ---- */

/* Regression: the \u0000 guard was once a plain memmem for the six bytes
 * `\u0000`, so it also fired on an escaped backslash followed by "u0000".
 * `{"op":"wait","barrier":"a\\u0000","parties":2}` names the legal barrier
 * `a\u0000` (7 printable bytes) but is refused with BP_EPROTO; and
 * bp_request_encode writes exactly that line for such a name, so the round trip
 * fails. Expected: accepted, barrier == "a\\u0000". */
START_TEST(t_bug_escaped_backslash_u0000)
{
    bp_request r;
    bp_decode_error err;
    int rc =
        decode(J({"op" : "wait", "id" : 1, "barrier" : "a\\u0000", "parties" : 2}), 0, &r, &err);
    ck_assert_msg(rc == 0, "rc %d (%s)", rc, err.message);
    ck_assert_str_eq(r.barrier, "a\\u0000");

    want w = {.op = BP_OP_WAIT, .barrier = "x\\u0000y", .parties = 2};
    bp_request in, out;
    make_req(&w, &in);
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &in);
    ck_assert_int_eq(decode_n(b.data, b.len - 1, 0, &out, &err), 0);
    assert_req_eq(&out, &in, "round trip of a name containing \\u0000 as text");
    bp_buf_free(&b);
}
END_TEST

/* Regression: a raw NUL
 * byte inside a JSON string is accepted by cJSON and then cuts the string at
 * strlen, silently: `{"op":"wait","barrier":"a<NUL>zz","parties":2}` decodes
 * as barrier "a" (barrier_len 1), `{"op":"hello","token":"sec<NUL>ret"}` as
 * token "sec", `{"op":"ping<NUL>x"}` as ping. This is the very truncation the
 * \u0000 guard exists to prevent. Expected: BP_EPROTO (raw control characters
 * are not valid JSON) or at least BP_EINVAL. */
START_TEST(t_bug_raw_nul_truncates)
{
    static const char barrier[] = "{\"op\":\"wait\",\"id\":1,\"barrier\":\"a\0zz\",\"parties\":2}";
    static const char token[] = "{\"op\":\"hello\",\"token\":\"sec\0ret\"}";
    static const char op[] = "{\"op\":\"ping\0x\"}";
    bp_request r;
    bp_decode_error err;
    ck_assert_int_lt(decode_n(barrier, sizeof barrier - 1, 0, &r, &err), 0);
    ck_assert_int_lt(decode_n(token, sizeof token - 1, 0, &r, &err), 0);
    ck_assert_int_lt(decode_n(op, sizeof op - 1, 0, &r, &err), 0);
}
END_TEST

/* The encoder writes run_action without "id" when the wait had none; the
 * decoder reads it back with has_id 0. */
START_TEST(t_bug_run_action_without_id)
{
    bp_buf b = BP_BUF_INIT;
    bp_enc_event_run_action(&b, 0, 0, "b", 1, 3);
    bp_reply r;
    ck_assert_int_eq(bp_reply_decode(b.data, b.len - 1, &r), 0);
    ck_assert_int_eq(r.kind, BP_MSG_RUN_ACTION);
    ck_assert_int_eq(r.has_id, 0);
    bp_reply_free(&r);
    bp_buf_free(&b);
}
END_TEST


static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, t_decode_ok);
    tcase_add_test(tc, t_decode_error);
    tcase_add_test(tc, t_decode_exact_message);
    tcase_add_test(tc, t_decode_error_offset);
    tcase_add_loop_test(tc, t_barrier_length, 0, sizeof name_len_cases / sizeof name_len_cases[0]);
    tcase_add_test(tc, t_client_length);
    tcase_add_test(tc, t_token_length);
    tcase_add_test(tc, t_unknown_op_shown_up_to_40);
    tcase_add_test(tc, t_long_line_message_fits);
    tcase_add_test(tc, t_deep_nesting);
    tcase_add_test(tc, t_decode_not_nul_terminated);
    tcase_add_test(tc, t_decode_cr_same_as_without);
    tcase_add_loop_test(tc, t_op_names, 0, sizeof op_table / sizeof op_table[0]);
    tcase_add_test(tc, t_op_name_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("framed");
    tcase_set_timeout(tc, 110);
    tcase_add_test(tc, t_framed_byte_by_byte);
    tcase_add_test(tc, t_framed_every_split);
    tcase_add_test(tc, t_framed_each_line_every_split);
    tcase_add_test(tc, t_framed_random_splits);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_loop_test(tc, t_request_roundtrip, 0, sizeof rt_cases / sizeof rt_cases[0]);
    tcase_add_test(tc, t_request_roundtrip_longest_names);
    tcase_add_test(tc, t_request_encode_leaves_out_foreign_fields);
    tcase_add_test(tc, t_request_roundtrip_through_framer);
    tcase_add_loop_test(tc, t_release_roundtrip, 0, sizeof rel_cases / sizeof rel_cases[0]);
    tcase_add_test(tc, t_release_shared_once);
    tcase_add_loop_test(tc, t_error_reply_roundtrip, 0, N_ERRTAB);
    tcase_add_test(tc, t_error_reply_exact);
    tcase_add_test(tc, t_ok_reply);
    tcase_add_test(tc, t_event_heartbeat);
    tcase_add_test(tc, t_event_shutdown);
    tcase_add_test(tc, t_event_run_action);
    tcase_add_test(tc, t_reply_decode_cases);
    tcase_add_test(tc, t_reply_keeps_json);
    tcase_add_test(tc, t_reply_long_message_truncated);
    tcase_add_test(tc, t_replies_through_framer);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, t_err_table_entry, 0, N_ERRTAB);
    tcase_add_test(tc, t_err_wire_names);
    tcase_add_test(tc, t_err_range_contiguous);
    tcase_add_test(tc, t_err_ok_and_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_add_test(tc, t_bug_escaped_backslash_u0000);
    tcase_add_test(tc, t_bug_raw_nul_truncates);
    tcase_add_test(tc, t_bug_run_action_without_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
