/* br_member.c - member names and member lists (docs/semantics.md, "Rendezvous").
 *
 * A wait may name its member; the name is unique among the waits a barrier
 * holds (its current generation and those queued behind a running action).
 * A barrier created with a member list admits only those names. Both lookups
 * are hashed, so an arrival costs O(1) beyond reading its own request; the
 * missing members are listed only when a status or a break message asks.
 */
#include "br_barrier.h"

#include "bp_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Missing members named in a break message before "and N more". */
#define BR_MISSING_NAMES 8

void br__say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    if (n >= (int)cap) msg[bp_utf8_cut(msg, cap - 1)] = '\0';
}
#define say br__say

br_rdv *br__rdv_get(br_barrier *b)
{
    if (!b->rdv) b->rdv = calloc(1, sizeof *b->rdv);
    return b->rdv;
}

void br__rdv_free(br_barrier *b)
{
    br_rdv *d = b->rdv;
    if (!d) return;
    free(d->names);
    free(d->list);
    free(d->slots);
    free(d->held);
    free(d->result);
    free(d);
    b->rdv = NULL;
}

/* ---- the member list ---- */

/* Index of name in the list, or -1. */
static long list_find(const br_registry *r, const br_rdv *d, const char *name, size_t len)
{
    if (!d->slots) return -1;
    size_t i = br__hash(r->seed, name, len) & d->slot_mask;
    for (unsigned s; (s = d->slots[i]); i = (i + 1) & d->slot_mask) {
        const char *n = d->list[s - 1];
        if (strlen(n) == len && memcmp(n, name, len) == 0) return (long)s - 1;
    }
    return -1;
}

