/* br_heap.h - a binary min-heap of waiters ordered by deadline. Internal to the
 * registry: one structure holds every deadline, so the server arms one timer. */
#ifndef BR_HEAP_H
#define BR_HEAP_H

#include "br_registry.h"

typedef struct br__heap {
    br_waiter **items;
    size_t len, cap;
} br__heap;

int br__heap_push(br__heap *h, br_waiter *w); /* 0 or BP_ENOMEM */
void br__heap_remove(br__heap *h, br_waiter *w); /* no-op if w is not in it */
br_waiter *br__heap_top(const br__heap *h);
void br__heap_free(br__heap *h);

#endif
