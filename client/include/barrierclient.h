/* barrierclient.h - libbarrierclient: join barrierd's named barriers from C.
 *
 * A barrier of `parties` releases all its waiters together once that many have
 * called bc_wait, then is ready for its next generation: Python's
 * threading.Barrier, across processes and machines. docs/client.md is the guide.
 *
 * Conventions, for every function below:
 * - Returns BC_OK (0) or a negative BC_E* code. After a failure,
 *   bc_last_error_message() describes it (the server's detail message when there
 *   is one) for the calling thread.
 * - Strings passed in are only read during the call; nothing is retained.
 * - A bc_client may be used by any number of threads at once, and several may
 *   block in bc_wait on it together: their requests share its one connection,
 *   matched by id. Only bc_close must not race with other calls on the handle.
 * - The library never raises SIGPIPE and never blocks forever on a dead,
 *   stopped or vanished server. A lost connection is taken back by itself
 *   (bc_options.resume_s, 30 s by default): the handle reconnects, through
 *   the address list, and blocked calls go on as if nothing happened. Only
 *   when no server takes it back in time do they return BC_ECONN (or
 *   BC_ESHUTDOWN if the server said it was shutting down), and the handle then
 *   stays unusable (every call returns that code); close it and connect again.
 * - Liveness rule, for every blocked call whatever its timeout (timeout_s < 0
 *   included) and for bc_wait's action helper thread: when the server has sent
 *   nothing at all for a silence limit, the library sends it a ping and waits
 *   io_grace_s more. Any byte from the server counts as alive and restarts the
 *   clock; if none comes, the server is dead: the connection is lost (see
 *   above: a reconnect, or BC_ECONN for every blocked caller). The silence limit of a wait is 3 x the server's
 *   heartbeat interval (from hello; a server with heartbeats off counts 0) +
 *   io_grace_s; other requests, answered at once, use io_grace_s. So a dead
 *   server is noticed within silence limit + io_grace_s (plus up to a second),
 *   and a live one, however long another party's action takes, never is.
 *   Wait timeouts themselves are the server's business (BC_ETIMEDOUT).
 * - ABI: every struct the caller allocates (bc_options, bc_wait_result,
 *   bc_wait_args, bc_status, bc_stats, bc_event, and bc_barrier_info, of
 *   which bc_list returns arrays) has a fixed size that ends in reserved words. A field added later
 *   takes the place of reserved words, so no size or offset ever changes
 *   within this SONAME (libbarrierclient.so.0) and a program built against an
 *   older header keeps working with a newer library. The caller zeroes
 *   bc_options (`bc_options o = {0};`, valid forever: zero means default)
 *   and its reserved words must stay zero (bc_connect answers BC_EINVAL
 *   otherwise); the library zeroes the reserved words of what it fills in.
 *   Answers of variable length (a broken barrier's reason, the waiting
 *   parties) come in opaque objects read through accessors.
 */
#ifndef BARRIERCLIENT_H
#define BARRIERCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header. bc_version() gives the library's. The build
 * checks these against the project's version (CMake project(VERSION)). */
#define BC_VERSION_MAJOR 0
#define BC_VERSION_MINOR 2
#define BC_VERSION_PATCH 0

/* Error codes: the same values as the wire protocol's (proto/bp_error.h). */
#define BC_OK 0
#define BC_EBROKEN                                                                                 \
    (-1)                   /* the barrier is broken: aborted, reset, a party lost or               \
                              timed out, another party's action failed */
#define BC_ETIMEDOUT (-2)  /* this caller's own timeout broke the barrier */
#define BC_EACTION (-3)    /* this caller ran the action and it failed */
#define BC_EPARTIES (-4)   /* the barrier exists with another number of parties */
#define BC_EINVAL (-5)     /* a bad argument (checked locally or by the server) */
#define BC_ENOTFOUND (-6)  /* abort/reset/status on a barrier that does not exist */
#define BC_ECONN (-7)      /* cannot reach the server, or the connection was lost */
#define BC_EPROTO (-8)     /* the server sent something that is not the protocol */
#define BC_EAUTH (-9)      /* missing or wrong auth token */
#define BC_ELIMIT (-10)    /* a server limit: connections, barriers, line length */
#define BC_ESHUTDOWN (-11) /* the server is shutting down */
#define BC_ENOMEM (-12)    /* out of memory (here or in the server) */
#define BC_ENOTLEADER (-13) /* a standby of an HA group answered; the library follows
                               the leader it names, so callers rarely see this */
