/* ts_run.c - see ts_run.h. */
#include "ts_run.h"

#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Cases run in forked children (CK_FORK), so a skip is told to the runner
 * through a marker file. */
static char skip_marker[64];

void ts_skip(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "SKIP: %s\n", msg);
    fflush(stderr);
    if (skip_marker[0]) {
        int fd = open(skip_marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
}

/* 1 if name is an item of the comma-separated list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Every case of the code is known to ctest and every one ctest knows is here. */
static int registered_alike(const ts_suite *s)
{
    const char *list = getenv("TS_CASES");
    if (!list)
        return 1;
    int ok = 1;
    for (size_t i = 0; i < s->n; i++)
        if (!listed(list, s->cases[i].name)) {
            fprintf(stderr, "%s: case '%s' is not registered with ctest (tests/*/CMakeLists.txt)\n",
                    s->name, s->cases[i].name);
            ok = 0;
        }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < s->n && !(strlen(s->cases[i].name) == len && !strncmp(p, s->cases[i].name, len)))
            i++;
        if (i == s->n) {
            fprintf(stderr, "%s: ctest names a case '%.*s' that is not in the program\n", s->name,
                    (int)len, p);
            ok = 0;
        }
        p += len + (p[len] == ',');
    }
    return ok;
}

static Suite *build(const ts_suite *s)
{
    const char *env_timeout = getenv("CK_DEFAULT_TIMEOUT");
    Suite *suite = suite_create(s->name);
    for (size_t i = 0; i < s->n; i++) {
        const ts_case *c = &s->cases[i];
        TCase *tc = tcase_create(c->name);
        if (!env_timeout || !*env_timeout)
            tcase_set_timeout(tc, s->timeout_s > 0 ? s->timeout_s : 60);
        if (s->setup || s->teardown)
            tcase_add_checked_fixture(tc, s->setup, s->teardown);
        if (c->loops > 0)
            tcase_add_loop_test(tc, c->test, 0, c->loops);
        else
            tcase_add_test(tc, c->test);
        suite_add_tcase(suite, tc);
    }
    return suite;
}

int ts_run(const ts_suite *s)
{
    signal(SIGPIPE, SIG_IGN);
    if (!registered_alike(s))
        return EXIT_FAILURE;
    const char *only = getenv("CK_RUN_CASE");
    if (only && !*only)
        only = NULL;
    size_t i = 0;
    while (only && i < s->n && strcmp(only, s->cases[i].name) != 0)
        i++;
    if (only && i == s->n) {
        fprintf(stderr, "%s: no case named '%s'\n", s->name, only);
        return EXIT_FAILURE;
    }
    Suite *suite = build(s);
    snprintf(skip_marker, sizeof skip_marker, "/tmp/ts-skip-%ld", (long)getpid());
    unlink(skip_marker);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    int run = srunner_ntests_run(sr);
    srunner_free(sr);
    if (s->cleanup)
        s->cleanup();
    int skipped = access(skip_marker, F_OK) == 0;
    unlink(skip_marker);
    if (run == 0) {
        fprintf(stderr, "%s: no test ran\n", s->name);
        return EXIT_FAILURE;
    }
    if (failed)
        return EXIT_FAILURE;
    return skipped && only ? TS_SKIP_CODE : EXIT_SUCCESS;
}

int ts_run_cases(const char *name, const ts_case *cases, size_t n)
{
    const ts_suite s = {.name = name, .cases = cases, .n = n};
    return ts_run(&s);
}
