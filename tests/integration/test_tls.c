/* test_tls.c - TLS and mutual TLS on the wire, against a real barrierd with
 * certificates the test makes itself (tls-certs.sh, the openssl CLI):
 *
 *   s_client_json        openssl s_client handshakes (TLS 1.3 and 1.2) and
 *                        talks JSON: hello, a wait released
 *   tls11_refused        a TLS 1.1 client is refused; the server stays up
 *   verify_refused       wrong CA, expired certificate, host name and IP
 *                        mismatch: each refused at once with its reason;
 *                        tls_server_name and a CA list work
 *   mtls                 --tls-verify-client: no client certificate, or one
 *                        of another CA, refused with a reason; a good one in
 *   plain_tls_mixups     a plain client on the TLS port and a TLS client on
 *                        the plain port: clear errors, nothing hangs
 *   garbage_and_limits   junk, a silent peer (handshake timeout), an
 *                        oversized line after decryption, the connection limit
 *   token_over_tls       a wrong token refused over TLS; the hello timeout's
 *                        error arrives encrypted before the close
 *   release_processes    a full release over TLS: processes x threads, rounds
 *   shared_handle_threads  one handle, eight threads waiting and pinging over one
 *                        TLS session, heartbeats answered meanwhile
 *   sighup_reload        a new certificate after SIGHUP for new clients, the
 *                        old connection kept; a broken reload keeps the last;
 *                        without TLS, SIGHUP is only logged
 *   kill9_waiter         a waiter killed -9: the others see the barrier broken
 *   server_death         waiters learn the server died; with resume they are
 *                        released by a restarted server (new handshake)
 *   barrierctl_tls       barrierctl --tls-ca / $BARRIERD_TLS_CA, and its error
 *   token_plain_warning  a token over plain TCP from a non-loopback peer is
 *                        warned about once; over TLS or loopback it is not
 */
#include "barrierclient.h"
#include "itest_fixture.h"
#include "ts_file.h"
#include "ts_slow.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h> /* unshare */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- certificates ---- */

static char cert_dir[64];

static void certs_make(void)
{
    snprintf(cert_dir, sizeof cert_dir, "/tmp/bd-tls-XXXXXX");
    it_assert(mkdtemp(cert_dir) != NULL);
    const char *argv[] = {"sh", TLS_CERTS_SH, cert_dir, NULL};
    int st = ts_run_cmd(argv, NULL, "-", 30000);
    it_assert_msg(st == 0, "tls-certs.sh failed (%d)", st);
}

/* DIR/name, from a ring of buffers (a call may use several). */
static const char *cf(const char *name)
{
    static char ring[8][128];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, 128, "%s/%s", cert_dir, name);
    return p;
}

static void certs_remove(void)
{
    ts_remove_dir(cert_dir);
}