#define BC_EMEMBER (-14)   /* rendezvous: this member name is taken in its generation,
                              or the barrier has a member list and the name is not on
                              it (or none was given) */

/* One connection to barrierd. Opaque. */
typedef struct bc_client bc_client;

/* Connection options. Zeroed fields mean the default. 256 bytes (on LP64
 * platforms) now and later: options added later take reserved words. */
typedef struct bc_options {
    /* Token for servers started with --auth-token-file. NULL: $BARRIERD_TOKEN
     * if set and not empty, else none. Either goes through the token rule of
     * barrierd and barrierctl: the first line, with leading and trailing
     * blanks (space, tab, CR) removed, must be 1..256 bytes of UTF-8 without
     * control characters ("sekrit \n" means "sekrit"); else BC_EINVAL. */
    const char *auth_token;
    /* Seconds allowed for connecting and the hello exchange (not for resolving
     * a host name, which takes what the system resolver takes). 0: 10 s; values
     * above 1e6 (~11.6 days) count as 1e6. */
    double connect_timeout_s;
    /* Who this client is, sent with every wait and shown by `status` and in the
     * server's break messages (at most 128 bytes). NULL: "HOSTNAME:PID". */
    const char *client_name;
    /* The grace of the liveness rule (see the top of this file): how much
     * silence, beyond what the server's heartbeat interval explains, a blocked
     * call tolerates before it pings the server, and how long it then waits
     * for any answer before it gives the connection up (BC_ECONN). Also bounds
     * a write the server does not read. 0: 15 s; values above 1e6 (~11.6
     * days) count as 1e6. */
    double io_grace_s;
    /* Restart transparency: how long a handle whose connection is lost (the
     * server died, restarted, shut down, or stopped answering) keeps trying to
     * reconnect, through the address list with backoff, before the calls
     * blocked on it fail. Counted from the loss. While it reconnects, blocked
     * calls see nothing; on success it says hello again and re-announces
     * every outstanding wait (its timeout still counted from its call), so a
     * bc_wait across a restart just returns its release. bc_abort and
     * bc_reset in flight at the loss are not sent again (the server may have
     * done them): they fail with BC_ECONN. Read-only calls are sent again.
     * 0: 30 s; < 0: off (a lost connection makes the handle unusable, every
     * call failing with BC_ECONN or BC_ESHUTDOWN); values above 1e6 count as
     * 1e6. (It took the place of reserved[0].) */
    double resume_s;
    /* TLS, for "tls://HOST:PORT" addresses (docs/tls.md); ignored for the
     * others. The server's certificate is always verified, and its host name
     * (or IP address) checked against it; a failure is BC_ECONN with the
     * reason ("certificate verify failed: unable to get local issuer
     * certificate", "... : hostname mismatch").
     * tls_ca_file: PEM file of the CAs to trust; NULL: the system's store.
     * tls_cert_file, tls_key_file: PEM client certificate (chain) and its key,
     * for servers that require one (mutual TLS); both or neither.
     * tls_server_name: the name to check the certificate against and send as
     * SNI; NULL: the address's host. (They took reserved[0..3].) */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_server_name;
    /* Room for later options: must be zero. */
    uint64_t reserved[23];
} bc_options;

/* The outcome of a released wait. 128 bytes, now and later. */
typedef struct bc_wait_result {
    unsigned index;        /* arrival order in its generation, 0..parties-1; the
                              last to arrive gets parties-1 */
    uint64_t generation;   /* the generation that was released */
    uint64_t reserved[14]; /* room for later fields; written as zero */
} bc_wait_result;

