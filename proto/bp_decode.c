/* bp_decode.c - validate a request line into a bp_request; see bp_msg.h.
 *
 * Every rejection names the field and what was wrong with it, because the
 * person reading it is often typing JSON into nc. Unknown fields are ignored so
 * that newer clients can talk to older servers.
 */
#include "bp_msg.h"

#include "bp_decode_fast.h"
#include "bp_error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(bp_decode_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(bp_decode_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

/* An integer-valued JSON number in [lo, hi]. 1 found, 0 absent, <0 error. */
static int get_int(const cJSON *obj, const char *key, double lo, double hi, double *out,
                   bp_decode_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsNumber(it))
        return fail(err, BP_EINVAL, "field '%s': must be a number", key);
    double d = it->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < lo || d > hi)
        return fail(err, BP_EINVAL, "field '%s': must be an integer in %.0f..%.0f", key, lo, hi);
    *out = d;
    return 1;
}

static int get_bool(const cJSON *obj, const char *key, int *out, bp_decode_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsBool(it))
        return fail(err, BP_EINVAL, "field '%s': must be true or false", key);
    *out = cJSON_IsTrue(it);
    return 1;
}

/* A string field copied into dst[cap]. `name` rules (barrier and client names):
 * valid UTF-8 without control characters. 1 found, 0 absent, <0 error. */
static int get_str(const cJSON *obj, const char *key, char *dst, size_t cap, size_t minlen,
                   int name_rules, size_t *outlen, bp_decode_error *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return 0;
    if (!cJSON_IsString(it))
        return fail(err, BP_EINVAL, "field '%s': must be a string", key);
    size_t n = strlen(it->valuestring);
    if (n < minlen)
        return fail(err, BP_EINVAL, "field '%s': must not be empty", key);
    if (n >= cap)
        return fail(err, BP_EINVAL, "field '%s': longer than %zu bytes", key, cap - 1);
    if (name_rules && !bp_utf8_clean(it->valuestring, n))
        return fail(err, BP_EINVAL,
                    "field '%s': must be valid UTF-8 without control characters", key);
    memcpy(dst, it->valuestring, n + 1);
    if (outlen)
        *outlen = n;
    return 1;
}

/* A \u0000 escape: "\u0000" preceded by an even number of further backslashes
 * (an odd number would make the first backslash itself escaped). */
static int has_nul_escape(const char *line, size_t len)
{
    const char *p = line, *end = line + len;
    while ((p = memmem(p, (size_t)(end - p), "\\u0000", 6))) {
        size_t run = 0;
        while (p - run > line && p[-1 - (long)run] == '\\')
            run++;
        if (run % 2 == 0)
            return 1;
        p++;
    }
    return 0;
}

static int need(int rc, const char *key, bp_decode_error *err)
{
    if (rc == 0)
        return fail(err, BP_EINVAL, "field '%s': required", key);
    return rc < 0 ? rc : 0;
}

