/* test_buf.c - Check suite for the growable buffer, JSON string escaping and the
 * UTF-8 validator (proto/bp_buf.h).
 *
 * bp_utf8_clean is checked against a table of named cases and, exhaustively for
 * every 1-, 2- and 3-byte input and a large sample of 4-byte ones, against an
 * independent reference written from the Unicode well-formedness table (Unicode
 * 15, table 3-7). realloc is wrapped at link time (-Wl,--wrap=realloc) to drive
 * the sticky oom flag.
 */
#include "bp_buf.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- realloc failure injection ---- */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
static int realloc_fail;

void *__wrap_realloc(void *p, size_t n)
{
    if (realloc_fail) return NULL;
    return __real_realloc(p, n);
}

/* ---- basics ---- */

START_TEST(t_init_empty)
{
    bp_buf b = BP_BUF_INIT;
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_int_eq(b.oom, 0);
    bp_buf_free(&b);
    bp_buf_free(&b);
    bp_buf_reset(&b); /* reset of an unallocated buffer is harmless */
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(t_append_puts)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_append(&b, "ab", 2);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_str_eq(b.data, "ab");
    bp_buf_puts(&b, "cde");
    ck_assert_uint_eq(b.len, 5);
    ck_assert_str_eq(b.data, "abcde");
    bp_buf_append(&b, "", 0);
    ck_assert_str_eq(b.data, "abcde");
    bp_buf_append(&b, "x\0y", 3); /* bytes, NULs included */
    ck_assert_uint_eq(b.len, 8);
    ck_assert_mem_eq(b.data, "abcdex\0y", 9);
    ck_assert_int_eq(b.oom, 0);
    bp_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(t_append_zero_allocates_terminator)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_append(&b, "", 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_append_growth)
{
    /* One byte at a time past several doublings, then one big append. */
    bp_buf b = BP_BUF_INIT;
    for (size_t i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        bp_buf_append(&b, &c, 1);
        ck_assert_uint_eq(b.len, i + 1);
        ck_assert_uint_gt(b.cap, b.len);
        ck_assert_int_eq(b.data[b.len], '\0');
    }
    for (size_t i = 0; i < 10000; i++)
        ck_assert_int_eq(b.data[i], 'a' + i % 26);
    char *big = malloc(1 << 20);
    memset(big, 'Z', 1 << 20);
    bp_buf_append(&b, big, 1 << 20);
    ck_assert_uint_eq(b.len, 10000 + (1 << 20));
    ck_assert_int_eq(b.data[10000], 'Z');
    ck_assert_int_eq(b.data[b.len - 1], 'Z');
    ck_assert_int_eq(b.data[b.len], '\0');
    free(big);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_printf_basic)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_printf(&b, "%s=%d", "x", 42);
    ck_assert_str_eq(b.data, "x=42");
    ck_assert_uint_eq(b.len, 4);
    bp_buf_printf(&b, "%s", "");
    ck_assert_str_eq(b.data, "x=42");
    ck_assert_uint_eq(b.len, 4);
    bp_buf_printf(&b, ",%05.1f,%c", 3.14159, 'q');
    ck_assert_str_eq(b.data, "x=42,003.1,q");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_printf_empty_on_fresh_buffer)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_printf(&b, "%s", "");
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.len, 0);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_printf_growth)
{
    /* Many small printfs crossing every growth step, and a single huge one;
     * compared with snprintf into a plain array. */
    bp_buf b = BP_BUF_INIT;
    static char want[200000];
    size_t wn = 0;
    for (int i = 0; i < 5000; i++) {
        bp_buf_printf(&b, "[%d:%s]", i, i % 3 ? "abc" : "");
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "[%d:%s]", i, i % 3 ? "abc" : "");
        ck_assert_uint_eq(b.len, wn);
    }
    ck_assert_mem_eq(b.data, want, wn);
    ck_assert_int_eq(b.data[b.len], '\0');
    bp_buf_reset(&b);

    char *big = malloc(100001);
    memset(big, 'p', 100000);
    big[100000] = '\0';
    bp_buf_printf(&b, "<%s>", big);
    ck_assert_uint_eq(b.len, 100002);
    ck_assert_int_eq(b.data[0], '<');
    ck_assert_int_eq(b.data[100000], 'p');
    ck_assert_int_eq(b.data[100001], '>');
    ck_assert_int_eq(b.data[100002], '\0');
    free(big);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_printf_exact_fit)
{
    /* A printf whose output fills the allocation exactly (len + n + 1 == cap). */
    for (size_t pre = 0; pre < 130; pre++) {
        bp_buf b = BP_BUF_INIT;
        for (size_t i = 0; i < pre; i++)
            bp_buf_append(&b, "a", 1);
        size_t room = 127 - (pre % 128);
        char fill[200];
        memset(fill, 'f', room);
        fill[room] = '\0';
        bp_buf_printf(&b, "%s", fill);
        ck_assert_uint_eq(b.len, pre + room);
        ck_assert_int_eq(b.data[b.len], '\0');
        bp_buf_printf(&b, "%d", 7);
        ck_assert_uint_eq(b.len, pre + room + 1);
        ck_assert_int_eq(b.data[b.len - 1], '7');
        ck_assert_int_eq(b.data[b.len], '\0');
        bp_buf_free(&b);
    }
}
END_TEST

