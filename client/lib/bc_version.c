/* bc_version.c - the library's version: the project's (bp_version.h, generated
 * by CMake from project(VERSION)), held equal to the public header's macros. */
#include "bc_internal.h"

#include "bp_version.h"

_Static_assert(BP_VERSION_MAJOR == BC_VERSION_MAJOR && BP_VERSION_MINOR == BC_VERSION_MINOR &&
                   BP_VERSION_PATCH == BC_VERSION_PATCH,
               "the project's version changed: update BC_VERSION_* in barrierclient.h");

const char *bc_version(void)
{
    return BP_VERSION;
}
