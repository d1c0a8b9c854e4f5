/* bc_resume.c - opening a connection, losing it, and taking it back.
 *
 * bc__open dials one address of the list and says hello on the new socket
 * before anyone else may use it, with the handle's token; bc_connect and the
 * reconnect both use it. When a connection is lost and resuming is on
 * (bc_options.resume_s >= 0), the handle is `lost` rather than dead: the
 * thread holding the reader role calls bc__resume_step until a server takes
 * the handle back or the resume window (counted from the loss) is over.
 *
 * Backoff: the addresses are tried round robin, starting with the one after
 * the lost one; a round tries each once, back to back. After the k-th round
 * that failed, the next waits a random time in [0, min(1 s, 20 ms * 2^(k-1))]
 * (full jitter: parties that lost the same server do not come back in step).
 * Each attempt is bounded by connect_timeout_s and by the window's end.
 *
 * Taking the handle back: the new socket is swapped in under c->wmu and c->mu
 * (a new epoch), then every outstanding call is re-sent in one write before any
 * other: the waits (same id, "resume":true, the remaining timeout, ticket, last
 * outcome, action generation), then the action_done replies not yet
 * acknowledged, then the rest (read-only requests, and abort or reset made
 * while lost, which never went out). Abort and reset already sent on the lost
 * connection failed at the loss: whether the server did them is unknown.
 */
#include "bc_internal.h"

#include <cjson/cJSON.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HELLO_REPLY_MAX 8192

/* ---- hello on a fresh socket ---- */

/* Read one line (without its '\n') into buf by deadline_ns, consuming exactly
 * that line: the server sends nothing else before we speak again. Returns its
 * length, or -1 with why set. */
