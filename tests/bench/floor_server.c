/* floor_server.c - the kernel-cost floor for a centralized barrier.
 *
 * One process, one epoll loop, level-triggered. An arrival is one byte; when `parties`
 * arrivals have come in, every connection that arrived gets one byte back (the release)
 * and the barrier is empty again. Per arrival it makes the syscalls any centralized
 * barrier server must make — one read on a readable socket, one write of the release —
 * and nothing else: no parsing, no allocation on the hot path, no timers.
 *
 *   floor-server [--listen 127.0.0.1:PORT] [--ready-file F] --parties N [--coalesce]
 *                [--sized OUT]
 *
 * With --coalesce a connection holding k arrivals of the generation gets its k
 * release bytes in one write: the floor for connections that carry several
 * parties each (barrier-bench-scale).
 *
 * With --sized OUT an arrival is a line (whatever its length, up to its '\n') and
 * a release is OUT bytes ending in '\n': the floor for messages of a protocol's
 * sizes (barrier-bench --floor-sized), so that what the bytes cost the kernel is
 * told apart from what a server's own code costs.
 *
 * Logs "listening on 127.0.0.1:PORT" to stderr (port 0 picks a free one) and, like
 * barrierd, writes that address to F (F.tmp, then renamed) once it listens; then serves
 * until SIGTERM/SIGINT (exit 0). Loopback only: the address must be 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 1024

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: floor-server [--listen 127.0.0.1:PORT] [--ready-file F] --parties N "
                    "[--coalesce] [--sized OUT]\n");
}

/* The bound address, written whole: F.tmp, then renamed. */
static int write_ready_file(const char *path, int port)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "127.0.0.1:%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = 0;
    long parties = 0;
    const char *ready_file = NULL;
    int coalesce = 0;
    long sized = 0; /* --sized: release bytes, 0 = one byte per arrival */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            const char *a = argv[++i];
            if (strncmp(a, "127.0.0.1:", 10) != 0) {
                fprintf(stderr, "floor-server: --listen must be 127.0.0.1:PORT\n");
                return 64;
            }
            port = atoi(a + 10);
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready_file = argv[++i];
        } else if (strcmp(argv[i], "--parties") == 0 && i + 1 < argc) {
            parties = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--coalesce") == 0) {
            coalesce = 1;
        } else if (strcmp(argv[i], "--sized") == 0 && i + 1 < argc) {
            sized = strtol(argv[++i], NULL, 10);
            if (sized < 1 || sized > 4096) {
                usage();
                return 64;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else {
            usage();
            return 64;
        }
    }
    if (parties < 1 || parties > 10000000 || port < 0 || port > 65535 || (sized && coalesce)) {
        usage();
        return 64;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        fprintf(stderr, "floor-server: listen: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "floor-server: listening on 127.0.0.1:%d (parties %ld)\n", ntohs(sin.sin_port),
            parties);
    if (ready_file && write_ready_file(ready_file, ntohs(sin.sin_port)) < 0) {
        fprintf(stderr, "floor-server: cannot write --ready-file %s: %s\n", ready_file,
                strerror(errno));
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) {
        fprintf(stderr, "floor-server: epoll: %s\n", strerror(errno));
        return 1;
    }

    /* The waiters of the current generation: fds, one entry per arrival. Sized once
     * (parties entries), so the hot path never allocates. */
    int *waiters = malloc((size_t)parties * sizeof *waiters);
    /* --coalesce: release bytes owed per fd, gathered before the writes. */
    struct rlimit now;
    size_t n_fds = getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_cur < (1u << 20)
                       ? (size_t)now.rlim_cur + 1
                       : (size_t)1 << 20; /* accept4 never returns an fd past the limit */
    unsigned *owed = coalesce ? calloc(n_fds, sizeof *owed) : NULL;
    char *ones = coalesce ? malloc((size_t)parties) : NULL;
    if (ones)
        memset(ones, 'r', (size_t)parties);
    if (!waiters || (coalesce && (!owed || !ones))) {
        fprintf(stderr, "floor-server: out of memory\n");
        return 1;
    }
    long n_waiting = 0;
    unsigned long long releases = 0, write_errors = 0;
    struct epoll_event evs[MAX_EVENTS];
    char buf[64];
    char reply[4096];
    memset(reply, 'r', sizeof reply);
    if (sized)
        reply[sized - 1] = '\n';
    const char *release = sized ? reply : "r";
    size_t release_len = sized ? (size_t)sized : 1;

    while (!stop_flag) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "floor-server: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break; /* EAGAIN, or EMFILE: level-triggered, retried */
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) != 0) close(c);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) {
                /* A waiter leaving breaks nothing here: the floor has no error path.
                 * Drop it from the waiters so no release goes to a closed fd. */
                for (long k = 0; k < n_waiting; k++)
                    if (waiters[k] == fd) waiters[k--] = waiters[--n_waiting];
                close(fd);
                continue;
            }
            for (ssize_t b = 0; b < r; b++) {
                if (sized && buf[b] != '\n')
                    continue; /* an arrival is a whole line */
                waiters[n_waiting++] = fd;
                if (n_waiting == parties && coalesce) {
                    for (long k = 0; k < n_waiting; k++)
                        owed[waiters[k]]++;
                    for (long k = 0; k < n_waiting; k++) {
                        unsigned m = owed[waiters[k]];
                        if (m && write(waiters[k], ones, m) != (ssize_t)m) write_errors++;
                        owed[waiters[k]] = 0;
                    }
                    n_waiting = 0;
                    releases++;
                } else if (n_waiting == parties) {
                    for (long k = 0; k < n_waiting; k++)
                        if (write(waiters[k], release, release_len) != (ssize_t)release_len)
                            write_errors++;
                    n_waiting = 0;
                    releases++;
                }
            }
        }
    }
    fprintf(stderr, "floor-server: stopped after %llu releases (%llu write errors)\n", releases,
            write_errors);
    free(waiters);
    free(owed);
    free(ones);
    return 0;
}
