/* bp_token.h - the one rule for auth tokens, shared by barrierd
 * (--auth-token-file), libbarrierclient (bc_options.auth_token,
 * $BARRIERD_TOKEN) and barrierctl (--token-file), so that a token written
 * once is read the same everywhere.
 *
 * The rule: the token is the first line of the text (everything before the
 * first '\n'), with its leading and trailing blanks (space, tab, CR) removed.
 * What remains must be 1..BP_TOKEN_MAX bytes of UTF-8 without control
 * characters. So "sekrit \n", "sekrit\r\n" and "  sekrit" all mean "sekrit",
 * and a file whose first line is blank is an error, never an empty token.
 */
#ifndef BP_TOKEN_H
#define BP_TOKEN_H

#include "bp_msg.h"

#include <stddef.h>

/* A token file larger than this is refused without being read further: a
 * token is a line, not a document. */
#define BP_TOKEN_FILE_MAX 4096

/* Apply the rule to text[0..len) (which may hold NUL bytes; they are control
 * characters) and copy the token into out, NUL-terminated. Returns 0, or
 * BP_EINVAL with a reason in err (which never quotes the token; it may be
 * a secret). */
int bp_token_normalize(const char *text, size_t len, char out[BP_TOKEN_MAX + 1], char *err,
                       size_t errcap);

/* Read the file at path and apply the rule to its content. Returns 0, or
 * BP_EINVAL with a reason in err ("cannot open: No such file or directory",
 * "the token is empty: ..."). The caller names the file in its message. */
int bp_token_read_file(const char *path, char out[BP_TOKEN_MAX + 1], char *err, size_t errcap);

#endif