static ssize_t read_line(bc_client *c, int fd, SSL *ssl, char *buf, size_t cap, int64_t deadline_ns,
                         const char **why)
{
    for (;;) {
        if (bc__now_ns() >= deadline_ns) {
            *why = "no answer to hello in time";
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (!(ssl && bc__tls_pending(c, ssl)) && poll(&p, 1, bc__poll_ms(deadline_ns)) <= 0)
            continue;
        ssize_t n = bc__recv(c, fd, ssl, buf, cap, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) {
            *why = n == 0 ? "closed by the server" : bc__recv_error(errno);
            return -1;
        }
        /* A TLS record (an alert, a handshake) where a line was expected. */
        if (!ssl && (buf[0] == 0x15 || buf[0] == 0x16)) {
            *why = "the server speaks TLS: write the address as tls://HOST:PORT";
            return -1;
        }
        const char *nl = memchr(buf, '\n', (size_t)n);
        if (nl) {
            size_t len = (size_t)(nl - buf);
            ssize_t got = bc__recv(c, fd, ssl, buf, len + 1, 0);
            (void)got; /* peeked: it is there */
            return (ssize_t)len;
        }
        if ((size_t)n == cap) {
            *why = "hello reply too long";
            return -1;
        }
        /* Half a line: the rest is on its way (rare; a reply is one small write). */
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

/* The silence limit a server's hello reply implies: three of its heartbeat
 * intervals (0 or absent: no heartbeats), plus the grace. */
static int64_t silence_of(const bc_client *c, const bp_reply *reply)
{
    const cJSON *hb = cJSON_GetObjectItemCaseSensitive(reply->json, "heartbeat_ms");
    double hb_ms = cJSON_IsNumber(hb) && hb->valuedouble > 0 ? hb->valuedouble : 0;
    if (hb_ms > BC__MAX_OPTION_S * 1000) hb_ms = BC__MAX_OPTION_S * 1000;
    return 3 * (int64_t)(hb_ms * 1e6) + c->grace_ns;
}

/* The server's --max-line from its hello reply; 0 when it did not say. */
static size_t max_line_of(const bp_reply *reply)
{
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(reply->json, "max_line");
    return cJSON_IsNumber(ml) && ml->valuedouble >= 1 && ml->valuedouble < 1e15
               ? (size_t)ml->valuedouble
               : 0;
}

static int handshake(bc_client *c, int fd, SSL *ssl, const char *text, int64_t deadline_ns,
                     bc__hello *h, char leader[BP_NAME_MAX + 1])
{
    bp_request r = {.op = BP_OP_HELLO, .has_id = 1, .version = BP_PROTOCOL_VERSION};
    if (c->token[0]) {
        r.has_token = 1;
        snprintf(r.token, sizeof r.token, "%s", c->token);
    }
    bp_buf b = BP_BUF_INIT;
    bp_request_encode(&b, &r);
    memset(r.token, 0, sizeof r.token);
    const char *werr =
        b.oom ? "out of memory" : bc__write_conn(c, fd, ssl, b.data, b.len, deadline_ns);
    if (b.data) memset(b.data, 0, b.len);
    bp_buf_free(&b);
    /* Even when the write failed, the server may have said why it closed
     * (a connection limit) before we spoke: read that first. */
    char line[HELLO_REPLY_MAX];
    const char *rerr = NULL;
    ssize_t n = read_line(c, fd, ssl, line, sizeof line, deadline_ns, &rerr);
    /* A TLS port closes on a plain hello at once: say what may be wrong. */
    if (n < 0)
        return bc__fail(BC_ECONN, "connect %s: %s%s", text, werr ? werr : rerr,
                        !ssl && !werr && strcmp(rerr, "closed by the server") == 0
                            ? " (if it is a TLS port, write the address as tls://HOST:PORT)"
                            : "");
    bp_reply reply;
    if (bp_reply_decode(line, (size_t)n, &reply) < 0 || reply.kind != BP_MSG_REPLY) {
        bp_reply_free(&reply); /* zeroed on failure */
        return bc__fail(BC_EPROTO, "%s does not speak the barrierd protocol: %.*s", text,
                        (int)(n > 80 ? 80 : n), line);
    }
    int rc = 0;
    snprintf(leader, BP_NAME_MAX + 1, "%s", reply.code == BC_ENOTLEADER ? reply.leader : "");
    if (reply.code < 0 && reply.has_id)
        rc = bc__reply_code(&reply);
    else if (reply.code < 0) /* said before closing, without waiting for hello */
        rc = bc__fail(reply.code, "%s: %.960s", bc_strerror(reply.code), reply.message);
    else {
        h->silence_ns = silence_of(c, &reply);
        h->max_line = max_line_of(&reply);
    }
    bp_reply_free(&reply);
    return rc;
}

/* The index of a in the list, adding it (a group member learned from a
 * standby) when it is not there and there is room; -1 if there is none. */
static long addr_index(bc_client *c, const bp_addr *a)
{
    for (size_t i = 0; i < c->n_addrs; i++)
        if (c->addrs[i].kind == a->kind && c->addrs[i].port == a->port &&
            c->addrs[i].tls == a->tls && strcmp(c->addrs[i].host, a->host) == 0 &&
            strcmp(c->addrs[i].path, a->path) == 0)
            return (long)i;
    if (c->n_addrs == BP_ADDR_LIST_MAX) return -1;
    c->addrs[c->n_addrs] = *a;
    return (long)c->n_addrs++;
}

/* Dial addrs[i] and say hello; a standby of an HA group that names its
 * leader sends us there (at most twice, so two confused standbys cannot
 * bounce us around). */
int bc__open(bc_client *c, size_t *i, int64_t deadline_ns, bc__hello *h, SSL **ssl)
{
    for (int hops = 0;; hops++) {
        char text[300], leader[BP_NAME_MAX + 1];
        bp_addr_format(&c->addrs[*i], text, sizeof text);
        int fd = bc__dial(&c->addrs[*i], text, deadline_ns);
        if (fd < 0) return fd;
        int rc = bc__tls_connect(c, fd, &c->addrs[*i], text, deadline_ns, ssl);
        if (rc == 0) rc = handshake(c, fd, *ssl, text, deadline_ns, h, leader);
        if (rc == 0) return fd;
        SSL_free(*ssl);
        *ssl = NULL;
        close(fd);
        bp_addr to;
        char err[BC__MSG_MAX];
        long j = -1;
        if (rc != BC_ENOTLEADER || !leader[0] || hops == 2 ||
            bp_addr_parse(leader, strlen(leader), 0, &to, err, sizeof err) < 0 ||
            (j = addr_index(c, &to)) < 0 || (size_t)j == *i)
            return rc;
        *i = (size_t)j;
    }
}

/* ---- losing the connection ---- */

/* Settle call with an error made here (c->mu held). */
static void __attribute__((format(printf, 4, 5)))
settle_error(bc_client *c, bc__call *call, int code, const char *fmt, ...)
{
    call->reply = (bp_reply){.kind = BP_MSG_REPLY, .code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->reply.message, sizeof call->reply.message, fmt, ap);
    va_end(ap);
    call->done = 1;
    pthread_cond_broadcast(&c->cv);
}

/* A wait's timeout still counts while the connection is down: nobody else can
 * end it then (c->mu held; the handle is lost). */
static void expire_waits(bc_client *c)
{
    int64_t now = bc__now_ns();
    for (bc__call *k = c->calls; k; k = k->next)
        if (k->kind == BC__CALL_WAIT && !k->done && k->deadline_ns && now >= k->deadline_ns)
            settle_error(c, k, BC_ETIMEDOUT,
                         "timed out: the wait's timeout passed while reconnecting (%.900s)",
                         c->lost_msg);
}

/* The server closed the connection with an error right after each of the
 * last re-sends: one of the calls is one it cannot take (a line too long), and
 * sending it again changes nothing. Every outstanding call gets that error
 * (c->mu held); the handle stays usable. */
static void give_calls_up(bc_client *c, int code, const char *why)
{
    for (bc__call *k = c->calls; k; k = k->next)
        if (!k->done)
            settle_error(c, k, code,
                         "%.900s (the server closed the connection right after each of %u "
                         "re-sends; not retried)",
                         why, c->bad_closes);
    c->bad_closes = 0;
}

static void fail_unknown(bc_client *c, bc__call *call)
{
    call->reply = (bp_reply){.kind = BP_MSG_REPLY, .code = BC_ECONN};
    snprintf(call->reply.message, sizeof call->reply.message,
             "connection to %s lost with the %s in flight: whether the server did it is "
             "unknown, and it is not retried",
             c->addr, bp_op_name(call->req.op));
    call->done = 1;
}

void bc__lose(bc_client *c, int code, const char *fmt, ...)
{
    if (c->dead || c->lost) return;
    char msg[BC__MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->resume_ns < 0) {
        bc__kill(c, code, "%s", msg);
        return;
    }
    c->lost = 1;
    c->drained = 0;
    c->lost_ns = bc__now_ns();
    /* A reason the server gave before closing says more than "lost". */
    int heard = c->close_code && code == BC_ECONN;
    c->lost_code = code == BC_ESHUTDOWN || c->close_code == BC_ESHUTDOWN ? BC_ESHUTDOWN : BC_ECONN;
    snprintf(c->lost_msg, sizeof c->lost_msg, "%s", heard ? c->close_msg : msg);
    /* An error without id and a close, right after a re-send: counted. */
    int bad = c->close_code && c->close_code != BC_ESHUTDOWN && c->reannounced;
    int bad_code = c->close_code;
    c->bad_closes = bad ? c->bad_closes + 1 : 0;
    c->reannounced = 0;
    c->close_code = 0;
    c->attempt_msg[0] = '\0';
    c->next_addr = (c->cur + 1) % c->n_addrs;
    c->round_tries = 0;
    c->round = 0;
    c->retry_ns = 0;
    c->probe_ns = 0;
    for (bc__call *k = c->calls; k; k = k->next)
        if (k->kind == BC__CALL_ONCE && !k->done && k->epoch == c->epoch) fail_unknown(c, k);
    if (c->bad_closes >= BC__BAD_CLOSES_MAX) give_calls_up(c, bad_code, c->lost_msg);
    expire_waits(c);
    bc__wake_all(c);
}

/* ---- taking the handle back ---- */

/* Append every outstanding call of one kind (kind 0: those not WAIT or ACK)
 * in the order they were made (c->mu held). */
static void encode_kind(bc_client *c, bc__call **v, size_t n, bc__kind kind, bp_buf *b)
{
    for (size_t i = n; i-- > 0;) {
        bc__call *k = v[i];
        int match = kind ? k->kind == kind : k->kind != BC__CALL_WAIT && k->kind != BC__CALL_ACK;
        /* An action_done goes again even when answered, as long as its wait is
         * outstanding: the server that answered it may be the one lost. */
        if (!match || (k->done && k->kind != BC__CALL_ACK)) continue;
        /* A wait made while the handle was lost was never sent: it is new. */
        size_t before = b->len;
        bc__encode_call(c, k, k->kind == BC__CALL_WAIT && k->epoch != 0, b);
        k->epoch = c->epoch;
        if (!b->oom && c->max_line && b->len - before > c->max_line + 1) {
            /* Too long for this server: it would close on it, again and again. */
            size_t len = b->len - before;
            b->len = before;
            if (!k->done) {
                char msg[BC__MSG_MAX];
                bc__line_msg(c, len, msg, sizeof msg);
                settle_error(c, k, BC_ELIMIT, "%s", msg);
            }
        }
    }
}

/* The re-announcement: waits, then action_done, then the rest (c->mu held). */
static void reannounce(bc_client *c, bp_buf *b)
{
    size_t n = 0;
    for (bc__call *k = c->calls; k; k = k->next)
        n++;
    bc__call **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v) {
        b->oom = 1;
        return;
    }
    n = 0; /* newest first, as listed; encode_kind walks it backwards */
    for (bc__call *k = c->calls; k; k = k->next)
        v[n++] = k;
    encode_kind(c, v, n, BC__CALL_WAIT, b);
    encode_kind(c, v, n, BC__CALL_ACK, b);
    encode_kind(c, v, n, 0, b);
    free(v);
}

/* Swap the new socket in and re-send (called without c->mu; returns with it). */
static void take_back(bc_client *c, int fd, SSL *ssl, size_t i, const bc__hello *h)
{
    pthread_mutex_lock(&c->wmu);
    pthread_mutex_lock(&c->mu);
    SSL_free(c->ssl);
    close(c->fd);
    c->fd = fd;
    c->ssl = ssl;
    c->epoch++;
    c->cur = i;
    c->lost = 0;
    bp_addr_format(&c->addrs[i], c->addr, sizeof c->addr);
    c->silence_ns = h->silence_ns;
    c->max_line = h->max_line;
    c->last_heard_ns = bc__now_ns();
    c->probe_ns = 0;
    bp_framer_free(&c->framer);
    bp_framer_init(&c->framer, BC__MAX_LINE);
    bp_buf_reset(&c->outbox);
    bp_buf b = BP_BUF_INIT;
    reannounce(c, &b);
    c->reannounced = b.len > 0;
    uint64_t epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    /* Still under wmu: nothing goes out on the new connection before this. */
    const char *why = b.oom ? "out of memory"
                            : bc__write_conn(c, fd, ssl, b.data, b.len, bc__now_ns() + c->grace_ns);
    pthread_mutex_unlock(&c->wmu);
    bp_buf_free(&b);
    pthread_mutex_lock(&c->mu);
    if (why && c->epoch == epoch) bc__lose(c, BC_ECONN, "connection to %s lost: %s", c->addr, why);
    pthread_cond_broadcast(&c->cv);
}

static void give_up(bc_client *c)
{
    double s = (double)c->resume_ns / BC__NS_PER_S;
    bc__kill(c, c->lost_code, "%s; no server took the connection back within %.1f s%s%s%s",
             c->lost_msg, s, c->attempt_msg[0] ? " (last attempt: " : "", c->attempt_msg,
             c->attempt_msg[0] ? ")" : "");
}

/* The backoff after a round of attempts that all failed (c->mu held). */
static void back_off(bc_client *c)
{
    c->round_tries = 0;
    if (c->round < 16) c->round++;
    int64_t bound = BC__BACKOFF_BASE_NS << (c->round - 1);
    if (bound > BC__BACKOFF_CAP_NS) bound = BC__BACKOFF_CAP_NS;
    c->retry_ns = bc__now_ns() + (int64_t)(bc__rand(c) % (uint64_t)(bound + 1));
}

static void sleep_until(bc_client *c, int64_t t)
{
    int64_t cap = bc__now_ns() + BC__NS_PER_S;
    if (t > cap) t = cap;
    struct timespec ts = {.tv_sec = t / BC__NS_PER_S, .tv_nsec = t % BC__NS_PER_S};
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

/* Read what the lost connection still holds (c->mu held): a release the
 * server sent before it died is in the socket's buffer even when a write
 * found the connection gone first; routed now, it settles its wait instead of
 * being re-announced into a generation the server has to guess at. */
static void drain_old(bc_client *c)
{
    c->drained = 1;
    char buf[32768];
    for (int i = 0; i < 64; i++) { /* bounded: at most 2 MiB */
        ssize_t n = bc__recv(c, c->fd, c->ssl, buf, sizeof buf, 0);
        if (n <= 0) break;
        bc__consume(c, buf, (size_t)n);
    }
}

void bc__resume_step(bc_client *c)
{
    if (!c->drained)
        drain_old(c);
    expire_waits(c);
    int64_t now = bc__now_ns(), end = c->lost_ns + c->resume_ns;
    if (now >= end) {
        give_up(c);
        return;
    }
    if (now < c->retry_ns) {
        sleep_until(c, c->retry_ns < end ? c->retry_ns : end);
        return;
    }
    size_t i = c->next_addr;
    c->next_addr = (i + 1) % c->n_addrs;
    int64_t deadline = now + c->connect_ns < end ? now + c->connect_ns : end;
    pthread_mutex_unlock(&c->mu);
    /* This thread's own message must not change for an attempt it did not ask for. */
    char saved[BC__MSG_MAX], why[BC__MSG_MAX];
    snprintf(saved, sizeof saved, "%s", bc_last_error_message());
    bc__hello h = {.silence_ns = c->grace_ns};
    SSL *ssl = NULL;
    int fd = bc__open(c, &i, deadline, &h, &ssl);
    snprintf(why, sizeof why, "%s", bc_last_error_message());
    bc__fail(0, "%s", saved);
    if (fd >= 0) {
        take_back(c, fd, ssl, i, &h);
        return;
    }
    pthread_mutex_lock(&c->mu);
    snprintf(c->attempt_msg, sizeof c->attempt_msg, "%s", why);
    if (++c->round_tries >= c->n_addrs) back_off(c);
}
