/* itest_fixture.c - see itest_fixture.h. */
#include "itest_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IT_MAX_ARGS 64
#define IT_CLIENT_MAX_LINE (16u << 20)

/* ---- time ---- */

int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- failure hook ---- */

static it_server *it__current; /* the server of this test, for the failure hook */

void it__fail_hook(void)
{
    it_server *s = it__current;
    if (!s || s->owner != getpid())
        return;
    it__current = NULL;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    it_server_dump_log(s);
}

/* A crash of the test process itself: show the log too (best effort: not
 * async-signal-safe, but the process is going down anyway), then die of the
 * same signal so Check reports it. */
static void on_crash(int sig)
{
    it__fail_hook();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_crashes(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_crash;
        sa.sa_flags = SA_RESETHAND;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- the server ---- */

const char *it_barrierd_path(void)
{
    const char *p = getenv("BARRIERD");
    return p && *p ? p : NULL;
}

void it_server_prepare(it_server *s)
{
    if (!s->dir[0]) {
        snprintf(s->dir, sizeof s->dir, "/tmp/itest-XXXXXX");
        ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    }
    snprintf(s->log_path, sizeof s->log_path, "%s/barrierd.log", s->dir);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void it_server_dump_log(const it_server *s)
{
    size_t n;
    char *log = slurp(s->log_path, &n);
    fprintf(stderr, "---- barrierd log (%s) ----\n", s->log_path);
    if (log) {
        const char *p = log;
        if (n > 64 * 1024) { /* the tail is what matters */
            p = log + n - 64 * 1024;
            fprintf(stderr, "[... %zu bytes left out ...]\n", n - 64 * 1024);
        }
        fputs(p, stderr);
    } else {
        fprintf(stderr, "(cannot read it: %s)\n", strerror(errno));
    }
    fprintf(stderr, "---- end of barrierd log ----\n");
    fflush(stderr);
    free(log);
}

int it_server_log_contains(const it_server *s, const char *needle)
{
    char *log = slurp(s->log_path, NULL);
    int found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

/* Read the "listening on ADDR" lines of a log that says "barrierd ready". */
static void parse_listeners(it_server *s, const char *log)
{
    const char *p = log;
    while ((p = strstr(p, "listening on ")) != NULL) {
        p += strlen("listening on ");
        size_t n = strcspn(p, "\r\n");
        char addr[160];
        snprintf(addr, sizeof addr, "%.*s", (int)(n < sizeof addr ? n : sizeof addr - 1), p);
        if (strncmp(addr, "unix:", 5) == 0) {
            if (!s->unix_path[0] && strlen(addr + 5) < sizeof s->unix_path)
                memcpy(s->unix_path, addr + 5, strlen(addr + 5) + 1);
        } else if (addr[0] == '[') {
            const char *colon = strrchr(addr, ':');
            if (!s->port6 && colon)
                s->port6 = atoi(colon + 1);
        } else if (strncmp(addr, "127.0.0.1:", 10) == 0) {
            if (!s->port)
                s->port = atoi(addr + 10);
        }
        p += n;
    }
}

int it_server_try_start(it_server *s, const char *const *extra)
{
    const char *path = it_barrierd_path();
    ck_assert_msg(path != NULL, "set BARRIERD to the barrierd executable");
    char dir[sizeof s->dir];
    memcpy(dir, s->dir, sizeof dir);
    memset(s, 0, sizeof *s);
    memcpy(s->dir, dir, sizeof dir);
    it_server_prepare(s);
    s->owner = getpid();

    const char *argv[IT_MAX_ARGS];
    size_t n = 0;
    argv[n++] = path;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_msg(n < IT_MAX_ARGS - 1, "too many barrierd arguments");
        argv[n++] = extra[i];
    }
    argv[n] = NULL;

    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    ck_assert_msg(logfd >= 0, "open %s: %s", s->log_path, strerror(errno));
    /* Record the command line at the top of the log. */
    dprintf(logfd, "# %s", path);
    for (size_t i = 1; i < n; i++)
        dprintf(logfd, " %s", argv[i]);
    dprintf(logfd, "\n");
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(path, (char *const *)argv);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(logfd);
    s->pid = pid;
    it__current = s;
    catch_crashes();

    int64_t deadline = it_now_ms() + 5000;
    for (;;) {
        char *log = slurp(s->log_path, NULL);
        if (log && strstr(log, "barrierd ready")) {
            parse_listeners(s, log);
            free(log);
            return s->port ? 0 : -1;
        }
        free(log);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            s->status = st;
            return -1;
        }
        if (it_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &s->status, 0);
            s->pid = 0;
            return -1;
        }
        it_sleep_ms(10);
    }
}

void it_server_start(it_server *s, ...)
{
    const char *extra[IT_MAX_ARGS];
    size_t n = 0;
    va_list ap;
    va_start(ap, s);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(n < IT_MAX_ARGS - 1, "too many barrierd arguments");
        extra[n++] = a;
    }
    va_end(ap);
    extra[n] = NULL;
    int rc = it_server_try_start(s, extra);
    if (rc < 0)
        it_server_dump_log(s);
    ck_assert_msg(rc == 0, "barrierd did not come up (see its log above)");
}

