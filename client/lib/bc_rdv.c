/* bc_rdv.c - bc_wait_ex: a wait with data, a member name, a member list and an
 * action result (docs/client.md, "Rendezvous"). */
#include "bc_internal.h"

#include "bp_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bc_rendezvous {
    unsigned index;
    uint64_t generation;
    size_t n;          /* gathered entries */
    const char **data; /* n of them, into the same block; NULL: none sent */
    size_t *len;
    const char *result; /* NULL: none */
    size_t result_len;
};

int bc_action_set_result(bc_action_ctx *ctx, const char *result, size_t len)
{
    if (!ctx || (!result && len)) return bc__fail(BC_EINVAL, "action context or result is NULL");
    if (!result) result = "";
    if (memchr(result, '\0', len) || !bp_utf8_valid(result, len))
        return bc__fail(BC_EINVAL, "action result: must be UTF-8 without NUL bytes");
    char *copy = malloc(len + 1);
    if (!copy) return bc__fail(BC_ENOMEM, "out of memory");
    memcpy(copy, result, len);
    copy[len] = '\0';
    free(ctx->result);
    ctx->result = copy;
    ctx->result_len = len;
    return BC_OK;
}

static int check_args(bc_client *c, const bc_wait_args *a, unsigned *parties)
{
    if (!a) return bc__fail(BC_EINVAL, "args is NULL");
    int rc = bc__check_reserved(a->reserved, sizeof a->reserved, "bc_wait_args");
    if (rc < 0) return rc;
    if (a->n_members > BP_PARTIES_MAX || (a->n_members && !a->members))
        return bc__fail(BC_EINVAL, "members: 1..%u names", BP_PARTIES_MAX);
    *parties = a->parties ? a->parties : (unsigned)a->n_members;
    if (a->n_members && *parties != a->n_members)
        return bc__fail(BC_EINVAL, "parties is %u but members names %zu", a->parties, a->n_members);
    rc = bc__wait_check_args(c, a->name, *parties, a->has_timeout ? a->timeout_s : -1);
    if (rc < 0) return rc;
    if (a->data && (memchr(a->data, '\0', a->data_len) || !bp_utf8_valid(a->data, a->data_len)))
        return bc__fail(BC_EINVAL, "data: must be UTF-8 without NUL bytes");
    if (a->member) {
        size_t n = strlen(a->member);
        if (n < 1 || n > BP_NAME_MAX || !bp_utf8_clean(a->member, n))
            return bc__fail(BC_EINVAL, "member: 1..%d bytes of UTF-8 without control characters",
                            BP_NAME_MAX);
    }
    for (size_t i = 0; i < a->n_members; i++) {
        size_t n = a->members[i] ? strlen(a->members[i]) : 0;
        if (n < 1 || n > BP_NAME_MAX || !bp_utf8_clean(a->members[i], n))
            return bc__fail(BC_EINVAL,
                            "members[%zu]: 1..%d bytes of UTF-8 without control characters", i,
                            BP_NAME_MAX);
    }
    return 0;
}

/* The member list as the wire request holds it: names NUL-terminated, back to back. */
static char *pack_members(const bc_wait_args *a, size_t *bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_members; i++)
        n += strlen(a->members[i]) + 1;
    char *p = malloc(n ? n : 1), *q = p;
    for (size_t i = 0; p && i < a->n_members; i++) {
        size_t len = strlen(a->members[i]) + 1;
        memcpy(q, a->members[i], len);
        q += len;
    }
    *bytes = n;
    return p;
}

