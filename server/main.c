/* main.c - barrierd: parse flags, listen, run the loop until a signal. */
#include "sv_config.h"
#include "sv_json_arena.h"
#include "sv_log.h"
#include "sv_server.h"

#include <signal.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---- log lines held while stderr is full: flushed when it is writable ---- */

static uv_loop_t *log_loop; /* set while the loop runs; NULL: nobody polls */
static uv_poll_t log_poll;
static int log_poll_ready;

static void on_log_writable(uv_poll_t *p, int status, int events)
{
    (void)events;
    if (status < 0 || sv_log_flush() != 1)
        uv_poll_stop(p);
}

/* sv_log's wakeup: lines are held, poll stderr until they are out. */
static void log_wakeup(void)
{
    if (!log_loop)
        return;
    if (!log_poll_ready) {
        if (uv_poll_init(log_loop, &log_poll, sv_log_fd()) < 0)
            return; /* cannot poll it: lines wait for the next write */
        log_poll_ready = 1;
        uv_unref((uv_handle_t *)&log_poll); /* never what keeps the loop (and exit) waiting */
    }
    uv_poll_start(&log_poll, UV_WRITABLE, on_log_writable);
}

int main(int argc, char **argv)
{
    sv_config cfg;
    int rc = sv_config_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 64;
    sv_log_threshold = (sv_log_level)cfg.log_level;
    sv_log_open();
    signal(SIGPIPE, SIG_IGN); /* a peer that vanished must not kill the server */
    sv__json_arena_install();

    uv_loop_t *loop = uv_default_loop();
    log_loop = loop;
    sv_log_set_wakeup(log_wakeup);
    static sv_server srv; /* large (its read buffer): keep it off the stack */
    if (sv_server_init(&srv, loop, &cfg) < 0) {
        SV_ERROR("out of memory");
        return 1;
    }
    int status = 0;
    if (sv_server_listen(&srv) < 0 || (cfg.ha_etcd && sv_ha_start(&srv) < 0)) {
        status = 1;
        sv_server_shutdown(&srv, "cannot start");
    } else {
        /* systemd (Type=notify): every listener is bound. An HA member is up
         * too, though it may be a standby. No-op without $NOTIFY_SOCKET. */
        sd_notify(0, "READY=1");
        SV_INFO("barrierd ready (max %zu connections, %zu barriers, line %zu bytes, "
                "heartbeat %llu ms, idle ttl %llu ms%s)",
                cfg.max_connections, cfg.max_barriers, cfg.max_line,
                (unsigned long long)cfg.heartbeat_ms, (unsigned long long)cfg.idle_ttl_ms,
                cfg.auth_token ? ", token required" : "");
    }
    if (sv_log_pending() > 0)
        log_wakeup();
    uv_run(loop, UV_RUN_DEFAULT);
    log_loop = NULL; /* the poll handle is closed with the rest */
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    sv_server_free(&srv);
    sv_config_free(&cfg);
    if (status == 0)
        SV_INFO("barrierd stopped");
    sv_log_drain(1000); /* held lines: a bounded wait for a reader at exit */
    return status;
}
