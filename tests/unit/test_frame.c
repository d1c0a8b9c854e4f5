/* test_frame.c - Check suite for the newline framer (proto/bp_frame.h).
 *
 * The framer has no I/O, so every test feeds it bytes directly: whole inputs,
 * byte by byte, split at every position, in random chunks. Lines are compared
 * with a reference split of the same input. realloc and free are wrapped at link
 * time (-Wl,--wrap=realloc,--wrap=free) so the allocation-failure path can be
 * driven and buffer lifetimes observed. (Check may be linked statically, so its
 * own calls go through the wrappers too: failures are injected only around
 * single framer calls, and frees are watched for one pointer.)
 *
 * Fed bytes are borrowed until bp_framer_next returns 0 or the next feed (see
 * bp_frame.h); the tests that hand over heap bytes scribble on them and free
 * them as soon as that allows, so a sanitizer build catches any later use.
 */
#include "bp_error.h"
#include "bp_frame.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- realloc failure injection ---- */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static int realloc_fail; /* when set, every realloc from the framer fails */

void *__wrap_realloc(void *p, size_t n)
{
    if (realloc_fail) return NULL;
    return __real_realloc(p, n);
}

void __real_free(void *p);
void __wrap_free(void *p);
static const void *free_watch; /* set free_watched when this pointer is freed */
static int free_watched;

void __wrap_free(void *p)
{
    if (p && p == free_watch) free_watched = 1;
    __real_free(p);
}

/* Heap copy of s[0..n), for bytes that are handed over and later taken back. */
static char *heap_bytes(const char *s, size_t n)
{
    char *d = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(d);
    memcpy(d, s, n);
    return d;
}

/* The caller takes its bytes back: scribble, then free. */
static void take_back(char *d, size_t n)
{
    memset(d, '#', n);
    free(d);
}

/* ---- collected lines ---- */

#define MAX_LINES 20000

typedef struct lines {
    size_t n;
    char *s[MAX_LINES]; /* NUL-terminated copies */
    size_t len[MAX_LINES];
} lines;

static lines *lines_new(void)
{
    lines *l = calloc(1, sizeof *l);
    ck_assert_ptr_nonnull(l);
    return l;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l);
}

static void lines_add(lines *l, const char *s, size_t len)
{
    ck_assert_uint_lt(l->n, MAX_LINES);
    l->s[l->n] = malloc(len + 1);
    ck_assert_ptr_nonnull(l->s[l->n]);
    memcpy(l->s[l->n], s, len);
    l->s[l->n][len] = '\0';
    l->len[l->n] = len;
    l->n++;
}

/* Take every complete line; returns what the last bp_framer_next said (0 or an error). */
static int drain(bp_framer *f, lines *out)
{
    const char *line;
    size_t len;
    int rc;
    while ((rc = bp_framer_next(f, &line, &len)) == 1)
        lines_add(out, line, len);
    return rc;
}

/* The reference: split on '\n', keeping everything else (including '\r'). */
static void reference_split(const char *in, size_t n, lines *out, size_t *rest)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] == '\n') {
            lines_add(out, in + start, i - start);
            start = i + 1;
        }
    *rest = n - start;
}

static void assert_same_lines(const lines *got, const lines *want, const char *what)
{
    ck_assert_msg(got->n == want->n, "%s: %zu lines, want %zu", what, got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        ck_assert_msg(got->len[i] == want->len[i], "%s: line %zu has %zu bytes, want %zu", what, i,
                      got->len[i], want->len[i]);
        ck_assert_msg(memcmp(got->s[i], want->s[i], got->len[i]) == 0, "%s: line %zu differs", what,
                      i);
    }
}

/* ---- inputs shared by the split tests ---- */

static const struct {
    const char *name;
    const char *in;
} inputs[] = {
    {"three lines", "{\"op\":\"ping\"}\n{\"op\":\"list\",\"id\":2}\nabc\n"},
    {"empty lines", "\n\n\nx\n\n"},
    {"crlf", "a\r\nbb\r\n\r\nccc\r\n"},
    {"partial tail", "one\ntwo\nthr"},
    {"lone cr", "a\rb\n\r\n\r"},
    {"utf8", "caf\xc3\xa9\n\xf0\x9f\x98\x80\n\xe2\x82\xac"},
    {"single newline", "\n"},
    {"no newline", "abcdef"},
    {"long-ish", "0123456789012345678901234567890123456789\nz\n0123456789012345678901234567890\n"},
};
#define N_INPUTS (sizeof inputs / sizeof inputs[0])

