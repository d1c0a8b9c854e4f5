/* tl_server.h - TLS for barrierd's connections (docs/tls.md).
 *
 * A connection accepted on a tls:// listener carries a tl_conn: its engine
 * (tl_engine.h) between the socket and the line framer. Ciphertext read from
 * the socket goes in, plaintext lines come out into the same framer and
 * dispatch as a plain connection's (the line limit counts decrypted bytes);
 * replies are encrypted per connection and written like plain output, under
 * the same --max-output bound. The server context is built at start and again
 * on SIGHUP: new connections get the new one, open ones keep theirs, and a
 * reload that fails logs why and keeps the old one.
 */
#ifndef TL_SERVER_H
#define TL_SERVER_H

#include "sv_server.h"

/* Build the context when a listener asks for TLS, and watch SIGHUP (without
 * TLS it is only logged). 0, or a negative code after logging why (the server
 * does not start). */
int tl__server_init(sv_server *s);
void tl__server_free(sv_server *s);

/* A connection accepted on a tls:// listener: its TLS state (the handshake
 * starts with its first bytes). 0 or UV_ENOMEM. */
int tl__conn_start(sv_conn *c);
/* Free its TLS state (in the close callback). */
void tl__conn_free(sv_conn *c);
/* Ciphertext the socket read: handshake, then lines into the framer. */
void tl__on_read(sv_conn *c, const char *data, size_t n);
/* Encrypt the buffers as one record and write it: what sv__conn_send and a
 * release's batch owe a TLS connection. */
void tl__sendv(sv_conn *c, const uv_buf_t *bufs, unsigned n);
/* Queue a close_notify before the FIN of a connection closing after a flush. */
void tl__close_notify(sv_conn *c);
/* The sweep: a handshake not done by --tls-handshake-timeout closes. */
void tl__sweep(sv_conn *c, int64_t now);
/* A hello with a token arrived: warn (once per connection) when it crossed a
 * network in the clear, i.e. over plain TCP from a peer not on loopback. */
void tl__plain_token(sv_conn *c);

#endif
