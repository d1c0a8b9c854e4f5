/* bp_op.c - op names, both ways, from the BP_OPS table in bp_msg.h. */
#include "bp_msg.h"

#include <string.h>

static const char *const op_names[] = {
    [BP_OP_NONE] = NULL,
#define BP__OP_NAME(name, wire) [BP_OP_##name] = wire,
    BP_OPS(BP__OP_NAME)
#undef BP__OP_NAME
};

const char *bp_op_name(bp_op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : NULL;
}

bp_op bp_op_from_name(const char *name)
{
    for (size_t i = 1; i < sizeof op_names / sizeof op_names[0]; i++)
        if (strcmp(name, op_names[i]) == 0)
            return (bp_op)i;
    return BP_OP_NONE;
}
