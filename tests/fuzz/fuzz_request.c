/* fuzz_request.c - libFuzzer target for request decoding.
 *
 * Any bytes must decode to a request or to a clean error; a decoded request
 * must re-encode to a line that decodes to the same request.
 */
#include "bp_error.h"
#include "bp_msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!a || !b)
        return !a && !b;
    return alen == blen && memcmp(a, b, alen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_request r, again;
    bp_decode_error err;
    int rc = bp_request_decode((const char *)data, size, 0, &r, &err);
    if (rc < 0) {
        if ((rc != BP_EPROTO && rc != BP_EINVAL) || !err.message[0])
            abort();
        return 0;
    }
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    if (b.oom || b.len == 0 || b.data[b.len - 1] != '\n')
        abort();
    if (bp_request_decode(b.data, b.len - 1, 0, &again, &err) < 0)
        abort();
    if (again.op != r.op || again.has_id != r.has_id || again.id != r.id ||
        strcmp(again.barrier, r.barrier) != 0 || again.parties != r.parties ||
        again.timeout_ms != r.timeout_ms || again.action != r.action ||
        strcmp(again.client, r.client) != 0)
        abort();
    /* The rendezvous fields survive the round trip too. */
    if (!same_bytes(again.data, again.data_len, r.data, r.data_len) ||
        !same_bytes(again.member, again.member_len, r.member, r.member_len) ||
        !same_bytes(again.members, again.members_len, r.members, r.members_len) ||
        again.n_members != r.n_members ||
        !same_bytes(again.result, again.result_len, r.result, r.result_len))
        abort();
    bp_request_free(&again);
    bp_request_free(&r);
    bp_buf_free(&b);

    /* The reply decoder must also survive anything. */
    bp_reply rep;
    if (bp_reply_decode((const char *)data, size, &rep) == 0)
        bp_reply_free(&rep);
    return 0;
}
