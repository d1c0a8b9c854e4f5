/* bp_addr.c - parse and format barrierd addresses; see bp_addr.h. */
#include "bp_addr.h"

#include "bp_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int bad(char *err, size_t cap, const char *text, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(char *err, size_t cap, const char *text, size_t len, const char *fmt, ...)
{
    char why[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, cap, "bad address '%.*s': %s", (int)(len > 300 ? 300 : len), text, why);
    return BP_EINVAL;
}

static int parse_port(const char *p, size_t n, int flags, unsigned *out)
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v > 65535 || (v == 0 && !(flags & BP_ADDR_PORT0_OK)))
        return -1;
    *out = v;
    return 0;
}

static int parse_unix(const char *text, size_t len, bp_addr *out, char *err, size_t cap)
{
    size_t n = len - 5;
    if (n == 0 || n > BP_UNIX_PATH_MAX)
        return bad(err, cap, text, len, "socket path empty or longer than %d bytes",
                   BP_UNIX_PATH_MAX);
    if (memchr(text + 5, '\0', n))
        return bad(err, cap, text, len, "NUL in the socket path");
    out->kind = BP_ADDR_UNIX;
    memcpy(out->path, text + 5, n);
    out->path[n] = '\0';
    return 0;
}

int bp_addr_parse(const char *text, size_t len, int flags, bp_addr *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (len >= 5 && memcmp(text, "unix:", 5) == 0)
        return parse_unix(text, len, out, err, cap);
    if (len >= 6 && memcmp(text, "tls://", 6) == 0) {
        if (len >= 11 && memcmp(text + 6, "unix:", 5) == 0)
            return bad(err, cap, text, len, "TLS is for TCP addresses, not unix sockets");
        if (memmem(text + 6, len - 6, "://", 3))
            return bad(err, cap, text, len, "one scheme at most");
        int rc = bp_addr_parse(text + 6, len - 6, flags, out, err, cap);
        out->tls = rc == 0;
        return rc;
    }
    if (memmem(text, len, "://", 3))
        return bad(err, cap, text, len, "the only scheme is tls://");
    const char *end = text + len, *host = text, *hend, *colon;
    if (len && text[0] == '[') {
        host = text + 1;
        hend = memchr(host, ']', (size_t)(end - host));
        if (!hend || hend + 1 == end || hend[1] != ':')
            return bad(err, cap, text, len, "expected [v6addr]:port");
        colon = hend + 1;
        if (!memchr(host, ':', (size_t)(hend - host)))
            return bad(err, cap, text, len, "brackets are for IPv6 addresses");
    } else {
        colon = NULL;
        for (const char *p = text; p < end; p++)
            if (*p == ':')
                colon = p;
        if (!colon)
            return bad(err, cap, text, len, "expected host:port");
        hend = colon;
        if (memchr(text, ':', (size_t)(colon - text)))
            return bad(err, cap, text, len, "put an IPv6 address in brackets: [v6addr]:port");
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0 || hlen > BP_HOST_MAX)
        return bad(err, cap, text, len, "the host must be 1..%d bytes", BP_HOST_MAX);
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == ',' || host[i] == '/' || host[i] == 0x7f)
            return bad(err, cap, text, len, "the host has a character no host name has");
    if (parse_port(colon + 1, (size_t)(end - colon - 1), flags, &out->port) < 0)
        return bad(err, cap, text, len, "the port must be %s..65535",
                   flags & BP_ADDR_PORT0_OK ? "0" : "1");
    out->kind = BP_ADDR_TCP;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    return 0;
}

int bp_addr_parse_list(const char *text, int flags, bp_addr *out, size_t max, size_t *n,
                       char *err, size_t cap)
{
    *n = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n == max) {
            snprintf(err, cap, "more than %zu addresses in '%.300s'", max, text);
            return BP_EINVAL;
        }
        int rc = bp_addr_parse(p, len, flags, &out[*n], err, cap);
        if (rc < 0)
            return rc;
        (*n)++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

void bp_addr_format(const bp_addr *a, char *dst, size_t cap)
{
    const char *scheme = a->tls ? "tls://" : "";
    if (a->kind == BP_ADDR_UNIX)
        snprintf(dst, cap, "unix:%s", a->path);
    else if (strchr(a->host, ':'))
        snprintf(dst, cap, "%s[%s]:%u", scheme, a->host, a->port);
    else
        snprintf(dst, cap, "%s%s:%u", scheme, a->host, a->port);
}
