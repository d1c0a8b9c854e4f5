/* bp_reply.c - read a reply or server event line; see bp_msg.h.
 *
 * The client keeps the parsed cJSON object in the result, since status, list and
 * stats replies carry fields that only their caller knows how to use.
 */
#include "bp_msg.h"

#include "bp_error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static int num_u64(const cJSON *obj, const char *key, uint64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble > (double)BP_ID_MAX ||
        it->valuedouble != floor(it->valuedouble))
        return 0;
    *out = (uint64_t)it->valuedouble;
    return 1;
}

static void copy_str(const cJSON *obj, const char *key, char *dst, size_t cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(it)) {
        size_t n = strlen(it->valuestring);
        if (n >= cap)
            n = bp_utf8_cut(it->valuestring, cap - 1);
        memcpy(dst, it->valuestring, n);
        dst[n] = '\0';
    }
}

static int decode_event(const cJSON *root, const char *name, bp_reply *r)
{
    if (strcmp(name, "heartbeat") == 0) {
        r->kind = BP_MSG_HEARTBEAT;
    } else if (strcmp(name, "shutdown") == 0) {
        r->kind = BP_MSG_SHUTDOWN;
        copy_str(root, "message", r->message, sizeof r->message);
    } else if (strcmp(name, "run_action") == 0) {
        r->kind = BP_MSG_RUN_ACTION;
        r->has_id = num_u64(root, "id", &r->id); /* absent when the wait had none */
        if (!(r->has_generation = num_u64(root, "generation", &r->generation)))
            return BP_EPROTO;
        copy_str(root, "barrier", r->barrier, sizeof r->barrier);
    } else if (bp_watch_event_name(name)) {
        r->kind = BP_MSG_WATCH;
        r->has_generation = num_u64(root, "generation", &r->generation);
        copy_str(root, "barrier", r->barrier, sizeof r->barrier);
    } else {
        return BP_EPROTO;
    }
    return 0;
}

static int decode_reply(const cJSON *root, bp_reply *r)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
    if (!cJSON_IsBool(ok))
        return BP_EPROTO;
    r->kind = BP_MSG_REPLY;
    r->has_id = num_u64(root, "id", &r->id);
    copy_str(root, "message", r->message, sizeof r->message);
    r->has_generation = num_u64(root, "generation", &r->generation);
    copy_str(root, "barrier", r->barrier, sizeof r->barrier);
    if (cJSON_IsFalse(ok)) {
        copy_str(root, "leader", r->leader, sizeof r->leader);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        r->code = cJSON_IsString(e) ? bp_err_from_name(e->valuestring) : BP_EPROTO;
        return 0;
    }
    uint64_t v;
    if (num_u64(root, "index", &v) && v <= BP_PARTIES_MAX) {
        r->has_index = 1;
        r->index = (unsigned)v;
    }
    return 0;
}

int bp_reply_decode(const char *line, size_t len, bp_reply *r)
{
    memset(r, 0, sizeof *r);
    cJSON *root = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return BP_EPROTO;
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "event");
    int rc = cJSON_IsString(ev) ? decode_event(root, ev->valuestring, r) : decode_reply(root, r);
    if (rc < 0) {
        cJSON_Delete(root);
        memset(r, 0, sizeof *r);
        return rc;
    }
    r->json = root;
    return 0;
}

void bp_reply_free(bp_reply *r)
{
    cJSON_Delete(r->json);
    r->json = NULL;
}
