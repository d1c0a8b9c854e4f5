/* bc_client.c - open and close a handle: parse the address list, set up,
 * connect to the first server of the list that answers hello. */
#include "bc_internal.h"
#include "bp_token.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int check_opts(const bc_options *o)
{
    int rc = bc__check_reserved(o->reserved, sizeof o->reserved, "bc_options");
    if (rc < 0) return rc;
    if (o->connect_timeout_s < 0 || o->connect_timeout_s != o->connect_timeout_s)
        return bc__fail(BC_EINVAL, "connect_timeout_s must be >= 0");
    if (o->io_grace_s < 0 || o->io_grace_s != o->io_grace_s)
        return bc__fail(BC_EINVAL, "io_grace_s must be >= 0");
    if (o->resume_s != o->resume_s) return bc__fail(BC_EINVAL, "resume_s is NaN");
    const char *n = o->client_name;
    if (n && (strlen(n) > BP_CLIENT_MAX || !bp_utf8_clean(n, strlen(n))))
        return bc__fail(BC_EINVAL,
                        "client name must be at most %d bytes of UTF-8 "
                        "without control characters",
                        BP_CLIENT_MAX);
    return 0;
}

static int normalize_token(const char *src, const char *what, char token[BP_TOKEN_MAX + 1])
{
    char err[160];
    if (bp_token_normalize(src, strlen(src), token, err, sizeof err) < 0)
        return bc__fail(BC_EINVAL, "%s: %s", what, err);
    return 0;
}

/* The token to send, by the one rule of bp_token.h: bc_options.auth_token,
 * else $BARRIERD_TOKEN when it is set and not empty. "" for none. */
static int pick_token(const bc_options *o, char token[BP_TOKEN_MAX + 1])
{
    token[0] = '\0';
    if (o->auth_token) return normalize_token(o->auth_token, "auth_token", token);
    const char *env = getenv("BARRIERD_TOKEN");
    return env && *env ? normalize_token(env, "$BARRIERD_TOKEN", token) : 0;
}

/* Seconds to nanoseconds for an option: 0 means dflt, and huge values are
 * clamped so deadlines computed from them cannot overflow int64. */
static int64_t option_ns(double s, double dflt)
{
    if (!(s > 0)) s = dflt;
    if (s > BC__MAX_OPTION_S) s = BC__MAX_OPTION_S;
    return (int64_t)(s * BC__NS_PER_S);
}

static bc_client *client_new(const bc_options *o)
{
    bc_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = -1;
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        free(c);
        return NULL;
    }
    if (o->client_name) snprintf(c->name, sizeof c->name, "%s", o->client_name);
    c->grace_ns = option_ns(o->io_grace_s, BC__GRACE_S);
    c->connect_ns = option_ns(o->connect_timeout_s, BC__CONNECT_TIMEOUT_S);
    c->resume_ns = o->resume_s < 0 ? -1 : option_ns(o->resume_s, BC__RESUME_S);
    c->silence_ns = c->grace_ns; /* until hello tells the heartbeat interval */
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_mutex_init(&c->smu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are monotonic */
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    bp_framer_init(&c->framer, BC__MAX_LINE);
    bc__rand_seed(c);
    c->last_heard_ns = bc__now_ns();
    return c;
}

/* Try the addresses in order, each within the connect timeout; the first that
 * says hello wins. On failure the message names every attempt, and the code is
 * the most telling one: a server's refusal (auth, limit) over unreachable. A
 * round in which a standby answered but knew no leader (an election under
 * way) is tried again, within the connect timeout. */
static int connect_first(bc_client *c)
{
    char msgs[BC__MSG_MAX] = "";
    int rc = BC_ECONN;
    int64_t end = bc__now_ns() + c->connect_ns;
    for (int round = 0;; round++) {
        int electing = 0;
        msgs[0] = '\0';
        for (size_t k = 0; k < c->n_addrs; k++) {
            size_t i = k;
            SSL *ssl = NULL;
            bc__hello h = {.silence_ns = c->silence_ns};
            int fd = bc__open(c, &i, end, &h, &ssl);
            if (fd >= 0) {
                c->silence_ns = h.silence_ns;
                c->max_line = h.max_line;
                c->fd = fd;
                c->ssl = ssl;
                c->cur = i;
                c->epoch = 1;
                bp_addr_format(&c->addrs[i], c->addr, sizeof c->addr);
                return 0;
            }
            electing |= fd == BC_ENOTLEADER;
            if (rc == BC_ECONN || rc == BC_ENOTLEADER) rc = fd;
            size_t used = strlen(msgs);
            snprintf(msgs + used, sizeof msgs - used, "%s%s", used ? "; " : "",
                     bc_last_error_message());
        }
        int64_t pause = BC__BACKOFF_BASE_NS << (round < 5 ? round : 5);
        if (!electing || bc__now_ns() + pause >= end) break;
        struct timespec ts = {.tv_sec = pause / BC__NS_PER_S, .tv_nsec = pause % BC__NS_PER_S};
        nanosleep(&ts, NULL);
    }
    return bc__fail(rc, "%s", msgs);
}

int bc_connect(const char *addr, const bc_options *opts, bc_client **out)
{
    bc_options o = {0};
    if (opts) o = *opts;
    if (!out) return bc__fail(BC_EINVAL, "out is NULL");
    if (!addr) addr = getenv("BARRIERD_ADDR");
    if (!addr || !*addr) addr = BC__DEFAULT_ADDR;
    int rc = check_opts(&o);
    if (rc < 0) return rc;
    bc_client *c = client_new(&o);
    if (!c) return bc__fail(BC_ENOMEM, "out of memory");
    char err[BC__MSG_MAX];
    if (bp_addr_parse_list(addr, 0, c->addrs, BP_ADDR_LIST_MAX, &c->n_addrs, err, sizeof err) < 0)
        rc = bc__fail(BC_EINVAL, "%s", err);
    if (rc == 0) rc = pick_token(&o, c->token);
    if (rc == 0) rc = bc__tls_setup(c, &o);
    if (rc == 0) rc = connect_first(c);
    if (rc < 0) {
        bc_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void bc_close(bc_client *c)
{
    if (!c) return;
    bc__tls_free(c);
    if (c->fd >= 0) close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    bp_framer_free(&c->framer);
    bp_buf_free(&c->outbox);
    bc__last_free(c);
    memset(c->token, 0, sizeof c->token);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->wmu);
    pthread_mutex_destroy(&c->smu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
