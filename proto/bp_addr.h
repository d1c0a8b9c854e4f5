/* bp_addr.h - barrierd addresses, parsed one way for the server and the client.
 *
 * Forms: "host:port", "[v6addr]:port" (an IPv6 address always in brackets, so
 * "::1:7411" is refused rather than guessed at) and "unix:/path". A list is
 * comma-separated: "a:1,b:2". "tls://" before a TCP form asks for TLS
 * ("tls://host:port", "tls://[v6addr]:port"; docs/tls.md); it may be given to
 * some entries of a list and not others. Pure parsing: no resolver, no sockets.
 */
#ifndef BP_ADDR_H
#define BP_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define BP_DEFAULT_PORT 7411
#define BP_DEFAULT_ADDR "127.0.0.1:7411"
#define BP_HOST_MAX 253      /* a DNS name's longest text form */
#define BP_UNIX_PATH_MAX 107 /* sockaddr_un's sun_path, less its NUL */
#define BP_ADDR_LIST_MAX 16  /* addresses in one list */

typedef enum bp_addr_kind { BP_ADDR_TCP = 1, BP_ADDR_UNIX } bp_addr_kind;

typedef struct bp_addr {
    bp_addr_kind kind;
    char host[BP_HOST_MAX + 1];      /* TCP: name or numeric address, no brackets */
    unsigned port;                   /* TCP: 0..65535 */
    char path[BP_UNIX_PATH_MAX + 1]; /* unix */
    int tls;                         /* TCP: "tls://" given: the connection speaks TLS */
} bp_addr;

enum { BP_ADDR_PORT0_OK = 1 }; /* flags: port 0 (pick a free one) allowed; listeners only */

/* Parse len bytes of text. Returns 0, or BP_EINVAL with a message naming the
 * address and what is wrong in err[cap]. */
int bp_addr_parse(const char *text, size_t len, int flags, bp_addr *out, char *err, size_t cap);
/* Parse a comma-separated list into out[max]; *n gets the count (at least 1). */
int bp_addr_parse_list(const char *text, int flags, bp_addr *out, size_t max, size_t *n,
                       char *err, size_t cap);
/* The canonical text of an address ("[::1]:7411", "unix:/x", "tls://h:7411")
 * into dst[cap]. */
void bp_addr_format(const bp_addr *a, char *dst, size_t cap);

#endif