/* ---- tests ---- */

START_TEST(t_fresh_framer)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    const char *line = NULL;
    size_t len = 0;
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "", 0), 0);
    ck_assert_int_eq(bp_framer_feed(&f, NULL, 0), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    bp_framer_free(&f);
    bp_framer_free(&f); /* free twice is harmless */
}
END_TEST

START_TEST(t_single_line)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    const char *line;
    size_t len;
    ck_assert_int_eq(bp_framer_feed(&f, "hello\n", 6), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 6);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(line, "hello", 5);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_multiple_lines_one_feed)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    lines *got = lines_new(), *want = lines_new();
    const char *in = "a\nbb\nccc\n";
    size_t rest;
    reference_split(in, strlen(in), want, &rest);
    ck_assert_int_eq(bp_framer_feed(&f, in, strlen(in)), 0);
    ck_assert_int_eq(drain(&f, got), 0);
    ck_assert_uint_eq(got->n, 3);
    ck_assert_str_eq(got->s[0], "a");
    ck_assert_str_eq(got->s[1], "bb");
    ck_assert_str_eq(got->s[2], "ccc");
    assert_same_lines(got, want, "one feed");
    lines_free(got);
    lines_free(want);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_lines_stay_valid_until_feed)
{
    /* Both lines taken one after the other stay readable: next never moves bytes. */
    bp_framer f;
    bp_framer_init(&f, 100);
    const char *l1, *l2;
    size_t n1, n2;
    ck_assert_int_eq(bp_framer_feed(&f, "first\nsecond\n", 13), 0);
    ck_assert_int_eq(bp_framer_next(&f, &l1, &n1), 1);
    ck_assert_int_eq(bp_framer_next(&f, &l2, &n2), 1);
    ck_assert_uint_eq(n1, 5);
    ck_assert_uint_eq(n2, 6);
    ck_assert_mem_eq(l1, "first", 5);
    ck_assert_mem_eq(l2, "second", 6);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_empty_lines)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    lines *got = lines_new();
    ck_assert_int_eq(bp_framer_feed(&f, "\n\n\n", 3), 0);
    ck_assert_int_eq(drain(&f, got), 0);
    ck_assert_uint_eq(got->n, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(got->len[i], 0);
    lines_free(got);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_crlf_keeps_cr)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    lines *got = lines_new();
    ck_assert_int_eq(bp_framer_feed(&f, "ab\r\n\r\n", 6), 0);
    ck_assert_int_eq(drain(&f, got), 0);
    ck_assert_uint_eq(got->n, 2);
    ck_assert_uint_eq(got->len[0], 3);
    ck_assert_mem_eq(got->s[0], "ab\r", 3);
    ck_assert_uint_eq(got->len[1], 1);
    ck_assert_mem_eq(got->s[1], "\r", 1);
    lines_free(got);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_partial_then_complete)
{
    bp_framer f;
    bp_framer_init(&f, 100);
    const char *line;
    size_t len;
    ck_assert_int_eq(bp_framer_feed(&f, "ab", 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 2);
    ck_assert_int_eq(bp_framer_feed(&f, "c", 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "\nd", 2), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 5);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(line, "abc", 3);
    ck_assert_uint_eq(bp_framer_pending(&f), 1);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_mem_eq(line, "d", 1);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    bp_framer_free(&f);
}
END_TEST

/* Loop test over inputs[]: feed byte by byte, draining after every byte. */
START_TEST(t_byte_by_byte)
{
    const char *in = inputs[_i].in;
    size_t n = strlen(in), rest;
    lines *got = lines_new(), *want = lines_new();
    reference_split(in, n, want, &rest);
    bp_framer f;
    bp_framer_init(&f, 64);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(bp_framer_feed(&f, in + i, 1), 0);
        ck_assert_int_eq(drain(&f, got), 0);
    }
    assert_same_lines(got, want, inputs[_i].name);
    ck_assert_uint_eq(bp_framer_pending(&f), rest);
    bp_framer_free(&f);
    lines_free(got);
    lines_free(want);
}
END_TEST

