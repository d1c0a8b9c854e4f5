/* bc_io.c - writing lines and losing the connection.
 *
 * Writes are serialized by c->wmu alone, so a thread that writes never holds
 * c->mu: a full socket buffer then delays only other writers, not dispatch.
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
    /* Wake a reader blocked in poll() and every caller in the condvar. The fd
     * stays open until bc_close so its number cannot be reused under us. */
    shutdown(c->fd, SHUT_RDWR);
    ssize_t w = write(c->wake[1], "x", 1);
    (void)w;
    pthread_cond_broadcast(&c->cv);
}

/* The connection's error code if it is lost, else 0. Quiet: the thread's
 * message is left alone. */
static int dead_code(bc_client *c)
{
    pthread_mutex_lock(&c->mu);
    int code = c->dead ? c->dead_code : 0;
    pthread_mutex_unlock(&c->mu);
    return code;
}

static int lose(bc_client *c, const char *why)
{
    pthread_mutex_lock(&c->mu);
    bc__kill(c, BC_ECONN, "connection to %s lost: %s", c->addr, why);
    pthread_mutex_unlock(&c->mu);
    return dead_code(c);
}

int bc__send_quiet(bc_client *c, const char *data, size_t len)
{
    int rc = dead_code(c);
    if (rc < 0) return rc;
    pthread_mutex_lock(&c->wmu);
    int64_t deadline = bc__now_ns() + c->grace_ns;
    const char *why = NULL;
    while (len > 0 && !why) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            why = strerror(errno);
            break;
        }
        /* The server is not reading; give it the grace period, no more. */
        int64_t left = deadline - bc__now_ns();
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (left <= 0 || (poll(&p, 1, bc__poll_ms(deadline)) < 0 && errno != EINTR))
            why = "write timed out";
    }
    pthread_mutex_unlock(&c->wmu);
    return why ? lose(c, why) : 0;
}

int bc__send(bc_client *c, const char *data, size_t len)
{
    if (bc__send_quiet(c, data, len) == 0) return 0;
    pthread_mutex_lock(&c->mu);
    int code = bc__fail(c->dead_code, "%s", c->dead_msg);
    pthread_mutex_unlock(&c->mu);
    return code;
}
