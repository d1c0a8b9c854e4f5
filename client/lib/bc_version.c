/* bc_version.c - the library's version, from the project's (generated into
 * bc_version.h by CMake), held equal to the public header's macros. */
#include "bc_internal.h"
#include "bc_version.h"

_Static_assert(BC__VERSION_MAJOR == BC_VERSION_MAJOR && BC__VERSION_MINOR == BC_VERSION_MINOR &&
                   BC__VERSION_PATCH == BC_VERSION_PATCH,
               "the project's version changed: update BC_VERSION_* in barrierclient.h");

const char *bc_version(void)
{
    return BC__VERSION;
}