/* The optional fields of a wait re-announced after a lost server. */
static int decode_resume(const cJSON *root, unsigned max_parties, bp_request *r,
                         bp_decode_error *err)
{
    double d;
    int rc;
    if ((rc = get_bool(root, "resume", &r->resume, err)) < 0)
        return rc;
    if ((rc = get_int(root, "ticket", 0, (double)BP_ID_MAX, &d, err)) < 0)
        return rc;
    r->ticket = rc ? (uint64_t)d : 0;
    if ((rc = get_int(root, "last_generation", 0, (double)BP_ID_MAX, &d, err)) < 0)
        return rc;
    r->has_last = rc;
    r->last_generation = rc ? (uint64_t)d : 0;
    if ((rc = get_int(root, "last_index", 0, max_parties - 1, &d, err)) < 0)
        return rc;
    if (rc && !r->has_last)
        return fail(err, BP_EINVAL, "field 'last_index': needs 'last_generation'");
    r->has_last_index = rc;
    r->last_index = rc ? (unsigned)d : 0;
    if ((rc = get_int(root, "action_generation", 0, (double)BP_ID_MAX, &d, err)) < 0)
        return rc;
    r->has_action_generation = rc;
    r->action_generation = rc ? (uint64_t)d : 0;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name the list of n (>= 1) holds twice, sorted in a copy: O(n log n).
 * NULL if none; *oom set when there was no memory to tell. */
static const char *twice_in(const cJSON *members, unsigned n, int *oom)
{
    const char **v = malloc(n * sizeof *v);
    *oom = !v;
    if (!v) return NULL;
    unsigned i = 0;
    for (const cJSON *it = members->child; it; it = it->next)
        v[i++] = it->valuestring;
    qsort(v, n, sizeof *v, cmp_names);
    const char *dup = NULL;
    for (i = 1; i < n && !dup; i++)
        if (strcmp(v[i - 1], v[i]) == 0) dup = v[i];
    free(v);
    return dup;
}

/* The rendezvous fields of a wait or action_done (docs/protocol.md), copied
 * into one allocation, r->ext. */
static int decode_rdv(const cJSON *root, unsigned max_parties, bp_request *r,
                      bp_decode_error *err)
{
    const char *dkey = r->op == BP_OP_WAIT ? "data" : "result";
    const cJSON *data = NULL, *member = NULL, *members = NULL;
    /* One pass over the keys, most of which a first byte rules out: a plain
     * wait pays next to nothing for fields it does not have. */
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string;
        if (!k || (k[0] != 'd' && k[0] != 'm' && k[0] != 'r'))
            continue;
        /* a key given twice counts once, the first, as for every other field */
        if (!data && strcmp(k, dkey) == 0)
            data = it;
        else if (!member && r->op == BP_OP_WAIT && strcmp(k, "member") == 0)
            member = it;
        else if (!members && r->op == BP_OP_WAIT && strcmp(k, "members") == 0)
            members = it;
    }
    size_t need_bytes = 0, dlen = 0, mlen = 0;
    if (data) {
        if (!cJSON_IsString(data))
            return fail(err, BP_EINVAL, "field '%s': must be a string", dkey);
        dlen = strlen(data->valuestring);
        if (!bp_utf8_valid(data->valuestring, dlen))
            return fail(err, BP_EINVAL, "field '%s': must be valid UTF-8", dkey);
        need_bytes += dlen + 1;
    }
    if (member) {
        if (!cJSON_IsString(member))
            return fail(err, BP_EINVAL, "field 'member': must be a string");
        mlen = strlen(member->valuestring);
        if (mlen < 1 || mlen > BP_NAME_MAX)
            return fail(err, BP_EINVAL, "field 'member': must be 1..%d bytes", BP_NAME_MAX);
        if (!bp_utf8_clean(member->valuestring, mlen))
            return fail(err, BP_EINVAL,
                        "field 'member': must be valid UTF-8 without control characters");
        need_bytes += mlen + 1;
    }
    unsigned n = 0;
    if (members) {
        if (!cJSON_IsArray(members))
            return fail(err, BP_EINVAL, "field 'members': must be an array of names");
        for (const cJSON *it = members->child; it; it = it->next) {
            if (++n > max_parties)
                return fail(err, BP_EINVAL, "field 'members': more than %u names", max_parties);
            size_t len = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
            if (len < 1 || len > BP_NAME_MAX || !bp_utf8_clean(it->valuestring, len))
                return fail(err, BP_EINVAL,
                            "field 'members': each must be a string of 1..%d bytes of UTF-8 "
                            "without control characters", BP_NAME_MAX);
            need_bytes += len + 1;
        }
        if (n == 0)
            return fail(err, BP_EINVAL, "field 'members': must not be empty");
        int oom;
        const char *dup = n > 1 ? twice_in(members, n, &oom) : (oom = 0, NULL);
        if (oom) return fail(err, BP_ENOMEM, "out of memory");
        if (dup) return fail(err, BP_EINVAL, "field 'members': '%.100s' appears twice", dup);
    }
    if (!need_bytes)
        return 0;
    char *p = r->ext = malloc(need_bytes);
    if (!p)
        return fail(err, BP_ENOMEM, "out of memory");
    if (data) {
        memcpy(p, data->valuestring, dlen + 1);
        if (r->op == BP_OP_WAIT) {
            r->data = p;
            r->data_len = dlen;
        } else {
            r->result = p;
            r->result_len = dlen;
        }
        p += dlen + 1;
    }
    if (member) {
        memcpy(p, member->valuestring, mlen + 1);
        r->member = p;
        r->member_len = mlen;
        p += mlen + 1;
    }
    if (members) {
        r->members = p;
        for (const cJSON *it = members->child; it; it = it->next) {
            size_t len = strlen(it->valuestring);
            memcpy(p, it->valuestring, len + 1);
            p += len + 1;
        }
        r->members_len = (size_t)(p - r->members);
        r->n_members = n;
    }
    return 0;
}