static const struct {
    const char *name;
    uint64_t u;
    const char *want;
} u64_cases[] = {
    {"zero", 0, "0"},
    {"one", 1, "1"},
    {"2^53-1", 9007199254740991ull, "9007199254740991"},
    {"2^32", 4294967296ull, "4294967296"},
    {"max", UINT64_MAX, "18446744073709551615"},
};

START_TEST(t_u64)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_puts(&b, "x");
    bp_buf_u64(&b, u64_cases[_i].u);
    ck_assert_msg(strcmp(b.data + 1, u64_cases[_i].want) == 0, "%s: got %s", u64_cases[_i].name,
                  b.data + 1);
    bp_buf_free(&b);
}
END_TEST

static const struct {
    const char *name;
    int64_t v;
    const char *want;
} i64_cases[] = {
    {"zero", 0, "0"},
    {"minus one", -1, "-1"},
    {"max", INT64_MAX, "9223372036854775807"},
    {"min", INT64_MIN, "-9223372036854775808"},
    {"positive", 1500, "1500"},
};

START_TEST(t_i64)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_i64(&b, i64_cases[_i].v);
    ck_assert_msg(strcmp(b.data, i64_cases[_i].want) == 0, "%s: got %s", i64_cases[_i].name,
                  b.data);
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_reset_keeps_memory)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_puts(&b, "some text that is here");
    char *data = b.data;
    size_t cap = b.cap;
    bp_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_str_eq(b.data, "");
    bp_buf_puts(&b, "new");
    ck_assert_ptr_eq(b.data, data);
    ck_assert_str_eq(b.data, "new");
    bp_buf_free(&b);
}
END_TEST

START_TEST(t_take)
{
    bp_buf b = BP_BUF_INIT;
    size_t len = 99;
    ck_assert_ptr_null(bp_buf_take(&b, &len)); /* nothing yet */
    ck_assert_uint_eq(len, 0);
    bp_buf_puts(&b, "hello");
    char *d = bp_buf_take(&b, &len);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(d, "hello");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    bp_buf_puts(&b, "again"); /* the buffer is usable after a take */
    ck_assert_str_eq(b.data, "again");
    char *d2 = bp_buf_take(&b, NULL); /* len may be NULL */
    ck_assert_str_eq(d2, "again");
    ck_assert_ptr_ne(d, d2);
    free(d);
    free(d2);
    bp_buf_free(&b);
}
END_TEST

/* ---- oom ---- */

START_TEST(t_oom_sticky)
{
    bp_buf b = BP_BUF_INIT;
    bp_buf_puts(&b, "keep");
    char big[300];
    memset(big, 'x', sizeof big);
    realloc_fail = 1;
    bp_buf_append(&b, big, sizeof big); /* must grow past 128 */
    realloc_fail = 0;
    ck_assert_int_eq(b.oom, 1);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(b.data, "keep"); /* old contents kept */
    /* sticky: later appends are dropped even though memory is back, even small
     * ones that would fit, so the buffer never holds a message with a hole */
    bp_buf_append(&b, "a", 1);
    bp_buf_puts(&b, "b");
    bp_buf_printf(&b, "%d", 5);
    bp_buf_u64(&b, 1);
    bp_buf_i64(&b, -1);
    bp_buf_json_str(&b, "s", 1);
    ck_assert_int_eq(b.oom, 1);
    ck_assert_str_eq(b.data, "keep");
    ck_assert_uint_eq(b.len, 4);
    /* reset clears the flag */
    bp_buf_reset(&b);
    ck_assert_int_eq(b.oom, 0);
    bp_buf_append(&b, big, sizeof big);
    ck_assert_int_eq(b.oom, 0);
    ck_assert_uint_eq(b.len, sizeof big);
    bp_buf_free(&b);
    ck_assert_int_eq(b.oom, 0);
}
END_TEST

