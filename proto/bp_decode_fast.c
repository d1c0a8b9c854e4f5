/* bp_decode_fast.c - the hot `wait` line decoded without building a JSON tree.
 *
 * Nearly every line a busy barrierd reads is a wait of one fixed shape:
 * {"op":"wait","id":7,"barrier":"b","parties":3}. This scanner takes exactly
 * that shape (the fields in any order, with optional whitespace) and gives up
 * on anything it is not sure of: an escape, a non-ASCII byte, a number that is
 * not a plain integer, a value out of range, a field it does not know, a field
 * twice, another op. Giving up costs nothing but the general decoder's run, so
 * every line it accepts decodes exactly as the general decoder would decode it;
 * the fuzz target fuzz_fastwait holds it to that.
 */
#include "bp_decode_fast.h"

#include <string.h>

enum { K_OP, K_ID, K_BARRIER, K_PARTIES, K_TIMEOUT, K_ACTION, K_CLIENT, K_UNKNOWN };

static int key_of(const char *k, size_t n)
{
    switch (n) {
    case 2: return k[0] == 'o' && k[1] == 'p' ? K_OP : k[0] == 'i' && k[1] == 'd' ? K_ID : K_UNKNOWN;
    case 6: return memcmp(k, "action", 6) == 0 ? K_ACTION : memcmp(k, "client", 6) == 0 ? K_CLIENT : K_UNKNOWN;
    case 7: return memcmp(k, "barrier", 7) == 0 ? K_BARRIER : memcmp(k, "parties", 7) == 0 ? K_PARTIES : K_UNKNOWN;
    case 10: return memcmp(k, "timeout_ms", 10) == 0 ? K_TIMEOUT : K_UNKNOWN;
    default: return K_UNKNOWN;
    }
}

/* The whitespace both decoders skip alike (cJSON skips more; the general
 * decoder's trailing check allows just these). */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* A string of printable ASCII without escapes, at p (after its opening quote).
 * Returns its end (the closing quote) or NULL. */
static const char *plain_string(const char *p, const char *end)
{
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return NULL;
    }
    return NULL;
}

/* A plain integer (no sign, fraction, exponent or leading zero) of at most 16
 * digits, exact as a double. Returns the byte after it or NULL. */
static const char *plain_int(const char *p, const char *end, uint64_t *out)
{
    const char *start = p;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 17)
        v = v * 10 + (uint64_t)(*p++ - '0');
    size_t n = (size_t)(p - start);
    if (n == 0 || n > 16 || (n > 1 && *start == '0'))
        return NULL;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return NULL;
    *out = v;
    return p;
}

int bp__decode_wait_fast(const char *line, size_t len, unsigned max_parties, bp_request *r)
{
    const char *p = line, *end = line + len;
    memset(r, 0, sizeof *r);
    r->timeout_ms = -1;
    unsigned seen = 0;
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p == end || *p++ != '"')
            return 0;
        const char *k = p;
        if (!(p = plain_string(p, end)))
            return 0;
        int key = key_of(k, (size_t)(p - k));
        if (key == K_UNKNOWN || (seen & (1u << key)))
            return 0;
        seen |= 1u << key;
        p = skip_ws(p + 1, end);
        if (p == end || *p++ != ':')
            return 0;
        p = skip_ws(p, end);
        if (p == end)
            return 0;
        uint64_t v;
        const char *s;
        size_t n;
        switch (key) {
        case K_OP:
        case K_BARRIER:
        case K_CLIENT:
            if (*p++ != '"')
                return 0;
            s = p;
            if (!(p = plain_string(p, end)))
                return 0;
            n = (size_t)(p - s);
            p++;
            if (key == K_OP) {
                if (n != 4 || memcmp(s, "wait", 4) != 0)
                    return 0;
                r->op = BP_OP_WAIT;
            } else if (key == K_BARRIER) {
                if (n < 1 || n > BP_NAME_MAX)
                    return 0;
                memcpy(r->barrier, s, n);
                r->barrier_len = n;
            } else {
                if (n > BP_CLIENT_MAX)
                    return 0;
                memcpy(r->client, s, n);
            }
            break;
        case K_ACTION:
            if ((size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0) {
                r->action = 1;
                p += 4;
            } else if ((size_t)(end - p) >= 5 && memcmp(p, "false", 5) == 0) {
                p += 5;
            } else {
                return 0;
            }
            break;
        default: /* K_ID, K_PARTIES, K_TIMEOUT */
            if (!(p = plain_int(p, end, &v)))
                return 0;
            if (key == K_ID) {
                if (v > BP_ID_MAX)
                    return 0;
                r->has_id = 1;
                r->id = v;
            } else if (key == K_PARTIES) {
                if (v < 1 || v > max_parties)
                    return 0;
                r->parties = (unsigned)v;
            } else {
                if (v > (uint64_t)BP_TIMEOUT_MAX_MS)
                    return 0;
                r->timeout_ms = (int64_t)v;
            }
            break;
        }
        p = skip_ws(p, end);
        if (p == end)
            return 0;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}')
            return 0;
        break;
    }
    if (skip_ws(p, end) != end)
        return 0;
    const unsigned need = (1u << K_OP) | (1u << K_BARRIER) | (1u << K_PARTIES);
    return (seen & need) == need;
}