int it_server_alive(it_server *s)
{
    if (s->pid <= 0)
        return 0;
    int st;
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
        s->pid = 0;
        s->status = st;
        return 0;
    }
    return 1;
}

int it_server_wait(it_server *s, int timeout_ms)
{
    if (s->pid <= 0)
        return s->status;
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            s->status = st;
            return st;
        }
        if (it_now_ms() > deadline)
            return -1;
        it_sleep_ms(5);
    }
}

int it_server_stop(it_server *s, int timeout_ms, int64_t *elapsed_ms)
{
    if (s->pid <= 0)
        return s->status;
    int64_t t0 = it_now_ms();
    kill(s->pid, SIGTERM);
    int st = it_server_wait(s, timeout_ms);
    if (st == -1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &s->status, 0);
        s->pid = 0;
    }
    if (elapsed_ms)
        *elapsed_ms = it_now_ms() - t0;
    return st;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void it_server_done(it_server *s)
{
    if (s->pid > 0) {
        int st = it_server_stop(s, 5000, NULL);
        it_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "barrierd did not exit 0 on SIGTERM (wait status %d)", st);
    }
    if (it__current == s)
        it__current = NULL;
    if (s->dir[0])
        remove_dir(s->dir);
    s->dir[0] = '\0';
}

/* ---- processes ---- */

pid_t it_fork(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    it_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        it__current = NULL; /* failures in here are reported by the exit status */
        _exit(fn(arg));
    }
    return pid;
}

int it_reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        if (it_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        it_sleep_ms(5);
    }
}

/* ---- connections ---- */

static it_conn *conn_new(int fd)
{
    it_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    bp_framer_init(&c->fr, IT_CLIENT_MAX_LINE);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return c;
}

it_conn *it_connect_tcp(const char *host, int port, int rcvbuf)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof *a6;
    } else {
        errno = EINVAL;
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    while (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    it_conn *c = conn_new(fd);
    if (c) {
        struct sockaddr_storage me;
        socklen_t ml = sizeof me;
        if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
            c->local_port = ntohs(me.ss_family == AF_INET ? ((struct sockaddr_in *)&me)->sin_port
                                                          : ((struct sockaddr_in6 *)&me)->sin6_port);
    }
    return c;
}

it_conn *it_connect_unix(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    return conn_new(fd);
}

it_conn *it_connect(const it_server *s)
{
    it_conn *c = it_connect_tcp("127.0.0.1", s->port, 0);
    it_assert_msg(c != NULL, "connect to 127.0.0.1:%d: %s", s->port, strerror(errno));
    return c;
}

void it_close(it_conn *c)
{
    if (!c)
        return;
    close(c->fd);
    bp_framer_free(&c->fr);
    free(c);
}

int it_send_raw(it_conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int it_sendf(it_conn *c, const char *fmt, ...)
{
    bp_buf b = BP_BUF_INIT;
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof tmp) { /* long: format again into a buffer of the right size */
        char *big = malloc((size_t)n + 1);
        if (!big)
            return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        bp_buf_append(&b, big, (size_t)n);
        free(big);
    } else {
        bp_buf_append(&b, tmp, (size_t)n);
    }
    bp_buf_puts(&b, "\n");
    int rc = b.oom ? -ENOMEM : it_send_raw(c, b.data, b.len);
    bp_buf_free(&b);
    return rc;
}

int it_send_req(it_conn *c, const bp_request *r)
{
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, r);
    int rc = b.oom ? -ENOMEM : it_send_raw(c, b.data, b.len);
    bp_buf_free(&b);
    return rc;
}