static int decode_fields(const cJSON *root, unsigned max_parties, bp_request *r,
                         bp_decode_error *err)
{
    int rc;
    double d;
    switch (r->op) {
    case BP_OP_WAIT:
        rc = get_str(root, "barrier", r->barrier, sizeof r->barrier, 1, 1, &r->barrier_len, err);
        if ((rc = need(rc, "barrier", err)) < 0)
            return rc;
        rc = get_int(root, "parties", 1, max_parties, &d, err);
        if (rc < 0)
            return rc;
        r->parties = rc ? (unsigned)d : 0;
        if ((rc = decode_rdv(root, max_parties, r, err)) < 0)
            return rc;
        /* A member list fixes parties; a wait may say both if they agree. */
        if (r->n_members && r->parties && r->parties != r->n_members)
            return fail(err, BP_EINVAL, "field 'parties': %u, but 'members' names %u",
                        r->parties, r->n_members);
        if (r->n_members)
            r->parties = r->n_members;
        if (!r->parties)
            return fail(err, BP_EINVAL, "field 'parties': required");
        rc = get_int(root, "timeout_ms", 0, (double)BP_TIMEOUT_MAX_MS, &d, err);
        if (rc < 0)
            return rc;
        r->timeout_ms = rc ? (int64_t)d : -1;
        if ((rc = get_bool(root, "action", &r->action, err)) < 0)
            return rc;
        rc = get_str(root, "client", r->client, sizeof r->client, 0, 1, NULL, err);
        if (rc < 0)
            return rc;
        return decode_resume(root, max_parties, r, err);
    case BP_OP_ACTION_DONE:
        rc = get_int(root, "generation", 0, (double)BP_ID_MAX, &d, err);
        if ((rc = need(rc, "generation", err)) < 0)
            return rc;
        r->generation = (uint64_t)d;
        rc = get_bool(root, "success", &r->success, err);
        if ((rc = need(rc, "success", err)) < 0)
            return rc;
        if ((rc = decode_rdv(root, max_parties, r, err)) < 0)
            return rc;
        /* fall through */
    case BP_OP_ABORT:
    case BP_OP_RESET:
    case BP_OP_STATUS:
        rc = get_str(root, "barrier", r->barrier, sizeof r->barrier, 1, 1, &r->barrier_len, err);
        return need(rc, "barrier", err);
    case BP_OP_WATCH:
        rc = get_str(root, "barrier", r->barrier, sizeof r->barrier, 1, 1, &r->barrier_len, err);
        return rc < 0 ? rc : 0;
    case BP_OP_HELLO:
        rc = get_int(root, "version", 1, 65535, &d, err);
        if (rc < 0)
            return rc;
        r->version = rc ? (unsigned)d : 0;
        rc = get_str(root, "token", r->token, sizeof r->token, 0, 0, NULL, err);
        if (rc < 0)
            return rc;
        r->has_token = rc;
        return 0;
    default:
        return 0;
    }
}

int bp_request_decode(const char *line, size_t len, unsigned max_parties, bp_request *r,
                      bp_decode_error *err)
{
    if (max_parties == 0 || max_parties > BP_PARTIES_MAX)
        max_parties = BP_PARTIES_MAX;
    if (bp__decode_wait_fast(line, len, max_parties, r)) { /* the hot shape */
        memset(err, 0, sizeof *err);
        return 0;
    }
    return bp__request_decode_json(line, len, max_parties, r, err);
}

int bp__request_decode_json(const char *line, size_t len, unsigned max_parties, bp_request *r,
                            bp_decode_error *err)
{
    memset(r, 0, sizeof *r);
    memset(err, 0, sizeof *err);
    err->secret = 1; /* until the line is known not to carry one */
    r->timeout_ms = -1;
    if (max_parties == 0 || max_parties > BP_PARTIES_MAX)
        max_parties = BP_PARTIES_MAX;
    /* A NUL, raw or escaped, would silently cut a C string short. */
    if (memchr(line, '\0', len))
        return fail(err, BP_EPROTO, "invalid JSON: NUL byte");
    if (has_nul_escape(line, len))
        return fail(err, BP_EPROTO, "invalid JSON: \\u0000 is not allowed");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    /* Decide from the decoded keys (escapes resolved), never from the raw text. */
    err->secret = !cJSON_IsObject(root) || cJSON_GetObjectItemCaseSensitive(root, "token");
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= line && at <= line + len ? (long)(at - line) : -1;
        return fail(err, BP_EPROTO, "invalid JSON near byte %ld", off);
    }
    int rc = 0;
    for (const char *p = end; p < line + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            rc = fail(err, BP_EPROTO, "invalid JSON: trailing bytes after the object");
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        rc = fail(err, BP_EPROTO, "a request must be a JSON object");
        goto out;
    }
    double d;
    if ((rc = get_int(root, "id", 0, (double)BP_ID_MAX, &d, err)) < 0)
        goto out;
    if (rc) {
        r->has_id = err->has_id = 1;
        r->id = err->id = (uint64_t)d;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!op) {
        rc = fail(err, BP_EINVAL, "field 'op': required");
        goto out;
    }
    if (!cJSON_IsString(op)) {
        rc = fail(err, BP_EINVAL, "field 'op': must be a string");
        goto out;
    }
    r->op = bp_op_from_name(op->valuestring);
    if (r->op == BP_OP_NONE) {
        int shown = strlen(op->valuestring) <= 40 && bp_utf8_clean(op->valuestring, strlen(op->valuestring));
        rc = fail(err, BP_EINVAL, "field 'op': unknown op '%s'", shown ? op->valuestring : "?");
        goto out;
    }
    rc = decode_fields(root, max_parties, r, err);
    /* The fields we use were checked above, naming the field; invalid UTF-8
     * anywhere else (a key, an unknown field, the token) is refused here. */
    if (rc == 0 && !bp_utf8_valid(line, len))
        rc = fail(err, BP_EPROTO, "a request must be valid UTF-8");
out:
    cJSON_Delete(root);
    if (rc < 0)
        bp_request_free(r);
    return rc < 0 ? rc : 0;
}

void bp_request_free(bp_request *r)
{
    free(r->ext);
    r->ext = NULL;
    r->data = r->member = r->members = r->result = NULL;
    r->data_len = r->member_len = r->members_len = r->result_len = 0;
    r->n_members = 0;
}
