/* bc_check.c - argument checks done before anything is sent, and the ABI
 * of the public structs, locked. */
#include "bc_internal.h"

#include <stddef.h>
#include <string.h>

/* The public structs never change size or layout within SONAME 0: a field
 * added later takes the place of reserved words (shrink `reserved` by as many
 * words as it needs), and these asserts prove the layout did not move. They
 * are written for LP64 (x86_64, aarch64), where every pointer and double is
 * one reserved word. */
#if UINTPTR_MAX == UINT64_MAX
#define BC__ABI(type, size, last)                                                                  \
    _Static_assert(sizeof(type) == (size), #type " must stay " #size " bytes");                    \
    _Static_assert(offsetof(type, reserved) + sizeof(((type *)0)->reserved) == (size),             \
                   #type ": reserved words must end the struct");                                  \
    _Static_assert(offsetof(type, last) < offsetof(type, reserved), #type ": fields move")
BC__ABI(bc_options, 256, tls_server_name);
BC__ABI(bc_wait_result, 128, generation);
BC__ABI(bc_status, 128, state);
BC__ABI(bc_stats, 256, uptime_s);
BC__ABI(bc_event, 640, cause);
BC__ABI(bc_wait_args, 256, action_arg);
_Static_assert(offsetof(bc_wait_args, data) == 24 && offsetof(bc_wait_args, member) == 40 &&
                   offsetof(bc_wait_args, members) == 48 &&
                   offsetof(bc_wait_args, action) == 64 && offsetof(bc_wait_args, reserved) == 80,
               "bc_wait_args: fields moved");
_Static_assert(offsetof(bc_options, connect_timeout_s) == 8 &&
                   offsetof(bc_options, client_name) == 16 &&
                   offsetof(bc_options, io_grace_s) == 24,
               "bc_options: the fields of 0.1 must not move");
_Static_assert(offsetof(bc_options, resume_s) == 32 && offsetof(bc_options, tls_ca_file) == 40,
               "bc_options: resume_s took reserved[0]");
_Static_assert(offsetof(bc_options, tls_cert_file) == 48 &&
                   offsetof(bc_options, tls_key_file) == 56 &&
                   offsetof(bc_options, tls_server_name) == 64 &&
                   offsetof(bc_options, reserved) == 72,
               "bc_options: the tls_* fields took the next four reserved words");
_Static_assert(offsetof(bc_status, generation) == 16 && offsetof(bc_status, state) == 24,
               "bc_status: the fields of 0.1 must not move");
_Static_assert(offsetof(bc_wait_result, generation) == 8, "bc_wait_result: fields moved");
_Static_assert(offsetof(bc_stats, uptime_s) == 56, "bc_stats: fields moved");
_Static_assert(sizeof(bc_barrier_info) == 384 && offsetof(bc_barrier_info, status) == 256,
               "bc_barrier_info (the stride of bc_list's arrays) must stay 384 bytes");
#undef BC__ABI
#endif

int bc__check_reserved(const uint64_t *words, size_t size, const char *what)
{
    for (size_t i = 0; i < size / sizeof *words; i++)
        if (words[i])
            return bc__fail(BC_EINVAL,
                            "%s: reserved word %zu is not zero (initialise the struct "
                            "with {0}; zero means default)",
                            what, i);
    return 0;
}

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
