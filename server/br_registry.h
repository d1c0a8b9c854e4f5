/* br_registry.h - the named barriers and their state machine. No I/O.
 *
 * The registry takes events (arrive, leave, action done, abort, reset, time
 * passing) and tells a sink whom to notify of what. Time is a number the
 * caller passes in (milliseconds, monotonic), so every rule of docs/semantics.md can
 * be tested without sockets or clocks.
 *
 * Ownership: the caller allocates each br_waiter and fills its caller part,
 * then hands it to br_arrive. From a successful br_arrive until an outcome names
 * it (release or fail) or br_leave returns, the registry holds it; the caller
 * must not free it. After the sink returns from an outcome naming a waiter (a
 * run_action outcome aside), the registry never touches that waiter again.
 *
 * The sink is called synchronously from inside the registry call that caused the
 * outcome and must not call back into the registry.
 */
#ifndef BR_REGISTRY_H
#define BR_REGISTRY_H

#define BR_ACTION_RESULT_TOO_BIG (-2) /* br_waiter.action_result */

#include <stddef.h>
#include <stdint.h>

typedef struct br_registry br_registry;
typedef struct br_barrier br_barrier;
typedef struct br_waiter br_waiter;

typedef enum br_state {
    BR_FILLING = 0,     /* collecting arrivals for the current generation */
    BR_RUNNING_ACTION,  /* all arrived; the last arriver runs its action */
    BR_BROKEN,          /* every wait fails until reset */
} br_state;

struct br_waiter {
    /* Set by the caller before br_arrive. Ordered by size, so it packs: the
     * server keeps one per outstanding wait (docs/performance.md). */
    void *owner;         /* the caller's connection; compared, never dereferenced */
    uint64_t id;         /* the request id (has_id), echoed in replies */
    int64_t deadline_ms; /* absolute time the wait times out, or -1 */
    const char *client;  /* who it says it is, "" if unnamed; lives as long as the waiter */
    const char *peer;    /* its address; lives as long as the waiter */
    /* What a resuming party tells (docs/ha.md); all zero for a plain wait. */
    uint64_t ticket;     /* the party's own id for this wait; 0 = none */
    uint64_t last_gen;   /* its last outcome on this barrier (has_last): its generation, */
    uint64_t action_gen; /* it was asked to run the action of action_gen (has_action_gen) */
    /* Rendezvous (docs/semantics.md); all NULL/0 for a plain wait. */
    const char *data;    /* its data (data_len bytes), NULL: none; lives as long as the waiter */
    const char *member;  /* its name in the generation, NULL: none; lives as long as the waiter */
    const char *members; /* the member list it creates the barrier with (n_members
                            NUL-terminated names back to back); read in br_arrive only */
    uint32_t data_len;   /* at most --max-data, under --max-line */
    uint32_t member_len;
    unsigned n_members;
    unsigned last_index; /* with has_last: released at last_index (last_released) or failed */
    uint8_t has_id;
    uint8_t action;      /* runs an action if it arrives last */
    uint8_t resume;      /* re-announced: sent before to a server that may be gone */
    uint8_t has_last;
    uint8_t last_released;
    uint8_t has_action_gen;

    /* Set by the registry. */
    uint8_t pending;     /* arrived during an action: joins the next generation */
    int8_t action_result; /* a re-announced runner's action_done that came before its
                             generation was full again: 1 success, -1 failure, 0 none,
                             BR_ACTION_RESULT_TOO_BIG: failed by a result over max_data */
    unsigned index;      /* arrival index within its generation */
    uint32_t heap_pos;   /* position in the deadline heap, or BR_NOT_IN_HEAP */
    br_barrier *barrier;
    br_waiter *member_next; /* chain of the barrier's member table (br_member.c) */
    int64_t arrived_ms;  /* when br_arrive took it (its now_ms) */
};

#define BR_NOT_IN_HEAP ((uint32_t)-1)

/* How many waits may queue behind a running action for the generations after
 * it: enough for any barrier's next generation, bounded against a flood. */
#define BR_PENDING_MIN 1024u
static inline unsigned br_pending_max(unsigned parties)
{
    return parties > BR_PENDING_MIN ? parties : BR_PENDING_MIN;
}

typedef enum br_kind {
    BR_RELEASE = 1, /* the generation completed: tell each waiter its index */
    BR_FAIL,        /* the waits failed: tell each the code and message */
    BR_RUN_ACTION,  /* waiters[0] arrived last with an action: ask it to run it */
} br_kind;

typedef struct br_outcome {
    br_kind kind;
    const br_barrier *barrier;
    uint64_t generation;     /* the generation the outcome ends (or runs the action of) */
    br_waiter *const *waiters;
    unsigned n;
    int code;                /* BR_FAIL: the code for every waiter but the culprit */
    const br_waiter *culprit; /* BR_FAIL: gets culprit_code instead (may be NULL) */
    int culprit_code;
    const char *message;     /* BR_FAIL: why, with who had arrived */
    /* BR_RELEASE, rendezvous (docs/protocol.md): valid during the sink call. */
    const char *gathered;    /* the "gathered" JSON array, encoded once; NULL: no data */
    size_t gathered_len;
    const char *action_result; /* the action's result, NULL: none */
    size_t action_result_len;
} br_outcome;