int it_read_line(it_conn *c, int timeout_ms, const char **line, size_t *len)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int rc = bp_framer_next(&c->fr, line, len);
        if (rc == 1)
            return IT_LINE;
        if (rc < 0)
            return IT_BAD;
        if (c->eof)
            return IT_EOF;
        int64_t left = deadline - it_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {c->fd, POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            c->eof = 1;
            continue;
        }
        if (n == 0)
            return IT_TIMEOUT;
        /* The framer borrows fed bytes until it has handed out every line in
         * them, so they live in the connection, and we only read again once
         * bp_framer_next has said 0. */
        char *buf = c->rbuf;
        ssize_t r = recv(c->fd, buf, sizeof c->rbuf, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            c->eof = 1;
            c->reset = errno == ECONNRESET;
            continue;
        }
        if (r == 0) {
            c->eof = 1;
            continue;
        }
        bp_framer_feed(&c->fr, buf, (size_t)r);
    }
}

int it_recv(it_conn *c, int timeout_ms, bp_reply *out)
{
    const char *line;
    size_t len;
    memset(out, 0, sizeof *out);
    for (;;) {
        int rc = it_read_line(c, timeout_ms, &line, &len);
        if (rc != IT_LINE)
            return rc;
        if (len == 0 || (len == 1 && line[0] == '\r'))
            continue;
        if (bp_reply_decode(line, len, out) < 0) {
            fprintf(stderr, "itest: undecodable line from server: %.*s\n", (int)(len > 300 ? 300 : len),
                    line);
            return IT_BAD;
        }
        return IT_LINE;
    }
}

int it_recv_skip(it_conn *c, int timeout_ms, int pong, unsigned *n_heartbeats, bp_reply *out)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - it_now_ms();
        int rc = it_recv(c, left > 0 ? (int)left : 0, out);
        if (rc != IT_LINE || out->kind != BP_MSG_HEARTBEAT)
            return rc;
        bp_reply_free(out);
        if (n_heartbeats)
            (*n_heartbeats)++;
        if (pong)
            it_send_raw(c, "{\"op\":\"pong\"}\n", 14);
    }
}

/* ---- requests ---- */

void it_req_init(bp_request *r, bp_op op, uint64_t id)
{
    memset(r, 0, sizeof *r);
    r->op = op;
    r->has_id = 1;
    r->id = id;
    r->timeout_ms = -1;
}

static void set_name(bp_request *r, const char *barrier)
{
    if (!barrier)
        return;
    snprintf(r->barrier, sizeof r->barrier, "%s", barrier);
    r->barrier_len = strlen(r->barrier);
}

void it_send_op(it_conn *c, bp_op op, uint64_t id, const char *barrier)
{
    bp_request r;
    it_req_init(&r, op, id);
    set_name(&r, barrier);
    if (op == BP_OP_HELLO)
        r.version = BP_PROTOCOL_VERSION;
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send %s: %s", bp_op_name(op), strerror(-rc));
}

void it_send_wait(it_conn *c, uint64_t id, const char *barrier, unsigned parties,
                  int64_t timeout_ms, const char *client, int action)
{
    bp_request r;
    it_req_init(&r, BP_OP_WAIT, id);
    set_name(&r, barrier);
    r.parties = parties;
    r.timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    r.action = action;
    if (client)
        snprintf(r.client, sizeof r.client, "%s", client);
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send wait: %s", strerror(-rc));
}

void it_send_action_done(it_conn *c, uint64_t id, const char *barrier, uint64_t generation,
                         int success)
{
    bp_request r;
    it_req_init(&r, BP_OP_ACTION_DONE, id);
    set_name(&r, barrier);
    r.generation = generation;
    r.success = success;
    int rc = it_send_req(c, &r);
    it_assert_msg(rc == 0, "send action_done: %s", strerror(-rc));
}

/* ---- expectations ---- */

static const char *recv_what(int rc)
{
    switch (rc) {
    case IT_TIMEOUT: return "timed out";
    case IT_EOF: return "connection closed";
    case IT_BAD: return "bad line";
    default: return "?";
    }
}

