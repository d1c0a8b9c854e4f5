/* sv_config.h - barrierd's command line: flags, defaults, validation. */
#ifndef SV_CONFIG_H
#define SV_CONFIG_H

#include "bp_addr.h"

#include <stddef.h>
#include <stdint.h>

#define SV_MAX_LISTEN 16
#define SV_HEARTBEAT_MIN_MS 10
#define SV_DEFAULT_LISTEN BP_DEFAULT_ADDR

typedef struct sv_config {
    const char *listen_text[SV_MAX_LISTEN]; /* as given (argv; not owned) */
    bp_addr listen[SV_MAX_LISTEN];          /* parsed */
    size_t n_listen;
    const char *auth_token_file;
    const char *ready_file;   /* from argv; written once every listener is bound */
    char *auth_token;         /* owned; read from auth_token_file, NULL without one */
    size_t max_connections;
    size_t max_barriers;
    unsigned max_parties;
    unsigned max_conn_waits;  /* waits outstanding on one connection */
    size_t max_line;          /* bytes, without the '\n' */
    size_t max_output;        /* bytes queued to one connection before it is dropped */
    uint64_t heartbeat_ms;    /* 0 = no heartbeats; else at least SV_HEARTBEAT_MIN_MS */
    uint64_t idle_ttl_ms;     /* 0 = keep empty barriers forever */
    uint64_t hello_timeout_ms; /* with a token: authenticate within this; 0 = no limit */
    uint64_t resume_window_ms; /* after start: barriers are rebuilt from re-announced waits */
    const char *ha_etcd;       /* HA: etcd endpoints, "http://h:p[,...]"; NULL = no group */
    const char *ha_group;      /* HA: the group's name */
    const char *advertise;     /* HA: the address clients reach this server at */
    uint64_t ha_ttl_ms;        /* HA: the leader lease */
    size_t max_data;           /* rendezvous: bytes of one wait's data or action result */
    size_t max_gather;         /* rendezvous: data bytes of one generation */
    int log_level;
    const char *tls_cert;      /* PEM certificate chain for tls:// listeners */
    const char *tls_key;       /* its PEM private key */
    const char *tls_ca;        /* PEM CAs that client certificates are checked against */
    int tls_verify_client;     /* mTLS: a client certificate signed by tls_ca is required */
    uint64_t tls_handshake_timeout_ms; /* a TLS handshake must finish within this */
    int no_io_uring;           /* --no-io-uring: a release's replies go out one write each */
    const char *http;          /* --http ADDR (argv); NULL: no HTTP */
    bp_addr http_addr;         /* parsed */
} sv_config;

/* Fill cfg from argv. Returns 0 to run, 1 when --help/--version was printed (exit
 * 0), or -1 after printing a usage error to stderr (exit 64). */
int sv_config_parse(sv_config *cfg, int argc, char **argv);
void sv_config_free(sv_config *cfg);

#endif
