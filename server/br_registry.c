/* br_registry.c - barrier state machine over the name table and deadline heap.
 *
 * States: FILLING -> (last arrives) -> release, back to FILLING with the next
 * generation; or RUNNING_ACTION -> (action_done) -> release or BROKEN.
 * Any state -> BROKEN on timeout, abort or a lost party; BROKEN -> FILLING on
 * reset. Generations only grow: each release and each reset ends one.
 */
#include "br_registry.h"

#include "br_barrier.h"
#include "bp_error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Break messages list at most this many of the parties that had arrived. */
#define BR_MESSAGE_NAMES 8

const char *br_state_name(br_state s)
{
    switch (s) {
    case BR_FILLING:
        return "filling";
    case BR_RUNNING_ACTION:
        return "running_action";
    case BR_BROKEN:
        return "broken";
    }
    return "unknown";
}

const char *br_cause_name(br_cause c)
{
    static const char *const names[BR_CAUSE_COUNT] = {"timeout", "abort", "reset",
                                                      "lost_party", "action_failed", "shutdown"};
    return (unsigned)c < BR_CAUSE_COUNT ? names[c] : "unknown";
}

/* Tell the event hook, if there is one. */
/* The hook may not call back in, like the sink (asserted the same way). */
static void tell(br_registry *r, const br_event *e)
{
    if (!r->on_event)
        return;
    int was = r->in_sink;
    r->in_sink = 1;
    r->on_event(r->event_ctx, e);
    r->in_sink = was;
}

/* A generation ends in failure for `cause`: count it (when there was one to
 * fail: a reset of a broken or empty barrier fails nothing), tell the hook. */
static void tell_failed(br_registry *r, br_event_kind kind, const br_barrier *b,
                        br_cause cause, const char *reason)
{
    if (cause != BR_CAUSE_RESET || (b->state != BR_BROKEN && (b->n_waiting || b->n_pending)))
        r->stats.ended[cause]++;
    if (!r->on_event)
        return;
    br_event e = {.kind = kind, .barrier = b, .generation = b->generation,
                  .n_waiting = b->n_waiting, .waiters = b->waiters, .n = b->n_waiting,
                  .pending = b->pending, .n_pending = b->n_pending, .cause = cause,
                  .reason = reason};
    tell(r, &e);
}

br_registry *br_new(size_t max_barriers, br_sink_fn sink, void *ctx)
{
    br_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->max_barriers = max_barriers;
    r->sink = sink;
    r->ctx = ctx;
    return r;
}

/* ---- idle list: barriers with nobody waiting, in the order they emptied ---- */

static int barrier_empty(const br_barrier *b)
{
    return b->n_waiting == 0 && b->n_pending == 0 && !b->runner;
}

static void idle_unlink(br_registry *r, br_barrier *b)
{
    if (!b->idle)
        return;
    if (b->idle_prev)
        b->idle_prev->idle_next = b->idle_next;
    else
        r->idle_head = b->idle_next;
    if (b->idle_next)
        b->idle_next->idle_prev = b->idle_prev;
    else
        r->idle_tail = b->idle_prev;
    b->idle_prev = b->idle_next = NULL;
    b->idle = 0;
}

void br__idle_touch(br_registry *r, br_barrier *b, int64_t now)
{
    idle_unlink(r, b);
    if (!barrier_empty(b))
        return;
    b->idle = 1;
    b->idle_since = now;
    b->idle_prev = r->idle_tail;
    if (r->idle_tail)
        r->idle_tail->idle_next = b;
    else
        r->idle_head = b;
    r->idle_tail = b;
}

static void barrier_destroy(br_registry *r, br_barrier *b)
{
    idle_unlink(r, b);
    br__table_remove(&r->table, b);
    free(b->waiters);
    free(b->pending);
    free(b->reason);
    br__ended_free(b);
    br__rdv_free(b);
    free(b);
}

void br_free(br_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->table.buckets && i <= r->table.mask; i++) {
        br_barrier *b = r->table.buckets[i];
        while (b) {
            br_barrier *next = b->hnext;
            free(b->waiters);
            free(b->pending);
            free(b->reason);
            br__ended_free(b);
            br__rdv_free(b);
            free(b);
            b = next;
        }
    }
    br__table_free(&r->table);
    br__heap_free(&r->deadlines);
    bp_buf_free(&r->scratch);
    bp_buf_free(&r->gathered);
    free(r);
}

