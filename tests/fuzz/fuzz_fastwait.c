/* fuzz_fastwait.c - libFuzzer target: the hot-wait decoder against the general
 * one. Whatever line the fast decoder accepts, the general decoder (cJSON)
 * must accept too and decode to the very same request, byte for byte. */
#include "bp_decode_fast.h"
#include "bp_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned limits[] = {BP_PARTIES_MAX, 3};
    for (unsigned i = 0; i < 2; i++) {
        bp_request fast, slow;
        bp_decode_error err;
        if (!bp__decode_wait_fast((const char *)data, size, limits[i], &fast))
            continue;
        if (bp__request_decode_json((const char *)data, size, limits[i], &slow, &err) != 0)
            abort(); /* the fast decoder took a line the general one refuses */
        if (memcmp(&fast, &slow, sizeof fast) != 0)
            abort(); /* ... or decoded it differently */
    }
    return 0;
}
