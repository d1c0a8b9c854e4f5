/* bp_token.c - see bp_token.h: one token rule for every reader. */
#include "bp_token.h"

#include "bp_buf.h"
#include "bp_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return BP_EINVAL;
}

static int blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

int bp_token_normalize(const char *text, size_t len, char out[BP_TOKEN_MAX + 1], char *err,
                       size_t errcap)
{
    out[0] = '\0';
    const char *nl = memchr(text, '\n', len);
    const char *b = text, *e = nl ? nl : text + len;
    while (b < e && blank(*b))
        b++;
    while (e > b && blank(e[-1]))
        e--;
    size_t n = (size_t)(e - b);
    if (n == 0)
        return fail(err, errcap, "the token is empty (its first line is blank)");
    if (n > BP_TOKEN_MAX)
        return fail(err, errcap, "the token is longer than %d bytes", BP_TOKEN_MAX);
    if (!bp_utf8_clean(b, n))
        return fail(err, errcap, "the token must be UTF-8 without control characters");
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

int bp_token_read_file(const char *path, char out[BP_TOKEN_MAX + 1], char *err, size_t errcap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errcap, "cannot open: %s", strerror(errno));
    char buf[BP_TOKEN_FILE_MAX + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    int rc;
    if (bad)
        rc = fail(err, errcap, "cannot read: %s", strerror(saved));
    else if (n > BP_TOKEN_FILE_MAX)
        rc = fail(err, errcap, "larger than %d bytes; a token file holds one line",
                  BP_TOKEN_FILE_MAX);
    else
        rc = bp_token_normalize(buf, n, out, err, errcap);
    memset(buf, 0, sizeof buf); /* a secret: do not leave it on the stack */
    return rc;
}
