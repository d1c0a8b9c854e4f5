/* bc_io.c - writing lines and losing the connection for good.
 *
 * Writes are serialized by c->wmu alone, so a thread that writes never holds
 * c->mu: a full socket buffer then delays only other writers, not dispatch.
 * Each line is meant for one connection (an epoch): after a reconnect, a line
 * for the old one is dropped, since the reconnect re-sends what still matters.
 */
#include "bc_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void bc__kill(bc_client *c, int code, const char *fmt, ...)
{
    if (c->dead) return;
    c->dead = 1;
    /* A reason the server gave before closing (a shutdown notice, a limit) says
     * more than "connection lost". */
    if (c->close_code && code == BC_ECONN) {
        c->dead_code = c->close_code;
        snprintf(c->dead_msg, sizeof c->dead_msg, "%s", c->close_msg);
    } else {
        c->dead_code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->dead_msg, sizeof c->dead_msg, fmt, ap);
        va_end(ap);
    }
    bc__wake_all(c);
}

void bc__wake_all(bc_client *c)
{
    /* The fd stays open (until bc_close, or a reconnect swaps it under wmu) so
     * its number cannot be reused under a reader still polling it. */
    shutdown(c->fd, SHUT_RDWR);
    ssize_t w = write(c->wake[1], "x", 1);
    (void)w;
    pthread_cond_broadcast(&c->cv);
}

const char *bc__write_fd(int fd, const char *data, size_t len, int64_t deadline_ns)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return strerror(errno);
        /* The server is not reading; give it until the deadline, no more. */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (bc__now_ns() >= deadline_ns ||
            (poll(&p, 1, bc__poll_ms(deadline_ns)) < 0 && errno != EINTR))
            return "write timed out";
    }
    return NULL;
}

/* 1 if connection `epoch` is the current one and up. */
static int current(bc_client *c, uint64_t epoch)
{
    pthread_mutex_lock(&c->mu);
    int ok = !c->dead && !c->lost && c->epoch == epoch;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void bc__send_on(bc_client *c, uint64_t epoch, const char *data, size_t len)
{
    pthread_mutex_lock(&c->wmu);
    /* c->fd changes only under wmu, so it stays this epoch's while we write. */
    const char *why = current(c, epoch)
                          ? bc__write_conn(c, c->fd, c->ssl, data, len, bc__now_ns() + c->grace_ns)
                          : NULL;
    pthread_mutex_unlock(&c->wmu);
    if (!why) return;
    pthread_mutex_lock(&c->mu);
    if (c->epoch == epoch) bc__lose(c, BC_ECONN, "connection to %s lost: %s", c->addr, why);
    pthread_mutex_unlock(&c->mu);
}
