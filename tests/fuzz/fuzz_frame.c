/* fuzz_frame.c - libFuzzer target for the line framer.
 *
 * The input's first byte picks max_line and chunking; the rest is fed in
 * chunks. Checks the framer's contract: lines never hold '\n', never exceed
 * max_line, and the bytes taken plus the pending ones account for the input.
 */
#include "bp_error.h"
#include "bp_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_line = 1 + (data[0] & 0x3f) * 4;   /* 1..253 */
    size_t chunk = 1 + (data[0] >> 6) * 7;         /* 1, 8, 15, 22 */
    data++;
    size--;
    bp_framer f;
    bp_framer_init(&f, max_line);
    size_t taken = 0;
    int failed = 0;
    for (size_t off = 0; off < size && !failed; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc = bp_framer_feed(&f, (const char *)data + off, n);
        const char *line;
        size_t len;
        while ((rc = bp_framer_next(&f, &line, &len)) == 1) {
            if (len > max_line || memchr(line, '\n', len))
                abort();
            taken += len + 1;
        }
        if (rc < 0) {
            if (rc != BP_ELIMIT)
                abort();
            failed = 1;
            if (bp_framer_feed(&f, "x\n", 2) != BP_ELIMIT) /* the error is sticky */
                abort();
        }
    }
    if (!failed && taken + bp_framer_pending(&f) != size)
        abort();
    bp_framer_free(&f);
    return 0;
}
