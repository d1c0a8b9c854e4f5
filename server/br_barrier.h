/* br_barrier.h - the barrier record and its name table. Internal to the registry. */
#ifndef BR_BARRIER_H
#define BR_BARRIER_H

#include "br_registry.h"

#include "bp_buf.h"
#include "br_heap.h"

/* The last generation of a barrier that ended, remembered for waits that learn
 * of it late: a party whose connection was lost as it ended, or one still
 * re-announcing it after a restart. */
typedef struct br_ended {
    int kind;          /* 0 none yet, BR_ENDED_RELEASED, BR_ENDED_FAILED */
    uint64_t gen;
    int code;          /* failed: the code every waiter but the culprit got */
    char *reason;      /* failed: owned; the message */
    uint64_t *slots;   /* released: per index, the ticket of the wait released at
                          it (handed out here or reported), BR_SLOT_TAKEN,
                          BR_SLOT_GUESSED (handed out to a wait without a ticket)
                          or 0 (not known to be taken); `parties` of them,
                          allocated when first needed */
    unsigned top;      /* recovering: where the search for a free index from the top
                          goes on */
} br_ended;

enum { BR_ENDED_RELEASED = 1, BR_ENDED_FAILED };
#define BR_SLOT_TAKEN ((uint64_t)-1)   /* reported by the party released at it */
#define BR_SLOT_GUESSED ((uint64_t)-2) /* handed out from the top, unconfirmed */

/* Rendezvous state (br_member.c, br_gather.c): allocated the first time a wait
 * brings data, a member name or a member list, so a plain barrier costs one
 * NULL pointer. */
typedef struct br_rdv {
    /* The member list, fixed when the barrier was created with one. */
    char *names;             /* owned: n_list NUL-terminated names back to back */
    const char **list;       /* owned: n_list pointers into names, the creator's order */
    unsigned n_list;
    unsigned *slots;         /* owned: open addressing, list index + 1 (0: empty) */
    size_t slot_mask;
    /* The waits held (current generation and queued) by member name. */
    br_waiter **held;        /* owned buckets, chained through br_waiter.member_next */
    size_t held_mask;        /* buckets - 1 */
    size_t n_held;
    /* The current generation's data and its action's result. */
    size_t bytes;            /* data bytes of the current generation's waiters */
    size_t pending_bytes;    /* data bytes of the waits queued behind a running action */
    unsigned n_data;         /* current-generation waiters that sent data */
    char *result;            /* owned: the running action's result, NULL: none */
    size_t result_len;
} br_rdv;

struct br_barrier {
    br_barrier *hnext;          /* hash chain */
    br_barrier *idle_prev;      /* idle list, oldest first; linked only while idle */
    br_barrier *idle_next;
    int64_t idle_since;         /* when it last became empty */
    uint64_t generation;
    uint32_t hash;
    unsigned parties;
    unsigned n_waiting;
    unsigned n_pending, pending_cap;
    br_state state;
    int idle;                   /* on the idle list */
    int joining;                /* join_pending is draining the pending list */
    br_waiter **waiters;        /* by index; grown with arrivals up to parties */
    unsigned waiters_cap;
    br_waiter **pending;        /* arrivals during an action, in order */
    br_waiter *runner;          /* runs the action while BR_RUNNING_ACTION */
    char *reason;               /* owned; why it broke, NULL unless broken */
    /* For re-announced waits (docs/ha.md). */
    int recovering;             /* spoken of by resuming parties in the recovery window */
    int has_tickets;            /* some party sent a ticket: remember them per release */
    br_waiter *runner_hint;     /* a re-announced party already running this
                                   generation's action: it runs it, nobody else */
    br_ended *ended;            /* the last generation that ended; allocated when
                                   first needed (a failure, tickets, recovery) */
    br_rdv *rdv;                /* rendezvous, NULL until a wait uses it */
    size_t name_len;
    char name[];                /* NUL-terminated */
};

typedef struct br__table {
    br_barrier **buckets;
    size_t mask;  /* buckets - 1; a power of two minus one */
    size_t count;
} br__table;

struct br_registry {
    br__table table;
    br__heap deadlines;
    br_barrier *idle_head, *idle_tail; /* empty barriers, oldest first */
    size_t max_barriers;
    size_t n_waiting;
    uint32_t seed; /* of the name hash */
    int64_t recover_until; /* barriers created before then are rebuilt from re-announcements */
    br_sink_fn sink;
    void *ctx;
    int in_sink; /* the sink is running: it must not call back in (asserted) */
    void (*on_change)(void *ctx, const char *name, size_t len); /* br_set_change_hook */
    void *change_ctx;
    void (*on_event)(void *ctx, const br_event *e); /* br_set_event_hook */
    void *event_ctx;
    bp_buf scratch; /* message text, reused */
    bp_buf gathered; /* a release's gathered array, reused (br_gather.c) */
    size_t max_data, max_gather; /* br_set_rdv_limits; 0 = none */
    br_stats stats;
};

