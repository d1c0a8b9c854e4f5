/* ops_bc_version.c - print bc_version() (test_versions.sh compares it). */
#include <barrierclient.h>
#include <stdio.h>

int main(void)
{
    puts(bc_version());
    return 0;
}
