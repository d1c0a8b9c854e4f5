/* sv_uring.c - a release's small replies in one io_uring submission.
 *
 * A release owes each of its connections one write. Made one system call at a
 * time, each pays the kernel's entry and exit; handed to io_uring together,
 * they cost one io_uring_enter for up to SV_URING_N connections. The replies
 * are copied into staging slots (they are small: at most SV_SMALL_WRITE bytes
 * each, where the plain path copies them to the stack anyway) and sent with
 * MSG_DONTWAIT, so that every send completes inside the submission: a socket
 * that cannot take its reply whole answers at once with what it took, and the
 * rest goes the usual way (sv_write.c), queued behind nothing. Nothing is in
 * flight once sv__uring_flush returns, so the order of a connection's replies
 * is the order of its writes, as on the plain path.
 *
 * Where the kernel refuses io_uring (a seccomp filter, kernel.io_uring_disabled)
 * or --no-io-uring is given, there is no ring and every write is plain
 * (docs/performance.md).
 */
#include "sv_server.h"

#include "sv_log.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sv_uring {
    struct io_uring ring;
    unsigned n;                       /* staged replies */
    sv_conn *conn[SV_URING_N];
    uint32_t len[SV_URING_N];
    char stage[SV_URING_N][SV_SMALL_WRITE];
};

int sv__uring_init(sv_server *s)
{
    s->uring = NULL;
    if (s->cfg->no_io_uring) {
        SV_INFO("io_uring off (--no-io-uring): a release writes once per connection");
        return 0;
    }
    sv_uring *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    int rc = io_uring_queue_init(SV_URING_N, &u->ring, 0);
    if (rc < 0) {
        SV_INFO("io_uring unavailable (%s): a release writes once per connection",
                strerror(-rc));
        free(u);
        return 0;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    int can_send = probe && io_uring_opcode_supported(probe, IORING_OP_SEND);
    io_uring_free_probe(probe);
    if (!can_send) { /* an emulating sandbox may lack it */
        SV_INFO("io_uring unavailable (no send operation): a release writes once per "
                "connection");
        io_uring_queue_exit(&u->ring);
        free(u);
        return 0;
    }
    s->uring = u;
    SV_INFO("io_uring on: a release's replies to its connections go in one submission");
    return 0;
}

void sv__uring_free(sv_server *s)
{
    if (!s->uring)
        return;
    io_uring_queue_exit(&s->uring->ring);
    free(s->uring);
    s->uring = NULL;
}

int sv__uring_add(sv_server *s, sv_conn *c, const uv_buf_t *bufs, unsigned n, size_t total)
{
    sv_uring *u = s->uring;
    /* Only what the plain path would write at once: a plain, open connection
     * with nothing queued before it, and a reply that fits a slot. */
    if (!u || total > SV_SMALL_WRITE || c->tls || c->state != SV_CONN_OPEN ||
        uv_stream_get_write_queue_size(&c->h.stream) != 0)
        return -1;
    if (u->n == SV_URING_N) {
        sv__uring_flush(s);
        if (!(u = s->uring)) /* it failed, and is gone */
            return -1;
    }
    u->conn[u->n] = c;
    u->len[u->n] = (uint32_t)sv__bufs_copy(u->stage[u->n], bufs, n);
    u->n++;
    return 0;
}

/* What a socket did not take whole, the usual way; an error closes it. */
static void settle(sv_uring *u, unsigned k, int res)
{
    sv_conn *c = u->conn[k];
    if (res == (int)u->len[k])
        return;
    if (res < 0 && res != -EAGAIN) {
        SV_DEBUG("conn %llu %s: write failed: %s", (unsigned long long)c->serial, c->peer,
                 strerror(-res));
        sv__conn_close(c, "disconnected");
        return;
    }
    size_t done = res > 0 ? (size_t)res : 0;
    SV_DEBUG("conn %llu %s: io_uring sent %zu of %u bytes; the rest is queued",
             (unsigned long long)c->serial, c->peer, done, (unsigned)u->len[k]);
    sv__conn_send(c, NULL, 0, u->stage[k] + done, u->len[k] - done, NULL);
}

/* The ring failed. A reply it never took (sent[k] == 0) goes the plain way;
 * one it may or may not have sent cannot be sent again (the connection would
 * read it twice), so its connection is closed: the party's library reconnects
 * and re-announces, and the registry answers it from the generation's record
 * (docs/ha.md). The ring is not used again. */
static void give_up(sv_server *s, const unsigned char *settled, const unsigned char *taken,
                    int err)
{
    sv_uring *u = s->uring;
    SV_WARN("io_uring submission failed (%s); writing once per connection from now on",
            strerror(-err));
    io_uring_queue_exit(&u->ring);
    s->uring = NULL;
    for (unsigned k = 0; k < u->n; k++) {
        if (settled[k] || u->conn[k]->state != SV_CONN_OPEN)
            continue;
        if (taken[k])
            sv__conn_close(u->conn[k], "a reply was lost with io_uring");
        else
            sv__conn_send(u->conn[k], NULL, 0, u->stage[k], u->len[k], NULL);
    }
    free(u);
}

void sv__uring_flush(sv_server *s)
{
    sv_uring *u = s->uring;
    if (!u || !u->n)
        return;
    unsigned char settled[SV_URING_N] = {0}, taken[SV_URING_N] = {0};
    unsigned order[SV_URING_N]; /* the slots, in the order of their SQEs */
    unsigned want = 0;
    for (unsigned k = 0; k < u->n; k++) {
        int fd;
        /* Closed since it was staged: skipped, as the plain path would. */
        if (u->conn[k]->state != SV_CONN_OPEN || uv_fileno(&u->conn[k]->h.handle, &fd) != 0) {
            settled[k] = 1;
            continue;
        }
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe) { /* never: the ring holds as many as there are slots */
            settled[k] = 1;
            sv__conn_send(u->conn[k], NULL, 0, u->stage[k], u->len[k], NULL);
            continue;
        }
        io_uring_prep_send(sqe, fd, u->stage[k], u->len[k], MSG_DONTWAIT | MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, k);
        order[want++] = k;
    }
    int rc;
    do
        rc = want ? io_uring_submit_and_wait(&u->ring, want) : 0;
    while (rc == -EINTR);
    /* The kernel takes SQEs in order; those still in the ring were not sent
     * (all of them when the submission failed). */
    unsigned left = rc < 0 ? want : io_uring_sq_ready(&u->ring);
    for (unsigned i = 0; i < want - (left < want ? left : want); i++)
        taken[order[i]] = 1;
    unsigned got = 0;
    struct io_uring_cqe *cqe;
    while (got < want && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        unsigned k = (unsigned)io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        got++;
        if (k < u->n && !settled[k]) {
            settled[k] = 1;
            settle(u, k, res);
        }
    }
    if (rc < 0 || got < want) {
        give_up(s, settled, taken, rc < 0 ? rc : -EIO);
        return;
    }
    u->n = 0;
}
