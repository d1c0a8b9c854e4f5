/* bc_time.c - the one clock the library uses for deadlines. */
#include "bc_internal.h"

#include <time.h>

int64_t bc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BC__NS_PER_S + ts.tv_nsec;
}
