/* bp_frame.h - newline framing with no I/O.
 *
 * Feed it bytes as they arrive, in pieces of any size, then take complete lines
 * until none is left (bp_framer_next returns 0). Fed bytes are borrowed, not
 * copied, until that point: they must stay valid until next returns 0 or the
 * next feed. A line is the bytes before '\n' (a trailing '\r' is kept;
 * the JSON decoder treats it as whitespace). A line longer than max_line sets a
 * sticky error: the stream has lost its framing and every later call fails.
 *
 *     bp_framer f;
 *     bp_framer_init(&f, 65536);
 *     bp_framer_feed(&f, data, n);
 *     while ((rc = bp_framer_next(&f, &line, &len)) == 1) handle(line, len);
 *     bp_framer_free(&f);
 */
#ifndef BP_FRAME_H
#define BP_FRAME_H

#include <stddef.h>

typedef struct bp_framer {
    const char *ext; /* not owned: the unread rest of the last feed, when nothing was buffered */
    size_t ext_len;
    char *buf;       /* owned; a partial line and what was fed after it */
    size_t start;    /* first byte not yet taken */
    size_t len;      /* end of the bytes fed */
    size_t cap;      /* allocated size of buf */
    size_t scanned;  /* bytes after start known to hold no '\n' */
    size_t tail;     /* length of the unterminated bytes at the end */
    size_t max_line; /* longest line accepted, without its '\n' */
    int error;       /* sticky: 0, BP_ELIMIT (overrun) or BP_ENOMEM */
} bp_framer;

void bp_framer_init(bp_framer *f, size_t max_line);
void bp_framer_free(bp_framer *f);

/* Append bytes. Returns 0, or the sticky error (BP_ELIMIT, BP_ENOMEM). Lines
 * already complete stay available to bp_framer_next even after an overrun. */
int bp_framer_feed(bp_framer *f, const char *data, size_t len);

/* Take the next complete line: 1 with line and len set (the bytes stay valid until
 * the next feed or free; they are not NUL-terminated), 0 when no complete line is
 * buffered, or the sticky error once the buffered lines are used up. */
int bp_framer_next(bp_framer *f, const char **line, size_t *len);

/* Bytes buffered and not yet taken (a partial line). */
size_t bp_framer_pending(const bp_framer *f);

#endif
