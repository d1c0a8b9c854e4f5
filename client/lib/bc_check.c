/* bc_check.c - argument checks done before anything is sent. */
#include "bc_internal.h"

#include <string.h>

int bc__check_name(const char *name)
{
    if (!name) return bc__fail(BC_EINVAL, "barrier name is NULL");
    size_t len = strlen(name);
    if (len == 0 || len > BP_NAME_MAX)
        return bc__fail(BC_EINVAL, "barrier name must be 1..%d bytes", BP_NAME_MAX);
    if (!bp_utf8_clean(name, len))
        return bc__fail(BC_EINVAL, "barrier name must be UTF-8 without control characters");
    return 0;
}