/* Give b the list of w (n >= 1 names). 0, BP_EINVAL (a name twice), BP_ENOMEM. */
static int list_install(br_registry *r, br_barrier *b, const br_waiter *w, char *msg, size_t cap)
{
    br_rdv *d = br__rdv_get(b);
    size_t bytes = 0;
    const char *p = w->members;
    for (unsigned i = 0; i < w->n_members; i++) {
        size_t n = strlen(p) + 1;
        bytes += n;
        p += n;
    }
    size_t nslots = 4;
    while (nslots < (size_t)w->n_members * 2)
        nslots *= 2;
    if (!d || !(d->names = malloc(bytes)) || !(d->list = malloc(w->n_members * sizeof *d->list)) ||
        !(d->slots = calloc(nslots, sizeof *d->slots))) {
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    memcpy(d->names, w->members, bytes);
    d->slot_mask = nslots - 1;
    p = d->names;
    for (unsigned i = 0; i < w->n_members; i++) {
        size_t len = strlen(p);
        if (list_find(r, d, p, len) >= 0) {
            say(msg, cap, "member '%s' is listed twice", p);
            return BP_EINVAL;
        }
        d->list[i] = p;
        d->n_list = i + 1;
        size_t k = br__hash(r->seed, p, len) & d->slot_mask;
        while (d->slots[k])
            k = (k + 1) & d->slot_mask;
        d->slots[k] = i + 1;
        p += len + 1;
    }
    return 0;
}

/* Forget the list (not the names held), after a list_install that failed or
 * did not fit. */
static void list_drop(br_rdv *d)
{
    free(d->names);
    free(d->list);
    free(d->slots);
    d->names = NULL;
    d->list = NULL;
    d->slots = NULL;
    d->n_list = 0;
    d->slot_mask = 0;
}

/* 1 if w's list can be given to b, which exists without one: every wait b
 * holds (this generation and those queued) names a member, and all of them
 * are on the list. Whoever comes first, a party with the list or one with
 * only its name, the barrier ends up the same (docs/semantics.md). The list
 * is installed to check, and dropped again when it does not fit: 1 adopted,
 * 0 not, or < 0 (BP_ENOMEM, BP_EINVAL) with msg set. */
static int list_adopt(br_registry *r, br_barrier *b, const br_waiter *w, char *msg, size_t cap)
{
    int rc = list_install(r, b, w, msg, cap);
    br_rdv *d = b->rdv;
    if (rc < 0) {
        if (d) list_drop(d);
        return rc;
    }
    int fits = 1;
    for (unsigned i = 0; fits && i < b->n_waiting + b->n_pending; i++) {
        const br_waiter *h = i < b->n_waiting ? b->waiters[i] : b->pending[i - b->n_waiting];
        fits = h->member && list_find(r, d, h->member, h->member_len) >= 0;
    }
    if (!fits) list_drop(d);
    return fits;
}

/* 1 if w's list names the same members as b's, in any order. */
static int list_same(const br_registry *r, const br_rdv *d, const br_waiter *w)
{
    if (!d || d->n_list != w->n_members) return 0;
    unsigned char *seen = calloc(d->n_list, 1);
    if (!seen) return 0;
    int same = 1;
    const char *p = w->members;
    for (unsigned i = 0; i < w->n_members && same; i++) {
        size_t len = strlen(p);
        long at = list_find(r, d, p, len);
        same = at >= 0 && !seen[at];
        if (same) seen[at] = 1;
        p += len + 1;
    }
    free(seen);
    return same;
}

int br__member_admit(br_registry *r, br_barrier *b, const br_waiter *w, int b_new, char *msg,
                     size_t cap)
{
    br_rdv *d = b->rdv;
    if (w->n_members && b_new) {
        int rc = list_install(r, b, w, msg, cap);
        if (rc < 0) {
            br__rdv_free(b); /* the barrier goes on without a list */
            return rc;
        }
        d = b->rdv;
    } else if (w->n_members && (!d || !d->n_list)) {
        int rc = list_adopt(r, b, w, msg, cap);
        if (rc < 0) return rc;
        if (!rc) {
            say(msg, cap,
                "barrier '%s' exists without a member list, holding waits that are not on "
                "this one",
                b->name);
            return BP_EPARTIES;
        }
        d = b->rdv;
    } else if (w->n_members && !list_same(r, d, w)) {
        if (d && d->n_list)
            say(msg, cap, "barrier '%s' has another member list (%u names)", b->name, d->n_list);
        else
            say(msg, cap, "barrier '%s' exists without a member list", b->name);
        return BP_EPARTIES;
    }
    if (!d || !d->n_list) return 0;
    if (!w->member) {
        say(msg, cap, "barrier '%s' admits only its members; this wait names none", b->name);
        return BP_EMEMBER;
    }
    if (list_find(r, d, w->member, w->member_len) < 0) {
        say(msg, cap, "'%.*s' is not a member of barrier '%s'", (int)w->member_len, w->member,
            b->name);
        return BP_EMEMBER;
    }
    return 0;
}

/* ---- the member names held ---- */

static br_waiter **held_chain(const br_registry *r, const br_rdv *d, const char *name, size_t len)
{
    return &d->held[br__hash(r->seed, name, len) & d->held_mask];
}

static br_waiter *held_find(const br_registry *r, const br_rdv *d, const char *name, size_t len)
{
    if (!d || !d->held) return NULL;
    for (br_waiter *h = *held_chain(r, d, name, len); h; h = h->member_next)
        if (h->member_len == len && memcmp(h->member, name, len) == 0) return h;
    return NULL;
}

static int held_grow(const br_registry *r, br_rdv *d)
{
    size_t n = d->held ? (d->held_mask + 1) * 2 : 16;
    br_waiter **nb = calloc(n, sizeof *nb);
    if (!nb) return BP_ENOMEM;
    br_waiter **old = d->held;
    size_t old_n = old ? d->held_mask + 1 : 0;
    d->held = nb;
    d->held_mask = n - 1;
    for (size_t i = 0; i < old_n; i++) {
        br_waiter *h = old[i];
        while (h) {
            br_waiter *next = h->member_next;
            br_waiter **c = held_chain(r, d, h->member, h->member_len);
            h->member_next = *c;
            *c = h;
            h = next;
        }
    }
    free(old);
    return 0;
}

int br__member_hold(br_registry *r, br_barrier *b, br_waiter *w, char *msg, size_t cap)
{
    w->member_next = NULL;
    if (!w->member) return 0;
    br_rdv *d = br__rdv_get(b);
    if (!d) {
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    const br_waiter *h = held_find(r, d, w->member, w->member_len);
    if (h) {
        say(msg, cap, "member '%.*s' is already waiting at barrier '%s' (%s)", (int)w->member_len,
            w->member, b->name, h->pending ? "queued for the next generation" : "this generation");
        return BP_EMEMBER;
    }
    if ((!d->held || d->n_held > d->held_mask) && held_grow(r, d) < 0) {
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    br_waiter **c = held_chain(r, d, w->member, w->member_len);
    w->member_next = *c;
    *c = w;
    d->n_held++;
    return 0;
}

void br__member_drop(br_registry *r, br_barrier *b, br_waiter *w)
{
    br_rdv *d = b->rdv;
    if (!w->member || !d || !d->held) return;
    for (br_waiter **p = held_chain(r, d, w->member, w->member_len); *p; p = &(*p)->member_next)
        if (*p == w) {
            *p = w->member_next;
            w->member_next = NULL;
            d->n_held--;
            return;
        }
}

void br__member_swap(br_registry *r, br_barrier *b, br_waiter *old, br_waiter *w)
{
    br__member_drop(r, b, old);
    char ignored[8];
    /* Out of memory: w waits without holding its name, which is all it loses. */
    if (w->member && !held_find(r, b->rdv, w->member, w->member_len))
        br__member_hold(r, b, w, ignored, sizeof ignored);
}

/* ---- who is missing ---- */

const char *br_barrier_members(const br_barrier *b, unsigned *n)
{
    const br_rdv *d = b->rdv;
    *n = d ? d->n_list : 0;
    return *n ? d->names : NULL;
}

unsigned br_barrier_missing(const br_registry *r, const br_barrier *b,
                            void (*fn)(void *ctx, const char *name), void *ctx)
{
    const br_rdv *d = b->rdv;
    unsigned n = 0;
    for (unsigned i = 0; d && i < d->n_list; i++) {
        const br_waiter *h = held_find(r, d, d->list[i], strlen(d->list[i]));
        if (h && !h->pending) continue;
        if (fn) fn(ctx, d->list[i]);
        n++;
    }
    return n;
}

typedef struct missing_ctx {
    bp_buf *m;
    unsigned n;
} missing_ctx;

static void put_one(void *ctx, const char *name)
{
    missing_ctx *mc = ctx;
    if (mc->n < BR_MISSING_NAMES) bp_buf_printf(mc->m, "%s%s", mc->n ? ", " : "; missing: ", name);
    mc->n++;
}

void br__put_missing(const br_registry *r, const br_barrier *b, bp_buf *m)
{
    missing_ctx mc = {m, 0};
    br_barrier_missing(r, b, put_one, &mc);
    if (mc.n > BR_MISSING_NAMES) bp_buf_printf(m, " and %u more", mc.n - BR_MISSING_NAMES);
}

int br_restore_members(br_registry *r, const char *name, size_t len, const char *members,
                       unsigned n)
{
    br_barrier *b = (br_barrier *)br_find(r, name, len);
    if (!b) return BP_ENOTFOUND;
    if (n != b->parties || (b->rdv && b->rdv->n_list)) return BP_EPARTIES;
    br_waiter w = {.members = members, .n_members = n};
    char msg[64];
    int rc = list_install(r, b, &w, msg, sizeof msg);
    if (rc < 0) br__rdv_free(b); /* a barrier just restored holds nothing else of it */
    return rc;
}
