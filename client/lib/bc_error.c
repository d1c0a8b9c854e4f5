/* bc_error.c - error strings and this thread's last error message.
 *
 * The codes are proto's; the asserts keep the public header honest.
 */
#include "bc_internal.h"
#include "bp_error.h"

#include <stdarg.h>
#include <stdio.h>

#define BC__SAME(name, val, wire, desc)                                                            \
    _Static_assert(BC_E##name == BP_E##name, "BC_E" #name " must equal BP_E" #name);
BP_ERRORS(BC__SAME)
#undef BC__SAME
_Static_assert(BP_ERR_MIN == BC_EMEMBER, "a code was added to proto: add it to the header");

static _Thread_local char last_msg[BC__MSG_MAX];

const char *bc_strerror(int code)
{
    return bp_strerror(code);
}

const char *bc_error_name(int code)
{
    return bp_err_name(code);
}

const char *bc_last_error_message(void)
{
    return last_msg;
}

int bc__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return code;
}
