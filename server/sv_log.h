/* sv_log.h - leveled, timestamped logging to stderr that never blocks.
 *
 * Each line goes out with one write() on a non-blocking descriptor for stderr
 * (sv_log_open). When the kernel will not take it (a full pipe nobody reads),
 * the line is kept in a bounded in-memory buffer (SV_LOG_BUFFER bytes) in
 * order; later lines queue behind it. When the buffer is full, whole lines are
 * dropped and counted. sv_log_flush writes out what it can; the loop calls it
 * when the descriptor is writable again (main.c polls sv_log_fd() only while
 * sv_log_pending() is nonzero: the wakeup hook tells it when to start). Once
 * the buffer is empty after drops, "N log lines were dropped" is logged.
 * No libuv here: every decision is testable on a plain pipe. */
#ifndef SV_LOG_H
#define SV_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum sv_log_level { SV_LOG_DEBUG = 0, SV_LOG_INFO, SV_LOG_WARN, SV_LOG_ERROR } sv_log_level;

#define SV_LOG_BUFFER (1u << 20) /* 1 MiB of lines held while stderr is full */

extern sv_log_level sv_log_threshold;

/* "debug", "info", "warn" or "error" -> level; -1 for anything else. */
int sv_log_parse_level(const char *name);
void sv_log(sv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log to a non-blocking descriptor for stderr: a pipe or terminal is opened
 * again through /proc/self/fd/2 (a file description of our own, so the
 * parent's terminal or pipe stays blocking for it); a socket (journald) gets
 * O_NONBLOCK on fd 2 itself; a regular file is written as it is. Until this
 * is called (and if it is never called) lines go to fd 2 with write(). */
void sv_log_open(void);
/* Log to fd instead (tests): made non-blocking; the buffer limit becomes
 * limit bytes (0: SV_LOG_BUFFER). */
void sv_log_use_fd(int fd, size_t limit);
/* The descriptor lines are written to. */
int sv_log_fd(void);
/* Called (from inside sv_log) when lines start to be held: poll sv_log_fd()
 * for writability and call sv_log_flush then. NULL: nobody polls. */
void sv_log_set_wakeup(void (*cb)(void));
/* Write out held lines. 0: all out; 1: the descriptor would block again (poll
 * on); -1: it failed (held lines are discarded). */
int sv_log_flush(void);
/* Bytes held now. */
size_t sv_log_pending(void);
/* Lines dropped since start because the buffer was full. */
uint64_t sv_log_dropped(void);
/* At exit: wait up to timeout_ms (poll(2)) for held lines to go out, then free
 * the buffer. */
void sv_log_drain(int timeout_ms);

#define SV_DEBUG(...)                                                                             \
    do {                                                                                          \
        if (sv_log_threshold <= SV_LOG_DEBUG)                                                     \
            sv_log(SV_LOG_DEBUG, __VA_ARGS__);                                                    \
    } while (0)
#define SV_INFO(...) sv_log(SV_LOG_INFO, __VA_ARGS__)
#define SV_WARN(...) sv_log(SV_LOG_WARN, __VA_ARGS__)
#define SV_ERROR(...) sv_log(SV_LOG_ERROR, __VA_ARGS__)

#endif