/* ---- messages ---- */

/* snprintf into a reply message, cut on a character boundary if it is long. */
static void say(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    if (n >= (int)cap)
        msg[bp_utf8_cut(msg, cap - 1)] = '\0';
}

static void put_who(bp_buf *m, const br_waiter *w)
{
    if (w->member) /* the name the parties agreed on says more than the client's */
        bp_buf_append(m, w->member, w->member_len);
    else
        bp_buf_puts(m, w->client && w->client[0] ? w->client : "anonymous");
    if (w->peer && w->peer[0])
        bp_buf_printf(m, " [%s]", w->peer);
}

/* "...: 2/3 arrived (a [peer], b [peer])" appended to what is in scratch. */
static const char *message_finish(br_registry *r, const br_barrier *b)
{
    bp_buf *m = &r->scratch;
    bp_buf_printf(m, ": %u/%u arrived", b->n_waiting, b->parties);
    for (unsigned i = 0; i < b->n_waiting && i < BR_MESSAGE_NAMES; i++) {
        bp_buf_puts(m, i ? ", " : " (");
        put_who(m, b->waiters[i]);
    }
    if (b->n_waiting > BR_MESSAGE_NAMES)
        bp_buf_printf(m, ", and %u more", b->n_waiting - BR_MESSAGE_NAMES);
    if (b->n_waiting)
        bp_buf_puts(m, ")");
    br__put_missing(r, b, m);
    return m->oom ? "barrier broken" : m->data;
}

