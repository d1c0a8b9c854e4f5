/* main.c - barrierd: parse flags, listen, run the loop until a signal. */
#include "sv_config.h"
#include "sv_json_arena.h"
#include "sv_log.h"
#include "sv_server.h"

#include <signal.h>
#include <stdlib.h>

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    sv_config cfg;
    int rc = sv_config_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 64;
    sv_log_threshold = (sv_log_level)cfg.log_level;
    signal(SIGPIPE, SIG_IGN); /* a peer that vanished must not kill the server */
    sv__json_arena_install();

    uv_loop_t *loop = uv_default_loop();
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
        SV_INFO("barrierd ready (max %zu connections, %zu barriers, line %zu bytes, "
                "heartbeat %llu ms, idle ttl %llu ms%s)",
                cfg.max_connections, cfg.max_barriers, cfg.max_line,
                (unsigned long long)cfg.heartbeat_ms, (unsigned long long)cfg.idle_ttl_ms,
                cfg.auth_token ? ", token required" : "");
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    sv_server_free(&srv);
    sv_config_free(&cfg);
    if (status == 0)
        SV_INFO("barrierd stopped");
    return status;
}