typedef void (*br_sink_fn)(void *ctx, const br_outcome *o);

/* What ended a generation in failure (docs/observability.md): the barrier
 * broke, or a reset or a shutdown failed its waiters. */
typedef enum br_cause {
    BR_CAUSE_TIMEOUT = 0,
    BR_CAUSE_ABORT,
    BR_CAUSE_RESET,
    BR_CAUSE_LOST_PARTY,
    BR_CAUSE_ACTION_FAILED,
    BR_CAUSE_SHUTDOWN,
    BR_CAUSE_COUNT
} br_cause;
/* "timeout", "abort", "reset", "lost_party", "action_failed", "shutdown". */
const char *br_cause_name(br_cause c);

typedef struct br_stats {
    uint64_t waits;      /* arrivals accepted */
    uint64_t releases;   /* generations released */
    uint64_t breaks;     /* times a barrier broke */
    size_t barriers;     /* barriers that exist now */
    size_t waiting;      /* waiters held now, pending ones included */
    uint64_t proven;     /* generations found to have ended on a lost server (a party
                            reported it) and ended here too for those still waiting */
    uint64_t late;       /* re-announced waits answered with the outcome of a
                            generation that had already ended */
    uint64_t guessed;    /* indexes handed out without knowing which the parties
                            told before the loss got (from the top, see docs/ha.md) */
    uint64_t collisions; /* of those, ones handed out with no index left free */
    uint64_t replaced;   /* re-announced waits that took the place of their own
                            earlier wait, still held on a connection not yet closed */
    uint64_t ended[BR_CAUSE_COUNT]; /* generations ended in failure, by cause (a
                            shutdown counts barriers that had waiters) */
} br_stats;

typedef struct br_info {
    const char *name;
    size_t name_len;
    unsigned parties;
    unsigned n_waiting;  /* of the current generation */
    unsigned n_pending;  /* arrived for the next generation while the action runs */
    br_state state;
    uint64_t generation;
    const char *reason;  /* why it is broken, "" when it is not */
} br_info;

/* max_barriers 0 = no limit. Returns NULL when out of memory. */
br_registry *br_new(size_t max_barriers, br_sink_fn sink, void *ctx);
/* Seed the name hash (before the first barrier exists; ignored after), so that
 * which names collide cannot be known in advance. The caller picks it: the
 * registry stays free of I/O and deterministic in tests. */
void br_set_hash_seed(br_registry *r, uint32_t seed);
/* Until until_ms (monotonic, like now_ms), a barrier that a resuming party
 * speaks of (a wait with its last outcome, or a re-announced one) is rebuilt
 * from what the parties report: a report that its current generation ended on
 * the lost server ends it here too (docs/ha.md). Set at start, for the resume
 * window. */
void br_set_recovery(br_registry *r, int64_t until_ms);
/* Frees every barrier. Waiters still held are simply forgotten: call
 * br_shutdown first to tell them. */
void br_free(br_registry *r);

/* A waiter arrives at the barrier `name`, creating it if needed. Returns 0 when
 * it joined (outcomes may already have been emitted, if it was the last; a
 * re-announced wait whose generation already ended is told its outcome at
 * once, without joining), or,
 * without joining: BP_EPARTIES, BP_EBROKEN, BP_ELIMIT (max_barriers, or
 * br_pending_max waits already queued behind a running action), BP_ENOMEM, with a
 * message in msg[cap]. */
int br_arrive(br_registry *r, const char *name, size_t len, unsigned parties, br_waiter *w,
              int64_t now_ms, char *msg, size_t cap);

/* The waiter's connection is gone (`why`, e.g. "disconnected"). If it was part
 * of a generation, the barrier breaks for everyone else. No outcome names w. */
void br_leave(br_registry *r, br_waiter *w, const char *why, int64_t now_ms);

/* The runner reports its action. owner must be the runner's. Returns 0, or
 * BP_ENOTFOUND / BP_EINVAL (no action of that generation is running for owner). */
int br_action_done(br_registry *r, const char *name, size_t len, uint64_t generation,
                   int success, const void *owner, int64_t now_ms, char *msg, size_t cap);

/* Break the barrier until reset. `by` names who asked. 0 or BP_ENOTFOUND. */
int br_abort(br_registry *r, const char *name, size_t len, const char *by, int64_t now_ms);
/* Fail the current waiters, end the generation, make the barrier usable again.
 * 0 or BP_ENOTFOUND. */
int br_reset(br_registry *r, const char *name, size_t len, const char *by, int64_t now_ms);

/* Fail every wait whose deadline is <= now_ms (each breaks its barrier). */
void br_expire(br_registry *r, int64_t now_ms);
/* Earliest deadline held, or -1. */
int64_t br_next_deadline(const br_registry *r);
/* Forget barriers with no waiters that have been idle for ttl_ms or longer. */
size_t br_sweep_idle(br_registry *r, int64_t now_ms, int64_t ttl_ms);
/* fn is called with a barrier's name whenever what a successor would need to
 * know of it changes: parties arrive or leave, a generation is released or
 * reset, it breaks, or the idle sweep forgets it (fn is called before it is
 * gone; br_find tells which). NULL: no hook. */
