/* br_resume.c - waits re-announced after a lost server (docs/ha.md).
 *
 * A resuming party tells what it knows: the last outcome it saw on the barrier
 * (generation, and its index if it was released), whether this wait was sent
 * before (resume), its ticket, and whether it was running the generation's
 * action. From that a restarted server rebuilds each barrier: generations
 * continue where the parties left them, a generation that some party saw
 * released is released for the rest (never broken, its action never run
 * twice), and a wait whose generation already ended gets that outcome.
 *
 * Indexes of a generation released on the lost server are known only for the
 * parties that report them. The others get free indexes from the top down:
 * barrierd tells a release's waiters in index order, so a crash in the middle
 * of one usually leaves the low indexes told and the high ones not. It is not
 * certain (a connection reset by the dying server loses what it had queued),
 * so an index may be given twice; stats.collisions counts the cases where no
 * index was left free at all.
 */
#include "br_barrier.h"

#include "bp_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void br__ended_free(br_barrier *b)
{
    if (!b->ended)
        return;
    free(b->ended->reason);
    free(b->ended->slots);
    free(b->ended);
    b->ended = NULL;
}

/* Forget the last ended generation; gen ended as kind. NULL when out of memory. */
static br_ended *ended_reset(br_barrier *b, int kind, uint64_t gen)
{
    br_ended *e = b->ended;
    if (!e && !(e = b->ended = calloc(1, sizeof *e)))
        return NULL;
    free(e->reason);
    e->reason = NULL;
    e->kind = kind;
    e->gen = gen;
    e->code = 0;
    e->top = b->parties;
    if (e->slots)
        memset(e->slots, 0, b->parties * sizeof *e->slots);
    return e;
}

static int ensure_slots(br_barrier *b)
{
    br_ended *e = b->ended;
    if (e && !e->slots)
        e->slots = calloc(b->parties, sizeof *e->slots);
    return e && e->slots ? 0 : BP_ENOMEM;
}

void br__remember_release(br_barrier *b)
{
    /* Tickets let a party whose connection was lost just as it was released
     * learn its index, and a rebuilt barrier needs its history; a barrier
     * whose parties send neither costs nothing here. */
    int keep = b->has_tickets || b->recovering;
    if (!keep && !b->ended)
        return;
    br_ended *e = ended_reset(b, BR_ENDED_RELEASED, b->generation);
    if (!e || !keep || ensure_slots(b) < 0)
        return;
    for (unsigned i = 0; i < b->n_waiting; i++) {
        const br_waiter *w = b->waiters[i];
        e->slots[w->index] = w->ticket ? w->ticket : BR_SLOT_TAKEN;
    }
}

void br__remember_failure(br_barrier *b, int code, const char *message)
{
    br_ended *e = ended_reset(b, BR_ENDED_FAILED, b->generation);
    if (!e)
        return;
    e->code = code;
    e->reason = strdup(message);
}

/* A free index of the ended generation, from the top down, for w: its slot
 * keeps w's ticket, so w can be told the same index again. */
static unsigned take_top(br_registry *r, br_barrier *b, const br_waiter *w)
{
    br_ended *e = b->ended; /* with slots: the callers made sure */
    while (e->top > 0 && e->slots[e->top - 1] != 0)
        e->top--;
    r->stats.guessed++;
    if (e->top == 0) { /* every index is taken: there is no right answer */
        r->stats.collisions++;
        return b->parties - 1;
    }
    e->slots[--e->top] = w->ticket ? w->ticket : BR_SLOT_GUESSED;
    return e->top;
}

/* What w saw is the newest news of the barrier's history, or confirms an index. */
static void note_report(br_barrier *b, const br_waiter *w)
{
    br_ended *e = b->ended;
    if (!e || !e->kind || w->last_gen > e->gen) {
        e = ended_reset(b, w->last_released ? BR_ENDED_RELEASED : BR_ENDED_FAILED, w->last_gen);
        if (!e)
            return;
        if (!w->last_released) {
            char msg[128];
            snprintf(msg, sizeof msg, "generation %llu broke before the server restarted",
                     (unsigned long long)w->last_gen);
            e->code = BP_EBROKEN;
            e->reason = strdup(msg);
        }
    }
    if (e->kind != BR_ENDED_RELEASED || w->last_gen != e->gen || !w->last_released ||
        w->last_index >= b->parties || ensure_slots(b) < 0)
        return;
    /* A guessed slot stays as it is: the party reporting it may well be the
     * one it was handed to (its report cannot say). */
    uint64_t *slot = &e->slots[w->last_index];
    if (*slot == 0)
        *slot = BR_SLOT_TAKEN;
}

/* w saw the current generation end on the lost server: it ends here too, for
 * those still waiting in it. */
