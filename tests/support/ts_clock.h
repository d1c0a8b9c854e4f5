/* ts_clock.h - the one monotonic clock of the test programs.
 *
 * CLOCK_MONOTONIC, so readings compare across processes (a forked party can
 * report when its call returned). Sleeps resume after a signal until the whole
 * time has passed.
 */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdint.h>

uint64_t ts_now_ns(void);
int64_t ts_now_ms(void);
double ts_now_s(void);

void ts_sleep_ms(int ms);
void ts_sleep_s(double s);

#endif