void br_set_change_hook(br_registry *r, void (*fn)(void *ctx, const char *name, size_t len),
                        void *ctx);
/* Events for whoever watches (the watch op, metrics): what happened to a
 * barrier, told as it happens, from inside the registry call. Like the sink, the
 * hook must not call back into the registry. */
typedef enum br_event_kind {
    BR_EV_ARRIVE = 1, /* waiter joined the current generation (n_waiting counts it) */
    BR_EV_LEAVE,      /* waiter's connection went (a break follows if it was in
                         the generation; a wait queued behind an action just goes) */
    BR_EV_RELEASE,    /* the generation completed: waiters[0..n) are released */
    BR_EV_BREAK,      /* the barrier broke (or a shutdown failed its waits):
                         waiters[0..n) and pending[0..n_pending) fail */
    BR_EV_RESET,      /* a reset ended the generation: the same waits fail */
} br_event_kind;

typedef struct br_event {
    br_event_kind kind;
    const br_barrier *barrier;
    uint64_t generation;        /* the generation it happened in (the one that ended) */
    unsigned n_waiting;         /* parties of that generation after the event
                                   (release, break, reset: before the waits were told) */
    const br_waiter *waiter;    /* ARRIVE, LEAVE */
    br_waiter *const *waiters;  /* RELEASE, BREAK, RESET: the waits that end */
    unsigned n;
    br_waiter *const *pending;  /* BREAK, RESET: queued ones that fail too */
    unsigned n_pending;
    br_cause cause;             /* BREAK, RESET */
    const char *reason;         /* BREAK, RESET: the message the waits get */
} br_event;

/* fn is told every event; NULL: none, and the registry pays one test per
 * event for it. */
void br_set_event_hook(br_registry *r, void (*fn)(void *ctx, const br_event *e), void *ctx);

/* Create a barrier as a predecessor left it (HA failover): its parties and
 * generation, broken for `reason` unless that is NULL. Rebuilt from
 * re-announced waits like a restarted server's (br_set_recovery). 0, or
 * BP_EPARTIES (it exists already), BP_ELIMIT, BP_ENOMEM. */
int br_restore(br_registry *r, const char *name, size_t len, unsigned parties,
               uint64_t generation, const char *reason, int64_t now_ms);
/* Give a barrier br_restore made its member list (n NUL-terminated names back
 * to back; n must be its parties). 0, or BP_ENOTFOUND, BP_EPARTIES (it has
 * one, or n is not its parties), BP_EINVAL (a name twice), BP_ENOMEM. */
int br_restore_members(br_registry *r, const char *name, size_t len, const char *members,
                       unsigned n);
/* Break the barrier, `why` saying what broke it (who had arrived is added).
 * 0 or BP_ENOTFOUND; a broken barrier stays broken for its first reason. */
int br_break(br_registry *r, const char *name, size_t len, const char *why, int64_t now_ms);
/* Fail every waiter with BP_ESHUTDOWN. */
void br_shutdown(br_registry *r, const char *message);

/* Rendezvous limits (docs/semantics.md): a wait's data and an action's result
 * of more than max_data bytes, and a wait whose data would take its
 * generation's data past max_gather bytes, are refused with BP_ELIMIT
 * (the barrier unharmed). 0: no limit (the default). */
void br_set_rdv_limits(br_registry *r, size_t max_data, size_t max_gather);
/* The runner reports its action with a result (NULL: none) that the release
 * delivers to every party. As br_action_done; BP_ELIMIT for a result over
 * max_data, and then the action counts as failed (the barrier breaks). */
int br_action_done_result(br_registry *r, const char *name, size_t len, uint64_t generation,
                          int success, const char *result, size_t result_len, const void *owner,
                          int64_t now_ms, char *msg, size_t cap);

const br_barrier *br_find(const br_registry *r, const char *name, size_t len);
/* A barrier's member list, if it was created with one: *n NUL-terminated names
 * back to back, in the creator's order (NULL and 0 if not). */
const char *br_barrier_members(const br_barrier *b, unsigned *n);
/* The listed members with no wait in the current generation: fn(ctx, name) for
 * each (fn may be NULL), in list order. Returns how many. */
unsigned br_barrier_missing(const br_registry *r, const br_barrier *b,
                            void (*fn)(void *ctx, const char *name), void *ctx);
void br_barrier_info(const br_barrier *b, br_info *out);
/* The current generation's waiters, by index (n_waiting of them). */
br_waiter *const *br_barrier_waiters(const br_barrier *b, unsigned *n);
/* Calls fn for every barrier, in no particular order. */
void br_foreach(const br_registry *r, void (*fn)(void *ctx, const br_barrier *b), void *ctx);
void br_get_stats(const br_registry *r, br_stats *out);
const char *br_state_name(br_state s);

#endif