START_TEST(t_oom_first_alloc)
{
    bp_buf b = BP_BUF_INIT;
    realloc_fail = 1;
    bp_buf_printf(&b, "%s", "x");
    realloc_fail = 0;
    ck_assert_int_eq(b.oom, 1);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    bp_buf_free(&b);
    ck_assert_int_eq(b.oom, 0); /* free clears it too */
    bp_buf_puts(&b, "ok");
    ck_assert_str_eq(b.data, "ok");
    bp_buf_free(&b);
}
END_TEST

/* ---- JSON strings ---- */

static const struct {
    const char *name;
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *want;
} json_cases[] = {
    {"empty", "", 0, "\"\""},
    {"plain", "abc", 0, "\"abc\""},
    {"quote", "a\"b", 0, "\"a\\\"b\""},
    {"backslash", "a\\b", 0, "\"a\\\\b\""},
    {"only escapes", "\"\\\"", 0, "\"\\\"\\\\\\\"\""},
    {"newline", "a\nb", 0, "\"a\\nb\""},
    {"cr", "\r", 0, "\"\\r\""},
    {"tab", "\t", 0, "\"\\t\""},
    {"backspace", "\b", 0, "\"\\u0008\""},
    {"formfeed", "\f", 0, "\"\\u000c\""},
    {"soh", "\x01", 0, "\"\\u0001\""},
    {"unit sep", "\x1f", 0, "\"\\u001f\""},
    {"esc", "\x1b[0m", 0, "\"\\u001b[0m\""},
    {"del", "\x7f", 0, "\"\\u007f\""},
    {"nul inside", "a\0b", 3, "\"a\\u0000b\""},
    {"space", " ", 0, "\" \""},
    {"slash not escaped", "a/b", 0, "\"a/b\""},
    {"tilde", "~", 0, "\"~\""},
    {"2-byte utf8", "caf\xc3\xa9", 0, "\"caf\xc3\xa9\""},
    {"3-byte utf8", "\xe2\x82\xac", 0, "\"\xe2\x82\xac\""},
    {"4-byte utf8", "\xf0\x9f\x98\x80", 0, "\"\xf0\x9f\x98\x80\""},
    {"c1 passes", "\xc2\x85", 0, "\"\xc2\x85\""},
    {"mixed", "x\"\\\n\x01\xc3\xa9\x7f", 0, "\"x\\\"\\\\\\n\\u0001\xc3\xa9\\u007f\""},
    {"len shorter than string", "abcdef", 3, "\"abc\""},
    {"escape at end", "ab\n", 0, "\"ab\\n\""},
    {"escape at start", "\nab", 0, "\"\\nab\""},
};

/* Table tests check every case and fail once listing all mismatches (one fork
 * per table rather than per case, which matters under LeakSanitizer). */
START_TEST(t_json_str)
{
    char bad[4096] = "";
    for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
        const char *in = json_cases[i].in;
        size_t len = json_cases[i].len ? json_cases[i].len : strlen(in);
        bp_buf b = BP_BUF_INIT;
        bp_buf_puts(&b, "K"); /* appended after existing bytes */
        bp_buf_json_str(&b, in, len);
        if (strcmp(b.data + 1, json_cases[i].want) != 0 ||
            b.len != 1 + strlen(json_cases[i].want)) {
            size_t used = strlen(bad);
            snprintf(bad + used, sizeof bad - used, "%s: got %s want %s\n", json_cases[i].name,
                     b.data + 1, json_cases[i].want);
        }
        bp_buf_free(&b);
    }
    ck_assert_msg(bad[0] == '\0', "%s", bad);
}
END_TEST

/* bp_json_escaped_len is what bp_buf_json_str writes, quotes aside: every
 * byte value alone, and all of them in one string. */