void it_expect_reply(it_conn *c, int timeout_ms, bp_reply *out)
{
    int rc = it_recv_skip(c, timeout_ms, 0, NULL, out);
    it_assert_msg(rc == IT_LINE, "expected a reply: %s after %d ms", recv_what(rc), timeout_ms);
    if (out->kind != BP_MSG_REPLY) {
        int kind = out->kind;
        char *txt = cJSON_PrintUnformatted(out->json);
        fprintf(stderr, "itest: unexpected event: %s\n", txt ? txt : "?");
        free(txt);
        bp_reply_free(out);
        it_assert_msg(0, "expected a reply, got event kind %d", kind);
    }
}

static void show(const char *what, const bp_reply *r)
{
    char *txt = cJSON_PrintUnformatted(r->json);
    fprintf(stderr, "itest: %s: %s\n", what, txt ? txt : "?");
    free(txt);
}

void it_expect_ok(it_conn *c, uint64_t id, int timeout_ms, bp_reply *out)
{
    it_expect_reply(c, timeout_ms, out);
    if (out->code != 0 || !out->has_id || out->id != id) {
        show("unexpected reply", out);
        it_assert_msg(0, "expected ok for id %llu, got code %s id %llu: %s",
                      (unsigned long long)id, bp_err_name(out->code),
                      (unsigned long long)out->id, out->message);
    }
}

void it_expect_err(it_conn *c, int64_t id, int code, int timeout_ms, char *msg, size_t cap)
{
    bp_reply r;
    it_expect_reply(c, timeout_ms, &r);
    int id_ok = id < 0 ? !r.has_id : (r.has_id && r.id == (uint64_t)id);
    if (r.code != code || !id_ok) {
        show("unexpected reply", &r);
        bp_reply_free(&r);
        it_assert_msg(0, "expected error %s for id %lld, got %s", bp_err_name(code), (long long)id,
                      r.code ? bp_err_name(r.code) : "ok");
    }
    if (msg && cap)
        snprintf(msg, cap, "%s", r.message);
    it_assert_msg(r.message[0] != '\0', "error reply without a message");
    bp_reply_free(&r);
}

void it_expect_release(it_conn *c, uint64_t id, int timeout_ms, unsigned *index,
                       uint64_t *generation)
{
    bp_reply r;
    it_expect_ok(c, id, timeout_ms, &r);
    if (!r.has_index) {
        show("release without index", &r);
        bp_reply_free(&r);
        it_assert_msg(0, "wait %llu: reply has no index", (unsigned long long)id);
    }
    if (index)
        *index = r.index;
    if (generation)
        *generation = r.generation;
    bp_reply_free(&r);
}

void it_expect_silence(it_conn *c, int ms)
{
    bp_reply r;
    int rc = it_recv_skip(c, ms, 0, NULL, &r);
    if (rc == IT_LINE) {
        show("expected nothing, got", &r);
        bp_reply_free(&r);
    }
    it_assert_msg(rc == IT_TIMEOUT, "expected nothing for %d ms, got: %s", ms,
                  rc == IT_LINE ? "a message" : recv_what(rc));
}

void it_expect_eof(it_conn *c, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - it_now_ms();
        bp_reply r;
        int rc = it_recv(c, left > 0 ? (int)left : 0, &r);
        if (rc == IT_EOF)
            return;
        if (rc == IT_LINE && (r.kind == BP_MSG_HEARTBEAT || r.kind == BP_MSG_SHUTDOWN)) {
            bp_reply_free(&r);
            continue;
        }
        if (rc == IT_LINE) {
            show("expected the connection to close, got", &r);
            bp_reply_free(&r);
        }
        it_assert_msg(0, "expected the connection to close within %d ms: %s", timeout_ms,
                      rc == IT_LINE ? "got a message" : recv_what(rc));
    }
}

int it_try_ping(it_conn *c, uint64_t id, int timeout_ms)
{
    bp_request q;
    it_req_init(&q, BP_OP_PING, id);
    if (it_send_req(c, &q) < 0)
        return 0;
    bp_reply r;
    if (it_recv_skip(c, timeout_ms, 0, NULL, &r) != IT_LINE)
        return 0;
    int ok = r.kind == BP_MSG_REPLY && r.code == 0 && r.has_id && r.id == id &&
             it_jbool(&r, "pong") == 1;
    bp_reply_free(&r);
    return ok;
}

