/* bp_frame.c - newline framing with a bound on line length; see bp_frame.h.
 *
 * Zero-copy in the common case: when nothing is buffered, lines are handed out
 * straight from the bytes just fed, and only an unterminated tail is copied
 * (into a buffer that is released at the first feed after it is drained). So a
 * read full of whole lines is never copied, and a connection between requests
 * holds no buffer unless its last read ended mid-line.
 */
#include "bp_frame.h"

#include "bp_error.h"

#include <stdlib.h>
#include <string.h>

void bp_framer_init(bp_framer *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    f->max_line = max_line;
}

void bp_framer_free(bp_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->ext = NULL;
    f->start = f->len = f->cap = f->scanned = f->tail = f->ext_len = 0;
}

size_t bp_framer_pending(const bp_framer *f)
{
    return (f->len - f->start) + f->ext_len;
}

static int buf_append(bp_framer *f, const char *data, size_t len)
{
    if (f->start == f->len)
        f->start = f->len = f->scanned = 0;
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
    return 0;
}

/* The caller's bytes are about to go away: keep what is left of them. */
static int ext_save(bp_framer *f)
{
    if (!f->ext_len)
        return 0;
    int rc = buf_append(f, f->ext, f->ext_len);
    f->ext = NULL;
    f->ext_len = 0;
    return rc;
}

int bp_framer_feed(bp_framer *f, const char *data, size_t len)
{
    if (f->error)
        return f->error;
    if (len == 0)
        return 0;
    if (ext_save(f) < 0)
        return f->error;
    if (f->start == f->len && f->buf) { /* drained: lines taken from it are done with */
        free(f->buf);
        f->buf = NULL;
        f->start = f->len = f->cap = f->scanned = 0;
    }
    /* The unterminated tail must fit in max_line; complete lines are checked as
     * they are taken. Only the new bytes are searched. */
    const char *nl = data[len - 1] == '\n' ? data + len - 1 : memrchr(data, '\n', len);
    f->tail = nl ? len - (size_t)(nl - data) - 1 : f->tail + len;
    if (f->len == f->start) { /* nothing buffered: hand lines out of data itself */
        f->ext = data;
        f->ext_len = len;
    } else if (buf_append(f, data, len) < 0) {
        return f->error;
    }
    if (f->tail > f->max_line)
        f->error = BP_ELIMIT;
    return f->error;
}

/* Take a line from from[0..avail) if one is complete; *scanned carries over
 * how much is already known to hold no '\n'. 1, 0 (none) or BP_ELIMIT. */
static int take(bp_framer *f, const char *from, size_t avail, size_t *scanned, const char **line,
                size_t *len)
{
    const char *nl = avail > *scanned ? memchr(from + *scanned, '\n', avail - *scanned) : NULL;
    if (!nl) {
        *scanned = avail;
        return 0;
    }
    size_t n = (size_t)(nl - from);
    if (n > f->max_line) /* a complete line, but too long: framing is lost */
        return f->error = BP_ELIMIT;
    *line = from;
    *len = n;
    *scanned = 0;
    return 1;
}

int bp_framer_next(bp_framer *f, const char **line, size_t *len)
{
    if (f->error == BP_ELIMIT && f->start == f->len && !f->ext_len)
        return f->error;
    int rc;
    if (f->start < f->len) { /* buffered bytes come first (no ext while there are any) */
        rc = take(f, f->buf + f->start, f->len - f->start, &f->scanned, line, len);
        if (rc == 1)
            f->start += *len + 1;
    } else {
        size_t scanned = 0;
        rc = take(f, f->ext, f->ext_len, &scanned, line, len);
        if (rc == 1) {
            f->ext += *len + 1;
            f->ext_len -= *len + 1;
        }
    }
    if (rc < 0) {
        f->start = f->len = f->ext_len = 0; /* drop everything; the stream is unusable */
        return rc;
    }
    if (rc == 1)
        return 1;
    if (f->error) { /* overrun: what is left is part of the line that is too long */
        f->start = f->len = f->ext_len = 0;
        return f->error;
    }
    if (f->ext_len && ext_save(f) < 0) /* a partial line: keep it for the next feed */
        return f->error;
    return f->error ? f->error : 0;
}
