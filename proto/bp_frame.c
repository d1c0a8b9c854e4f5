/* bp_frame.c - newline framing with a bound on line length; see bp_frame.h. */
#include "bp_frame.h"

#include "bp_error.h"

#include <stdlib.h>
#include <string.h>

/* Buffers larger than this are released once drained, so an idle connection
 * that once sent a big line does not keep the memory. */
#define BP_FRAME_KEEP 4096

void bp_framer_init(bp_framer *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    f->max_line = max_line;
}

void bp_framer_free(bp_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->start = f->len = f->cap = f->scanned = f->tail = 0;
}

size_t bp_framer_pending(const bp_framer *f)
{
    return f->len - f->start;
}

/* The unterminated tail must fit in max_line; complete lines before it are
 * checked as they are taken. Only the new bytes are searched. */
static int frame_check_tail(bp_framer *f, const char *data, size_t len)
{
    const char *nl = memrchr(data, '\n', len);
    f->tail = nl ? len - (size_t)(nl - data) - 1 : f->tail + len;
    if (f->tail > f->max_line)
        f->error = BP_ELIMIT;
    return f->error;
}

int bp_framer_feed(bp_framer *f, const char *data, size_t len)
{
    if (f->error)
        return f->error;
    if (len == 0)
        return 0;
    if (f->start == f->len) { /* drained: start over, dropping a big buffer */
        f->start = f->len = f->scanned = 0;
        if (f->cap > BP_FRAME_KEEP) {
            free(f->buf);
            f->buf = NULL;
            f->cap = 0;
        }
    }
    if (f->len + len > f->cap && f->start > 0) { /* compact before growing */
        memmove(f->buf, f->buf + f->start, f->len - f->start);
        f->len -= f->start;
        f->start = 0;
    }
    if (f->len + len > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->len + len)
            cap *= 2;
        char *nb = realloc(f->buf, cap);
        if (!nb)
            return f->error = BP_ENOMEM;
        f->buf = nb;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += len;
    return frame_check_tail(f, data, len);
}

int bp_framer_next(bp_framer *f, const char **line, size_t *len)
{
    size_t avail = f->len - f->start;
    char *from = f->buf ? f->buf + f->start : NULL;
    char *nl = avail > f->scanned ? memchr(from + f->scanned, '\n', avail - f->scanned) : NULL;
    if (!nl) {
        f->scanned = avail;
        return f->error ? f->error : 0;
    }
    size_t n = (size_t)(nl - from);
    if (n > f->max_line) { /* a complete line, but too long: framing is lost */
        f->error = BP_ELIMIT;
        f->start = f->len; /* drop everything; the stream is unusable */
        f->scanned = 0;
        return f->error;
    }
    *line = from;
    *len = n;
    f->start += n + 1;
    f->scanned = 0;
    return 1;
}