static int has(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

/* ---- servers and clients ---- */

/* A server with a tls:// listener (first) and a plain one, cert/key from the
 * test's directory, and extra flags (NULL-terminated). */
static int tls_only; /* no plain listener: ts_server_restart_up keeps the TLS one */

static void tls_server_up(ts_server *s, const char *cert, const char *key, ...)
{
    const char *argv[32];
    int n = 0;
    snprintf(s->listen, sizeof s->listen, "tls://127.0.0.1:0");
    if (!tls_only) {
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
    }
    argv[n++] = "--tls-cert";
    argv[n++] = cf(cert);
    argv[n++] = "--tls-key";
    argv[n++] = cf(key);
    va_list ap;
    va_start(ap, key);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ts_server_upv(s, argv);
}

static const char *tls_addr(const ts_server *s)
{
    const char *a = ts_server_addr(s, "tls://");
    it_assert(a != NULL);
    return a;
}

static const char *plain_addr(const ts_server *s)
{
    const char *a = ts_server_addr(s, "127.0.0.1:");
    it_assert(a != NULL);
    return a;
}

typedef struct tls_opts {
    const char *ca, *cert, *key, *name; /* files in cert_dir (NULL: none) */
    double resume_s;                    /* 0: resuming off */
} tls_opts;

/* bc_connect with the options; msg gets the error message. */
static int lib_connect(const char *addr, const tls_opts *t, bc_client **c, char *msg, size_t cap)
{
    bc_options o = {.connect_timeout_s = 5 * ts_slow(), .io_grace_s = 5 * ts_slow()};
    o.resume_s = t && t->resume_s ? t->resume_s : -1;
    if (t && t->ca) o.tls_ca_file = cf(t->ca);
    if (t && t->cert) o.tls_cert_file = cf(t->cert);
    if (t && t->key) o.tls_key_file = cf(t->key);
    if (t && t->name) o.tls_server_name = t->name;
    *c = NULL;
    int rc = bc_connect(addr, &o, c);
    if (msg) snprintf(msg, cap, "%s", rc < 0 ? bc_last_error_message() : "");
    return rc;
}

/* Connected, asserted. */
static bc_client *lib_up(const char *addr, const tls_opts *t)
{
    bc_client *c;
    char m[1024];
    int rc = lib_connect(addr, t, &c, m, sizeof m);
    it_assert_msg(rc == BC_OK, "connect %s: %s", addr, m);
    return c;
}

/* Refused with code and a message that contains want, within bound_ms. */
static void lib_refused(const char *addr, const tls_opts *t, int code, const char *want,
                        const char *what)
{
    bc_client *c;
    char m[1024];
    int64_t t0 = ts_now_ms();
    int rc = lib_connect(addr, t, &c, m, sizeof m);
    int64_t took = ts_now_ms() - t0;
    if (rc == BC_OK) bc_close(c);
    it_assert_msg(rc == code, "%s: got %d (%s), expected %d", what, rc, m, code);
    it_assert_msg(has(m, want), "%s: message '%s' lacks '%s'", what, m, want);
    it_assert_msg(took < 5000 * ts_slow(), "%s: took %lld ms", what, (long long)took);
    fprintf(stderr, "%s: refused in %lld ms: %s\n", what, (long long)took, m);
}

static void lib_ping(bc_client *c)
{
    double rtt;
    int rc = bc_ping(c, &rtt);
    it_assert_msg(rc == BC_OK, "ping: %s", bc_last_error_message());
}

/* ---- openssl s_client ---- */

/* Run a shell command (bounded by timeout(1) inside it); its stdout in out. */
static int shell(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int shell(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    it_assert(f != NULL);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    return pclose(f);
}

START_TEST(s_client_json)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    int port = ts_server_port(&s, "tls://");
    const char *versions[] = {"-tls1_3", "-tls1_2"};
    for (int i = 0; i < 2; i++) {
        char out[4096];
        shell(out, sizeof out,
              "(printf '%%s\\n%%s\\n' '{\"op\":\"hello\",\"id\":1,\"version\":1}' "
              "'{\"op\":\"wait\",\"id\":2,\"barrier\":\"sc%d\",\"parties\":1}'; sleep %d) | "
              "timeout %d openssl s_client %s -quiet -no_ign_eof -connect 127.0.0.1:%d -CAfile %s "
              "-verify_return_error -verify_hostname localhost 2>/dev/null",
              /* stdin stays open long enough for the replies, valgrind too */
              i, ts_slow() > 1 ? 6 : 2, (int)(20 * ts_slow()), versions[i], port, cf("ca.pem"));
        fprintf(stderr, "s_client %s said:\n%s", versions[i], out);
        it_assert_msg(has(out, "\"id\":1,\"ok\":true") && has(out, "\"heartbeat_ms\""),
                      "%s: no hello reply: %s", versions[i], out);
        it_assert_msg(has(out, "\"id\":2,\"index\":0,\"ok\":true"), "%s: no release: %s",
                      versions[i], out);
    }
    it_assert(ts_server_log_contains(&s, "connected via tls://"));
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(tls11_refused)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    char out[4096];
    int64_t t0 = ts_now_ms();
    int st = shell(out, sizeof out,
                   "timeout %d openssl s_client -tls1_1 -cipher DEFAULT@SECLEVEL=0 -connect "
                   "127.0.0.1:%d -CAfile %s </dev/null 2>&1",
                   (int)(10 * ts_slow()), ts_server_port(&s, "tls://"), cf("ca.pem"));
    fprintf(stderr, "tls11_refused: s_client -tls1_1 (status %d) in %lld ms\n", st,
            (long long)(ts_now_ms() - t0));
    it_assert_msg(st != 0 && WIFEXITED(st) && WEXITSTATUS(st) != 124, "TLS 1.1 not refused: %s",
                  out);
    it_assert_msg(has(out, "alert protocol version") && has(out, "Cipher is (NONE)"),
                  "a TLS 1.1 session: %s", out);
    for (int i = 0; i < 100 && !ts_server_log_contains(&s, "unsupported protocol"); i++)
        ts_sleep_ms(50);
    it_assert(ts_server_log_contains(&s, "TLS handshake failed: unsupported protocol"));
    bc_client *c = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca.pem"});
    lib_ping(c);
    bc_close(c);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(verify_refused)
{
    certs_make();
    ts_server good = {0}, expired = {0}, other = {0};
    tls_server_up(&good, "server.pem", "server.key", NULL);
    tls_server_up(&expired, "expired.pem", "expired.key", NULL);
    tls_server_up(&other, "other.pem", "other.key", NULL);
    char local[160];
    snprintf(local, sizeof local, "tls://localhost:%d", ts_server_port(&good, "tls://"));

    lib_refused(tls_addr(&good), &(tls_opts){.ca = "ca2.pem"}, BC_ECONN,
                "certificate verify failed: unable to get local issuer certificate", "wrong CA");
    lib_refused(tls_addr(&expired), &(tls_opts){.ca = "ca.pem"}, BC_ECONN,
                "certificate verify failed: certificate has expired", "expired");
    lib_refused(tls_addr(&other), &(tls_opts){.ca = "ca.pem"}, BC_ECONN,
                "certificate verify failed: IP address mismatch", "IP mismatch");
    char other_local[160];
    snprintf(other_local, sizeof other_local, "tls://localhost:%d",
             ts_server_port(&other, "tls://"));
    lib_refused(other_local, &(tls_opts){.ca = "ca.pem"}, BC_ECONN,
                "certificate verify failed: hostname mismatch", "hostname mismatch");
    lib_refused(tls_addr(&good), &(tls_opts){.ca = "ca.pem", .name = "wrong.example"}, BC_ECONN,
                "hostname mismatch", "tls_server_name mismatch");
    lib_refused(tls_addr(&good), &(tls_opts){.ca = "missing.pem"}, BC_EINVAL,
                "missing.pem: No such file or directory", "missing CA file");
    lib_refused(tls_addr(&good), &(tls_opts){.ca = "ca.pem", .cert = "client.pem"}, BC_EINVAL,
                "go together", "cert without key");

    /* What works: the IP, the DNS name, tls_server_name naming the certificate,
     * and the other server under its own name. */
    bc_client *c = lib_up(tls_addr(&good), &(tls_opts){.ca = "ca.pem"});
    lib_ping(c);
    bc_close(c);
    c = lib_up(local, &(tls_opts){.ca = "ca.pem"});
    lib_ping(c);
    bc_close(c);
    c = lib_up(tls_addr(&other), &(tls_opts){.ca = "ca.pem", .name = "other.example"});
    lib_ping(c);
    bc_close(c);
    ts_server_down(&good);
    ts_server_down(&expired);
    ts_server_down(&other);
    certs_remove();
}
END_TEST

START_TEST(mtls)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", "--tls-ca", cf("ca.pem"), "--tls-verify-client",
                  NULL);
    /* TLS 1.3 finishes the client's side of the handshake before the server
     * has judged its certificate: the refusal arrives as an alert on the
     * first read, still inside bc_connect (the hello). */
    lib_refused(tls_addr(&s), &(tls_opts){.ca = "ca.pem"}, BC_ECONN, "certificate required",
                "mTLS without a client certificate");
    lib_refused(tls_addr(&s),
                &(tls_opts){.ca = "ca.pem", .cert = "client2.pem", .key = "client2.key"}, BC_ECONN,
                "unknown ca", "mTLS with a certificate of another CA");
    it_assert(ts_server_log_contains(&s, "peer did not return a certificate"));
    bc_client *c = lib_up(tls_addr(&s),
                          &(tls_opts){.ca = "ca.pem", .cert = "client.pem", .key = "client.key"});
    bc_wait_result r;
    it_assert_msg(bc_wait(c, "m", 1, 5, NULL, NULL, &r) == BC_OK, "wait: %s",
                  bc_last_error_message());
    bc_close(c);
    /* The plain listener beside it needs nothing. */
    c = lib_up(plain_addr(&s), NULL);
    lib_ping(c);
    bc_close(c);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(plain_tls_mixups)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    char plain_on_tls[160], tls_on_plain[160];
    snprintf(plain_on_tls, sizeof plain_on_tls, "127.0.0.1:%d", ts_server_port(&s, "tls://"));
    snprintf(tls_on_plain, sizeof tls_on_plain, "tls://%s", plain_addr(&s));
    lib_refused(plain_on_tls, NULL, BC_ECONN, "tls://HOST:PORT", "plain client on the TLS port");
    lib_refused(tls_on_plain, &(tls_opts){.ca = "ca.pem"}, BC_ECONN, "TLS handshake: ",
                "TLS client on the plain port");
    it_assert(ts_server_log_contains(&s, "TLS handshake failed: "));
    /* A list may mix them: the first is refused, the second answers. */
    char list[400];
    snprintf(list, sizeof list, "%s,%s", tls_on_plain, tls_addr(&s));
    bc_client *c = lib_up(list, &(tls_opts){.ca = "ca.pem"});
    lib_ping(c);
    bc_close(c);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(garbage_and_limits)
{
    certs_make();
    ts_server s = {0};
    /* Long enough for a real handshake under valgrind too. */
    char hs[32], hs_log[96];
    snprintf(hs, sizeof hs, "%g", 0.5 * ts_slow());
    snprintf(hs_log, sizeof hs_log, "no TLS handshake within %.3g s", 0.5 * ts_slow());
    tls_server_up(&s, "server.pem", "server.key", "--tls-handshake-timeout", hs,
                  "--max-line", "300", "--max-connections", "3", NULL);
    int port = ts_server_port(&s, "tls://");
    /* Junk: closed with a log line. */
    const char *junk[] = {"GET / HTTP/1.0\r\n\r\n", "{\"op\":\"ping\",\"id\":1}\n",
                          "\x16\x03\x01\x00\x05garbage-after-a-record-header"};
    for (size_t i = 0; i < 3; i++) {
        it_conn *g = it_connect_tcp("127.0.0.1", port, 0);
        it_assert(g != NULL);
        it_assert(it_send_raw(g, junk[i], strlen(junk[i])) == 0);
        it_expect_eof(g, (int)(5000 * ts_slow()));
        it_close(g);
    }
    /* A peer that never starts the handshake: closed at the timeout. */
    int64_t t0 = ts_now_ms();
    it_conn *quiet = it_connect_tcp("127.0.0.1", port, 0);
    it_assert(quiet != NULL);
    it_expect_eof(quiet, (int)(5000 * ts_slow() + 2000));
    int64_t took = ts_now_ms() - t0;
    it_assert_msg(took >= 400 * ts_slow(), "closed after %lld ms, before the handshake timeout",
                  (long long)took);
    it_close(quiet);
    it_assert_msg(ts_server_log_contains(&s, hs_log), "no '%s' in the log", hs_log);

    /* The line limit counts decrypted bytes: an oversized line is answered
     * with the error (over TLS) and the connection closes. */
    char out[8192], line[400];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    shell(out, sizeof out,
          "(printf '%%s\\n' '%s'; sleep 1) | timeout %d openssl s_client -quiet -connect "
          "127.0.0.1:%d -CAfile %s 2>/dev/null",
          line, (int)(10 * ts_slow()), port, cf("ca.pem"));
    it_assert_msg(has(out, "line longer than 300 bytes"), "oversized line: %s", out);

    /* Over --max-connections a TLS connection is closed before the handshake. */
    bc_client *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca.pem"});
    bc_client *x;
    char m[1024];
    it_assert(lib_connect(tls_addr(&s), &(tls_opts){.ca = "ca.pem"}, &x, m, sizeof m) == BC_ECONN);
    it_assert_msg(has(m, "connection limit"), "over the limit: %s", m);
    fprintf(stderr, "garbage_and_limits: over the limit: %s\n", m);
    it_assert(ts_server_log_contains(&s, "refused before the TLS handshake"));
    for (int i = 0; i < 3; i++) {
        lib_ping(c[i]);
        bc_close(c[i]);
    }
    /* Still up, and the slots came back. */
    for (int i = 0; i < 100; i++) {
        int rc = lib_connect(tls_addr(&s), &(tls_opts){.ca = "ca.pem"}, &x, m, sizeof m);
        if (rc == BC_OK) {
            lib_ping(x);
            bc_close(x);
            break;
        }
        it_assert_msg(i < 99, "no slot back: %s", m);
        ts_sleep_ms(50);
    }
    ts_server_down(&s);
    certs_remove();
}
END_TEST

/* With a token over TLS: a wrong token is BC_EAUTH (the error comes encrypted),
 * and a connection that says nothing after its handshake gets the hello
 * timeout's error, then the close. */
START_TEST(token_over_tls)
{
    certs_make();
    char tok[96], hello[32];
    snprintf(tok, sizeof tok, "%s/token", cert_dir);
    FILE *f = fopen(tok, "w");
    it_assert(f != NULL);
    fputs("sekrit\n", f);
    fclose(f);
    snprintf(hello, sizeof hello, "%g", 0.3 * ts_slow());
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", "--auth-token-file", tok, "--hello-timeout",
                  hello, NULL);
    bc_options o = {.auth_token = "wrong", .resume_s = -1, .tls_ca_file = cf("ca.pem")};
    bc_client *c;
    it_assert(bc_connect(tls_addr(&s), &o, &c) == BC_EAUTH);
    it_assert_msg(has(bc_last_error_message(), "wrong token"), "%s", bc_last_error_message());
    o.auth_token = "sekrit";
    it_assert(bc_connect(tls_addr(&s), &o, &c) == BC_OK);
    lib_ping(c);
    bc_close(c);
    char out[4096];
    shell(out, sizeof out,
          "sleep %d | timeout %d openssl s_client -quiet -connect 127.0.0.1:%d -CAfile %s "
          "2>/dev/null",
          ts_slow() > 1 ? 10 : 2, (int)(20 * ts_slow()), ts_server_port(&s, "tls://"),
          cf("ca.pem"));
    it_assert_msg(has(out, "no hello with the token within"), "hello timeout: %s", out);
    it_assert(!ts_server_log_contains(&s, "sekrit"));
    ts_server_down(&s);
    certs_remove();
}
END_TEST

