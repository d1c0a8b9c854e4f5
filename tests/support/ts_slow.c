/* ts_slow.c - see ts_slow.h. */
#include "ts_slow.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif
#ifndef TS_ASAN
#define TS_ASAN 0
#endif

int ts_asan(void)
{
    return TS_ASAN;
}

double ts_slow(void)
{
    const char *e = getenv("BARRIERD_SLOW");
    if ((e && *e && strcmp(e, "0") != 0) || TS_ASAN)
        return 10;
    return 1;
}