void it_expect_ping(it_conn *c, uint64_t id)
{
    it_send_op(c, BP_OP_PING, id, NULL);
    bp_reply r;
    it_expect_ok(c, id, IT_TIMEOUT_MS, &r);
    int pong = it_jbool(&r, "pong");
    bp_reply_free(&r);
    it_assert_msg(pong == 1, "ping reply without \"pong\":true");
}

static uint64_t admin_id = 1u << 30; /* ids for the helpers' own requests */

void it_status(it_conn *admin, const char *name, bp_reply *out)
{
    uint64_t id = admin_id++;
    it_send_op(admin, BP_OP_STATUS, id, name);
    it_expect_ok(admin, id, IT_TIMEOUT_MS, out);
}

void it_wait_n_waiting(it_conn *admin, const char *name, unsigned n, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    double got = NAN;
    for (;;) {
        /* Requests on other connections may not have been read yet: until the
         * first one is, the barrier does not exist (notfound counts as 0). */
        uint64_t id = admin_id++;
        it_send_op(admin, BP_OP_STATUS, id, name);
        bp_reply r;
        it_expect_reply(admin, IT_TIMEOUT_MS, &r);
        it_assert_msg(r.has_id && r.id == id && (r.code == 0 || r.code == BP_ENOTFOUND),
                      "status '%s': %s %s", name, bp_err_name(r.code), r.message);
        got = r.code == 0 ? it_jnum(&r, "n_waiting") : 0;
        bp_reply_free(&r);
        if (got == (double)n)
            return;
        it_assert_msg(it_now_ms() < deadline, "barrier '%s': n_waiting %g, expected %u within %d ms",
                      name, got, n, timeout_ms);
        it_sleep_ms(10);
    }
}

double it_stat(it_conn *admin, const char *field)
{
    uint64_t id = admin_id++;
    it_send_op(admin, BP_OP_STATS, id, NULL);
    bp_reply r;
    it_expect_ok(admin, id, IT_TIMEOUT_MS, &r);
    double v = it_jnum(&r, field);
    bp_reply_free(&r);
    it_assert_msg(!isnan(v), "stats has no number '%s'", field);
    return v;
}

/* ---- JSON fields ---- */

const cJSON *it_jget(const bp_reply *r, const char *key)
{
    return r->json ? cJSON_GetObjectItemCaseSensitive((const cJSON *)r->json, key) : NULL;
}

double it_jnum(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

const char *it_jstr(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int it_jbool(const bp_reply *r, const char *key)
{
    const cJSON *it = it_jget(r, key);
    return cJSON_IsBool(it) ? cJSON_IsTrue(it) : -1;
}

/* ---- running ---- */

/* Cases run in forked children (CK_FORK), so a skip is told to the runner
 * through a marker file. */
static char skip_marker[128];

void it_skip(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "SKIP: %s\n", msg);
    fflush(stderr);
    if (skip_marker[0]) {
        int fd = open(skip_marker, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            close(fd);
    }
}

int it_run(const char *suite, const it_case *cases, size_t n, int argc, char **argv)
{
    return it_run_cleanup(suite, cases, n, argc, argv, NULL);
}

int it_run_cleanup(const char *suite, const it_case *cases, size_t n, int argc, char **argv,
                   void (*cleanup)(void))
{
    if (argc > 1 && !getenv("BARRIERD"))
        setenv("BARRIERD", argv[1], 1);
    signal(SIGPIPE, SIG_IGN);
    snprintf(skip_marker, sizeof skip_marker, "/tmp/itest-skip-%ld", (long)getpid());
    unlink(skip_marker);
    const char *only = getenv("CK_RUN_CASE");
    int found = !only || !*only;
    Suite *s = suite_create(suite);
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
        if (only && strcmp(only, cases[i].name) == 0)
            found = 1;
    }
    if (!found) {
        fprintf(stderr, "%s: no case named '%s'\n", suite, only);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    int run = srunner_ntests_run(sr);
    srunner_free(sr);
    if (cleanup)
        cleanup();
    int skipped = access(skip_marker, F_OK) == 0;
    unlink(skip_marker);
    if (run == 0) {
        fprintf(stderr, "%s: no test ran\n", suite);
        return EXIT_FAILURE;
    }
    if (failed)
        return EXIT_FAILURE;
    return skipped && run == 1 ? IT_SKIP_CODE : EXIT_SUCCESS;
}
