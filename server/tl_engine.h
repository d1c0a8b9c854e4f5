/* tl_engine.h - TLS over memory: one connection's OpenSSL state, no sockets.
 *
 * Ciphertext goes in with tl_engine_feed (what the socket read) and comes out
 * with tl_engine_take (what the socket must be sent); plaintext comes out with
 * tl_engine_read and goes in with tl_engine_write. Whoever owns the socket
 * moves the bytes, so the same engine serves libuv in barrierd and two engines
 * pumping into each other in a unit test. Every call clears OpenSSL's error
 * queue first and, on failure, keeps the reason (tl_engine_error) for the log.
 */
#ifndef TL_ENGINE_H
#define TL_ENGINE_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tl_engine tl_engine;

enum {
    TL_AGAIN = 0,  /* nothing more until more ciphertext arrives */
    TL_EOF = -1,   /* the peer closed the TLS session (close_notify) */
    TL_ERROR = -2, /* a TLS error: the connection is over; see tl_engine_error */
};

/* The server context from PEM files: certificate chain, key, and with ca the
 * CAs that client certificates are checked against (verify_client: a client
 * without a good certificate is refused). TLS 1.2 or later, renegotiation off.
 * Returns NULL with why in err[cap]. */
SSL_CTX *tl_ctx_server(const char *cert, const char *key, const char *ca, int verify_client,
                       char *err, size_t cap);

/* A new session over ctx (which it references): a server, or a client (tests). */
tl_engine *tl_engine_new(SSL_CTX *ctx, int server);
void tl_engine_free(tl_engine *e);

/* Hand over n bytes of ciphertext. 0, or TL_ERROR (out of memory). */
int tl_engine_feed(tl_engine *e, const void *data, size_t n);
/* Advance the handshake: 1 once it is done, TL_AGAIN while it needs more
 * input, TL_ERROR when it failed. */
int tl_engine_handshake(tl_engine *e);
/* Up to cap plaintext bytes: how many, TL_AGAIN, TL_EOF or TL_ERROR. */
ssize_t tl_engine_read(tl_engine *e, void *buf, size_t cap);
/* Encrypt n plaintext bytes (the handshake must be done). 0 or TL_ERROR. */
int tl_engine_write(tl_engine *e, const void *data, size_t n);
/* Queue a close_notify alert. */
void tl_engine_close_notify(tl_engine *e);
/* Ciphertext waiting to be sent, and taking up to cap bytes of it. */
size_t tl_engine_pending(const tl_engine *e);
size_t tl_engine_take(tl_engine *e, void *buf, size_t cap);
/* Why the last TL_ERROR happened ("certificate verify failed: ...",
 * "wrong version number", "peer did not return a certificate"). */
const char *tl_engine_error(const tl_engine *e);
/* The negotiated protocol ("TLSv1.3") once the handshake is done. */
const char *tl_engine_version(const tl_engine *e);

#endif