/* ---- releases, faults ---- */

#define PROCS 4
#define THREADS 3
#define ROUNDS 20

typedef struct party {
    const char *addr;
    int rc;
    char msg[256];
    unsigned sum; /* of the indexes it got */
} party;

static void *party_thread(void *p)
{
    party *a = p;
    bc_client *c;
    a->rc = lib_connect(a->addr, &(tls_opts){.ca = "ca.pem"}, &c, a->msg, sizeof a->msg);
    for (int i = 0; i < ROUNDS && a->rc == 0; i++) {
        bc_wait_result r;
        a->rc = bc_wait(c, "rel", PROCS * THREADS, 30 * ts_slow(), NULL, NULL, &r);
        if (a->rc < 0)
            snprintf(a->msg, sizeof a->msg, "round %d: %s", i, bc_last_error_message());
        else
            a->sum += r.index;
    }
    if (c) bc_close(c);
    return NULL;
}

static int party_proc(void *addr)
{
    party ps[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ps[i] = (party){.addr = addr};
        pthread_create(&th[i], NULL, party_thread, &ps[i]);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (ps[i].rc != 0) {
            fprintf(stderr, "party: %s\n", ps[i].msg);
            bad = 1;
        }
    }
    return bad;
}

START_TEST(release_processes)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    int64_t t0 = ts_now_ms();
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++)
        pids[i] = it_fork(party_proc, (void *)tls_addr(&s));
    for (int i = 0; i < PROCS; i++) {
        int st = ts_reap(pids[i], (int)(120000 * ts_slow()));
        it_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "party %d: status %d", i,
                      st);
    }
    bc_client *admin = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca.pem"});
    bc_status st;
    it_assert(bc_status_get(admin, "rel", &st) == BC_OK);
    it_assert_msg(st.generation == ROUNDS, "generation %llu", (unsigned long long)st.generation);
    bc_close(admin);
    fprintf(stderr, "release_processes: %d rounds of %d parties over TLS in %lld ms\n", ROUNDS,
            PROCS * THREADS, (long long)(ts_now_ms() - t0));
    ts_server_down(&s);
    certs_remove();
}
END_TEST

