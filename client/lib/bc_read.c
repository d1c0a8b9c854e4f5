/* bc_read.c - the reader's work: read what the server sent, route each line.
 *
 * Only the thread holding the reader role (c->reading) runs this. It drops
 * c->mu while it sleeps in poll() and while it writes, so other callers can
 * register and send requests meanwhile.
 */
#include "bc_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bc__call *find_call(bc_client *c, uint64_t id)
{
    for (bc__call *k = c->calls; k; k = k->next)
        if (k->id == id) return k;
    return NULL;
}

static void queue_action_done(bc_client *c, const bp_reply *ev)
{
    bp_request r = {.op = BP_OP_ACTION_DONE, .generation = ev->generation};
    snprintf(r.barrier, sizeof r.barrier, "%s", ev->barrier);
    bp_request_encode(&c->outbox, &r);
}

/* A shutdown answer to a call that a restarted server can take back: with
 * resuming on, it means the connection is going away, not that the call failed. */
static int shutdown_answer(const bc_client *c, const bc__call *call, const bp_reply *m)
{
    return m->code == BC_ESHUTDOWN && c->resume_ns >= 0 && call->kind != BC__CALL_ONCE;
}

static void settle(bc_client *c, bc__call *call, bp_reply *m)
{
    if (call->kind == BC__CALL_WAIT) bc__last_note(c, call->req.barrier, m);
    call->reply = *m;
    call->done = 1;
    pthread_cond_broadcast(&c->cv);
}

static void note_shutdown(bc_client *c, const char *message)
{
    char msg[BC__MSG_MAX];
    snprintf(msg, sizeof msg, "server is shutting down%s%.960s", message[0] ? ": " : "",
             message);
    if (c->resume_ns < 0) {
        /* The close follows; it fails the calls with this reason. */
        c->close_code = BC_ESHUTDOWN;
        snprintf(c->close_msg, sizeof c->close_msg, "%s", msg);
    } else {
        bc__lose(c, BC_ESHUTDOWN, "%s", msg);
    }
}

/* Route one decoded message (c->mu held). Takes ownership of m->json. A reply
 * for a call already settled (or gone) is a duplicate and is dropped. */
static void dispatch(bc_client *c, bp_reply *m)
{
    bc__call *call = m->has_id ? find_call(c, m->id) : NULL;
    switch (m->kind) {
    case BP_MSG_REPLY:
        if (call && !call->done && shutdown_answer(c, call, m)) {
            note_shutdown(c, m->message);
            break;
        }
        if (call && !call->done) {
            settle(c, call, m);
            return;
        }
        /* An error without an id precedes a close (auth, limit): keep its reason
         * for the callers that the close will fail. */
        if (!m->has_id && m->code < 0) {
            c->close_code = m->code;
            snprintf(c->close_msg, sizeof c->close_msg, "%s: %.960s", bc_strerror(m->code),
                     m->message);
        }
        break;
    case BP_MSG_RUN_ACTION:
        if (call && !call->done) {
            call->action_due = 1;
            call->action_gen = m->generation;
            call->action_seen = 1;
            pthread_cond_broadcast(&c->cv);
        } else {
            /* Nobody here can run it; say so rather than leave the barrier stuck. */
            queue_action_done(c, m);
        }
        break;
    case BP_MSG_HEARTBEAT:
        bp_request_encode(&c->outbox, &(bp_request){.op = BP_OP_PONG});
        break;
    case BP_MSG_SHUTDOWN:
        note_shutdown(c, m->message);
        break;
    case BP_MSG_WATCH:
        if (c->watching && bc__event_push(c, m->json) == 0) {
            m->json = NULL; /* the queue owns it */
            pthread_cond_broadcast(&c->cv);
        }
        break;
    }
    bp_reply_free(m);
}

void bc__consume(bc_client *c, const char *data, size_t n)
{
    if (bp_framer_feed(&c->framer, data, n) < 0) {
        bc__kill(c, BC_EPROTO, "reply from %s longer than %u bytes", c->addr, BC__MAX_LINE);
        return;
    }
    const char *line;
    size_t len;
    /* Take every line, even after an error: the framer borrows `data` until
     * it has none left. */
    while (bp_framer_next(&c->framer, &line, &len) == 1) {
        if (c->dead || len == 0 || (len == 1 && line[0] == '\r')) continue;
        bp_reply m;
        if (bp_reply_decode(line, len, &m) < 0) {
            bc__kill(c, BC_EPROTO, "%s sent a line that is not the barrierd protocol: %.*s",
                     c->addr, (int)(len > 80 ? 80 : len), line);
            continue;
        }
        dispatch(c, &m);
    }
}

/* Send what dispatch queued (pongs). c->mu held; dropped while writing. What
 * was meant for a lost connection is dropped with it. */
static void flush_outbox(bc_client *c)
{
    if (c->outbox.len == 0 || c->dead) return;
    if (c->lost) {
        bp_buf_reset(&c->outbox);
        return;
    }
    size_t len;
    uint64_t epoch = c->epoch;
    char *data = bp_buf_take(&c->outbox, &len);
    pthread_mutex_unlock(&c->mu);
    if (data) bc__send_on(c, epoch, data, len); /* a failure loses the connection */
    free(data);
    pthread_mutex_lock(&c->mu);
}

/* One round of reading: wait for input until deadline_ns (0 = none; never more
 * than a second, so callers recheck their state), then route it. c->mu held on
 * entry and exit; the caller holds the reader role. */
void bc__read_step(bc_client *c, int64_t deadline_ns)
{
    int64_t wait_ms = 1000;
    if (deadline_ns) {
        int64_t left = (deadline_ns - bc__now_ns()) / 1000000 + 1;
        wait_ms = left < wait_ms ? left : wait_ms;
    }
    pthread_mutex_unlock(&c->mu);
    char buf[32768];
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = c->wake[0], .events = POLLIN}};
    ssize_t n = -2; /* -2: nothing read */
    int err = 0;
    /* TLS may hold bytes already taken from the socket: poll would not see them. */
    int pending = c->ssl && bc__tls_pending(c, c->ssl);
    if (poll(p, 2, pending ? 0 : wait_ms > 0 ? (int)wait_ms : 0) > 0 || pending) {
        if (p[1].revents)
            while (read(c->wake[0], buf, sizeof buf) > 0)
                ;
        if (p[0].revents || pending) {
            n = bc__recv(c, c->fd, c->ssl, buf, sizeof buf, 0);
            err = errno;
        }
    }
    pthread_mutex_lock(&c->mu);
    if (n > 0) {
        c->last_heard_ns = bc__now_ns();
        bc__consume(c, buf, (size_t)n);
    } else if (n == 0) {
        bc__lose(c, BC_ECONN, "connection to %s closed by the server", c->addr);
    } else if (n == -1 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
        bc__lose(c, BC_ECONN, "connection to %s lost: %s", c->addr, bc__recv_error(err));
    }
    flush_outbox(c);
}
