/* ops_logpipe.c - a stalled stderr never stalls barrierd.
 *
 * barrierd runs with --log-level debug and its stderr on a pipe this test
 * does not read. A flood of pings (one debug line each) fills the pipe and then
 * the 1 MiB buffer, while two connections do rounds of a 2-party wait: every
 * round must still complete fast, and stats must show log_dropped > 0. Then
 * the test reads the pipe: the "N log lines were dropped" line must appear.
 * Exit 0 pass, 1 fail. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (child > 0)
        kill(child, SIGKILL);
    exit(1);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} conn;

static void send_all(conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Next line into out (without \n), waiting at most 5 s. */
static void read_line(conn *c, char *out, size_t cap)
{
    double until = now_s() + 5;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(out, c->buf, k);
            out[k] = 0;
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int left = (int)((until - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            fail("no reply from barrierd within 5 s (the loop is stalled?)");
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0)
            fail("barrierd closed the connection");
        c->len += (size_t)r;
    }
}

static void dial(conn *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* One round: A and B wait at "round" (2 parties); seconds it took. */
static double round_trip(conn *a, conn *b, int n)
{
    char req[128], line[4096];
    double t0 = now_s();
    int k = snprintf(req, sizeof req, "{\"op\":\"wait\",\"id\":%d,\"barrier\":\"round\",\"parties\":2}\n", n);
    send_all(a, req, (size_t)k);
    send_all(b, req, (size_t)k);
    conn *cs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        do
            read_line(cs[i], line, sizeof line);
        while (strstr(line, "\"heartbeat\""));
        if (!strstr(line, "\"ok\":true"))
            fail("round %d: %s", n, line);
    }
    return now_s() - t0;
}

int main(void)
{
    const char *bin = getenv("BARRIERD");
    if (!bin)
        fail("$BARRIERD is not set");
    char dir[] = "/tmp/ops-logpipe-XXXXXX";
    if (!mkdtemp(dir))
        fail("mkdtemp");
    char ready[128];
    snprintf(ready, sizeof ready, "%s/ready", dir);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        fail("pipe");
    child = fork();
    if (child == 0) {
        dup2(p[1], 2);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", "debug",
              (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    int port = 0;
    for (double until = now_s() + 10; !port && now_s() < until;) {
        FILE *f = fopen(ready, "r");
        if (f) {
            char line[128];
            if (fgets(line, sizeof line, f)) {
                char *colon = strrchr(line, ':');
                if (colon)
                    port = atoi(colon + 1);
            }
            fclose(f);
        }
        if (!port)
            usleep(10000);
    }
    if (!port)
        fail("barrierd did not become ready");

    conn a, b;
    dial(&a, port);
    dial(&b, port);
    static char batch[64 * 1024];
    const char ping[] = "{\"op\":\"ping\"}\n";
    size_t per = sizeof batch / (sizeof ping - 1);
    for (size_t i = 0; i < per; i++)
        memcpy(batch + i * (sizeof ping - 1), ping, sizeof ping - 1);
    double worst = 0, t0 = now_s();
    char line[4096];
    int rounds = 0;
    /* ~4,600 pings a batch, one debug line each (~100 bytes): 8 batches are
     * ~3.5 MB of log, far past the 64 KiB pipe and the 1 MiB buffer. */
    for (int i = 0; i < 8; i++) {
        send_all(&a, batch, per * (sizeof ping - 1));
        for (size_t k = 0; k < per; k++)
            read_line(&a, line, sizeof line);
        for (int r = 0; r < 25; r++) {
            double d = round_trip(&a, &b, ++rounds);
            if (d > worst)
                worst = d;
        }
    }
    double total = now_s() - t0;
    printf("%d rounds during the flood, slowest %.1f ms, all in %.2f s\n", rounds, worst * 1e3,
           total);
    if (worst > 1.0)
        fail("a round took %.3f s with stderr stalled", worst);

    send_all(&a, "{\"op\":\"stats\"}\n", 15);
    read_line(&a, line, sizeof line);
    const char *d = strstr(line, "\"log_dropped\":");
    if (!d)
        fail("stats has no log_dropped: %s", line);
    unsigned long long dropped = strtoull(d + 14, NULL, 10);
    printf("stats: log_dropped %llu\n", dropped);
    if (dropped == 0)
        fail("log_dropped is 0 after the flood: %s", line);

    /* Now read the pipe: the held lines come, then the drop report. */
    static char tail[1 << 17];
    size_t tl = 0;
    int found = 0;
    for (double until = now_s() + 10; !found && now_s() < until;) {
        struct pollfd pp = {.fd = p[0], .events = POLLIN};
        if (poll(&pp, 1, 200) <= 0)
            continue;
        char chunk[65536];
        ssize_t r = read(p[0], chunk, sizeof chunk);
        if (r <= 0)
            break;
        /* keep the last 4 KiB and the new chunk (a line may straddle chunks) */
        if (tl + (size_t)r > sizeof tail - 1) {
            size_t keep = 4096;
            memmove(tail, tail + tl - keep, keep);
            tl = keep;
        }
        memcpy(tail + tl, chunk, (size_t)r);
        tl += (size_t)r;
        tail[tl] = 0;
        char *hit = strstr(tail, " log lines were dropped");
        if (hit) {
            char *bol = hit;
            while (bol > tail && bol[-1] != '\n')
                bol--;
            printf("log: %.*s\n", (int)(strchrnul(hit, '\n') - bol), bol);
            found = 1;
        }
    }
    if (!found)
        fail("no \"log lines were dropped\" line once the pipe was read");
    kill(child, SIGTERM);
    int st;
    /* keep reading so its last lines never hold it */
    for (double until = now_s() + 10; waitpid(child, &st, WNOHANG) == 0;) {
        char chunk[65536];
        struct pollfd pp = {.fd = p[0], .events = POLLIN};
        if (poll(&pp, 1, 50) > 0 && read(p[0], chunk, sizeof chunk) <= 0)
            usleep(10000);
        if (now_s() > until)
            fail("barrierd did not exit on SIGTERM");
    }
    child = 0;
    unlink(ready);
    rmdir(dir);
    printf("ok\n");
    return 0;
}