START_TEST(t_json_escaped_len)
{
    char all[256];
    for (int c = 0; c < 256; c++) {
        char s[3] = {'a', (char)c, 'b'};
        all[c] = (char)c;
        bp_buf b = BP_BUF_INIT;
        bp_buf_json_str(&b, s, sizeof s);
        ck_assert_uint_eq(bp_json_escaped_len(s, sizeof s), b.len - 2);
        bp_buf_free(&b);
    }
    bp_buf b = BP_BUF_INIT;
    bp_buf_json_str(&b, all, sizeof all);
    ck_assert_uint_eq(bp_json_escaped_len(all, sizeof all), b.len - 2);
    ck_assert_uint_eq(bp_json_escaped_len("\x01", 1), 6);
    ck_assert_uint_eq(bp_json_escaped_len("", 0), 0);
    bp_buf_free(&b);
}
END_TEST

/* Every byte 0x01..0x7f alone, and inside text, comes back from cJSON as itself;
 * the output never holds a raw control character. (0x00 is covered above:
 * cJSON itself cuts strings at \u0000.) */
START_TEST(t_json_str_roundtrip_ascii)
{
    for (int c = 1; c < 0x80; c++) {
        char in[3] = {'a', (char)c, 'z'};
        bp_buf b = BP_BUF_INIT;
        bp_buf_json_str(&b, in, sizeof in);
        for (size_t i = 0; i < b.len; i++)
            ck_assert_msg((unsigned char)b.data[i] >= 0x20 && b.data[i] != 0x7f,
                          "byte 0x%02x: raw control in output", c);
        cJSON *j = cJSON_Parse(b.data);
        ck_assert_msg(cJSON_IsString(j), "byte 0x%02x: not a JSON string: %s", c, b.data);
        ck_assert_uint_eq(strlen(j->valuestring), 3);
        ck_assert_mem_eq(j->valuestring, in, 3);
        cJSON_Delete(j);
        bp_buf_free(&b);
    }
}
END_TEST

START_TEST(t_json_str_roundtrip_long)
{
    /* A long string mixing every kind of byte, through cJSON and back. */
    size_t n = 70000;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++) {
        switch (i % 9) {
        case 0:
            in[i] = '"';
            break;
        case 1:
            in[i] = '\\';
            break;
        case 2:
            in[i] = (char)(1 + i % 31);
            break;
        case 3:
            in[i] = (char)0xc3;
            break; /* with case 4: U+00E9 */
        case 4:
            in[i] = (char)0xa9;
            break;
        default:
            in[i] = (char)(' ' + i % 95);
            break;
        }
    }
    bp_buf b = BP_BUF_INIT;
    bp_buf_json_str(&b, in, n);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    ck_assert(cJSON_IsString(j));
    ck_assert_uint_eq(strlen(j->valuestring), n);
    ck_assert_mem_eq(j->valuestring, in, n);
    cJSON_Delete(j);
    bp_buf_free(&b);
    free(in);
}
END_TEST

/* ---- UTF-8 validation ---- */