/* Loop test over inputs[]: feed byte by byte without draining, then drain once. */
START_TEST(t_byte_by_byte_drain_at_end)
{
    const char *in = inputs[_i].in;
    size_t n = strlen(in), rest;
    lines *got = lines_new(), *want = lines_new();
    reference_split(in, n, want, &rest);
    bp_framer f;
    bp_framer_init(&f, 64);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(bp_framer_feed(&f, in + i, 1), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), n);
    ck_assert_int_eq(drain(&f, got), 0);
    assert_same_lines(got, want, inputs[_i].name);
    ck_assert_uint_eq(bp_framer_pending(&f), rest);
    bp_framer_free(&f);
    lines_free(got);
    lines_free(want);
}
END_TEST

/* Loop test over inputs[]: every split point i and j (0 <= i <= j <= n) into three
 * feeds, draining between them. Covers every single split too (i == j). */
START_TEST(t_every_split_point)
{
    const char *in = inputs[_i].in;
    size_t n = strlen(in), rest;
    lines *want = lines_new();
    reference_split(in, n, want, &rest);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            lines *got = lines_new();
            bp_framer f;
            bp_framer_init(&f, 64);
            ck_assert_int_eq(bp_framer_feed(&f, in, i), 0);
            ck_assert_int_eq(drain(&f, got), 0);
            ck_assert_int_eq(bp_framer_feed(&f, in + i, j - i), 0);
            ck_assert_int_eq(drain(&f, got), 0);
            ck_assert_int_eq(bp_framer_feed(&f, in + j, n - j), 0);
            ck_assert_int_eq(drain(&f, got), 0);
            assert_same_lines(got, want, inputs[_i].name);
            ck_assert_uint_eq(bp_framer_pending(&f), rest);
            bp_framer_free(&f);
            lines_free(got);
        }
    }
    lines_free(want);
}
END_TEST

/* Deterministic xorshift, so failures reproduce. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

START_TEST(t_random_chunks)
{
    /* Random lines (some empty, some with '\r') fed in random chunk sizes, with
     * draining at random moments; every line must come out once, in order. */
    enum { N = 4000, MAXLEN = 300 };
    static char in[N * (MAXLEN + 2)];
    size_t n = 0;
    for (int k = 0; k < N; k++) {
        size_t len = rng() % 7 == 0 ? 0 : rng() % MAXLEN;
        for (size_t i = 0; i < len; i++) {
            char c = (char)(rng() % 255 + 1);
            in[n++] = c == '\n' ? 'x' : c;
        }
        if (rng() % 5 == 0) in[n++] = '\r';
        in[n++] = '\n';
    }
    size_t rest;
    lines *got = lines_new(), *want = lines_new();
    reference_split(in, n, want, &rest);
    ck_assert_uint_eq(rest, 0);
    bp_framer f;
    bp_framer_init(&f, MAXLEN + 1);
    size_t off = 0;
    while (off < n) {
        size_t chunk = rng() % 3 == 0 ? rng() % 8 : rng() % 2000;
        if (chunk > n - off) chunk = n - off;
        ck_assert_int_eq(bp_framer_feed(&f, in + off, chunk), 0);
        off += chunk;
        switch (rng() % 4) {
        case 0: /* leave everything for later feeds */
            break;
        case 1: { /* take at most one line, then feed again */
            const char *line;
            size_t len;
            if (bp_framer_next(&f, &line, &len) == 1) lines_add(got, line, len);
            break;
        }
        default:
            ck_assert_int_eq(drain(&f, got), 0);
        }
    }
    ck_assert_int_eq(drain(&f, got), 0);
    assert_same_lines(got, want, "random chunks");
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    bp_framer_free(&f);
    lines_free(got);
    lines_free(want);
}
END_TEST

/* ---- the line limit ---- */