/* A barrier as the server sees it. 128 bytes, now and later. Why it broke and
 * who is waiting: bc_status_detail. */
typedef struct bc_status {
    unsigned parties;      /* fixed by the first wait */
    unsigned n_waiting;    /* parties waiting in the current generation */
    int broken;            /* 1 until a reset */
    uint64_t generation;   /* the current generation; only grows */
    char state[16];        /* "filling", "running_action" or "broken" */
    uint64_t reserved[11]; /* room for later fields; written as zero */
} bc_status;

/* One entry of bc_list: 384 bytes, now and later (the stride of its arrays). */
typedef struct bc_barrier_info {
    char name[256]; /* the barrier's name, NUL-terminated */
    bc_status status;
} bc_barrier_info;

/* Server counters, from the `stats` request. Counters the server does not
 * report are 0. 256 bytes, now and later. */
typedef struct bc_stats {
    uint64_t connections;  /* open connections */
    uint64_t barriers;     /* barriers that exist now */
    uint64_t waiting;      /* parties blocked in wait right now */
    uint64_t waits;        /* wait requests since start */
    uint64_t releases;     /* generations released since start */
    uint64_t breaks;       /* barriers broken since start */
    uint64_t errors;       /* error replies since start */
    double uptime_s;       /* seconds since the server started */
    uint64_t reserved[24]; /* room for later counters; written as zero */
} bc_stats;

/* What a status request says beyond bc_status: why the barrier is broken and
 * who is waiting. Opaque; from bc_status_detail, read with the bc_detail_*
 * accessors, freed with bc_detail_free. */
typedef struct bc_detail bc_detail;

/* An action: run by the last party to arrive, in its own thread, before anyone
 * is released. Return 0 for success; anything else breaks the barrier. */
typedef int (*bc_action_fn)(void *arg);

/* Connect to barrierd and say hello.
 * addr: "host:port", "[v6addr]:port" or "unix:/path", or a comma-separated
 *       list of them (at most 16; the servers of one deployment):
 *       "10.0.0.5:7411,[fd00::6]:7411,unix:/run/barrierd.sock". They are
 *       tried in order, each within connect_timeout_s; the first that says
 *       hello wins, and a reconnect later goes round the same list. NULL means
 *       $BARRIERD_ADDR (a list too), else "127.0.0.1:7411".
 *       A numeric address is used as is; a host name is resolved first with
 *       getaddrinfo(), which blocks as long as the system resolver takes (not
 *       bounded by connect_timeout_s).
 * opts: NULL means all defaults.
 * out:  receives the new handle on success (left untouched on failure); the
 *       caller owns it and releases it with bc_close.
 *       "tls://HOST:PORT" speaks TLS (see bc_options' tls_* fields); the
 *       entries of a list may mix TLS and plain TCP.
 * Returns BC_OK, BC_EINVAL (bad address or options, a TLS file that cannot be
 * read), BC_ECONN (unreachable, refused, no answer within connect_timeout_s,
 * or a TLS handshake that failed, with its reason), BC_EAUTH (token refused),
 * BC_ELIMIT (server at its connection limit), BC_EPROTO, BC_ENOMEM. */
int bc_connect(const char *addr, const bc_options *opts, bc_client **out);

/* Close the connection and free the handle. NULL is ignored. No other thread may
 * be using the handle or use it afterwards. Waits still outstanding on the server
 * break their barriers, as a party that left. */
void bc_close(bc_client *c);

/* Wait at barrier `name` until `parties` parties have arrived.
 * name:     1..255 bytes of UTF-8 without control characters.
 * parties:  >= 1; the first wait on a name creates the barrier with it.
 * timeout_s: seconds, enforced by the server (rounded up to whole
 *           milliseconds, so a positive timeout is at least 1 ms); < 0
 *           waits forever; 0 breaks at once unless this caller arrives last.
 * action:   NULL, or a function to run if this caller arrives last. It runs in
 *           this thread while the others stay blocked; meanwhile the library
 *           keeps answering server heartbeats from a helper thread, so long
 *           actions are fine. action_arg is passed to it.
 * out:      may be NULL; filled on success.
 * Returns BC_OK when released, else BC_EBROKEN, BC_ETIMEDOUT (this caller's own
 * timeout), BC_EACTION (this caller's action failed), BC_EPARTIES, BC_EINVAL,
 * BC_ECONN, BC_ESHUTDOWN, BC_ELIMIT, BC_ENOMEM. */
