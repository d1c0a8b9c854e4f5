/* ts_run.h - one way to run a Check suite, and to skip a case.
 *
 * Each case is one TCase; ctest runs one case per test with CK_RUN_CASE=NAME
 * (no CK_RUN_CASE: all of them). When $TS_CASES lists the names ctest knows
 * (comma-separated, set by tests/CMakeLists.txt), a case missing on either
 * side fails the run, so no case is left unregistered.
 *
 * A case that cannot run here calls ts_skip and returns: ctest then shows it
 * as skipped (exit TS_SKIP_CODE = SKIP_RETURN_CODE), never as passed.
 */
#ifndef TS_RUN_H
#define TS_RUN_H

#include <check.h>
#include <stddef.h>

#define TS_SKIP_CODE 77

typedef struct ts_case {
    const char *name;   /* the TCase name: CK_RUN_CASE selects it */
    const TTest *test;
    int loops;          /* 0: a plain test; n > 0: a loop test, _i = 0..n-1 */
} ts_case;

typedef struct ts_suite {
    const char *name;
    const ts_case *cases;
    size_t n;
    void (*setup)(void);    /* checked fixture around every case (may be NULL) */
    void (*teardown)(void);
    void (*cleanup)(void);  /* after the cases, in the runner process (may be NULL) */
    int timeout_s;          /* per case unless $CK_DEFAULT_TIMEOUT says; 0: 60 */
} ts_suite;

#define TS_NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* Run it (CK_ENV, so cases fork); the exit status for main: 0, 1, or
 * TS_SKIP_CODE when the only case run called ts_skip. */
int ts_run(const ts_suite *suite);
/* ts_run with no fixture. */
int ts_run_cases(const char *name, const ts_case *cases, size_t n);

/* Say why this case cannot run here; the case then returns without failing. */
void ts_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 1 if a socket can bind [::1] here. */
int ts_have_ipv6_loopback(void);

#endif