#define LIM 16

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(t_limit_exact_accepted)
{
    char *line = repeat('x', LIM);
    bp_framer f;
    bp_framer_init(&f, LIM);
    const char *got;
    size_t len;
    ck_assert_int_eq(bp_framer_feed(&f, line, LIM), 0); /* unterminated, at the limit */
    ck_assert_uint_eq(bp_framer_pending(&f), LIM);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, LIM);
    ck_assert_mem_eq(got, line, LIM);
    /* and again in one feed, terminated */
    ck_assert_int_eq(bp_framer_feed(&f, line, LIM), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "\nok\n", 4), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, LIM);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    bp_framer_free(&f);
    free(line);
}
END_TEST

START_TEST(t_limit_exact_byte_by_byte)
{
    char *line = repeat('y', LIM);
    bp_framer f;
    bp_framer_init(&f, LIM);
    const char *got;
    size_t len;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < LIM; i++)
            ck_assert_int_eq(bp_framer_feed(&f, line + i, 1), 0);
        ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
        ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
        ck_assert_uint_eq(len, LIM);
    }
    bp_framer_free(&f);
    free(line);
}
END_TEST

/* Assert the framer is in its sticky ELIMIT state: feeds and nexts all fail. */
static void assert_sticky_limit(bp_framer *f)
{
    const char *line;
    size_t len;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(bp_framer_next(f, &line, &len), BP_ELIMIT);
        ck_assert_int_eq(bp_framer_feed(f, "ok\n", 3), BP_ELIMIT);
        ck_assert_int_eq(bp_framer_feed(f, "", 0), BP_ELIMIT);
        ck_assert_int_eq(bp_framer_next(f, &line, &len), BP_ELIMIT);
    }
}

START_TEST(t_limit_over_terminated)
{
    /* One byte over, newline in the same feed: caught when the line is taken. */
    char *line = repeat('x', LIM + 1);
    bp_framer f;
    bp_framer_init(&f, LIM);
    const char *got;
    size_t len;
    int rc = bp_framer_feed(&f, line, LIM + 1);
    ck_assert_int_eq(rc, BP_ELIMIT); /* the tail is already over */
    bp_framer_free(&f);

    bp_framer_init(&f, LIM);
    char buf[LIM + 2];
    memcpy(buf, line, LIM + 1);
    buf[LIM + 1] = '\n';
    ck_assert_int_eq(bp_framer_feed(&f, buf, sizeof buf), 0); /* tail is empty */
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(line);
}
END_TEST

START_TEST(t_limit_over_unterminated)
{
    char *line = repeat('x', LIM + 1);
    bp_framer f;
    bp_framer_init(&f, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, line, LIM + 1), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(line);
}
END_TEST

START_TEST(t_limit_over_byte_by_byte)
{
    bp_framer f;
    bp_framer_init(&f, LIM);
    for (size_t i = 0; i < LIM; i++)
        ck_assert_int_eq(bp_framer_feed(&f, "z", 1), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "z", 1), BP_ELIMIT); /* the 17th byte */
    assert_sticky_limit(&f);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_limit_over_across_feeds)
{
    /* Neither feed alone is over the limit; together they are. */
    bp_framer f;
    bp_framer_init(&f, LIM);
    char *a = repeat('a', LIM / 2), *b = repeat('b', LIM / 2 + 1);
    ck_assert_int_eq(bp_framer_feed(&f, a, LIM / 2), 0);
    ck_assert_int_eq(bp_framer_feed(&f, b, LIM / 2 + 1), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);

    /* Same, but the newline comes in the second feed: caught by next. */
    bp_framer_init(&f, LIM);
    const char *got;
    size_t len;
    char tail[LIM];
    memcpy(tail, b, LIM / 2 + 1);
    tail[LIM / 2 + 1] = '\n';
    ck_assert_int_eq(bp_framer_feed(&f, a, LIM / 2), 0);
    ck_assert_int_eq(bp_framer_feed(&f, tail, LIM / 2 + 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(a);
    free(b);
}
END_TEST

START_TEST(t_limit_crlf_counts_cr)
{
    /* The '\r' is part of the line, so LIM bytes + "\r\n" is one over. */
    char buf[LIM + 2];
    memset(buf, 'c', LIM);
    buf[LIM] = '\r';
    buf[LIM + 1] = '\n';
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, buf + 1, LIM + 1), 0); /* LIM-1 + \r + \n */
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, buf, LIM + 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), BP_ELIMIT);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_limit_zero)
{
    /* max_line 0: only empty lines pass. */
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 0);
    ck_assert_int_eq(bp_framer_feed(&f, "\n\n", 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "x", 1), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_megabyte_without_newline_one_feed)
{
    size_t n = 1u << 20;
    char *big = repeat('m', n);
    bp_framer f;
    bp_framer_init(&f, 65536);
    ck_assert_int_eq(bp_framer_feed(&f, big, n), BP_ELIMIT);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(big);
}
END_TEST

