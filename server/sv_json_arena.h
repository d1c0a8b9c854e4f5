/* sv_json_arena.h - cJSON's allocator in barrierd: a bump arena reset per request.
 *
 * Decoding a request builds a small cJSON tree that lives only until the decode
 * returns. Serving those nodes from one reusable arena takes the ~10 malloc/free
 * pairs per request off the hot path. Anything that does not fit falls back to
 * malloc, so no request is refused for the arena's size. The server is single
 * threaded, and cJSON is used nowhere else in it, so a process-wide hook is safe.
 */
#ifndef SV_JSON_ARENA_H
#define SV_JSON_ARENA_H

/* Route cJSON's allocations through the arena (once, at start-up). */
void sv__json_arena_install(void);
/* Forget everything allocated: call only when no cJSON tree is alive. */
void sv__json_arena_reset(void);

#endif
