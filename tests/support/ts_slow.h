/* ts_slow.h - how much slower than usual barrierd runs here.
 *
 * 1 normally; 10 when $BARRIERD_SLOW is set (barrierd under valgrind) or the
 * tests are built with AddressSanitizer. Multiply time bounds by it.
 */
#ifndef TS_SLOW_H
#define TS_SLOW_H

double ts_slow(void);
/* 1 when built with AddressSanitizer. */
int ts_asan(void);

#endif