START_TEST(t_megabyte_without_newline_chunks)
{
    /* 4 KiB at a time: the overrun is reported by the first feed that crosses
     * the limit, not after the whole megabyte has been buffered. */
    size_t n = 1u << 20, chunk = 4096;
    char *big = repeat('m', n);
    bp_framer f;
    bp_framer_init(&f, 65536);
    size_t off = 0;
    int rc = 0;
    while (off < n && (rc = bp_framer_feed(&f, big + off, chunk)) == 0)
        off += chunk;
    ck_assert_int_eq(rc, BP_ELIMIT);
    ck_assert_uint_eq(off, 65536); /* the 17th chunk is the first over */
    ck_assert_uint_le(bp_framer_pending(&f), 65536 + chunk);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(big);
}
END_TEST

START_TEST(t_megabyte_byte_by_byte)
{
    /* Byte by byte, with the tail checked on every feed. */
    bp_framer f;
    bp_framer_init(&f, 65536);
    size_t i = 0;
    int rc = 0;
    while (i < (1u << 20) && (rc = bp_framer_feed(&f, "m", 1)) == 0)
        i++;
    ck_assert_int_eq(rc, BP_ELIMIT);
    ck_assert_uint_eq(i, 65536);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_lines_before_overrun_delivered)
{
    /* Complete lines fed with the overrun, in the same feed, still come out;
     * then the sticky error. */
    char buf[64 + LIM + 1];
    size_t n = 0;
    memcpy(buf, "a\n\nccc\r\n", 8);
    n = 8;
    memset(buf + n, 'X', LIM + 1);
    n += LIM + 1;
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, buf, n), BP_ELIMIT);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_mem_eq(got, "a", 1);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(got, "ccc\r", 4);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_lines_before_overrun_other_feed)
{
    /* Lines fed earlier and not yet taken survive a later overrun. */
    bp_framer f;
    const char *got;
    size_t len;
    char *big = repeat('X', 1000);
    bp_framer_init(&f, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, "one\ntwo\n", 8), 0);
    ck_assert_int_eq(bp_framer_feed(&f, big, 1000), BP_ELIMIT);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "one", 3);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "two", 3);
    assert_sticky_limit(&f);
    bp_framer_free(&f);
    free(big);
}
END_TEST

START_TEST(t_long_line_then_good_lines_not_delivered)
{
    /* A complete line over the limit loses framing: the lines after it in the
     * buffer are not handed out. The lines before it are. */
    char buf[128];
    size_t n = 0;
    memcpy(buf, "ok\n", 3);
    n = 3;
    memset(buf + n, 'L', LIM + 5);
    n += LIM + 5;
    memcpy(buf + n, "\nafter\n", 7);
    n += 7;
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, LIM);
    ck_assert_int_eq(bp_framer_feed(&f, buf, n), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "ok", 2);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), BP_ELIMIT);
    assert_sticky_limit(&f);
    ck_assert_uint_eq(bp_framer_pending(&f), 0); /* everything dropped */
    bp_framer_free(&f);
}
END_TEST

/* ---- buffer reuse ---- */