int bc_wait(bc_client *c, const char *name, unsigned parties, double timeout_s, bc_action_fn action,
            void *action_arg, bc_wait_result *out);

/* ---- Rendezvous: data and identity at the barrier (docs/client.md) ----
 *
 * bc_wait_ex is bc_wait with more to say: this party's data, which the release
 * hands to every party (all of them, by arrival index: "gathered"); its member
 * name, unique in its generation; the member list a barrier is created with,
 * which then admits only those names and tells who is missing; and an action
 * that can set a result every party receives. bc_wait stays as it is. */

/* The action of bc_wait_ex: like bc_action_fn, and it may call
 * bc_action_set_result(ctx, ...) before it returns 0. ctx lives during the call. */
typedef struct bc_action_ctx bc_action_ctx;
typedef int (*bc_rdv_action_fn)(void *arg, bc_action_ctx *ctx);
/* Set (or replace) the action's result: len bytes of UTF-8 without NUL bytes,
 * copied; at most the server's --max-data (4096 bytes by default), else the
 * action counts as failed. Returns BC_OK, BC_EINVAL, BC_ENOMEM. */
int bc_action_set_result(bc_action_ctx *ctx, const char *result, size_t len);

/* What bc_wait_ex sends. Zero every field (`bc_wait_args a = {0};`) and set
 * those you need: a zero field means "none" (or the default). 256 bytes (on
 * LP64 platforms), now and later; reserved words must stay zero. */
typedef struct bc_wait_args {
    const char *name;            /* the barrier: as bc_wait's */
    unsigned parties;            /* as bc_wait's; 0: n_members (a list fixes it) */
    int has_timeout;             /* 0: wait forever; else timeout_s applies, as bc_wait's */
    double timeout_s;
    const char *data;            /* NULL: no data (null in gathered); else data_len bytes */
    size_t data_len;             /*   of UTF-8 without NUL bytes, at most --max-data */
    const char *member;          /* NULL: none; else this party's name (as a barrier
                                    name), unique in its generation (BC_EMEMBER) */
    const char *const *members;  /* NULL: none; else n_members names: the barrier's */
    size_t n_members;            /*   member list (it admits only those) */
    bc_rdv_action_fn action;     /* NULL: none; run as bc_wait's action is */
    void *action_arg;
    uint64_t reserved[22];       /* must be zero */
} bc_wait_args;

/* A released bc_wait_ex: opaque, read with the bc_rendezvous_* accessors and
 * freed (with every string they returned) by bc_rendezvous_free. */
typedef struct bc_rendezvous bc_rendezvous;

/* Wait as bc_wait does, with args. On BC_OK, *out (if out is not NULL) is a
 * new object owned by the caller, or NULL when the party was released but the
 * object could not be built (out of memory, a malformed reply: the message
 * says why); on failure it is left untouched. Returns
 * what bc_wait returns, and BC_EMEMBER (member name taken, not on the list,
 * or none given to a barrier with a list), BC_EPARTIES (the barrier has
 * another member list, or none and holds a wait not on this one), BC_ELIMIT (data over --max-data, or the
 * generation's data over --max-gather: the barrier is not harmed; or a
 * request longer than the server's --max-line, refused before it is sent).
 * A re-announced wait (see bc_options.resume_s) sends all of it again. */
int bc_wait_ex(bc_client *c, const bc_wait_args *args, bc_rendezvous **out);
unsigned bc_rendezvous_index(const bc_rendezvous *r);
uint64_t bc_rendezvous_generation(const bc_rendezvous *r);
/* How many entries gathered has: the generation's parties, or 0 when no party
 * sent data. Entry i is the data of the party that arrived i-th (this party's
 * own at bc_rendezvous_index); NULL (and *len 0) for a party that sent none.
 * len may be NULL; the data is NUL-terminated too. */
