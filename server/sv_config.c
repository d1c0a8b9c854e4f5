/* sv_config.c - parse and check barrierd's flags; see sv_config.h. */
#include "sv_config.h"

#include "bp_msg.h"
#include "bp_token.h"
#include "sv_log.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: barrierd [options]\n"
    "\n"
    "Named barriers (Python threading.Barrier semantics) for processes on many\n"
    "machines. Runs in the foreground and logs to stderr.\n"
    "\n"
    "  --listen ADDR            host:port, [v6addr]:port, tls://host:port or\n"
    "                           unix:/path; repeatable\n"
    "                           (default " SV_DEFAULT_LISTEN "; port 0 picks a free one)\n"
    "  --auth-token-file F      clients must say hello with the token in F\n"
    "  --max-connections N      concurrent connections (default 10000)\n"
    "  --max-barriers N         named barriers (default 100000)\n"
    "  --max-parties N          parties of one barrier (default 100000)\n"
    "  --max-waits N            waits outstanding on one connection (default 10000)\n"
    "  --max-line BYTES         longest request line (default 65536)\n"
    "  --max-output BYTES       unread output per connection before it is dropped\n"
    "                           (default 4194304)\n"
    "  --heartbeat SECONDS      heartbeat interval, at least 0.01; 0 = off (default 5)\n"
    "  --idle-ttl SECONDS       forget empty barriers after this long; 0 = never\n"
    "                           (default 300)\n"
    "  --hello-timeout SECONDS  with a token: a connection must say hello within\n"
    "                           this long or is closed; 0 = no limit (default 10)\n"
    "  --resume-window SECONDS  after start, barriers are rebuilt from the waits\n"
    "                           resuming clients re-announce (default 60)\n"
    "  --ha-etcd URL[,URL...]   join an HA group led through etcd (its v3 JSON\n"
    "                           gateway, e.g. http://127.0.0.1:2379)\n"
    "  --ha-group NAME          the group (every member names the same)\n"
    "  --advertise HOST:PORT    where clients reach this server, as the leader\n"
    "  --ha-ttl SECONDS         the leader's lease (default 5, at least 1)\n"
    "  --max-data BYTES         data of one wait, or an action's result (default 4096)\n"
    "  --max-gather BYTES       data gathered by one generation (default 1048576)\n"
    "  --tls-cert F             PEM certificate (chain) for tls:// listeners; reread\n"
    "                           with the key on SIGHUP\n"
    "  --tls-key F              its PEM private key\n"
    "  --tls-ca F               PEM CA certificates for client certificates\n"
    "  --tls-verify-client      mutual TLS: refuse clients without a certificate\n"
    "                           signed by a --tls-ca CA\n"
    "  --tls-handshake-timeout SECONDS\n"
    "                           a TLS handshake must finish within this (default 10)\n"
    "  --http HOST:PORT         serve /metrics, /healthz, /api/barriers and a live\n"
    "                           status page over HTTP (off by default; port 0 picks\n"
    "                           a free one; the token, if any, guards all but\n"
    "                           /metrics and /healthz)\n"
    "  --no-io-uring            send a release's replies one write per connection,\n"
    "                           not in one io_uring submission (the default where\n"
    "                           the kernel allows io_uring)\n"
    "  --log-level LEVEL        debug, info, warn or error (default info)\n"
    "  --ready-file F           once every listener is bound, write their addresses\n"
    "                           to F, one a line (written whole: F.tmp, then renamed)\n"
    "  --help, --version\n";

