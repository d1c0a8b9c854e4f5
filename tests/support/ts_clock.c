/* ts_clock.c - see ts_clock.h. */
#include "ts_clock.h"

#include <errno.h>
#include <time.h>

uint64_t ts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t ts_now_ms(void)
{
    return (int64_t)(ts_now_ns() / 1000000u);
}

double ts_now_s(void)
{
    return (double)ts_now_ns() / 1e9;
}

void ts_sleep_s(double s)
{
    if (!(s > 0))
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void ts_sleep_ms(int ms)
{
    ts_sleep_s(ms / 1000.0);
}