size_t bc_rendezvous_n_gathered(const bc_rendezvous *r);
const char *bc_rendezvous_gathered(const bc_rendezvous *r, size_t i, size_t *len);
/* The result the generation's action set, or NULL (*len 0) when none. */
const char *bc_rendezvous_action_result(const bc_rendezvous *r, size_t *len);
/* NULL is ignored. */
void bc_rendezvous_free(bc_rendezvous *r);

/* Break the barrier: its current and future waiters fail with BC_EBROKEN until
 * bc_reset. Returns BC_OK, BC_ENOTFOUND, BC_EINVAL, BC_ECONN, ... */
int bc_abort(bc_client *c, const char *name);

/* Fail the current waiters with BC_EBROKEN and make the barrier empty and
 * usable again; ends the current generation. Returns BC_OK, BC_ENOTFOUND, ... */
int bc_reset(bc_client *c, const char *name);

/* Read a barrier's state into *out. Returns BC_OK, BC_ENOTFOUND, ... */
int bc_status_get(bc_client *c, const char *name, bc_status *out);

/* Read a barrier's state into *st (may be NULL) and the rest of what the
 * server says about it into *out, from one status request. On success *out
 * is a new object owned by the caller, freed with bc_detail_free; on failure
 * it is left untouched. Returns what bc_status_get returns, or BC_ENOMEM. */
int bc_status_detail(bc_client *c, const char *name, bc_status *st, bc_detail **out);
/* Why the barrier is broken, in the server's words (see bc_last_error_message
 * for examples); "" when it is not broken. */
const char *bc_detail_reason(const bc_detail *d);
/* How many parties are waiting in the current generation; they are numbered
 * 0..n-1 in arrival order for the accessors below. */
size_t bc_detail_n_waiters(const bc_detail *d);
/* The i-th waiting party: its arrival index, its client name (bc_options
 * client_name, or "HOSTNAME:PID") and its peer address ("127.0.0.1:40110",
 * "unix"). An i out of range gives UINT_MAX and "". */
unsigned bc_detail_waiter_index(const bc_detail *d, size_t i);
const char *bc_detail_waiter_client(const bc_detail *d, size_t i);
const char *bc_detail_waiter_peer(const bc_detail *d, size_t i);
/* Rendezvous: the member name the i-th waiting party gave ("" if none); a
 * barrier's member list (none: 0 names) and those of it that have not
 * arrived in the current generation, in list order. Out of range: "". */
const char *bc_detail_waiter_member(const bc_detail *d, size_t i);
size_t bc_detail_n_members(const bc_detail *d);
const char *bc_detail_member(const bc_detail *d, size_t i);
size_t bc_detail_n_missing(const bc_detail *d);
const char *bc_detail_missing(const bc_detail *d, size_t i);
/* Free a detail and the strings its accessors returned. NULL is ignored. */
void bc_detail_free(bc_detail *d);

/* List every barrier. On success *out is an array of *n entries (NULL when
 * there are none), owned by the caller and freed with bc_list_free. */
int bc_list(bc_client *c, bc_barrier_info **out, size_t *n);
void bc_list_free(bc_barrier_info *list);

/* Read the server's counters into *out. */
int bc_stats_get(bc_client *c, bc_stats *out);

/* Round trip to the server. rtt_s may be NULL; else it receives the seconds the
 * round trip took. */
int bc_ping(bc_client *c, double *rtt_s);

/* Send one of the read-only requests "status" (name required), "list", "stats"
 * or "ping" and hand back the server's whole reply object as a JSON string
 * without its "id". *json is owned by the caller and freed with free(). For
 * tools that print or forward the server's view as is; the typed calls above
 * read the same replies. */
int bc_query_json(bc_client *c, const char *op, const char *name, char **json);

/* The library's version, "MAJOR.MINOR.PATCH" (e.g. "0.2.0"): of the library
 * actually loaded, which may be newer than the header's BC_VERSION_*. A
 * constant string; never NULL. */
