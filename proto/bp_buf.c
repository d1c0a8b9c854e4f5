/* bp_buf.c - growable buffer and JSON string helpers; see bp_buf.h. */
#include "bp_buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bp_buf_free(bp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void bp_buf_reset(bp_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *bp_buf_take(bp_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* Room for n more bytes plus the terminating NUL. */
int bp__buf_grow(bp_buf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *nd = realloc(b->data, cap);
    if (!nd) {
        b->oom = 1;
        return -1;
    }
    b->data = nd;
    b->cap = cap;
    return 0;
}

void bp_buf_printf(bp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || bp__buf_grow(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bp_buf_u64(bp_buf *b, uint64_t v)
{
    /* By hand: this runs for every waiter's id and index on the release path,
     * where snprintf's format parsing showed up in profiles. */
    char tmp[20], *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    bp_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void bp_buf_i64(bp_buf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    bp_buf_append(b, tmp, (size_t)n);
}

void bp_buf_json_names(bp_buf *b, const char *names, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        size_t len = strlen(names);
        if (i)
            bp_buf_puts(b, ",");
        bp_buf_json_str(b, names, len);
        names += len + 1;
    }
}

void bp_buf_json_str(bp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    bp_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes that need no escape, appended in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        bp_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            bp_buf_append(b, esc, 6);
            continue;
        }
        bp_buf_append(b, esc, 2);
    }
    bp_buf_append(b, s + run, len - run);
    bp_buf_append(b, "\"", 1);
}

size_t bp_json_escaped_len(const char *s, size_t len)
{
    size_t n = len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        /* The same cases as bp_buf_json_str: two bytes for a short escape,
         * six for \u00XX. */
        n += c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ? 1 : 5;
    }
    return n;
}

size_t bp_utf8_cut(const char *s, size_t n)
{
    /* Back up over continuation bytes, then drop a lead byte whose sequence
     * would not fit in n. */
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0)
        return 0;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return n - (i - 1) >= want ? n : i - 1;
}

/* Valid UTF-8; with no_controls, also free of C0 controls and DEL. */
static int utf8_scan(const char *s, size_t len, int no_controls)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (no_controls && (c < 0x20 || c == 0x7f))
                return 0;
            p++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) < n)
            return 0;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n;
    }
    return 1;
}

int bp_utf8_clean(const char *s, size_t len)
{
    return utf8_scan(s, len, 1);
}

int bp_utf8_valid(const char *s, size_t len)
{
    return utf8_scan(s, len, 0);
}