static void end_by_proof(br_registry *r, br_barrier *b, const br_waiter *w, int64_t now)
{
    r->stats.proven++;
    if (!w->last_released && w->last_gen == b->generation) {
        char msg[160];
        snprintf(msg, sizeof msg, "generation %llu broke before the server restarted",
                 (unsigned long long)b->generation);
        br__remember_failure(b, BP_EBROKEN, msg);
        br__fail_all(r, b, BP_EBROKEN, NULL, 0, msg);
        br__idle_touch(r, b, now);
        return;
    }
    if (!ended_reset(b, BR_ENDED_RELEASED, b->generation) || ensure_slots(b) < 0)
        return; /* out of memory: they stay, and the next report tries again */
    if (w->last_released && w->last_gen == b->generation && w->last_index < b->parties)
        b->ended->slots[w->last_index] = BR_SLOT_TAKEN;
    for (unsigned i = 0; i < b->n_waiting; i++)
        b->waiters[i]->index = take_top(r, b, b->waiters[i]);
    br__release(r, b, now, 1);
}

/* w's generation ended before w came back: tell it the outcome. */
static void answer_late(br_registry *r, br_barrier *b, br_waiter *w)
{
    uint64_t gen = w->last_gen + 1;
    static const br_ended none = {0};
    const br_ended *e = b->ended ? b->ended : &none;
    r->stats.late++;
    r->stats.waits++;
    if (e->kind == BR_ENDED_FAILED && e->gen == gen) {
        br__emit_at(r, BR_FAIL, b, gen, &w, 1, e->code, NULL, 0, e->reason);
        return;
    }
    char msg[256];
    if (e->kind == BR_ENDED_RELEASED && e->gen == gen) {
        long idx = -1;
        for (unsigned i = 0; w->ticket && e->slots && i < b->parties && idx < 0; i++)
            if (e->slots[i] == w->ticket)
                idx = i;
        if (idx < 0 && b->recovering && ensure_slots(b) == 0)
            idx = take_top(r, b, w);
        if (idx >= 0) {
            w->index = (unsigned)idx;
            br__emit_at(r, BR_RELEASE, b, gen, &w, 1, 0, NULL, 0, NULL);
            return;
        }
        snprintf(msg, sizeof msg,
                 "generation %llu of barrier '%s' was released while this party was away, "
                 "and its place in it is not known",
                 (unsigned long long)gen, b->name);
    } else {
        snprintf(msg, sizeof msg,
                 "generation %llu of barrier '%s' ended before this wait came back, and its "
                 "outcome is no longer known",
                 (unsigned long long)gen, b->name);
    }
    br__emit_at(r, BR_FAIL, b, gen, &w, 1, BP_EBROKEN, NULL, 0, msg);
}

/* w is its own earlier wait coming back on a new connection, while the old one
 * is still held (its connection not yet seen to close): w takes its place. */
static int take_place(br_registry *r, br_barrier *b, br_waiter *w)
{
    br_waiter **list = b->waiters;
    unsigned n = b->n_waiting, i = 0;
    for (int pass = 0; pass < 2; pass++, list = b->pending, n = b->n_pending, i = 0) {
        while (i < n && list[i]->ticket != w->ticket)
            i++;
        if (i == n)
            continue;
        br_waiter *old = list[i];
        list[i] = w;
        w->index = old->index;
        w->pending = old->pending;
        w->action_result = old->action_result;
        br__heap_remove(&r->deadlines, old);
        if (b->rdv) { /* its name and data are w's now */
            br__member_swap(r, b, old, w);
            br__gather_swap(b, old, w);
        }
        if (!w->pending && b->state == BR_FILLING && w->deadline_ms >= 0 &&
            br__heap_push(&r->deadlines, w) < 0)
            w->deadline_ms = -1;
        if (b->runner == old)
            b->runner = w;
        if (b->runner_hint == old)
            b->runner_hint = w;
        r->stats.replaced++;
        r->stats.waits++;
        br__emit_at(r, BR_FAIL, b, b->generation, &old, 1, BP_ECONN, NULL, 0,
                    "this wait came back on another connection");
        /* The old connection was asked to run the action; ask the new one (its
         * library answers with the outcome if the action already ran). */
        if (b->state == BR_RUNNING_ACTION && b->runner == w)
            br__emit_at(r, BR_RUN_ACTION, b, b->generation, &b->runner, 1, 0, NULL, 0, NULL);
        return 1;
    }
    return 0;
}

int br__resume_arrive(br_registry *r, br_barrier *b, br_waiter *w, int64_t now)
{
    if (w->has_last && b->recovering) {
        if (w->last_gen >= b->generation && (b->n_waiting || b->runner))
            end_by_proof(r, b, w, now);
        note_report(b, w);
    }
    if (w->resume && w->has_last && w->last_gen + 1 < b->generation) {
        answer_late(r, b, w);
        return 1;
    }
    /* Generations a party sees only grow: an empty barrier (a restarted
     * server's, or one forgotten while idle) continues from the party's. */
    if (w->has_last && w->last_gen >= b->generation && !b->n_waiting && !b->runner &&
        b->state == BR_FILLING)
        b->generation = w->last_gen + 1;
    if (w->resume && w->ticket && take_place(r, b, w))
        return 1;
    if (w->has_action_gen && w->action_gen == b->generation && b->state == BR_FILLING)
        b->runner_hint = w;
    return 0;
}