const char *bc_version(void);

/* A constant human description of a code ("barrier is broken"). Never NULL. */
const char *bc_strerror(int code);

/* A constant short name of a code, as on the wire ("broken", "timedout");
 * "ok" for 0. Never NULL. */
const char *bc_error_name(int code);

/* The detail of the last failure of a bc_ call on this thread: the server's
 * message when it gave one, which for a broken barrier says what broke it,
 * then how many had arrived and who (each as CLIENT [PEER], at most 8 named):
 *   "timed out (teller-2 [127.0.0.1:40112] reached its timeout): 2/3 arrived
 *    (teller-1 [127.0.0.1:40110], teller-2 [127.0.0.1:40112])"
 *   "party lost (teller-3 [127.0.0.1:40114] disconnected): 2/3 arrived (...)"
 *   "aborted by 127.0.0.1:40120: 2/3 arrived (...)", "reset by PEER: ..."
 *   "action failed in teller-3 [127.0.0.1:40114]: 3/3 arrived (...)"
 * or the library's own, e.g. "connect 127.0.0.1:7411: Connection refused". "" if none yet.
 * Successful calls leave it unchanged (like errno). Thread-local: valid until this thread's next
 * failing bc_ call. Never NULL. */
const char *bc_last_error_message(void);

/* ---- watching: what happens at the barriers, as it happens ----
 * A watch is a connection of its own that receives an event for every change
 * of one barrier or of all: a party arrives or leaves, a generation is
 * released, the barrier breaks or is reset (docs/client.md, "Watching"). Use
 * one watch from one thread at a time. It does not resume: when the server
 * goes away, bc_watch_next fails (BC_ECONN or BC_ESHUTDOWN) and the watch is
 * over; open another. */
typedef struct bc_watch bc_watch;

/* One event. 640 bytes, now and later. */
typedef struct bc_event {
    char type[16];         /* "arrive", "leave", "release", "break" or "reset" */
    char barrier[256];     /* the barrier's name */
    uint64_t generation;   /* the generation it happened in (release, break and
                              reset: the one that ended) */
    unsigned n_waiting;    /* parties of that generation after the event
                              (release, break, reset: those it ended) */
    unsigned parties;
    int has_index;         /* arrive: index is the party's arrival index */
    unsigned index;
    char client[136];      /* arrive, leave: the party's client name */
    char cause[16];        /* break, reset: "timeout", "abort", "reset",
                              "lost_party", "action_failed" or "shutdown" */
    uint64_t reserved[24]; /* room for later fields; written as zero */
} bc_event;

/* Connect (addr and opts as bc_connect; resume_s is ignored: a watch does not
 * resume) and watch barrier `name`, or every barrier when name is NULL. Events
 * are those after this returns. On success *out is owned by the caller, closed
 * with bc_watch_close. Returns what bc_connect returns, or BC_EINVAL (a bad
 * name). */
int bc_watch_open(const char *addr, const bc_options *opts, const char *name, bc_watch **out);
/* The watched barrier as it was when the watch began. BC_ENOTFOUND when the
 * watch is on every barrier or the barrier did not exist then. */
int bc_watch_status(const bc_watch *w, bc_status *out);
/* Wait up to timeout_s (< 0: for ever) for the next event and fill *out.
 * Returns BC_OK, BC_ETIMEDOUT (none came in time; the watch goes on), or
 * BC_ECONN / BC_ESHUTDOWN (the server is gone: the watch is over). */
int bc_watch_next(bc_watch *w, double timeout_s, bc_event *out);
/* A string field of the last event ("reason" of a break or reset, "peer",
 * "member"), "" when it has none. Valid until the next bc_watch_next. */
const char *bc_watch_field(const bc_watch *w, const char *key);
/* The last event as the server sent it: one JSON object, no newline. Valid
 * until the next bc_watch_next; "" before the first. */
const char *bc_watch_json(const bc_watch *w);
/* Close the connection and free the watch. NULL is ignored. */
void bc_watch_close(bc_watch *w);

#ifdef __cplusplus
}
#endif

#endif