/* One handle, many threads: the reader and the writers share its TLS session. */
#define SHARED_THREADS 8
#define SHARED_ROUNDS 40

typedef struct sharer {
    bc_client *c;
    int rc;
    char msg[256];
} sharer;

static void *sharer_thread(void *p)
{
    sharer *a = p;
    for (int i = 0; i < SHARED_ROUNDS && a->rc == 0; i++) {
        bc_wait_result r;
        a->rc = bc_wait(a->c, "shared", SHARED_THREADS, 30 * ts_slow(), NULL, NULL, &r);
        if (a->rc < 0)
            snprintf(a->msg, sizeof a->msg, "round %d: %s", i, bc_last_error_message());
        else if (i % 8 == 0)
            a->rc = bc_ping(a->c, NULL) < 0 ? -1 : 0; /* a request beside the waits */
    }
    return NULL;
}

START_TEST(shared_handle_threads)
{
    certs_make();
    ts_server s = {0};
    /* Heartbeats every 20 ms: pongs go out from the reader while others write. */
    tls_server_up(&s, "server.pem", "server.key", "--heartbeat", "0.02", NULL);
    bc_client *c = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca.pem"});
    sharer a[SHARED_THREADS];
    pthread_t th[SHARED_THREADS];
    for (int i = 0; i < SHARED_THREADS; i++) {
        a[i] = (sharer){.c = c};
        it_assert(pthread_create(&th[i], NULL, sharer_thread, &a[i]) == 0);
    }
    for (int i = 0; i < SHARED_THREADS; i++) {
        pthread_join(th[i], NULL);
        it_assert_msg(a[i].rc == 0, "thread %d: %d %s", i, a[i].rc, a[i].msg);
    }
    bc_status st;
    it_assert(bc_status_get(c, "shared", &st) == BC_OK);
    it_assert_msg(st.generation == SHARED_ROUNDS, "generation %llu",
                  (unsigned long long)st.generation);
    bc_close(c);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(sighup_reload)
{
    certs_make();
    /* The server reads its files from copies the test replaces. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", cf("server.pem"), cf("live.pem"),
             cf("server.key"), cf("live.key"));
    it_assert(system(cmd) == 0);
    ts_server s = {0};
    tls_server_up(&s, "live.pem", "live.key", NULL);
    bc_client *old = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca.pem"});

    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", cf("server2.pem"), cf("live.pem"),
             cf("server2.key"), cf("live.key"));
    it_assert(system(cmd) == 0);
    it_assert(kill(s.pid, SIGHUP) == 0);
    for (int i = 0; i < 200 && !ts_server_log_contains(&s, "certificates reloaded"); i++)
        ts_sleep_ms(25);
    it_assert(ts_server_log_contains(&s, "certificates reloaded"));
    /* New clients see the new certificate (of the other CA); the old
     * connection goes on with its session. */
    bc_client *c = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca2.pem"});
    lib_ping(c);
    bc_close(c);
    lib_refused(tls_addr(&s), &(tls_opts){.ca = "ca.pem"}, BC_ECONN, "certificate verify failed",
                "old CA after the reload");
    lib_ping(old);

    /* A reload that fails keeps what was loaded. */
    snprintf(cmd, sizeof cmd, "echo broken > %s", cf("live.pem"));
    it_assert(system(cmd) == 0);
    it_assert(kill(s.pid, SIGHUP) == 0);
    for (int i = 0; i < 200 && !ts_server_log_contains(&s, "reload failed"); i++)
        ts_sleep_ms(25);
    it_assert(ts_server_log_contains(&s, "reload failed; keeping the certificates loaded before"));
    c = lib_up(tls_addr(&s), &(tls_opts){.ca = "ca2.pem"});
    lib_ping(c);
    bc_close(c);
    lib_ping(old);
    bc_close(old);
    ts_server_down(&s);

    /* Without TLS, SIGHUP is only logged: the server lives on. */
    ts_server p = {0};
    ts_server_up(&p, NULL);
    it_assert(kill(p.pid, SIGHUP) == 0);
    for (int i = 0; i < 200 && !ts_server_log_contains(&p, "nothing to reload"); i++)
        ts_sleep_ms(25);
    it_assert(ts_server_log_contains(&p, "SIGHUP: nothing to reload"));
    c = lib_up(p.addr, NULL);
    lib_ping(c);
    bc_close(c);
    ts_server_down(&p);
    certs_remove();
}
END_TEST

static int victim(void *addr)
{
    bc_client *c;
    char m[512];
    if (lib_connect(addr, &(tls_opts){.ca = "ca.pem"}, &c, m, sizeof m) < 0) return 2;
    bc_wait_result r;
    bc_wait(c, "k9", 4, -1, NULL, NULL, &r); /* until killed */
    return 3;
}

typedef struct waiter {
    const char *addr;
    const char *barrier;
    double resume_s;
    int rc;
    char msg[512];
    volatile int done;
} waiter;

static void *waiter_thread(void *p)
{
    waiter *w = p;
    bc_client *c;
    w->rc = lib_connect(w->addr, &(tls_opts){.ca = "ca.pem", .resume_s = w->resume_s}, &c, w->msg,
                        sizeof w->msg);
    if (w->rc == 0) {
        bc_wait_result r;
        w->rc = bc_wait(c, w->barrier, strcmp(w->barrier, "k9") == 0 ? 4 : 3, -1, NULL, NULL, &r);
        snprintf(w->msg, sizeof w->msg, "%s", w->rc < 0 ? bc_last_error_message() : "");
        bc_close(c);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void waiters_start(waiter *w, pthread_t *th, int n, const char *addr, const char *barrier,
                          double resume_s)
{
    for (int i = 0; i < n; i++) {
        w[i] = (waiter){.addr = addr, .barrier = barrier, .resume_s = resume_s};
        it_assert(pthread_create(&th[i], NULL, waiter_thread, &w[i]) == 0);
    }
}

/* Join them once done, within timeout_ms (asserted: nothing hangs). */
static void waiters_join(waiter *w, pthread_t *th, int n, int timeout_ms)
{
    int64_t end = ts_now_ms() + timeout_ms;
    for (int i = 0; i < n; i++) {
        while (!__atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST) && ts_now_ms() < end)
            ts_sleep_ms(10);
        it_assert_msg(__atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST), "waiter %d hangs", i);
        pthread_join(th[i], NULL);
    }
}

/* Poll status over TLS until name has n waiting. */
static void wait_n_waiting(const char *addr, const char *name, unsigned n)
{
    bc_client *admin = lib_up(addr, &(tls_opts){.ca = "ca.pem"});
    bc_status st = {0};
    for (int i = 0; i < (int)(400 * ts_slow()); i++) {
        if (bc_status_get(admin, name, &st) == BC_OK && st.n_waiting == n) break;
        ts_sleep_ms(25);
    }
    bc_close(admin);
    it_assert_msg(st.n_waiting == n, "%s: %u waiting, not %u", name, st.n_waiting, n);
}

START_TEST(kill9_waiter)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    pid_t pid = it_fork(victim, (void *)tls_addr(&s));
    wait_n_waiting(tls_addr(&s), "k9", 1);
    waiter w[2];
    pthread_t th[2];
    waiters_start(w, th, 2, tls_addr(&s), "k9", 0);
    wait_n_waiting(tls_addr(&s), "k9", 3);
    int64_t t0 = ts_now_ms();
    it_assert(kill(pid, SIGKILL) == 0);
    waiters_join(w, th, 2, (int)(5000 * ts_slow()));
    int64_t took = ts_now_ms() - t0;
    for (int i = 0; i < 2; i++)
        it_assert_msg(w[i].rc == BC_EBROKEN && has(w[i].msg, "party lost"), "waiter %d: %d %s", i,
                      w[i].rc, w[i].msg);
    fprintf(stderr, "kill9_waiter: others told %lld ms after kill -9: %s\n", (long long)took,
            w[0].msg);
    ts_reap(pid, 5000);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(server_death)
{
    certs_make();
    ts_server s = {0};
    tls_only = 1;
    tls_server_up(&s, "server.pem", "server.key", NULL);
    waiter w[3];
    pthread_t th[3];

    /* Resuming off: the waiters learn at once that the server is gone. */
    waiters_start(w, th, 2, tls_addr(&s), "sd", 0);
    wait_n_waiting(tls_addr(&s), "sd", 2);
    int64_t t0 = ts_now_ms();
    ts_server_kill9(&s);
    waiters_join(w, th, 2, (int)(5000 * ts_slow()));
    for (int i = 0; i < 2; i++)
        it_assert_msg(w[i].rc == BC_ECONN, "waiter %d: %d %s", i, w[i].rc, w[i].msg);
    fprintf(stderr, "server_death: told in %lld ms: %s\n", (long long)(ts_now_ms() - t0), w[0].msg);

    /* Resuming on: the waiters reconnect (a new handshake) to the restarted
     * server, re-announce, and a third party releases them all. */
    ts_server_restart_up(&s);
    char addr[160];
    snprintf(addr, sizeof addr, "%s", tls_addr(&s));
    waiters_start(w, th, 2, addr, "sd-resume", 60);
    wait_n_waiting(addr, "sd-resume", 2);
    ts_server_kill9(&s);
    ts_sleep_ms(200);
    ts_server_restart_up(&s);
    it_assert_msg(strcmp(addr, tls_addr(&s)) == 0, "restarted on %s, not %s", tls_addr(&s), addr);
    wait_n_waiting(addr, "sd-resume", 2);
    waiters_start(&w[2], &th[2], 1, addr, "sd-resume", 60);
    waiters_join(w, th, 3, (int)(20000 * ts_slow()));
    for (int i = 0; i < 3; i++)
        it_assert_msg(w[i].rc == BC_OK, "waiter %d: %d %s", i, w[i].rc, w[i].msg);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

START_TEST(barrierctl_tls)
{
    certs_make();
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", NULL);
    const char *ctl = ts_barrierctl_path();
    it_assert(ctl != NULL);
    char out[4096];
    int st = shell(out, sizeof out, "timeout %d %s -a %s --tls-ca %s ping 2>&1",
                   (int)(20 * ts_slow()), ctl, tls_addr(&s), cf("ca.pem"));
    it_assert_msg(st == 0 && has(out, "pong"), "--tls-ca: %d %s", st, out);
    st = shell(out, sizeof out,
               "BARRIERD_TLS_CA=%s timeout %d %s -a %s wait cw -n 1 2>&1", cf("ca.pem"),
               (int)(20 * ts_slow()), ctl, tls_addr(&s));
    it_assert_msg(st == 0 && has(out, "released"), "$BARRIERD_TLS_CA: %d %s", st, out);
    st = shell(out, sizeof out, "timeout %d %s -a %s --resume -1 --tls-ca %s ping 2>&1",
               (int)(20 * ts_slow()), ctl, tls_addr(&s), cf("ca2.pem"));
    it_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 4 &&
                      has(out, "certificate verify failed: unable to get local issuer certificate"),
                  "wrong CA: %d %s", st, out);
    fprintf(stderr, "barrierctl_tls: wrong CA: %s", out);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

/* ---- a token in the clear ---- */

#define PLAIN_WARNING "the auth token came over plain TCP from another host"

START_TEST(token_plain_warning)
{
    /* A private network namespace in which lo also carries 10.251.0.1: a
     * peer with that address is not on loopback, and nothing leaves the test. */
    if (unshare(CLONE_NEWNET) != 0 ||
        system("ip link set lo up && ip addr add 10.251.0.1/32 dev lo") != 0) {
        ts_skip("token_plain_warning: no private network namespace here");
        return;
    }
    certs_make();
    char tok[96];
    snprintf(tok, sizeof tok, "%s/token", cert_dir);
    FILE *f = fopen(tok, "w");
    it_assert(f != NULL);
    fputs("sekrit\n", f);
    fclose(f);
    ts_server s = {0};
    tls_server_up(&s, "server.pem", "server.key", "--listen", "10.251.0.1:0",
                  "--auth-token-file", tok, NULL);
    bc_options o = {.auth_token = "sekrit", .resume_s = -1};
    bc_client *c;
    /* Loopback and TLS: no warning. */
    it_assert(bc_connect(plain_addr(&s), &o, &c) == BC_OK);
    bc_close(c);
    o.tls_ca_file = cf("ca.pem");
    it_assert(bc_connect(tls_addr(&s), &o, &c) == BC_OK);
    bc_close(c);
    ts_sleep_ms(100);
    it_assert_msg(!ts_server_log_contains(&s, PLAIN_WARNING), "a warning for loopback or TLS");
    /* From 10.251.0.1 over plain TCP: one warning for the connection, however
     * many hellos it sends. */
    int port = ts_server_port(&s, "10.251.0.1:");
    it_conn *raw = it_connect_tcp("10.251.0.1", port, 0);
    it_assert(raw != NULL);
    for (int i = 1; i <= 2; i++) {
        it_sendf(raw, "{\"op\":\"hello\",\"id\":%d,\"version\":1,\"token\":\"sekrit\"}", i);
        bp_reply r;
        it_expect_ok(raw, (uint64_t)i, IT_TIMEOUT_MS, &r);
        bp_reply_free(&r);
    }
    it_close(raw);
    it_assert(ts_server_log_contains(&s, PLAIN_WARNING));
    char *log = ts_slurp(s.log_path, NULL);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, PLAIN_WARNING)); p++)
        n++;
    free(log);
    it_assert_msg(n == 1, "%d warnings for one connection", n);
    ts_server_down(&s);
    certs_remove();
}
END_TEST

int main(void)
{
    const ts_case cases[] = {
        {"s_client_json", s_client_json, 0},
        {"tls11_refused", tls11_refused, 0},
        {"verify_refused", verify_refused, 0},
        {"mtls", mtls, 0},
        {"plain_tls_mixups", plain_tls_mixups, 0},
        {"garbage_and_limits", garbage_and_limits, 0},
        {"token_over_tls", token_over_tls, 0},
        {"release_processes", release_processes, 0},
        {"shared_handle_threads", shared_handle_threads, 0},
        {"sighup_reload", sighup_reload, 0},
        {"kill9_waiter", kill9_waiter, 0},
        {"server_death", server_death, 0},
        {"barrierctl_tls", barrierctl_tls, 0},
        {"token_plain_warning", token_plain_warning, 0},
    };
    return ts_run_cases("tls", cases, TS_NCASES(cases));
}