/* br_registry.c, for br_resume.c */
void br__emit_at(br_registry *r, br_kind kind, const br_barrier *b, uint64_t gen,
                 br_waiter *const *w, unsigned n, int code, const br_waiter *culprit,
                 int culprit_code, const char *message);
void br__fail_all(br_registry *r, br_barrier *b, int code, const br_waiter *culprit,
                  int culprit_code, const char *message);
/* guessed: the indexes were handed out from the top (br_resume.c); otherwise the
 * release is remembered with each party's ticket. */
void br__release(br_registry *r, br_barrier *b, int64_t now, int guessed);
void br__idle_touch(br_registry *r, br_barrier *b, int64_t now);
/* Tell the change hook, if there is one, that b changed. */
static inline void br__changed(const br_registry *r, const br_barrier *b)
{
    if (r->on_change)
        r->on_change(r->change_ctx, b->name, b->name_len);
}

/* br_resume.c: waits re-announced after a lost server, see docs/ha.md */
void br__remember_release(br_barrier *b);
void br__remember_failure(br_barrier *b, int code, const char *message);
void br__ended_free(br_barrier *b);
/* Apply what w (about to arrive at b) reports. Returns 0: w joins as usual;
 * 1: w was answered (its generation had ended) or took the place of its own
 * earlier wait, and does not join. */
int br__resume_arrive(br_registry *r, br_barrier *b, br_waiter *w, int64_t now);

/* br_member.c: member names and lists (docs/semantics.md, "Rendezvous") */
/* snprintf a refusal's message into msg[cap], cut on a character boundary. */
void br__say(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Check w's member and member list against b, before it joins: b_new says b
 * was just created by w (it takes w's list). 0 or BP_EPARTIES / BP_EINVAL /
 * BP_EMEMBER / BP_ENOMEM with msg set. */
int br__member_admit(br_registry *r, br_barrier *b, const br_waiter *w, int b_new, char *msg,
                     size_t cap);
/* Hold w's member name for its generation: BP_EMEMBER if another wait holds
 * it (a re-announced wait with the holder's ticket takes its place instead,
 * br_resume.c), BP_ENOMEM. No-op without a member. */
int br__member_hold(br_registry *r, br_barrier *b, br_waiter *w, char *msg, size_t cap);
void br__member_drop(br_registry *r, br_barrier *b, br_waiter *w);
void br__member_swap(br_registry *r, br_barrier *b, br_waiter *old, br_waiter *w);
/* "; missing: a, b and 3 more" for a barrier with a member list. */
void br__put_missing(const br_registry *r, const br_barrier *b, bp_buf *m);
void br__rdv_free(br_barrier *b);
br_rdv *br__rdv_get(br_barrier *b); /* allocates it; NULL when out of memory */

/* br_gather.c: data and action results */
/* Refuse w's data if it is too big or would take its generation (or the queue
 * behind a running action) past the limit. 0 or BP_ELIMIT / BP_ENOMEM. */
int br__gather_admit(br_registry *r, br_barrier *b, const br_waiter *w, char *msg, size_t cap);
/* w's data is held: counted in the current generation or, pending, the queue. */
void br__gather_add(br_barrier *b, const br_waiter *w);
/* A pending w joins the current generation; a pending w leaves. */
void br__gather_join(br_barrier *b, const br_waiter *w);
void br__gather_unqueue(br_barrier *b, const br_waiter *w);
/* w takes the place of old (same index, same queue), with its own data. */
void br__gather_swap(br_barrier *b, const br_waiter *old, const br_waiter *w);
/* Encode the current generation's gathered array into r->gathered (NULL when
 * nobody sent data) and forget the generation's data and result. */
const char *br__gather_take(br_registry *r, br_barrier *b, size_t *len);
/* Every held wait failed: forget all data counts and the result. */
void br__gather_clear(br_barrier *b);
int br__gather_set_result(br_registry *r, br_barrier *b, const char *result, size_t len);

uint32_t br__hash(uint32_t seed, const char *name, size_t len);
br_barrier *br__table_find(const br__table *t, const char *name, size_t len, uint32_t hash);
int br__table_insert(br__table *t, br_barrier *b); /* 0 or BP_ENOMEM */
void br__table_remove(br__table *t, br_barrier *b);
void br__table_free(br__table *t); /* frees the buckets only */

#endif
