/* sv_json_arena.h - cJSON's allocator in barrierd: a bump arena reset per request.
 *
 * Decoding a request builds a small cJSON tree that lives only until the decode
 * returns. Serving those nodes from one reusable arena takes the ~10 malloc/free
 * pairs per request off the hot path. Anything that does not fit falls back to
 * malloc, so no request is refused for the arena's size. The server is single
 * threaded; outside begin/end (HA's etcd messages) cJSON gets the heap, and
 * arena_free tells the two apart by address.
 */
#ifndef SV_JSON_ARENA_H
#define SV_JSON_ARENA_H

/* Route cJSON's allocations through the arena (once, at start-up). */
void sv__json_arena_install(void);
/* Serve cJSON from the arena until sv__json_arena_end, which forgets everything
 * allocated: no tree made in between may outlive it. */
void sv__json_arena_begin(void);
void sv__json_arena_end(void);

#endif