/* The result object from a release reply, in one allocation. */
static int make_result(const bp_reply *rep, bc_rendezvous **out)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(rep->json, "gathered");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(rep->json, "action_result");
    size_t n = cJSON_IsArray(g) ? (size_t)cJSON_GetArraySize(g) : 0, bytes = 0;
    const cJSON *it;
    if (n) cJSON_ArrayForEach(it, g)
        {
            if (!cJSON_IsString(it) && !cJSON_IsNull(it))
                return bc__fail(BC_EPROTO, "gathered: an entry is neither a string nor null");
            bytes += cJSON_IsString(it) ? strlen(it->valuestring) + 1 : 0;
        }
    if (cJSON_IsString(ar)) bytes += strlen(ar->valuestring) + 1;
    bc_rendezvous *r = malloc(sizeof *r + n * (sizeof *r->data + sizeof *r->len) + bytes);
    if (!r) return bc__fail(BC_ENOMEM, "out of memory");
    r->index = rep->index;
    r->generation = rep->generation;
    r->n = n;
    r->data = (const char **)(r + 1);
    r->len = (size_t *)(r->data + n);
    char *p = (char *)(r->len + n);
    size_t i = 0;
    if (n) cJSON_ArrayForEach(it, g)
        {
            r->data[i] = NULL;
            r->len[i] = 0;
            if (cJSON_IsString(it)) {
                r->len[i] = strlen(it->valuestring);
                memcpy(p, it->valuestring, r->len[i] + 1);
                r->data[i] = p;
                p += r->len[i] + 1;
            }
            i++;
        }
    r->result = NULL;
    r->result_len = 0;
    if (cJSON_IsString(ar)) {
        r->result_len = strlen(ar->valuestring);
        memcpy(p, ar->valuestring, r->result_len + 1);
        r->result = p;
    }
    *out = r;
    return BC_OK;
}

int bc_wait_ex(bc_client *c, const bc_wait_args *args, bc_rendezvous **out)
{
    unsigned parties = 0;
    int rc = check_args(c, args, &parties);
    if (rc < 0) return rc;
    size_t members_len = 0;
    char *members = args->n_members ? pack_members(args, &members_len) : NULL;
    if (args->n_members && !members) return bc__fail(BC_ENOMEM, "out of memory");
    bc__call call = {.kind = BC__CALL_WAIT,
                     .req = {.op = BP_OP_WAIT,
                             .parties = parties,
                             .timeout_ms = bc__timeout_ms(args->has_timeout ? args->timeout_s : -1),
                             .action = args->action != NULL,
                             /* valid until the wait returns: re-announced as they are */
                             .data = args->data ? args->data : NULL,
                             .data_len = args->data ? args->data_len : 0,
                             .member = args->member,
                             .member_len = args->member ? strlen(args->member) : 0,
                             .members = members,
                             .members_len = members_len,
                             .n_members = (unsigned)args->n_members}};
    snprintf(call.req.barrier, sizeof call.req.barrier, "%s", args->name);
    bc__client_name(c, call.req.client, sizeof call.req.client);
    bc_action_ctx ctx = {0};
    bc__wait_action a = {.rdv_fn = args->action, .arg = args->action_arg, .ctx = &ctx};
    rc = bc__wait_call(c, &call, &a);
    free(ctx.result);
    free(members);
    if (rc < 0) return rc;
    /* The party is released whatever follows: a result that cannot be built
     * (out of memory, a malformed reply) leaves *out NULL, with the message
     * set, rather than turn the release into a failure. */
    if (out && make_result(&call.reply, out) < 0) *out = NULL;
    bp_reply_free(&call.reply);
    return BC_OK;
}

unsigned bc_rendezvous_index(const bc_rendezvous *r)
{
    return r ? r->index : 0;
}

uint64_t bc_rendezvous_generation(const bc_rendezvous *r)
{
    return r ? r->generation : 0;
}

size_t bc_rendezvous_n_gathered(const bc_rendezvous *r)
{
    return r ? r->n : 0;
}

const char *bc_rendezvous_gathered(const bc_rendezvous *r, size_t i, size_t *len)
{
    int ok = r && i < r->n && r->data[i];
    if (len) *len = ok ? r->len[i] : 0;
    return ok ? r->data[i] : NULL;
}

const char *bc_rendezvous_action_result(const bc_rendezvous *r, size_t *len)
{
    if (len) *len = r && r->result ? r->result_len : 0;
    return r ? r->result : NULL;
}

void bc_rendezvous_free(bc_rendezvous *r)
{
    free(r);
}