static const struct {
    const char *name;
    const char *s;
    size_t len; /* 0: strlen(s) */
    int want;
} utf8_cases[] = {
    {"empty", "", 0, 1},
    {"ascii", "barrier-1.name_x", 0, 1},
    {"space", " ", 0, 1},
    {"tilde (0x7e)", "~", 0, 1},
    {"nul", "a\0b", 3, 0},
    {"soh", "\x01", 0, 0},
    {"tab", "a\tb", 0, 0},
    {"newline", "a\n", 0, 0},
    {"cr", "\r", 0, 0},
    {"unit sep 0x1f", "\x1f", 0, 0},
    {"del 0x7f", "a\x7f", 0, 0},
    {"U+0080 (c1, allowed)", "\xc2\x80", 0, 1},
    {"U+009F (c1, allowed)", "\xc2\x9f", 0, 1},
    {"U+00E9", "caf\xc3\xa9", 0, 1},
    {"U+07FF", "\xdf\xbf", 0, 1},
    {"U+0800", "\xe0\xa0\x80", 0, 1},
    {"U+20AC", "\xe2\x82\xac", 0, 1},
    {"U+D7FF", "\xed\x9f\xbf", 0, 1},
    {"U+E000", "\xee\x80\x80", 0, 1},
    {"U+FFFD", "\xef\xbf\xbd", 0, 1},
    {"U+FFFF", "\xef\xbf\xbf", 0, 1},
    {"U+10000", "\xf0\x90\x80\x80", 0, 1},
    {"U+1F600", "\xf0\x9f\x98\x80", 0, 1},
    {"U+10FFFF", "\xf4\x8f\xbf\xbf", 0, 1},
    {"mixed ok", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 0, 1},
    {"overlong 2 of nul", "\xc0\x80", 0, 0},
    {"overlong 2 of /", "\xc0\xaf", 0, 0},
    {"overlong 2 max (c1 bf)", "\xc1\xbf", 0, 0},
    {"overlong 3 of nul", "\xe0\x80\x80", 0, 0},
    {"overlong 3 max (U+07FF)", "\xe0\x9f\xbf", 0, 0},
    {"overlong 4 of nul", "\xf0\x80\x80\x80", 0, 0},
    {"overlong 4 max (U+FFFF)", "\xf0\x8f\xbf\xbf", 0, 0},
    {"surrogate D800", "\xed\xa0\x80", 0, 0},
    {"surrogate DBFF", "\xed\xaf\xbf", 0, 0},
    {"surrogate DC00", "\xed\xb0\x80", 0, 0},
    {"surrogate DFFF", "\xed\xbf\xbf", 0, 0},
    {"surrogate pair as cesu-8", "\xed\xa0\xbd\xed\xb8\x80", 0, 0},
    {"U+110000", "\xf4\x90\x80\x80", 0, 0},
    {"f5 lead", "\xf5\x80\x80\x80", 0, 0},
    {"f7 lead", "\xf7\xbf\xbf\xbf", 0, 0},
    {"f8 lead (5 bytes)", "\xf8\x88\x80\x80\x80", 0, 0},
    {"fc lead (6 bytes)", "\xfc\x84\x80\x80\x80\x80", 0, 0},
    {"fe", "\xfe", 0, 0},
    {"ff", "\xff", 0, 0},
    {"lone continuation 80", "\x80", 0, 0},
    {"lone continuation bf", "a\xbf", 0, 0},
    {"two continuations", "\x80\x80", 0, 0},
    {"truncated 2", "\xc3", 0, 0},
    {"truncated 3 after 1", "\xe2", 0, 0},
    {"truncated 3 after 2", "\xe2\x82", 0, 0},
    {"truncated 4 after 3", "\xf0\x9f\x98", 0, 0},
    {"truncated at end of text", "abc\xf0\x9f", 0, 0},
    {"truncated by len", "\xc3\xa9", 1, 0},
    {"truncated 4 by len", "\xf0\x9f\x98\x80", 3, 0},
    {"bad continuation 2", "\xc3\x28", 0, 0},
    {"bad continuation 3 (2nd)", "\xe2\x28\xa1", 0, 0},
    {"bad continuation 3 (3rd)", "\xe2\x82\x28", 0, 0},
    {"bad continuation 4 (3rd)", "\xf0\x9f\x28\x80", 0, 0},
    {"bad continuation 4 (4th)", "\xf0\x9f\x98\x28", 0, 0},
    {"continuation is a lead", "\xc3\xc3\xa9", 0, 0},
    {"latin-1 not utf8", "caf\xe9", 0, 0},
    {"valid before invalid", "ok\xc3\xa9\xff", 0, 0},
    {"len stops before bad byte", "ok\xff", 2, 1},
};

START_TEST(t_utf8_clean)
{
    char bad[4096] = "";
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const char *s = utf8_cases[i].s;
        size_t len = utf8_cases[i].len ? utf8_cases[i].len : strlen(s);
        if (bp_utf8_clean(s, len) != utf8_cases[i].want) {
            size_t used = strlen(bad);
            snprintf(bad + used, sizeof bad - used, "%s: got %d, want %d\n", utf8_cases[i].name,
                     !utf8_cases[i].want, utf8_cases[i].want);
        }
    }
    ck_assert_msg(bad[0] == '\0', "%s", bad);
}
END_TEST

/* Reference: one well-formed sequence at p (Unicode table 3-7), length or 0. */
static size_t ref_seq(const unsigned char *p, size_t n)
{
    unsigned b0 = p[0];
    if (b0 <= 0x7f) return b0 >= 0x20 && b0 != 0x7f ? 1 : 0;
    unsigned lo = 0x80, hi = 0xbf;
    size_t len;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        len = 3;
        if (b0 == 0xe0) lo = 0xa0;
        if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        len = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
}

