/* sv_log.h - leveled, timestamped logging to stderr. */
#ifndef SV_LOG_H
#define SV_LOG_H

typedef enum sv_log_level { SV_LOG_DEBUG = 0, SV_LOG_INFO, SV_LOG_WARN, SV_LOG_ERROR } sv_log_level;

extern sv_log_level sv_log_threshold;

/* "debug", "info", "warn" or "error" -> level; -1 for anything else. */
int sv_log_parse_level(const char *name);
void sv_log(sv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define SV_DEBUG(...)                                                                             \
    do {                                                                                          \
        if (sv_log_threshold <= SV_LOG_DEBUG)                                                     \
            sv_log(SV_LOG_DEBUG, __VA_ARGS__);                                                    \
    } while (0)
#define SV_INFO(...) sv_log(SV_LOG_INFO, __VA_ARGS__)
#define SV_WARN(...) sv_log(SV_LOG_WARN, __VA_ARGS__)
#define SV_ERROR(...) sv_log(SV_LOG_ERROR, __VA_ARGS__)

#endif
