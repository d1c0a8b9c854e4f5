/* bc_time.c - the one clock the library uses for deadlines, and its dice. */
#include "bc_internal.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

void bc__rand_seed(bc_client *c)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)bc__now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    c->rng = seed;
}

/* splitmix64: fast, and every seed gives a full-period stream. */
uint64_t bc__rand(bc_client *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