static int ref_clean(const unsigned char *p, size_t n)
{
    while (n) {
        size_t k = ref_seq(p, n);
        if (!k) return 0;
        p += k;
        n -= k;
    }
    return 1;
}

START_TEST(t_utf8_exhaustive_short)
{
    /* every input of 1, 2 and 3 bytes */
    unsigned char s[3];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        ck_assert_msg(bp_utf8_clean((char *)s, 1) == ref_clean(s, 1), "%02x", a);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            ck_assert_msg(bp_utf8_clean((char *)s, 2) == ref_clean(s, 2), "%02x %02x", a, b);
            for (unsigned c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                if (bp_utf8_clean((char *)s, 3) != ref_clean(s, 3))
                    ck_abort_msg("%02x %02x %02x: got %d", a, b, c, !ref_clean(s, 3));
            }
        }
    }
}
END_TEST

START_TEST(t_utf8_exhaustive_four)
{
    /* every 4-byte input whose first byte is f0..f7 (the 4-byte leads and the
     * ones just past U+10FFFF), with the last byte sampled */
    static const unsigned char last[] = {0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    unsigned char s[4];
    for (unsigned a = 0xf0; a <= 0xf7; a++)
        for (unsigned b = 0; b < 256; b++)
            for (unsigned c = 0; c < 256; c++)
                for (size_t k = 0; k < sizeof last; k++) {
                    s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = (unsigned char)c;
                    s[3] = last[k];
                    if (bp_utf8_clean((char *)s, 4) != ref_clean(s, 4))
                        ck_abort_msg("%02x %02x %02x %02x: got %d", a, b, c, s[3],
                                     !ref_clean(s, 4));
                }
}
END_TEST

START_TEST(t_utf8_every_code_point)
{
    /* every scalar value, encoded by the book, is accepted unless it is C0 or DEL;
     * every surrogate, encoded the same way, is refused */
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        unsigned char s[4];
        size_t n;
        if (cp < 0x80) {
            s[0] = (unsigned char)cp, n = 1;
        } else if (cp < 0x800) {
            s[0] = (unsigned char)(0xc0 | cp >> 6), s[1] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            s[0] = (unsigned char)(0xe0 | cp >> 12);
            s[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            s[2] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            s[0] = (unsigned char)(0xf0 | cp >> 18);
            s[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
            s[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
            s[3] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 4;
        }
        int want = !(cp < 0x20 || cp == 0x7f || (cp >= 0xd800 && cp <= 0xdfff));
        if (bp_utf8_clean((char *)s, n) != want) ck_abort_msg("U+%04" PRIX32 ": got %d", cp, !want);
    }
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buffer");
    tcase_add_test(tc, t_init_empty);
    tcase_add_test(tc, t_append_puts);
    tcase_add_test(tc, t_append_zero_allocates_terminator);
    tcase_add_test(tc, t_append_growth);
    tcase_add_test(tc, t_printf_basic);
    tcase_add_test(tc, t_printf_empty_on_fresh_buffer);
    tcase_add_test(tc, t_printf_growth);
    tcase_add_test(tc, t_printf_exact_fit);
    tcase_add_loop_test(tc, t_u64, 0, sizeof u64_cases / sizeof u64_cases[0]);
    tcase_add_loop_test(tc, t_i64, 0, sizeof i64_cases / sizeof i64_cases[0]);
    tcase_add_test(tc, t_reset_keeps_memory);
    tcase_add_test(tc, t_take);
    tcase_add_test(tc, t_oom_sticky);
    tcase_add_test(tc, t_oom_first_alloc);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_str");
    tcase_add_test(tc, t_json_str);
    tcase_add_test(tc, t_json_str_roundtrip_ascii);
    tcase_add_test(tc, t_json_str_roundtrip_long);
    tcase_add_test(tc, t_json_escaped_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_set_timeout(tc, 100);
    tcase_add_test(tc, t_utf8_clean);
    tcase_add_test(tc, t_utf8_exhaustive_short);
    tcase_add_test(tc, t_utf8_exhaustive_four);
    tcase_add_test(tc, t_utf8_every_code_point);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(buf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
