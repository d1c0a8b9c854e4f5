/* bench_tls.c - TLS for barrier-bench's connections; see bench_tls.h. */
#include "bench_tls.h"

#include "ts_clock.h"
#include "ts_file.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64], cert_path[96], key_path[96];
static SSL_CTX *ctx;

/* A self-signed P-256 certificate for 127.0.0.1, written as PEM files. */
static int make_files(void)
{
    snprintf(dir, sizeof dir, "/tmp/bench-tls-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x) return -1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509_sign(x, key, EVP_sha256());
    FILE *cf = fopen(cert_path, "w"), *kf = fopen(key_path, "w");
    int ok = cf && kf && PEM_write_X509(cf, x) &&
             PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL);
    if (cf) fclose(cf);
    if (kf) fclose(kf);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

int bench_tls_server_args(const char **argv, int a)
{
    if (!ctx) {
        if (make_files() < 0) {
            fprintf(stderr, "barrier-bench: cannot make a TLS certificate in %s\n", dir);
            return -1;
        }
        /* The bench measures the server, so the client trusts its certificate
         * without checking (it made it). */
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx) return -1;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    argv[a++] = "--listen";
    argv[a++] = "tls://127.0.0.1:0";
    argv[a++] = "--tls-cert";
    argv[a++] = cert_path;
    argv[a++] = "--tls-key";
    argv[a++] = key_path;
    return a;
}

int bench_tls_handshake(int fd, void **tls, double timeout_s)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) return -1;
    uint64_t end = ts_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1) break;
        int e = SSL_get_error(ssl, r);
        struct pollfd p = {.fd = fd, .events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || ts_now_ns() >= end) {
            unsigned long code = ERR_peek_error();
            fprintf(stderr, "barrier-bench: TLS handshake: %s\n",
                    code ? ERR_reason_error_string(code) : "timed out or closed");
            SSL_free(ssl);
            return -1;
        }
        poll(&p, 1, 100);
    }
    *tls = ssl;
    return 0;
}

static ssize_t result(SSL *ssl, int ok, size_t n)
{
    if (ok) return (ssize_t)n;
    int e = SSL_get_error(ssl, 0);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = EPROTO;
    return -1;
}

ssize_t bench_tls_read(void *tls, void *buf, size_t cap)
{
    size_t n = 0;
    ERR_clear_error();
    int ok = SSL_read_ex(tls, buf, cap, &n); /* before n is read as an argument */
    return result(tls, ok, n);
}

ssize_t bench_tls_write(void *tls, const void *buf, size_t len)
{
    size_t n = 0;
    ERR_clear_error();
    int ok = SSL_write_ex(tls, buf, len, &n);
    return result(tls, ok, n);
}

void bench_tls_free(void *tls)
{
    SSL_free(tls);
}

void bench_tls_cleanup(void)
{
    if (dir[0] && ctx) ts_remove_dir(dir);
    SSL_CTX_free(ctx);
    ctx = NULL;
}
