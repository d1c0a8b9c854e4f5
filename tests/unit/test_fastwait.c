/* test_fastwait.c - Check suite for the hot-wait decoder (proto/bp_decode_fast.c).
 *
 * - The shapes barrierctl, the library and nc users send are taken by the fast
 *   decoder (so the hot path really is the fast one), and decode exactly as the
 *   general decoder decodes them.
 * - Every line it must not take (escapes, non-ASCII, numbers that are not plain
 *   integers, values out of range, unknown or repeated fields, other ops,
 *   broken JSON) it leaves to the general decoder, whose answer (a request or
 *   an error) bp_request_decode then gives.
 * Lines are decoded from exactly-sized heap copies, so ASan sees any overread.
 */
#include "bp_decode_fast.h"
#include "bp_error.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char *copy(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, n);
    return p;
}

static const char *const taken[] = {
    "{\"op\":\"wait\",\"id\":1,\"barrier\":\"b\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2}",
    "{\"op\":\"wait\",\"id\":9007199254740991,\"barrier\":\"b\",\"parties\":1000000,"
    "\"timeout_ms\":31536000000000}",
    " { \"parties\" : 3 , \"barrier\" : \"tellers\" , \"op\" : \"wait\" , \"action\" : true ,"
    " \"client\" : \"teller-1\" } \r\n",
    "{\"op\":\"wait\",\"id\":0,\"barrier\":\"b\",\"parties\":2,\"action\":false,\"timeout_ms\":0,"
    "\"client\":\"\"}",
};

static const char *const left[] = {
    "{\"op\":\"wait\",\"id\":9007199254740992,\"barrier\":\"b\",\"parties\":3}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":0}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":1000001}",
    "{\"op\":\"wait\",\"barrier\":\"\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\\u0041\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":02}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2.0}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2e0}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":-2}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"parties\":3}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2}x",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"resume\":true}",
    "{\"op\":\"wait\",\"barrier\":\"b\xc3\xa9\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\x7f\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"action\":1}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"timeout_ms\":31536000000001}",
    "{\"op\":\"wait\",\"barrier\":\"b\"}",
    "{\"op\":\"wait\",\"parties\":2}",
    "{\"barrier\":\"b\",\"parties\":2}",
    "{\"op\":\"status\",\"barrier\":\"b\"}",
    "{\"op\":\"waits\",\"barrier\":\"b\",\"parties\":2}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2,\"token\":\"s\"}",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2",
    "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2}{}",
    "\f{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":2}",
    "[\"op\",\"wait\"]",
    "",
};

START_TEST(t_taken)
{
    char *line = copy(taken[_i]);
    size_t len = strlen(taken[_i]);
    bp_request fast, slow;
    bp_decode_error err;
    ck_assert_msg(bp__decode_wait_fast(line, len, BP_PARTIES_MAX, &fast) == 1,
                  "fast decoder left %s", taken[_i]);
    ck_assert_int_eq(bp__request_decode_json(line, len, BP_PARTIES_MAX, &slow, &err), 0);
    ck_assert_msg(memcmp(&fast, &slow, sizeof fast) == 0, "decoded differently: %s", taken[_i]);
    ck_assert_int_eq(fast.op, BP_OP_WAIT);
    free(line);
}
END_TEST

START_TEST(t_left)
{
    char *line = copy(left[_i]);
    size_t len = strlen(left[_i]);
    bp_request fast, a, b;
    bp_decode_error ea, eb;
    ck_assert_msg(bp__decode_wait_fast(line, len, BP_PARTIES_MAX, &fast) == 0,
                  "fast decoder took %s", left[_i]);
    /* bp_request_decode answers exactly as the general decoder does. */
    int ra = bp_request_decode(line, len, 0, &a, &ea);
    int rb = bp__request_decode_json(line, len, BP_PARTIES_MAX, &b, &eb);
    ck_assert_int_eq(ra, rb);
    ck_assert(memcmp(&a, &b, sizeof a) == 0);
    ck_assert_str_eq(ea.message, eb.message);
    free(line);
}
END_TEST

/* The barrier's own --max-parties bounds the fast decoder too. */
START_TEST(t_max_parties)
{
    const char *s = "{\"op\":\"wait\",\"barrier\":\"b\",\"parties\":4}";
    bp_request r;
    bp_decode_error err;
    ck_assert_int_eq(bp__decode_wait_fast(s, strlen(s), 3, &r), 0);
    ck_assert_int_eq(bp_request_decode(s, strlen(s), 3, &r, &err), BP_EINVAL);
    ck_assert_int_eq(bp__decode_wait_fast(s, strlen(s), 4, &r), 1);
    ck_assert_uint_eq(r.parties, 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fastwait");
    TCase *tc = tcase_create("fastwait");
    tcase_add_loop_test(tc, t_taken, 0, (int)(sizeof taken / sizeof *taken));
    tcase_add_loop_test(tc, t_left, 0, (int)(sizeof left / sizeof *left));
    tcase_add_test(tc, t_max_parties);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