static void message_start(br_registry *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void message_start(br_registry *r, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    bp_buf_reset(&r->scratch);
    bp_buf_puts(&r->scratch, tmp);
}

/* ---- outcomes ---- */

void br__emit_at(br_registry *r, br_kind kind, const br_barrier *b, uint64_t gen,
                 br_waiter *const *w, unsigned n, int code, const br_waiter *culprit,
                 int culprit_code, const char *message)
{
    if (n == 0)
        return;
    br_outcome o = {.kind = kind, .barrier = b, .generation = gen, .waiters = w, .n = n,
                    .code = code, .culprit = culprit, .culprit_code = culprit_code,
                    .message = message};
    r->in_sink = 1;
    r->sink(r->ctx, &o);
    r->in_sink = 0;
}

static void emit(br_registry *r, br_kind kind, const br_barrier *b, br_waiter *const *w,
                 unsigned n, int code, const br_waiter *culprit, int culprit_code,
                 const char *message)
{
    br__emit_at(r, kind, b, b->generation, w, n, code, culprit, culprit_code, message);
}

static void unschedule_all(br_registry *r, br_barrier *b)
{
    for (unsigned i = 0; i < b->n_waiting; i++)
        br__heap_remove(&r->deadlines, b->waiters[i]);
}

/* Tell the waiters of the current generation (and those pending for the next)
 * that their waits failed, and forget them. */
void br__fail_all(br_registry *r, br_barrier *b, int code, const br_waiter *culprit,
                  int culprit_code, const char *message)
{
    unschedule_all(r, b);
    unsigned n = b->n_waiting, np = b->n_pending;
    if (b->rdv) { /* every held wait goes: their names and data with them */
        for (unsigned i = 0; i < n; i++)
            br__member_drop(r, b, b->waiters[i]);
        for (unsigned i = 0; i < np; i++)
            br__member_drop(r, b, b->pending[i]);
        br__gather_clear(b);
    }
    b->n_waiting = b->n_pending = 0;
    b->runner = b->runner_hint = NULL;
    r->n_waiting -= n + np;
    emit(r, BR_FAIL, b, b->waiters, n, code, culprit, culprit_code, message);
    emit(r, BR_FAIL, b, b->pending, np, code, NULL, 0, message);
}

static void barrier_break(br_registry *r, br_barrier *b, const br_waiter *culprit,
                          int culprit_code, const char *message, int64_t now, br_cause cause)
{
    tell_failed(r, BR_EV_BREAK, b, cause, message);
    free(b->reason);
    b->reason = strdup(message);
    b->state = BR_BROKEN;
    r->stats.breaks++;
    br__remember_failure(b, BP_EBROKEN, message);
    br__fail_all(r, b, BP_EBROKEN, culprit, culprit_code, message);
    br__idle_touch(r, b, now);
    br__changed(r, b);
}

static void join_pending(br_registry *r, br_barrier *b, int64_t now);

void br__release(br_registry *r, br_barrier *b, int64_t now, int guessed)
{
    if (!guessed)
        br__remember_release(b);
    unschedule_all(r, b);
    unsigned n = b->n_waiting;
    /* Rendezvous: the data is encoded once, here, for every party; indexes
     * handed out from the top (guessed) do not match arrival order, so such a
     * release carries none (docs/ha.md). */
    size_t glen = 0;
    const char *gathered = NULL;
    char *result = NULL;
    size_t rlen = 0;
    if (b->rdv) {
        gathered = br__gather_take(r, b, &glen);
        if (guessed)
            gathered = NULL;
        result = b->rdv->result;
        rlen = b->rdv->result_len;
        b->rdv->result = NULL;
        for (unsigned i = 0; i < n; i++)
            br__member_drop(r, b, b->waiters[i]);
    }
    b->n_waiting = 0;
    b->runner = b->runner_hint = NULL;
    b->state = BR_FILLING;
    r->n_waiting -= n;
    r->stats.releases++;
    if (r->on_event) {
        br_event e = {.kind = BR_EV_RELEASE, .barrier = b, .generation = b->generation,
                      .n_waiting = n, .waiters = b->waiters, .n = n};
        tell(r, &e);
    }
    if (n) {
        br_outcome o = {.kind = BR_RELEASE, .barrier = b, .generation = b->generation,
                        .waiters = b->waiters, .n = n, .gathered = gathered,
                        .gathered_len = glen, .action_result = result,
                        .action_result_len = rlen};
        r->in_sink = 1;
        r->sink(r->ctx, &o);
        r->in_sink = 0;
    }
    free(result);
    b->generation++;
    join_pending(r, b, now);
    br__idle_touch(r, b, now);
    br__changed(r, b);
}

/* The action of the current generation ended: release, or break naming the runner. */
static void action_finished(br_registry *r, br_barrier *b, br_waiter *runner, int success,
                            const char *why, int64_t now)
{
    if (success) {
        br__release(r, b, now, 0);
        return;
    }
    message_start(r, "action failed in ");
    put_who(&r->scratch, runner);
    if (why) bp_buf_printf(&r->scratch, " (%s)", why);
    barrier_break(r, b, runner, BP_EACTION, message_finish(r, b), now, BR_CAUSE_ACTION_FAILED);
}

/* The generation is complete: run the last arriver's action, or release. A
 * re-announced party that was already running this generation's action when
 * the server was lost is the runner again, whoever came last: nobody else
 * runs it, so it never runs twice. */
static void barrier_full(br_registry *r, br_barrier *b, int64_t now)
{
    br_waiter *hint = b->runner_hint, *last = b->waiters[b->parties - 1];
    if (hint && hint->action_result) {
        action_finished(r, b, hint, hint->action_result > 0,
                        hint->action_result == BR_ACTION_RESULT_TOO_BIG
                            ? "action result over --max-data"
                            : NULL,
                        now);
        return;
    }
    if (!hint && !last->action) {
        br__release(r, b, now, 0);
        return;
    }
    /* While the action runs, timeouts do not fire: the release wins. */
    unschedule_all(r, b);
    b->state = BR_RUNNING_ACTION;
    b->runner = hint ? hint : last;
    b->runner_hint = NULL;
    /* The hinted runner is asked too: its action is running or has run, and
     * its library answers with that outcome rather than running it again. */
    emit(r, BR_RUN_ACTION, b, &b->runner, 1, 0, NULL, 0, NULL);
}

/* Put w into the current generation of a FILLING barrier. */
static void barrier_add(br_registry *r, br_barrier *b, br_waiter *w, int64_t now)
{
    w->pending = 0;
    w->index = b->n_waiting;
    b->waiters[b->n_waiting++] = w;
    if (w->deadline_ms >= 0 && br__heap_push(&r->deadlines, w) < 0)
        w->deadline_ms = -1; /* cannot track it: it waits without a timeout */
    if (r->on_event) {
        br_event e = {.kind = BR_EV_ARRIVE, .barrier = b, .generation = b->generation,
                      .n_waiting = b->n_waiting, .waiter = w};
        tell(r, &e);
    }
    if (b->n_waiting == b->parties)
        barrier_full(r, b, now);
}

static int pending_push(br_barrier *b, br_waiter *w)
{
    if (b->n_pending == b->pending_cap) {
        unsigned cap = b->pending_cap ? b->pending_cap * 2 : 4;
        br_waiter **np = realloc(b->pending, cap * sizeof *np);
        if (!np)
            return BP_ENOMEM;
        b->pending = np;
        b->pending_cap = cap;
    }
    w->pending = 1;
    b->pending[b->n_pending++] = w;
    return 0;
}

/* After a release, those who arrived during the action join, in arrival order;
 * if they fill the generation and start another action, the rest stay pending.
 * A release inside this loop does not re-enter it (b->joining), so a long queue
 * of pending waits is drained iteratively, not by recursion. */
static void join_pending(br_registry *r, br_barrier *b, int64_t now)
{
    if (b->joining)
        return;
    b->joining = 1;
    unsigned i = 0;
    while (i < b->n_pending && b->state == BR_FILLING) {
        br__gather_join(b, b->pending[i]);
        barrier_add(r, b, b->pending[i++], now);
    }
    b->n_pending -= i; /* one move for the whole drain, not one per waiter */
    if (b->n_pending) /* pending may be NULL, which memmove must not see */
        memmove(b->pending, b->pending + i, b->n_pending * sizeof *b->pending);
    b->joining = 0;
}

/* Room in b->waiters for one more arrival, now or when pending ones join. The
 * array grows with the arrivals rather than being sized by `parties` up front,
 * so a wait naming a huge barrier does not cost memory it has not used. */
static int reserve_slot(br_barrier *b)
{
    unsigned need = b->n_waiting + b->n_pending + 1;
    if (need > b->parties)
        need = b->parties;
    if (b->waiters_cap >= need)
        return 0;
    unsigned ncap = b->waiters_cap ? b->waiters_cap * 2 : 2;
    if (ncap < need)
        ncap = need;
    if (ncap > b->parties)
        ncap = b->parties;
    br_waiter **nw = realloc(b->waiters, ncap * sizeof *nw);
    if (!nw)
        return BP_ENOMEM;
    b->waiters = nw;
    b->waiters_cap = ncap;
    return 0;
}

static br_barrier *barrier_create(br_registry *r, const char *name, size_t len, uint32_t hash,
                                  unsigned parties)
{
    br_barrier *b = calloc(1, sizeof *b + len + 1);
    if (!b)
        return NULL;
    memcpy(b->name, name, len);
    b->name_len = len;
    b->hash = hash;
    b->parties = parties;
    if (br__table_insert(&r->table, b) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

int br_arrive(br_registry *r, const char *name, size_t len, unsigned parties, br_waiter *w,
              int64_t now, char *msg, size_t cap)
{
    assert(!r->in_sink);
    uint32_t hash = br__hash(r->seed, name, len);
    br_barrier *b = br__table_find(&r->table, name, len, hash);
    int b_new = !b;
    if (!b) {
        if (r->max_barriers && r->table.count >= r->max_barriers) {
            say(msg, cap, "too many barriers (limit %zu)", r->max_barriers);
            return BP_ELIMIT;
        }
        if (!(b = barrier_create(r, name, len, hash, parties))) {
            say(msg, cap, "out of memory");
            return BP_ENOMEM;
        }
        br__idle_touch(r, b, now);
    }
    if (b->parties != parties) {
        say(msg, cap, "barrier '%s' has %u parties, not %u", b->name, b->parties, parties);
        return BP_EPARTIES;
    }
    /* Rendezvous: member list and name, and the data's size (br_member.c,
     * br_gather.c); a plain wait on a plain barrier skips all of it. Checked
     * before the broken state, like parties. */
    w->member_next = NULL;
    int rdv = w->data || w->member || w->n_members || b->rdv;
    int rc;
    if (rdv && ((rc = br__member_admit(r, b, w, b_new, msg, cap)) < 0 ||
                (rc = br__gather_admit(r, b, w, msg, cap)) < 0)) {
        if (b_new) /* a refused first wait creates nothing */
            barrier_destroy(r, b);
        return rc;
    }
    if (b->state == BR_BROKEN) {
        say(msg, cap, "barrier '%s' is broken (%s); reset it to use it again", b->name,
                 b->reason ? b->reason : "broken");
        return BP_EBROKEN;
    }
    if (reserve_slot(b) < 0) {
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    w->barrier = b;
    w->heap_pos = BR_NOT_IN_HEAP;
    w->arrived_ms = now;
    w->action_result = 0;
    w->pending = 0;
    if (w->ticket)
        b->has_tickets = 1;
    /* In the recovery window, a barrier that resuming parties speak of is
     * rebuilt from what they report; one nobody has a history of costs nothing. */
    if ((w->has_last || w->resume) && now < r->recover_until)
        b->recovering = 1;
    if ((w->has_last || w->resume) && br__resume_arrive(r, b, w, now)) {
        br__changed(r, b);
        return 0;
    }
    if (b->state == BR_RUNNING_ACTION && b->n_pending >= br_pending_max(b->parties)) {
        say(msg, cap,
            "barrier '%s' is running its action and already has %u waits queued for the "
            "next generation", b->name, b->n_pending);
        return BP_ELIMIT;
    }
    if (rdv && (rc = br__member_hold(r, b, w, msg, cap)) < 0)
        return rc;
    if (b->state == BR_RUNNING_ACTION && pending_push(b, w) < 0) {
        br__member_drop(r, b, w);
        say(msg, cap, "out of memory");
        return BP_ENOMEM;
    }
    if (rdv)
        br__gather_add(b, w);
    idle_unlink(r, b);
    r->n_waiting++;
    r->stats.waits++;
    if (b->state == BR_FILLING)
        barrier_add(r, b, w, now);
    br__changed(r, b);
    return 0;
}

void br_leave(br_registry *r, br_waiter *w, const char *why, int64_t now)
{
    assert(!r->in_sink);
    br_barrier *b = w->barrier;
    if (w->pending) { /* not part of any generation yet: it just goes */
        unsigned i = 0;
        while (i < b->n_pending && b->pending[i] != w)
            i++;
        assert(i < b->n_pending);
        if (i == b->n_pending)
            return;
        memmove(b->pending + i, b->pending + i + 1, (b->n_pending - i - 1) * sizeof *b->pending);
        b->n_pending--;
        br__member_drop(r, b, w);
        br__gather_unqueue(b, w);
        r->n_waiting--;
        if (r->on_event) {
            br_event e = {.kind = BR_EV_LEAVE, .barrier = b, .generation = b->generation,
                          .n_waiting = b->n_waiting, .waiter = w};
            tell(r, &e);
        }
        br__changed(r, b);
        return;
    }
    /* A waiter is forgotten by its owner once an outcome names it, so it is
     * always still held here. */
    assert(b->state != BR_BROKEN && w->index < b->n_waiting && b->waiters[w->index] == w);
    if (b->state == BR_BROKEN || w->index >= b->n_waiting || b->waiters[w->index] != w)
        return;
    message_start(r, "party lost (");
    put_who(&r->scratch, w);
    bp_buf_printf(&r->scratch, " %s)", why);
    const char *msg = message_finish(r, b);
    br__member_drop(r, b, w);
    br__heap_remove(&r->deadlines, w);
    memmove(b->waiters + w->index, b->waiters + w->index + 1,
            (b->n_waiting - w->index - 1) * sizeof *b->waiters);
    b->n_waiting--;
    r->n_waiting--;
    if (b->runner == w)
        b->runner = NULL;
    if (b->runner_hint == w)
        b->runner_hint = NULL;
    if (r->on_event) {
        br_event e = {.kind = BR_EV_LEAVE, .barrier = b, .generation = b->generation,
                      .n_waiting = b->n_waiting, .waiter = w};
        tell(r, &e);
    }
    barrier_break(r, b, NULL, 0, msg, now, BR_CAUSE_LOST_PARTY);
}

int br_action_done(br_registry *r, const char *name, size_t len, uint64_t generation,
                   int success, const void *owner, int64_t now, char *msg, size_t cap)
{
    return br_action_done_result(r, name, len, generation, success, NULL, 0, owner, now, msg,
                                 cap);
}

int br_action_done_result(br_registry *r, const char *name, size_t len, uint64_t generation,
                          int success, const char *result, size_t result_len, const void *owner,
                          int64_t now, char *msg, size_t cap)
{
    assert(!r->in_sink);
    br_barrier *b = br__table_find(&r->table, name, len, br__hash(r->seed, name, len));
    if (!b) {
        say(msg, cap, "no barrier named '%.*s'", (int)len, name);
        return BP_ENOTFOUND;
    }
    br_waiter *hint = b->runner_hint;
    int early = b->state == BR_FILLING && hint && hint->owner == owner && b->generation == generation;
    if (!early && (b->state != BR_RUNNING_ACTION || b->generation != generation || !b->runner ||
                   b->runner->owner != owner)) {
        say(msg, cap, "no action of generation %llu of barrier '%s' is running here",
                 (unsigned long long)generation, b->name);
        return BP_EINVAL;
    }
    /* The result goes to every party with the release; one too big to deliver
     * fails the action, so the parties hear why instead of waiting on. */
    int rc = 0;
    char why[96] = "";
    if (result && success) {
        if (r->max_data && result_len > r->max_data) {
            say(msg, cap, "action result of %zu bytes is over the limit of %zu bytes (--max-data)",
                result_len, r->max_data);
            snprintf(why, sizeof why, "action result over --max-data (%zu bytes)", result_len);
            rc = BP_ELIMIT;
            success = 0;
        } else if (br__gather_set_result(r, b, result, result_len) < 0) {
            say(msg, cap, "out of memory");
            rc = BP_ENOMEM;
            success = 0;
        }
    }
    if (early) {
        /* the generation is not full again yet */
        hint->action_result = success ? 1 : why[0] ? BR_ACTION_RESULT_TOO_BIG : -1;
        return rc;
    }
    action_finished(r, b, b->runner, success, why[0] ? why : NULL, now);
    return rc;
}

static br_barrier *find_barrier(br_registry *r, const char *name, size_t len)
{
    return br__table_find(&r->table, name, len, br__hash(r->seed, name, len));
}

int br_abort(br_registry *r, const char *name, size_t len, const char *by, int64_t now)
{
    assert(!r->in_sink);
    br_barrier *b = find_barrier(r, name, len);
    if (!b)
        return BP_ENOTFOUND;
    if (b->state == BR_BROKEN)
        return 0; /* stays broken, for the reason it first broke */
    message_start(r, "aborted by %s", by);
    barrier_break(r, b, NULL, 0, message_finish(r, b), now, BR_CAUSE_ABORT);
    return 0;
}

int br_reset(br_registry *r, const char *name, size_t len, const char *by, int64_t now)
{
    assert(!r->in_sink);
    br_barrier *b = find_barrier(r, name, len);
    if (!b)
        return BP_ENOTFOUND;
    message_start(r, "reset by %s", by);
    const char *msg = message_finish(r, b);
    tell_failed(r, BR_EV_RESET, b, BR_CAUSE_RESET, msg);
    br__remember_failure(b, BP_EBROKEN, msg);
    br__fail_all(r, b, BP_EBROKEN, NULL, 0, msg);
    free(b->reason);
    b->reason = NULL;
    b->state = BR_FILLING;
    b->generation++;
    br__idle_touch(r, b, now);
    br__changed(r, b);
    return 0;
}

void br_expire(br_registry *r, int64_t now)
{
    assert(!r->in_sink);
    br_waiter *w;
    while ((w = br__heap_top(&r->deadlines)) && w->deadline_ms <= now) {
        br_barrier *b = w->barrier;
        message_start(r, "timed out (");
        put_who(&r->scratch, w);
        bp_buf_puts(&r->scratch, " reached its timeout)");
        barrier_break(r, b, w, BP_ETIMEDOUT, message_finish(r, b), now, BR_CAUSE_TIMEOUT);
    }
}

int64_t br_next_deadline(const br_registry *r)
{
    br_waiter *w = br__heap_top(&r->deadlines);
    return w ? w->deadline_ms : -1;
}

size_t br_sweep_idle(br_registry *r, int64_t now, int64_t ttl_ms)
{
    assert(!r->in_sink);
    size_t n = 0;
    while (r->idle_head && now - r->idle_head->idle_since >= ttl_ms) {
        br__changed(r, r->idle_head);
        barrier_destroy(r, r->idle_head);
        n++;
    }
    return n;
}

void br_shutdown(br_registry *r, const char *message)
{
    assert(!r->in_sink);
    for (size_t i = 0; r->table.buckets && i <= r->table.mask; i++)
        for (br_barrier *b = r->table.buckets[i]; b; b = b->hnext) {
            if (b->n_waiting || b->n_pending)
                tell_failed(r, BR_EV_BREAK, b, BR_CAUSE_SHUTDOWN, message);
            br__fail_all(r, b, BP_ESHUTDOWN, NULL, 0, message);
        }
}

void br_set_change_hook(br_registry *r, void (*fn)(void *ctx, const char *name, size_t len),
                        void *ctx)
{
    r->on_change = fn;
    r->change_ctx = ctx;
}

void br_set_event_hook(br_registry *r, void (*fn)(void *ctx, const br_event *e), void *ctx)
{
    r->on_event = fn;
    r->event_ctx = ctx;
}

int br_restore(br_registry *r, const char *name, size_t len, unsigned parties,
               uint64_t generation, const char *reason, int64_t now)
{
    uint32_t hash = br__hash(r->seed, name, len);
    if (br__table_find(&r->table, name, len, hash))
        return BP_EPARTIES;
    if (r->max_barriers && r->table.count >= r->max_barriers)
        return BP_ELIMIT;
    br_barrier *b = barrier_create(r, name, len, hash, parties);
    if (!b)
        return BP_ENOMEM;
    b->generation = generation;
    b->recovering = 1;
    if (reason) {
        b->state = BR_BROKEN;
        b->reason = strdup(reason);
    }
    br__idle_touch(r, b, now);
    return 0;
}

int br_break(br_registry *r, const char *name, size_t len, const char *why, int64_t now)
{
    assert(!r->in_sink);
    br_barrier *b = find_barrier(r, name, len);
    if (!b)
        return BP_ENOTFOUND;
    if (b->state == BR_BROKEN)
        return 0;
    message_start(r, "%s", why);
    barrier_break(r, b, NULL, 0, message_finish(r, b), now, BR_CAUSE_LOST_PARTY);
    return 0;
}

void br_set_recovery(br_registry *r, int64_t until_ms)
{
    r->recover_until = until_ms;
}

void br_set_hash_seed(br_registry *r, uint32_t seed)
{
    if (r->table.count == 0) /* the table's chains are laid out by the old seed */
        r->seed = seed;
}

const br_barrier *br_find(const br_registry *r, const char *name, size_t len)
{
    return br__table_find(&r->table, name, len, br__hash(r->seed, name, len));
}

void br_barrier_info(const br_barrier *b, br_info *out)
{
    out->name = b->name;
    out->name_len = b->name_len;
    out->parties = b->parties;
    out->n_waiting = b->n_waiting;
    out->n_pending = b->n_pending;
    out->state = b->state;
    out->generation = b->generation;
    out->reason = b->reason ? b->reason : "";
}

br_waiter *const *br_barrier_waiters(const br_barrier *b, unsigned *n)
{
    *n = b->n_waiting;
    return b->waiters;
}

void br_foreach(const br_registry *r, void (*fn)(void *ctx, const br_barrier *b), void *ctx)
{
    for (size_t i = 0; r->table.buckets && i <= r->table.mask; i++)
        for (const br_barrier *b = r->table.buckets[i]; b; b = b->hnext)
            fn(ctx, b);
}

void br_get_stats(const br_registry *r, br_stats *out)
{
    *out = r->stats;
    out->barriers = r->table.count;
    out->waiting = r->n_waiting;
}
