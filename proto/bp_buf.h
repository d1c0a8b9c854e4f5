/* bp_buf.h - a growable byte buffer for encoding messages, with JSON helpers.
 *
 * Appends never fail halfway: on allocation failure the buffer keeps its old
 * contents and sets its sticky `oom` flag; check it once after encoding.
 */
#ifndef BP_BUF_H
#define BP_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bp_buf {
    char *data; /* owned; NUL-terminated after every append */
    size_t len;
    size_t cap;
    int oom; /* sticky: an append failed */
} bp_buf;

#define BP_BUF_INIT {NULL, 0, 0, 0}

void bp_buf_free(bp_buf *b);
void bp_buf_reset(bp_buf *b); /* len = 0, memory kept */
/* Hand the bytes over to the caller (who frees them); the buffer is left empty. */
char *bp_buf_take(bp_buf *b, size_t *len);

/* Grow for n more bytes and the NUL: 0, or -1 with oom set (or already set).
 * The slow path of bp_buf_append; not for callers. */
int bp__buf_grow(bp_buf *b, size_t n);

/* Inline: the release path appends a few bytes at a time, and a literal's
 * length folds at compile time (docs/performance.md). */
static inline void bp_buf_append(bp_buf *b, const void *data, size_t len)
{
    if (__builtin_expect(b->oom || b->len + len + 1 > b->cap, 0) && bp__buf_grow(b, len) < 0)
        return;
    if (len) /* data may be NULL when len is 0, and memcpy must not see that */
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static inline void bp_buf_puts(bp_buf *b, const char *s)
{
    bp_buf_append(b, s, strlen(s));
}
void bp_buf_printf(bp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bp_buf_u64(bp_buf *b, uint64_t v);
void bp_buf_i64(bp_buf *b, int64_t v);
/* A JSON string literal, quotes included, of len bytes of UTF-8. Control
 * characters, quote and backslash are escaped; other bytes pass through. */
void bp_buf_json_str(bp_buf *b, const char *s, size_t len);
/* The elements of a JSON array of strings, comma-separated, without the
 * brackets: n names, each NUL-terminated, back to back (a member list). */
void bp_buf_json_names(bp_buf *b, const char *names, unsigned n);
/* How many bytes bp_buf_json_str writes for s[0..len), without the quotes:
 * what the data costs on the wire (a control character takes up to 6). */
size_t bp_json_escaped_len(const char *s, size_t len);

/* The longest prefix of s[0..n) that does not end inside a UTF-8 sequence:
 * where to cut a message so that it stays valid UTF-8. */
size_t bp_utf8_cut(const char *s, size_t n);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, surrogates or code points above
 * U+10FFFF) with no C0 control characters nor DEL, else 0. */
int bp_utf8_clean(const char *s, size_t len);
/* 1 if s[0..len) is valid UTF-8 (control characters allowed), else 0. */
int bp_utf8_valid(const char *s, size_t len);

#endif