static int parse_number(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "barrierd: %s: '%s' is not a number in %g..%g\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A duration in seconds to whole milliseconds, the one way every duration flag
 * is read: 0 means off; any other value is rounded up and then raised to
 * min_ms, so a small value never truncates to 0 and silently turns the feature
 * off. */
static int parse_duration(const char *flag, const char *s, uint64_t min_ms, double max_s,
                          uint64_t *out_ms)
{
    double v;
    if (parse_number(flag, s, 0, max_s, &v) < 0)
        return -1;
    if (v == 0) {
        *out_ms = 0;
        return 0;
    }
    uint64_t ms = (uint64_t)ceil(v * 1000.0 - 1e-6);
    *out_ms = ms < min_ms ? min_ms : ms;
    return 0;
}

/* A tls:// listener needs a certificate and its key; mTLS needs the CAs. */
static int check_tls(const sv_config *cfg)
{
    int tls = 0;
    for (size_t i = 0; i < cfg->n_listen; i++)
        tls |= cfg->listen[i].tls;
    if (tls && (!cfg->tls_cert || !cfg->tls_key)) {
        fprintf(stderr, "barrierd: a tls:// listener needs --tls-cert and --tls-key\n");
        return -1;
    }
    if (cfg->tls_verify_client && !cfg->tls_ca) {
        fprintf(stderr, "barrierd: --tls-verify-client needs --tls-ca (the CAs of the client "
                        "certificates)\n");
        return -1;
    }
    if (!tls && (cfg->tls_cert || cfg->tls_key || cfg->tls_ca || cfg->tls_verify_client)) {
        fprintf(stderr, "barrierd: --tls-* given but no --listen tls://HOST:PORT\n");
        return -1;
    }
    return 0;
}

static char *read_token(const char *path)
{
    char tok[BP_TOKEN_MAX + 1], err[256];
    if (bp_token_read_file(path, tok, err, sizeof err) < 0) {
        fprintf(stderr, "barrierd: --auth-token-file %s: %s\n", path, err);
        return NULL;
    }
    char *s = strdup(tok);
    memset(tok, 0, sizeof tok);
    if (!s)
        fprintf(stderr, "barrierd: --auth-token-file %s: out of memory\n", path);
    return s;
}

/* The HA flags come together: a group needs etcd, a name and an address. */
static int check_ha(sv_config *cfg)
{
    int n = !!cfg->ha_etcd + !!cfg->ha_group + !!cfg->advertise;
    if (n == 0)
        return 0;
    if (n != 3) {
        fprintf(stderr, "barrierd: an HA group needs --ha-etcd, --ha-group and --advertise\n");
        return -1;
    }
    if (cfg->ha_ttl_ms == 0)
        cfg->ha_ttl_ms = 5000;
    bp_addr a;
    char err[512];
    if (bp_addr_parse(cfg->advertise, strlen(cfg->advertise), 0, &a, err, sizeof err) < 0 ||
        a.kind != BP_ADDR_TCP) {
        fprintf(stderr, "barrierd: --advertise: %s\n", a.kind == BP_ADDR_UNIX ? "must be host:port" : err);
        return -1;
    }
    size_t g = strlen(cfg->ha_group);
    if (g == 0 || g > 128 || !bp_utf8_clean(cfg->ha_group, g) || strchr(cfg->ha_group, '/')) {
        fprintf(stderr, "barrierd: --ha-group: 1..128 bytes of UTF-8, no '/' or control characters\n");
        return -1;
    }
    return 0;
}

int sv_config_parse(sv_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_connections = 10000;
    cfg->max_barriers = 100000;
    cfg->max_parties = 100000;
    cfg->max_conn_waits = 10000;
    cfg->max_line = 65536;
    cfg->max_output = 4u << 20;
    cfg->heartbeat_ms = 5000;
    cfg->idle_ttl_ms = 300000;
    cfg->hello_timeout_ms = 10000;
    cfg->resume_window_ms = 60000;
    cfg->ha_ttl_ms = 5000;
    cfg->tls_handshake_timeout_ms = 10000;
    cfg->log_level = SV_LOG_INFO;
    cfg->max_data = 4096;
    cfg->max_gather = 1u << 20;

    enum { O_LISTEN = 256, O_TOKEN, O_MAXCONN, O_MAXBAR, O_MAXPART, O_MAXWAITS, O_MAXLINE, O_MAXOUT,
           O_HEART, O_TTL, O_HELLO, O_RESUME, O_HA_ETCD, O_HA_GROUP, O_ADVERTISE, O_HA_TTL, O_LOG, O_READY, O_HELP, O_VERSION,
           O_MAXDATA, O_MAXGATHER,
           O_TLS_CERT, O_TLS_KEY, O_TLS_CA, O_TLS_VERIFY, O_TLS_HS, O_HTTP, O_NO_URING };
    static const struct option opts[] = {
        {"listen", required_argument, 0, O_LISTEN},
        {"no-io-uring", no_argument, 0, O_NO_URING},
        {"auth-token-file", required_argument, 0, O_TOKEN},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"max-barriers", required_argument, 0, O_MAXBAR},
        {"max-parties", required_argument, 0, O_MAXPART},
        {"max-waits", required_argument, 0, O_MAXWAITS},
        {"max-line", required_argument, 0, O_MAXLINE},
        {"max-output", required_argument, 0, O_MAXOUT},
        {"heartbeat", required_argument, 0, O_HEART},
        {"idle-ttl", required_argument, 0, O_TTL},
        {"hello-timeout", required_argument, 0, O_HELLO},
        {"resume-window", required_argument, 0, O_RESUME},
        {"ha-etcd", required_argument, 0, O_HA_ETCD},
        {"ha-group", required_argument, 0, O_HA_GROUP},
        {"advertise", required_argument, 0, O_ADVERTISE},
        {"ha-ttl", required_argument, 0, O_HA_TTL},
        {"log-level", required_argument, 0, O_LOG},
        {"ready-file", required_argument, 0, O_READY},
        {"max-data", required_argument, 0, O_MAXDATA},
        {"max-gather", required_argument, 0, O_MAXGATHER},
        {"tls-cert", required_argument, 0, O_TLS_CERT},
        {"tls-key", required_argument, 0, O_TLS_KEY},
        {"tls-ca", required_argument, 0, O_TLS_CA},
        {"tls-verify-client", no_argument, 0, O_TLS_VERIFY},
        {"tls-handshake-timeout", required_argument, 0, O_TLS_HS},
        {"http", required_argument, 0, O_HTTP},
        {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0},
    };
    int c, data_given = 0;
    double v;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (cfg->n_listen == SV_MAX_LISTEN) {
                fprintf(stderr, "barrierd: at most %d --listen addresses\n", SV_MAX_LISTEN);
                return -1;
            }
            cfg->listen_text[cfg->n_listen++] = optarg;
            break;
        case O_TOKEN:
            cfg->auth_token_file = optarg;
            break;
#define SIZE_FLAG(code, flag, lo, hi, field, scale)                                               \
    case code:                                                                                    \
        if (parse_number(flag, optarg, lo, hi, &v) < 0)                                          \
            return -1;                                                                            \
        cfg->field = (__typeof__(cfg->field))(v * (scale));                                       \
        break;
#define DURATION_FLAG(code, flag, min_ms, max_s, field)                                           \
    case code:                                                                                    \
        if (parse_duration(flag, optarg, min_ms, max_s, &cfg->field) < 0)                         \
            return -1;                                                                            \
        break;
            SIZE_FLAG(O_MAXCONN, "--max-connections", 1, 1e7, max_connections, 1)
            SIZE_FLAG(O_MAXBAR, "--max-barriers", 1, 1e9, max_barriers, 1)
            SIZE_FLAG(O_MAXPART, "--max-parties", 1, BP_PARTIES_MAX, max_parties, 1)
            SIZE_FLAG(O_MAXWAITS, "--max-waits", 1, 1e7, max_conn_waits, 1)
            SIZE_FLAG(O_MAXLINE, "--max-line", 256, 64 << 20, max_line, 1)
            SIZE_FLAG(O_MAXOUT, "--max-output", 4096, 1 << 30, max_output, 1)
        case O_MAXDATA:
            if (parse_number("--max-data", optarg, 1, 64 << 20, &v) < 0)
                return -1;
            cfg->max_data = (size_t)v;
            data_given = 1;
            break;
            SIZE_FLAG(O_MAXGATHER, "--max-gather", 1, 1u << 30, max_gather, 1)
            DURATION_FLAG(O_HEART, "--heartbeat", SV_HEARTBEAT_MIN_MS, 86400, heartbeat_ms)
            DURATION_FLAG(O_TTL, "--idle-ttl", 1, 1e9, idle_ttl_ms)
            DURATION_FLAG(O_HELLO, "--hello-timeout", 1, 86400, hello_timeout_ms)
            DURATION_FLAG(O_RESUME, "--resume-window", 1, 86400, resume_window_ms)
            DURATION_FLAG(O_HA_TTL, "--ha-ttl", 1000, 3600, ha_ttl_ms)
            DURATION_FLAG(O_TLS_HS, "--tls-handshake-timeout", 1, 86400, tls_handshake_timeout_ms)
#undef SIZE_FLAG
#undef DURATION_FLAG
        case O_LOG:
            if ((cfg->log_level = sv_log_parse_level(optarg)) < 0) {
                fprintf(stderr, "barrierd: --log-level: '%s' is not debug, info, warn or error\n",
                        optarg);
                return -1;
            }
            break;
        case O_HA_ETCD:
            cfg->ha_etcd = optarg;
            break;
        case O_HA_GROUP:
            cfg->ha_group = optarg;
            break;
        case O_ADVERTISE:
            cfg->advertise = optarg;
            break;
        case O_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case O_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case O_TLS_CA:
            cfg->tls_ca = optarg;
            break;
        case O_TLS_VERIFY:
            cfg->tls_verify_client = 1;
            break;
        case O_NO_URING:
            cfg->no_io_uring = 1;
            break;
        case O_READY:
            cfg->ready_file = optarg;
            break;
        case O_HTTP:
            cfg->http = optarg;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return 1;
        case O_VERSION:
            printf("barrierd " BP_VERSION " (protocol %d)\n", BP_PROTOCOL_VERSION);
            return 1;
        default:
            fprintf(stderr, "barrierd: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], usage_text);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "barrierd: unexpected argument '%s'\n%s", argv[optind], usage_text);
        return -1;
    }
    if (cfg->n_listen == 0)
        cfg->listen_text[cfg->n_listen++] = SV_DEFAULT_LISTEN;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        char err[512];
        const char *t = cfg->listen_text[i];
        if (bp_addr_parse(t, strlen(t), BP_ADDR_PORT0_OK, &cfg->listen[i], err, sizeof err) < 0) {
            fprintf(stderr, "barrierd: --listen: %s\n", err);
            return -1;
        }
    }
    if (check_ha(cfg) < 0 || check_tls(cfg) < 0)
        return -1;
    /* The data goes inside a wait's line, with the rest of the request: a
     * small --max-line alone lowers the default --max-data to half of it. */
    if (!data_given && cfg->max_data >= cfg->max_line)
        cfg->max_data = cfg->max_line / 2;
    if (cfg->max_data >= cfg->max_line) {
        fprintf(stderr,
                "barrierd: --max-data %zu must be below --max-line %zu (a wait's data travels "
                "inside its request line)\n",
                cfg->max_data, cfg->max_line);
        return -1;
    }
    if (cfg->http) {
        char err[512];
        if (bp_addr_parse(cfg->http, strlen(cfg->http), BP_ADDR_PORT0_OK, &cfg->http_addr, err,
                          sizeof err) < 0 || cfg->http_addr.kind != BP_ADDR_TCP) {
            fprintf(stderr, "barrierd: --http: %s\n",
                    cfg->http_addr.kind == BP_ADDR_UNIX ? "must be host:port" : err);
            return -1;
        }
    }
    if (cfg->auth_token_file && !(cfg->auth_token = read_token(cfg->auth_token_file)))
        return -1;
    return 0;
}

void sv_config_free(sv_config *cfg)
{
    if (cfg->auth_token) {
        memset(cfg->auth_token, 0, strlen(cfg->auth_token));
        free(cfg->auth_token);
    }
    cfg->auth_token = NULL;
}
