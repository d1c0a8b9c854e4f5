/* sv_json_arena.c - bump allocator behind cJSON; see sv_json_arena.h. */
#include "sv_json_arena.h"

#include <cjson/cJSON.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SV_ARENA_SIZE (64u << 10) /* a wait request's tree needs well under 1 KiB */

static alignas(max_align_t) unsigned char arena[SV_ARENA_SIZE];
static size_t arena_used;
static int arena_on; /* between begin and end: a request is being decoded */

static void *arena_malloc(size_t n)
{
    if (!arena_on)
        return malloc(n);
    size_t at = (arena_used + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (n <= SV_ARENA_SIZE && at <= SV_ARENA_SIZE - n) {
        arena_used = at + n;
        return arena + at;
    }
    return malloc(n); /* a huge request: the heap, freed by arena_free */
}

static void arena_free(void *p)
{
    if ((unsigned char *)p >= arena && (unsigned char *)p < arena + SV_ARENA_SIZE)
        return; /* reclaimed all at once by the next reset */
    free(p);
}

void sv__json_arena_install(void)
{
    cJSON_Hooks hooks = {arena_malloc, arena_free};
    cJSON_InitHooks(&hooks);
}

void sv__json_arena_begin(void)
{
    arena_on = 1;
}

void sv__json_arena_end(void)
{
    arena_on = 0;
    arena_used = 0;
}
