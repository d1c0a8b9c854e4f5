/* br_heap.c - deadline min-heap; each waiter remembers its slot for O(log n) removal. */
#include "br_heap.h"

#include "bp_error.h"

#include <assert.h>
#include <stdlib.h>

static void heap_set(br__heap *h, size_t i, br_waiter *w)
{
    h->items[i] = w;
    w->heap_pos = i;
}

static void heap_up(br__heap *h, size_t i)
{
    br_waiter *w = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline_ms <= w->deadline_ms)
            break;
        heap_set(h, i, h->items[parent]);
        i = parent;
    }
    heap_set(h, i, w);
}

static void heap_down(br__heap *h, size_t i)
{
    br_waiter *w = h->items[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->items[c + 1]->deadline_ms < h->items[c]->deadline_ms)
            c++;
        if (w->deadline_ms <= h->items[c]->deadline_ms)
            break;
        heap_set(h, i, h->items[c]);
        i = c;
    }
    heap_set(h, i, w);
}

int br__heap_push(br__heap *h, br_waiter *w)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        br_waiter **ni = realloc(h->items, cap * sizeof *ni);
        if (!ni)
            return BP_ENOMEM;
        h->items = ni;
        h->cap = cap;
    }
    h->items[h->len] = w;
    heap_up(h, h->len++);
    return 0;
}

void br__heap_remove(br__heap *h, br_waiter *w)
{
    size_t i = w->heap_pos;
    if (i == BR_NOT_IN_HEAP)
        return; /* never scheduled (no timeout), or already removed */
    assert(i < h->len && h->items[i] == w); /* a slot that does not match: corruption */
    if (i >= h->len || h->items[i] != w)
        return;
    w->heap_pos = BR_NOT_IN_HEAP;
    br_waiter *last = h->items[--h->len];
    if (i == h->len)
        return;
    heap_set(h, i, last);
    heap_up(h, i);
    heap_down(h, last->heap_pos);
}

br_waiter *br__heap_top(const br__heap *h)
{
    return h->len ? h->items[0] : NULL;
}

void br__heap_free(br__heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
