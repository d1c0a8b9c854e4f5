/* sv_obs.h - seeing inside barrierd: the registry's event hook feeds the
 * metrics' histograms and the connections that watch; the HTTP side (ht_*)
 * serves what it holds. docs/observability.md is the user's view.
 *
 * Nothing here costs anything on a release unless someone looks: the event
 * hook is installed only while there is --http or a watcher. */
#ifndef SV_OBS_H
#define SV_OBS_H

#include "bp_error.h"
#include "bp_msg.h"
#include "mt_metrics.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sv_server sv_server;
typedef struct sv_conn sv_conn;
typedef struct ht_server ht_server;

/* A connection that asked to watch (its sv_conn points here). */
typedef struct sv_watcher {
    sv_conn *conn;
    struct sv_watcher *prev, *next;
    size_t name_len;                /* 0: every barrier */
    char name[BP_NAME_MAX + 1];
} sv_watcher;

typedef struct sv_obs {
    int metrics;                    /* --http: the hook feeds the histograms */
    mt_hist wait_hist;              /* a wait: arrival to release or failure */
    mt_hist fanout_hist;            /* a release: first reply written to last */
    uint64_t errors[1 - BP_ERR_MIN]; /* error replies, by -code */
    sv_watcher *watchers;
    size_t n_watchers;
    bp_buf ev;                      /* an event, encoded once for every watcher */
    ht_server *http;                /* NULL without --http */
    char http_addr[128];            /* where it listens, "127.0.0.1:8080" */
} sv_obs;

/* sv_obs.c */
int sv__obs_init(sv_server *s);
/* Start the HTTP server if configured (before the ready file is written). */
int sv__obs_listen(sv_server *s);
/* Stop serving HTTP (shutdown); memory goes with sv__obs_free. */
void sv__obs_stop(sv_server *s);
void sv__obs_free(sv_server *s);
/* Install or remove the registry's event hook as needed (after a new registry,
 * a watcher more or less). */
void sv__obs_attach(sv_server *s);
/* An error reply with this code was sent. */
void sv__obs_error(sv_server *s, int code);
/* The op watch: answer, and send c every event from now on. */
void sv__watch(sv_conn *c, const bp_request *r);
/* c is being freed. */
void sv__watch_forget(sv_conn *c);
/* The Prometheus text of every metric. */
void sv__obs_metrics(sv_server *s, bp_buf *b);
/* 1 while this server serves requests (not an HA standby, not shutting down). */
int sv__obs_serving(const sv_server *s);

#endif
