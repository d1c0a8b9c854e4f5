/* bench_tls.h - barrier-bench --tls: the generator's connections to barrierd
 * over TLS (OpenSSL), against the same barrierd with a tls:// listener beside
 * its plain one. The floor server stays plain: the comparison is barrierd over
 * TLS with the kernel floor, and a plain run gives the TCP figures. */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stddef.h>
#include <sys/types.h>

/* Make a self-signed certificate and key (P-256) in a private directory, once;
 * then append "--listen tls://127.0.0.1:0 --tls-cert F --tls-key F" to argv at
 * a. Returns the new a, or -1. */
int bench_tls_server_args(const char **argv, int a);
/* Handshake on a connected non-blocking socket, within timeout_s. The session
 * in *tls, or -1 with a message on stderr. */
int bench_tls_handshake(int fd, void **tls, double timeout_s);
/* read()/send() through the session: bytes, or -1 with errno (EAGAIN: not
 * now), 0 at the end. */
ssize_t bench_tls_read(void *tls, void *buf, size_t cap);
ssize_t bench_tls_write(void *tls, const void *buf, size_t len);
void bench_tls_free(void *tls);
/* Remove the certificate directory (at exit). */
void bench_tls_cleanup(void);

#endif
