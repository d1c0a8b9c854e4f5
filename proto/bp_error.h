/* bp_error.h - the error codes shared by the wire protocol, server and client.
 *
 * One table generates the enum, the wire names ("broken", ...) and the human
 * strings, so the three can never drift apart. Codes are negative; 0 is success.
 * libbarrierclient's public BC_E* codes have the same values.
 */
#ifndef BP_ERROR_H
#define BP_ERROR_H

/* X(NAME, value, wire name, description) */
#define BP_ERRORS(X)                                                                      \
    X(BROKEN, -1, "broken", "barrier is broken")                                          \
    X(TIMEDOUT, -2, "timedout", "timed out waiting at the barrier")                       \
    X(ACTION, -3, "action", "barrier action failed")                                      \
    X(PARTIES, -4, "parties", "parties does not match the barrier's")                     \
    X(INVAL, -5, "inval", "invalid argument")                                             \
    X(NOTFOUND, -6, "notfound", "no such barrier")                                        \
    X(CONN, -7, "conn", "cannot reach the server or connection lost")                     \
    X(PROTO, -8, "proto", "protocol error")                                               \
    X(AUTH, -9, "auth", "authentication failed")                                          \
    X(LIMIT, -10, "limit", "server limit reached")                                        \
    X(SHUTDOWN, -11, "shutdown", "server is shutting down")                               \
    X(NOMEM, -12, "nomem", "out of memory")                                               \
    X(NOTLEADER, -13, "notleader", "this server is a standby; ask the leader")               \
    X(MEMBER, -14, "member", "member name taken, missing or not one of the barrier's members")

typedef enum bp_err {
    BP_OK = 0,
#define BP__ERR_ENUM(name, val, wire, desc) BP_E##name = (val),
    BP_ERRORS(BP__ERR_ENUM)
#undef BP__ERR_ENUM
} bp_err;

#define BP_ERR_MIN (-14) /* the lowest code in the table */

/* Wire name of a code ("broken"), or "unknown". Never NULL. */
const char *bp_err_name(int code);
/* Human description of a code, or "unknown error". Never NULL. */
const char *bp_strerror(int code);
/* Code for a wire name; BP_EPROTO for a name not in the table. */
int bp_err_from_name(const char *name);

#endif