START_TEST(t_reuse_after_drain)
{
    /* Thousands of small lines, drained as they come: the buffer is reused and
     * stays small. */
    bp_framer f;
    bp_framer_init(&f, 100);
    const char *got;
    size_t len;
    char line[32];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        /* half of the lines split in two feeds */
        if (i % 2) {
            ck_assert_int_eq(bp_framer_feed(&f, line, 3), 0);
            ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
            ck_assert_int_eq(bp_framer_feed(&f, line + 3, (size_t)n - 3), 0);
        } else {
            ck_assert_int_eq(bp_framer_feed(&f, line, (size_t)n), 0);
        }
        ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
        ck_assert_uint_eq(len, (size_t)n - 1);
        ck_assert_mem_eq(got, line, len);
        ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
        ck_assert_uint_eq(bp_framer_pending(&f), 0);
    }
    ck_assert_uint_le(f.cap, 256);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_reuse_with_partial_tail)
{
    /* Never fully drained (a partial line is always pending): compaction must
     * keep the bytes in order and the buffer bounded. */
    bp_framer f;
    bp_framer_init(&f, 100);
    lines *got = lines_new();
    const char *chunk = "abc\ndefgh\nij"; /* leaves a tail every time */
    size_t total = 0;
    for (int i = 0; i < 3000; i++) {
        ck_assert_int_eq(bp_framer_feed(&f, chunk, strlen(chunk)), 0);
        total += strlen(chunk);
        ck_assert_int_eq(drain(&f, got), 0);
        ck_assert_uint_gt(bp_framer_pending(&f), 0);
    }
    ck_assert_uint_eq(got->n, 6000);
    ck_assert_str_eq(got->s[0], "abc");
    ck_assert_str_eq(got->s[1], "defgh");
    for (size_t i = 2; i < got->n; i += 2) {
        ck_assert_str_eq(got->s[i], "ijabc");
        ck_assert_str_eq(got->s[i + 1], "defgh");
    }
    ck_assert_uint_eq(bp_framer_pending(&f), 2);
    ck_assert_uint_le(f.cap, 256);
    bp_framer_free(&f);
    lines_free(got);
}
END_TEST

START_TEST(t_zero_copy_whole_lines)
{
    /* With nothing buffered, the lines of a feed are handed out of the fed bytes
     * themselves and no buffer is allocated. */
    const char *in = "first\nsecond\n\nthird\n";
    size_t n = strlen(in);
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 100);
    ck_assert_int_eq(bp_framer_feed(&f, in, n), 0);
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
        ck_assert(got >= in && got + len < in + n);
    }
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    ck_assert_ptr_null(f.buf);
    ck_assert_uint_eq(f.cap, 0);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_idle_holds_no_buffer)
{
    /* A partial line is copied; once it completes and is drained, the buffer
     * goes away at the next feed (not before: the last line may still be in
     * use), however big it was. */
    size_t n = 60000;
    char *big = repeat('B', n);
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 65536);
    ck_assert_int_eq(bp_framer_feed(&f, big, n), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0); /* the partial line is kept */
    ck_assert_uint_ge(f.cap, n);
    take_back(big, n);
    ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(got[0], 'B');
    ck_assert_int_eq(got[n - 1], 'B');
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "small\n", 6), 0);
    ck_assert_ptr_null(f.buf);
    ck_assert_uint_eq(f.cap, 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(got, "small", 5);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_borrowed_until_next_returns_0)
{
    /* After next returns 0 the caller may reuse its bytes: the partial tail must
     * have been copied. */
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 100);
    char *d = heap_bytes("ab\nd", 4);
    ck_assert_int_eq(bp_framer_feed(&f, d, 4), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "ab", 2);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    take_back(d, 4);
    ck_assert_uint_eq(bp_framer_pending(&f), 1);
    d = heap_bytes("ef\ngh", 5);
    ck_assert_int_eq(bp_framer_feed(&f, d, 5), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(got, "def", 3);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    take_back(d, 5);
    d = heap_bytes("\n", 1);
    ck_assert_int_eq(bp_framer_feed(&f, d, 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "gh", 2);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    take_back(d, 1);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_borrowed_until_next_feed)
{
    /* Fed, not drained, fed again: the first bytes may go once the second feed
     * returns, complete lines included. */
    bp_framer f;
    lines *got = lines_new();
    bp_framer_init(&f, 100);
    char *d1 = heap_bytes("one\ntwo\nth", 10);
    ck_assert_int_eq(bp_framer_feed(&f, d1, 10), 0);
    char *d2 = heap_bytes("ree\nfour", 8);
    ck_assert_int_eq(bp_framer_feed(&f, d2, 8), 0);
    take_back(d1, 10);
    ck_assert_uint_eq(bp_framer_pending(&f), 18);
    ck_assert_int_eq(drain(&f, got), 0);
    take_back(d2, 8);
    ck_assert_uint_eq(got->n, 3);
    ck_assert_str_eq(got->s[0], "one");
    ck_assert_str_eq(got->s[1], "two");
    ck_assert_str_eq(got->s[2], "three");
    ck_assert_uint_eq(bp_framer_pending(&f), 4);
    ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
    ck_assert_int_eq(drain(&f, got), 0);
    ck_assert_str_eq(got->s[3], "four");
    lines_free(got);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_partial_drain_then_feed)
{
    /* One line taken out of several, then more bytes: the rest is kept in order. */
    bp_framer f;
    lines *got = lines_new();
    const char *line;
    size_t len;
    bp_framer_init(&f, 100);
    char *d = heap_bytes("a\nb\nc", 5);
    ck_assert_int_eq(bp_framer_feed(&f, d, 5), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 1);
    ck_assert_mem_eq(line, "a", 1);
    ck_assert_int_eq(bp_framer_feed(&f, "c\n", 2), 0);
    take_back(d, 5);
    ck_assert_int_eq(drain(&f, got), 0);
    ck_assert_uint_eq(got->n, 2);
    ck_assert_str_eq(got->s[0], "b");
    ck_assert_str_eq(got->s[1], "cc");
    lines_free(got);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_pending_counts)
{
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 100);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "ab\ncd\nef", 8), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 8); /* complete lines count until taken */
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(bp_framer_pending(&f), 5);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(bp_framer_pending(&f), 2);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 2);
    ck_assert_int_eq(bp_framer_feed(&f, "gh", 2), 0);
    ck_assert_uint_eq(bp_framer_pending(&f), 4);
    ck_assert_int_eq(bp_framer_feed(&f, "\n", 1), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_mem_eq(got, "efgh", 4);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
    bp_framer_free(&f);
    ck_assert_uint_eq(bp_framer_pending(&f), 0);
}
END_TEST

