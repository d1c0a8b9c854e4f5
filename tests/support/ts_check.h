/* ts_check.h - the launcher for Check tests: every start and every clean stop
 * is asserted, so a server that does not come up fails the test (its log is
 * on stderr). */
#ifndef TS_CHECK_H
#define TS_CHECK_H

#include "ts_launch.h"

/* Start it with the extra arguments (a NULL-terminated list), or fail. */
void ts_server_up(ts_server *s, ...) __attribute__((sentinel));
/* The same with an array (NULL, or NULL-terminated). */
void ts_server_upv(ts_server *s, const char *const *extra);
/* ts_server_restart, or fail; a running server must first exit 0 on SIGTERM. */
void ts_server_restart_up(ts_server *s);
/* ts_server_cleanup; a server that was still running must exit 0 on SIGTERM
 * (under valgrind: no error, no leak), or the test fails. The last call of a
 * passing test. */
void ts_server_down(ts_server *s);

#endif
