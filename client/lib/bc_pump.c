/* bc_pump.c - read for the handle while an action runs.
 *
 * The action runs in the last arriver's thread, which then cannot read. If it
 * was the only thread blocked on the handle, nobody would answer heartbeats and
 * the server would drop the connection (breaking the barrier) during a long
 * action. The pump is a stand-in blocked caller: it takes the reader role
 * whenever it is free, until the action is over.
 */
#include "bc_internal.h"

#include <unistd.h>

static void *pump_main(void *arg)
{
    bc__pump *p = arg;
    pthread_mutex_lock(&p->c->mu);
    bc__read_until(p->c, &p->stop);
    pthread_mutex_unlock(&p->c->mu);
    return NULL;
}

void bc__pump_start(bc__pump *p, bc_client *c)
{
    p->c = c;
    p->stop = 0;
    /* Without a thread the action still runs; only heartbeats may go unanswered. */
    p->started = pthread_create(&p->thread, NULL, pump_main, p) == 0;
}

void bc__pump_stop(bc__pump *p)
{
    if (!p->started) return;
    pthread_mutex_lock(&p->c->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->c->cv);
    pthread_mutex_unlock(&p->c->mu);
    /* It may be asleep in poll() as the reader. */
    ssize_t w = write(p->c->wake[1], "x", 1);
    (void)w;
    pthread_join(p->thread, NULL);
    p->started = 0;
}
