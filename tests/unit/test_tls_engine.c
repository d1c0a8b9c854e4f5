/* test_tls_engine.c - TLS without sockets: two tl_engines, a client and a server,
 * pumping ciphertext between their memory BIOs; and tls:// addresses.
 *
 *   handshake_and_lines   handshake, lines both ways, split and coalesced
 *   big_payload           a megabyte through 16 KiB records, fed byte-odd
 *   garbage_refused       plaintext JSON and junk at a server: an error with
 *                         a reason, never a crash or a hang
 *   old_version_refused   a client capped at TLS 1.1 is refused
 *   client_cert_required  verify_client: no certificate, refused
 *   close_notify          the peer reads TL_EOF after close_notify
 *   ctx_files             tl_ctx_server names the file it cannot use
 *   addresses             bp_addr: tls:// forms, lists, refusals, formatting
 */
#include "bp_addr.h"
#include "tl_engine.h"
#include "ts_run.h"

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* ---- a self-signed certificate, made in memory ---- */

static EVP_PKEY *key;
static X509 *cert;

static void make_cert(void)
{
    if (cert)
        return;
    key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *n = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(cert, n);
    ck_assert_int_gt(X509_sign(cert, key, EVP_sha256()), 0);
}

static SSL_CTX *server_ctx(int verify_client)
{
    make_cert();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    ck_assert_int_eq(SSL_CTX_use_certificate(ctx, cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
    if (verify_client) {
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

static SSL_CTX *client_ctx(int max_version)
{
    make_cert();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, max_version);
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
    }
    return ctx;
}

/* Move what a has for b, in pieces of at most chunk bytes. Returns the bytes moved. */
static size_t pump(tl_engine *a, tl_engine *b, size_t chunk)
{
    char buf[4096];
    size_t moved = 0;
    if (chunk > sizeof buf)
        chunk = sizeof buf;
    while (tl_engine_pending(a) > 0) {
        size_t n = tl_engine_take(a, buf, chunk);
        ck_assert_int_eq(tl_engine_feed(b, buf, n), 0);
        moved += n;
    }
    return moved;
}

/* Drive both handshakes until both are done or one fails (bounded). Returns
 * 1 when both finished, else the failing side's code. */
static int handshake(tl_engine *cl, tl_engine *sv, size_t chunk)
{
    for (int i = 0; i < 100; i++) {
        int rc = tl_engine_handshake(cl);
        pump(cl, sv, chunk);
        int rs = tl_engine_handshake(sv);
        pump(sv, cl, chunk);
        if (rc == TL_ERROR || rs == TL_ERROR)
            return TL_ERROR;
        if (rc == 1 && rs == 1)
            return 1;
    }
    return TL_AGAIN;
}

/* Read everything b has for us into out (at most cap). */
static size_t drain(tl_engine *e, char *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = tl_engine_read(e, out + got, cap - got);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

START_TEST(handshake_and_lines)
{
    SSL_CTX *sc = server_ctx(0), *cc = client_ctx(0);
    tl_engine *sv = tl_engine_new(sc, 1), *cl = tl_engine_new(cc, 0);
    ck_assert_int_eq(handshake(cl, sv, 7), 1); /* odd pieces: records split anyhow */
    ck_assert_str_eq(tl_engine_version(sv), "TLSv1.3");
    const char *req = "{\"op\":\"hello\",\"id\":1}\n{\"op\":\"ping\",\"id\":2}\n";
    ck_assert_int_eq(tl_engine_write(cl, req, strlen(req)), 0);
    pump(cl, sv, 5);
    char buf[256];
    size_t n = drain(sv, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(req));
    ck_assert(memcmp(buf, req, n) == 0);
    /* Nothing more: TL_AGAIN, not an error. */
    ck_assert_int_eq(tl_engine_read(sv, buf, sizeof buf), TL_AGAIN);
    const char *rep = "{\"id\":1,\"ok\":true}\n";
    ck_assert_int_eq(tl_engine_write(sv, rep, strlen(rep)), 0);
    pump(sv, cl, 4096);
    n = drain(cl, buf, sizeof buf);
    ck_assert_uint_eq(n, strlen(rep));
    tl_engine_free(sv);
    tl_engine_free(cl);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
}
END_TEST

START_TEST(big_payload)
{
    SSL_CTX *sc = server_ctx(0), *cc = client_ctx(0);
    tl_engine *sv = tl_engine_new(sc, 1), *cl = tl_engine_new(cc, 0);
    ck_assert_int_eq(handshake(cl, sv, 4096), 1);
    size_t len = 1 << 20;
    char *big = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    ck_assert_int_eq(tl_engine_write(sv, big, len), 0);
    ck_assert_uint_gt(tl_engine_pending(sv), len); /* records add their overhead */
    pump(sv, cl, 999);
    ck_assert_uint_eq(drain(cl, back, len), len);
    ck_assert(memcmp(big, back, len) == 0);
    free(big);
    free(back);
    tl_engine_free(sv);
    tl_engine_free(cl);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
}
END_TEST

START_TEST(garbage_refused)
{
    SSL_CTX *sc = server_ctx(0);
    const char *junk[] = {"{\"op\":\"hello\",\"id\":1}\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                          "\x16\x03\x01\x00\x02\xff\xff", "\x16\x03\x03\xff\xff"};
    const char *why[] = {"wrong version number", "http request", NULL, NULL};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        tl_engine *sv = tl_engine_new(sc, 1);
        ck_assert_int_eq(tl_engine_feed(sv, junk[i], strlen(junk[i]) + (i >= 2)), 0);
        int rc = tl_engine_handshake(sv);
        /* A record header that promises more waits for it; the rest fail. */
        if (rc == TL_AGAIN) {
            ck_assert_uint_ge(i, 2);
        } else {
            ck_assert_int_eq(rc, TL_ERROR);
            if (why[i])
                ck_assert_msg(strstr(tl_engine_error(sv), why[i]), "%zu: %s", i,
                              tl_engine_error(sv));
        }
        ck_assert_uint_eq(ERR_peek_error(), 0); /* the queue is left clean */
        tl_engine_free(sv);
    }
    SSL_CTX_free(sc);
}
END_TEST

START_TEST(old_version_refused)
{
    SSL_CTX *sc = server_ctx(0), *cc = client_ctx(TLS1_1_VERSION);
    tl_engine *sv = tl_engine_new(sc, 1), *cl = tl_engine_new(cc, 0);
    ck_assert_int_eq(handshake(cl, sv, 4096), TL_ERROR);
    ck_assert_msg(strstr(tl_engine_error(sv), "unsupported protocol"), "%s", tl_engine_error(sv));
    tl_engine_free(sv);
    tl_engine_free(cl);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
}
END_TEST

START_TEST(client_cert_required)
{
    SSL_CTX *sc = server_ctx(1), *cc = client_ctx(0);
    tl_engine *sv = tl_engine_new(sc, 1), *cl = tl_engine_new(cc, 0);
    int rc = handshake(cl, sv, 4096);
    ck_assert_int_eq(rc, TL_ERROR);
    ck_assert_msg(strstr(tl_engine_error(sv), "peer did not return a certificate"), "%s",
                  tl_engine_error(sv));
    tl_engine_free(sv);
    tl_engine_free(cl);
    /* With the certificate: in. */
    SSL_CTX_use_certificate(cc, cert);
    SSL_CTX_use_PrivateKey(cc, key);
    sv = tl_engine_new(sc, 1);
    cl = tl_engine_new(cc, 0);
    ck_assert_int_eq(handshake(cl, sv, 4096), 1);
    tl_engine_free(sv);
    tl_engine_free(cl);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
}
END_TEST

START_TEST(close_notify)
{
    SSL_CTX *sc = server_ctx(0), *cc = client_ctx(0);
    tl_engine *sv = tl_engine_new(sc, 1), *cl = tl_engine_new(cc, 0);
    ck_assert_int_eq(handshake(cl, sv, 4096), 1);
    ck_assert_int_eq(tl_engine_write(sv, "bye\n", 4), 0);
    tl_engine_close_notify(sv);
    pump(sv, cl, 4096);
    char buf[16];
    ck_assert_int_eq(tl_engine_read(cl, buf, sizeof buf), 4);
    ck_assert_int_eq(tl_engine_read(cl, buf, sizeof buf), TL_EOF);
    tl_engine_free(sv);
    tl_engine_free(cl);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
}
END_TEST

START_TEST(ctx_files)
{
    char err[512];
    ck_assert_ptr_null(tl_ctx_server("/nonexistent/cert.pem", "/nonexistent/key.pem", NULL, 0,
                                     err, sizeof err));
    ck_assert_msg(strstr(err, "--tls-cert /nonexistent/cert.pem: No such file or directory"), "%s",
                  err);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(addresses)
{
    bp_addr a;
    char err[512], text[300];
    ck_assert_int_eq(bp_addr_parse("tls://127.0.0.1:7411", 20, 0, &a, err, sizeof err), 0);
    ck_assert(a.tls && a.kind == BP_ADDR_TCP && a.port == 7411);
    ck_assert_str_eq(a.host, "127.0.0.1");
    bp_addr_format(&a, text, sizeof text);
    ck_assert_str_eq(text, "tls://127.0.0.1:7411");
    ck_assert_int_eq(bp_addr_parse("tls://[::1]:7", 13, 0, &a, err, sizeof err), 0);
    ck_assert(a.tls);
    bp_addr_format(&a, text, sizeof text);
    ck_assert_str_eq(text, "tls://[::1]:7");
    ck_assert_int_eq(bp_addr_parse("h:1", 3, 0, &a, err, sizeof err), 0);
    ck_assert(!a.tls);
    ck_assert_int_eq(bp_addr_parse("tls://h:0", 9, BP_ADDR_PORT0_OK, &a, err, sizeof err), 0);
    const char *bad[] = {"tls://unix:/x", "tls://", "tls://h", "http://h:1", "tls://tls://h:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(bp_addr_parse(bad[i], strlen(bad[i]), 0, &a, err, sizeof err) < 0, "%s",
                      bad[i]);
    ck_assert_int_eq(bp_addr_parse("tls://unix:/x", 13, 0, &a, err, sizeof err), -5);
    ck_assert_msg(strstr(err, "not unix sockets"), "%s", err);
    ck_assert_int_eq(bp_addr_parse("http://h:1", 10, 0, &a, err, sizeof err), -5);
    ck_assert_msg(strstr(err, "tls://"), "%s", err);
    bp_addr list[4];
    size_t n;
    ck_assert_int_eq(bp_addr_parse_list("tls://a:1,b:2,tls://[::1]:3", 0, list, 4, &n, err,
                                        sizeof err),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert(list[0].tls && !list[1].tls && list[2].tls);
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"handshake_and_lines", handshake_and_lines, 0},
        {"big_payload", big_payload, 0},
        {"garbage_refused", garbage_refused, 0},
        {"old_version_refused", old_version_refused, 0},
        {"client_cert_required", client_cert_required, 0},
        {"close_notify", close_notify, 0},
        {"ctx_files", ctx_files, 0},
        {"addresses", addresses, 0},
    };
    return ts_run_cases("tls", cases, TS_NCASES(cases));
}