START_TEST(t_nul_bytes_pass_through)
{
    /* The framer is byte-transparent: NULs are just bytes. */
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 100);
    ck_assert_int_eq(bp_framer_feed(&f, "a\0b\n\0\n", 6), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(got, "a\0b", 3);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(got[0], 0);
    bp_framer_free(&f);
}
END_TEST

/* ---- allocation failure ---- */

static void assert_sticky_enomem(bp_framer *f)
{
    const char *line;
    size_t len;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(bp_framer_next(f, &line, &len), BP_ENOMEM);
        ck_assert_int_eq(bp_framer_feed(f, "o\n", 2), BP_ENOMEM);
    }
}

START_TEST(t_enomem_keeping_partial_line)
{
    /* next must copy the partial tail before the caller's bytes go away. */
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 100);
    ck_assert_int_eq(bp_framer_feed(&f, "x\nabc", 5), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    realloc_fail = 1;
    int rc = bp_framer_next(&f, &got, &len);
    realloc_fail = 0;
    ck_assert_int_eq(rc, BP_ENOMEM);
    assert_sticky_enomem(&f);
    bp_framer_free(&f);
}
END_TEST

START_TEST(t_enomem_growing_buffer)
{
    /* Buffered lines complete before a failed append are still handed out. */
    bp_framer f;
    const char *got;
    size_t len;
    bp_framer_init(&f, 65536);
    ck_assert_int_eq(bp_framer_feed(&f, "tw", 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 0); /* "tw" now buffered */
    ck_assert_int_eq(bp_framer_feed(&f, "o\nthree\n", 9), 0);
    char big[1000];
    memset(big, 'x', sizeof big);
    realloc_fail = 1;
    int rc = bp_framer_feed(&f, big, sizeof big); /* must grow */
    realloc_fail = 0;
    ck_assert_int_eq(rc, BP_ENOMEM);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(got, "two", 3);
    ck_assert_int_eq(bp_framer_next(&f, &got, &len), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(got, "three", 5);
    assert_sticky_enomem(&f);
    bp_framer_free(&f);
}
END_TEST

/* Regression: bp_frame.h says a
 * line handed out by bp_framer_next "stays valid until the next feed or free",
 * but a line that came out of the framer's own buffer is freed by a later
 * bp_framer_next that returns 0 ("drained: hold no memory while idle"), with no
 * feed in between. Input: feed "ab", next -> 0 (tail buffered), feed "c\n",
 * next -> 1 "abc" (points into f->buf), next -> 0: f->buf is freed and the
 * "abc" line dangles. Expected: the bytes stay valid until the next feed (or
 * the header says "until the next call"). */
START_TEST(t_bug_line_freed_by_next)
{
    bp_framer f;
    const char *line, *l2;
    size_t len, n2;
    bp_framer_init(&f, 100);
    ck_assert_int_eq(bp_framer_feed(&f, "ab", 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 0);
    ck_assert_int_eq(bp_framer_feed(&f, "c\n", 2), 0);
    ck_assert_int_eq(bp_framer_next(&f, &line, &len), 1);
    ck_assert_mem_eq(line, "abc", 3);
    free_watch = line;
    free_watched = 0;
    int rc = bp_framer_next(&f, &l2, &n2);
    free_watch = NULL;
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(!free_watched, "the line's bytes were freed by bp_framer_next");
    bp_framer_free(&f);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("lines");
    tcase_add_test(tc, t_fresh_framer);
    tcase_add_test(tc, t_single_line);
    tcase_add_test(tc, t_multiple_lines_one_feed);
    tcase_add_test(tc, t_lines_stay_valid_until_feed);
    tcase_add_test(tc, t_empty_lines);
    tcase_add_test(tc, t_crlf_keeps_cr);
    tcase_add_test(tc, t_partial_then_complete);
    tcase_add_test(tc, t_nul_bytes_pass_through);
    tcase_add_test(tc, t_pending_counts);
    suite_add_tcase(s, tc);

    tc = tcase_create("splits");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, t_byte_by_byte, 0, N_INPUTS);
    tcase_add_loop_test(tc, t_byte_by_byte_drain_at_end, 0, N_INPUTS);
    tcase_add_loop_test(tc, t_every_split_point, 0, N_INPUTS);
    tcase_add_test(tc, t_random_chunks);
    suite_add_tcase(s, tc);

    tc = tcase_create("limit");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_limit_exact_accepted);
    tcase_add_test(tc, t_limit_exact_byte_by_byte);
    tcase_add_test(tc, t_limit_over_terminated);
    tcase_add_test(tc, t_limit_over_unterminated);
    tcase_add_test(tc, t_limit_over_byte_by_byte);
    tcase_add_test(tc, t_limit_over_across_feeds);
    tcase_add_test(tc, t_limit_crlf_counts_cr);
    tcase_add_test(tc, t_limit_zero);
    tcase_add_test(tc, t_megabyte_without_newline_one_feed);
    tcase_add_test(tc, t_megabyte_without_newline_chunks);
    tcase_add_test(tc, t_megabyte_byte_by_byte);
    tcase_add_test(tc, t_lines_before_overrun_delivered);
    tcase_add_test(tc, t_lines_before_overrun_other_feed);
    tcase_add_test(tc, t_long_line_then_good_lines_not_delivered);
    suite_add_tcase(s, tc);

    tc = tcase_create("buffer");
    tcase_add_test(tc, t_reuse_after_drain);
    tcase_add_test(tc, t_reuse_with_partial_tail);
    tcase_add_test(tc, t_zero_copy_whole_lines);
    tcase_add_test(tc, t_idle_holds_no_buffer);
    tcase_add_test(tc, t_borrowed_until_next_returns_0);
    tcase_add_test(tc, t_borrowed_until_next_feed);
    tcase_add_test(tc, t_partial_drain_then_feed);
    tcase_add_test(tc, t_enomem_keeping_partial_line);
    tcase_add_test(tc, t_enomem_growing_buffer);
    suite_add_tcase(s, tc);
    tc = tcase_create("regressions");
    tcase_add_test(tc, t_bug_line_freed_by_next);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
