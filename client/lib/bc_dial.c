/* bc_dial.c - connect to a parsed address within a deadline.
 *
 * Sockets are nonblocking from the start: connect() then waits in poll(), so
 * the connect timeout holds for every address a host name resolves to (but not
 * for resolving the name itself; see dial_tcp).
 */
#include "bc_internal.h"

#include "bp_addr.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connect fd to sa, waiting at most until deadline. Returns 0 or an errno. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t salen, int64_t deadline)
{
    if (connect(fd, sa, salen) == 0) return 0;
    if (errno != EINPROGRESS && errno != EAGAIN) return errno;
    for (;;) {
        int64_t left = deadline - bc__now_ns();
        if (left <= 0) return ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, bc__poll_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
        return err;
    }
}

/* Latency matters more than throughput for these one-line messages, and
 * keepalive catches a vanished host even for a wait without timeout. */
static void tune_tcp(int fd)
{
    int one = 1, idle = 15, intvl = 5, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static int dial_unix(const char *addr, const char *path, int64_t deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path); /* bp_addr bounds its length */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return bc__fail(BC_ECONN, "socket: %s", strerror(errno));
    int err = connect_by(fd, (struct sockaddr *)&sun, sizeof sun, deadline);
    if (err) {
        close(fd);
        return bc__fail(BC_ECONN, "connect %s: %s", addr, strerror(err));
    }
    return fd;
}

static int dial_tcp(const char *addr, const char *host, unsigned port_num, int64_t deadline)
{
    char port[8];
    snprintf(port, sizeof port, "%u", port_num);
    /* A numeric address needs no resolver, so it is parsed as one first and
     * never waits on DNS. A host name is resolved by getaddrinfo(), which
     * blocks for as long as the system resolver takes: connect_timeout_s does
     * not bound it (use a numeric address where that matters). */
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        gai = getaddrinfo(host, port, &hints, &res);
    }
    if (gai != 0) return bc__fail(BC_ECONN, "resolve %s: %s", host, gai_strerror(gai));
    int err = ENOENT, fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        err = connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline);
        if (err) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return bc__fail(BC_ECONN, "connect %s: %s", addr,
                        err == ETIMEDOUT ? "timed out" : strerror(err));
    tune_tcp(fd);
    return fd;
}

int bc__dial(const bp_addr *a, const char *text, int64_t deadline_ns)
{
    if (a->kind == BP_ADDR_UNIX) return dial_unix(text, a->path, deadline_ns);
    return dial_tcp(text, a->host, a->port, deadline_ns);
}
