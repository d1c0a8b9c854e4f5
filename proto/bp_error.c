/* bp_error.c - names and strings for the error table in bp_error.h. */
#include "bp_error.h"

#include <string.h>

const char *bp_err_name(int code)
{
    switch (code) {
    case BP_OK:
        return "ok";
#define BP__ERR_NAME(name, val, wire, desc)                                                       \
    case BP_E##name:                                                                          \
        return wire;
        BP_ERRORS(BP__ERR_NAME)
#undef BP__ERR_NAME
    }
    return "unknown";
}

const char *bp_strerror(int code)
{
    switch (code) {
    case BP_OK:
        return "success";
#define BP__ERR_DESC(name, val, wire, desc)                                                       \
    case BP_E##name:                                                                          \
        return desc;
        BP_ERRORS(BP__ERR_DESC)
#undef BP__ERR_DESC
    }
    return "unknown error";
}

int bp_err_from_name(const char *name)
{
#define BP__ERR_MATCH(ename, val, wire, desc)                                                     \
    if (strcmp(name, wire) == 0)                                                              \
        return BP_E##ename;
    BP_ERRORS(BP__ERR_MATCH)
#undef BP__ERR_MATCH
    return BP_EPROTO;
}
