/* ht_route.c - what an HTTP request asks for and whether it may: pure code,
 * see ht_http.h. */
#include "ht_http.h"

#include <string.h>
#include <strings.h>

ht_route ht_route_of(const char *url, const char **name)
{
    static const char api[] = "/api/barriers/";
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return HT_PAGE;
    if (strcmp(url, "/metrics") == 0)
        return HT_METRICS;
    if (strcmp(url, "/healthz") == 0)
        return HT_HEALTHZ;
    if (strcmp(url, "/api/barriers") == 0 || strcmp(url, "/api/barriers/") == 0)
        return HT_LIST;
    if (strcmp(url, "/api/stats") == 0)
        return HT_STATS;
    if (strncmp(url, api, sizeof api - 1) == 0) {
        *name = url + sizeof api - 1;
        return HT_STATUS;
    }
    return HT_NOT_FOUND;
}

int ht_route_guarded(ht_route r)
{
    return r != HT_METRICS && r != HT_HEALTHZ;
}

int ht_bearer_ok(const char *header, const char *token)
{
    static const char scheme[] = "Bearer "; /* schemes are case-insensitive (RFC 7235) */
    if (!header || strncasecmp(header, scheme, sizeof scheme - 1) != 0)
        return 0;
    const char *a = header + sizeof scheme - 1;
    size_t la = strlen(a), lb = strlen(token);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(token[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}
