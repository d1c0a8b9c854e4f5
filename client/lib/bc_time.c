/* bc_time.c - the one clock the library uses for deadlines. */
#include "bc_internal.h"

#include <time.h>

int64_t bc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BC__NS_PER_S + ts.tv_nsec;
}

int bc__poll_ms(int64_t deadline_ns)
{
    int64_t left = deadline_ns - bc__now_ns();
    if (left <= 0) return 0;
    return left >= 1000 * 1000000ll ? 1000 : (int)((left + 999999) / 1000000);
}
