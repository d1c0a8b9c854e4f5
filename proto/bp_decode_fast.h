/* bp_decode_fast.h - proto's own: the two halves of bp_request_decode, apart
 * so that the fuzzer can hold one against the other (docs/performance.md). */
#ifndef BP_DECODE_FAST_H
#define BP_DECODE_FAST_H

#include "bp_msg.h"

/* The hot shape only: a `wait` whose fields are op, id, barrier, parties,
 * timeout_ms, action and client, each at most once, ASCII strings without
 * escapes, plain integers, all within their limits. Returns 1 with *r filled
 * exactly as bp__request_decode_json fills it, or 0 when the line is anything
 * else (*r then undefined): the general decoder decides it, errors included. */
int bp__decode_wait_fast(const char *line, size_t len, unsigned max_parties, bp_request *r);

/* The general decoder (cJSON): every op, every error. */
int bp__request_decode_json(const char *line, size_t len, unsigned max_parties, bp_request *r,
                            bp_decode_error *err);

#endif
