/*
 * tls.c: TLS sessions for conn.c, OpenSSL 3 on memory BIOs. It knows no
 * socket and no protocol: conn.c feeds it the ciphertext libuv read
 * (tls__feed), takes plaintext out (tls__read: the handshake runs there
 * too), puts reply plaintext in (tls__write) and sends what the session
 * wants on the wire (tls__take_out) with uv_write.
 *
 * The same sessions serve the MQTT client's connection to a broker
 * (tls__client_ctx_new, tls__conn_new_client): there the broker's
 * certificate must chain to the given CA (or the system's) and name the
 * host the URL names.
 *
 * Policy (tls__ctx_new): TLS 1.2 or newer only; no renegotiation; no
 * server-side session cache (memory per connection is the SSL object and
 * its buffers, released while idle: SSL_MODE_RELEASE_BUFFERS); with a
 * client CA, a client certificate is required and verified against it.
 * The read BIO never holds more than one read of libuv (conn.c drains it
 * at once), the write BIO no more than one tls__write (conn.c takes the
 * output after each), so a connection's TLS memory stays bounded.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ingest/ingest.h"

struct tls__ctx {
    SSL_CTX *ssl;
    bool client_certs;
};

struct tls__conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool done;        /* handshake finished */
    char reason[160]; /* why the last call failed */
};

/* The queued OpenSSL error (or fallback) into buf, the queue cleared. */
static void ssl_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_error(); /* the first: the cause, not its echo */
    if (e) {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
    } else {
        snprintf(buf, len, "%s", fallback);
    }
    ERR_clear_error();
}

static int ctx_fail(SSL_CTX *ssl, char *err, size_t errlen, const char *what, const char *file)
{
    char why[160];
    ssl_reason(why, sizeof why, "unknown error");
    snprintf(err, errlen, "%s %s: %s", what, file, why);
    SSL_CTX_free(ssl);
    return HIST_EINVAL;
}

/* A context with the policy both sides share: TLS 1.2 or newer, no
 * renegotiation, buffers released while idle. NULL: out of memory. */
static SSL_CTX *policy_ctx(const SSL_METHOD *method, uint64_t options, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ssl = SSL_CTX_new(method);
    if (!ssl) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | options);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ssl;
}

int tls__ctx_new(const char *cert, const char *key, const char *client_ca, tls__ctx **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    SSL_CTX *ssl = policy_ctx(TLS_server_method(), SSL_OP_CIPHER_SERVER_PREFERENCE, err, errlen);
    if (!ssl)
        return HIST_ENOMEM;
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1)
        return ctx_fail(ssl, err, errlen, "TLS: cannot load the certificate (--tls-cert)", cert);
    if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        return ctx_fail(ssl, err, errlen,
                        mismatch ? "TLS: the private key (--tls-key) does not match the certificate"
                                 : "TLS: cannot load the private key (--tls-key)",
                        key);
    }
    if (SSL_CTX_check_private_key(ssl) != 1)
        return ctx_fail(ssl, err, errlen,
                        "TLS: the private key (--tls-key) does not match the certificate", key);
    bool client_certs = client_ca && *client_ca;
    if (client_certs) {
        if (SSL_CTX_load_verify_locations(ssl, client_ca, NULL) != 1)
            return ctx_fail(ssl, err, errlen, "TLS: cannot load the client CA (--tls-client-ca)",
                            client_ca);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names)
            return ctx_fail(ssl, err, errlen, "TLS: no CA certificate in (--tls-client-ca)",
                            client_ca);
        SSL_CTX_set_client_CA_list(ssl, names);
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    tls__ctx *t = calloc(1, sizeof *t);
    if (!t) {
        SSL_CTX_free(ssl);
        snprintf(err, errlen, "TLS: out of memory");
        return HIST_ENOMEM;
    }
    t->ssl = ssl;
    t->client_certs = client_certs;
    *out = t;
    return 0;
}

void tls__ctx_free(tls__ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

bool tls__ctx_client_certs(const tls__ctx *ctx)
{
    return ctx->client_certs;
}

int tls__client_ctx_new(const char *cafile, const char *cert, const char *key, tls__ctx **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (key && *key && !(cert && *cert)) {
        /* else the key was ignored and we connected without a certificate */
        snprintf(err, errlen, "TLS: --mqtt-key %s without --mqtt-cert", key);
        return HIST_EINVAL;
    }
    SSL_CTX *ssl = policy_ctx(TLS_client_method(), 0, err, errlen);
    if (!ssl)
        return HIST_ENOMEM;
    if (cafile && *cafile) {
        if (SSL_CTX_load_verify_locations(ssl, cafile, NULL) != 1)
            return ctx_fail(ssl, err, errlen, "TLS: cannot load the broker CA (--mqtt-cafile)",
                            cafile);
    } else if (SSL_CTX_set_default_verify_paths(ssl) != 1) {
        return ctx_fail(ssl, err, errlen, "TLS: cannot load the system's CA certificates", "");
    }
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
    if (cert && *cert) {
        if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1)
            return ctx_fail(ssl, err, errlen, "TLS: cannot load the client certificate", cert);
        if (SSL_CTX_use_PrivateKey_file(ssl, key && *key ? key : cert, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ssl) != 1)
            return ctx_fail(ssl, err, errlen,
                            "TLS: cannot load the client key, or it does not match", key ? key : cert);
    }
    tls__ctx *t = calloc(1, sizeof *t);
    if (!t) {
        SSL_CTX_free(ssl);
        snprintf(err, errlen, "TLS: out of memory");
        return HIST_ENOMEM;
    }
    t->ssl = ssl;
    *out = t;
    return 0;
}

static tls__conn *conn_new(tls__ctx *ctx)
{
    tls__conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    /* an empty read BIO says "retry", not EOF */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    return t;
}

tls__conn *tls__conn_new(tls__ctx *ctx)
{
    tls__conn *t = conn_new(ctx);
    if (t)
        SSL_set_accept_state(t->ssl);
    return t;
}

tls__conn *tls__conn_new_client(tls__ctx *ctx, const char *host)
{
    tls__conn *t = conn_new(ctx);
    if (!t)
        return NULL;
    SSL_set_connect_state(t->ssl);
    /* SNI, and the certificate must name the host (DNS name or IP) */
    struct in6_addr ip6;
    struct in_addr ip4;
    bool is_ip = inet_pton(AF_INET, host, &ip4) == 1 || inet_pton(AF_INET6, host, &ip6) == 1;
    if ((!is_ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) || SSL_set1_host(t->ssl, host) != 1) {
        tls__conn_free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

void tls__conn_free(tls__conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

int tls__feed(tls__conn *t, const void *in, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
        int w = BIO_write(t->rbio, (const char *)in + done, (int)k);
        if (w <= 0) {
            snprintf(t->reason, sizeof t->reason, "out of memory");
            ERR_clear_error();
            return HIST_ENOMEM;
        }
        done += (size_t)w;
    }
    return 0;
}

/* Maps SSL_get_error after a call that returned r: 0 = retry later,
 * HIST_ECLOSED = the peer's close_notify, HIST_EPROTO = failed. */
static long ssl_status(tls__conn *t, int r)
{
    int e = SSL_get_error(t->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(t->reason, sizeof t->reason, "close_notify");
        return HIST_ECLOSED;
    default:
        if (!t->done && SSL_get_verify_result(t->ssl) != X509_V_OK) {
            snprintf(t->reason, sizeof t->reason, "%s certificate: %s",
                     SSL_is_server(t->ssl) ? "client" : "server",
                     X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
            ERR_clear_error();
        } else {
            ssl_reason(t->reason, sizeof t->reason, "protocol error");
        }
        return HIST_EPROTO;
    }
}

long tls__read(tls__conn *t, void *out, size_t cap)
{
    ERR_clear_error();
    if (!t->done) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1)
            return ssl_status(t, r);
        t->done = true;
    }
    size_t got = 0;
    int r = SSL_read_ex(t->ssl, out, cap, &got);
    if (r == 1)
        return (long)got;
    return ssl_status(t, r);
}

long tls__write(tls__conn *t, const void *in, size_t n)
{
    if (!n)
        return 0;
    ERR_clear_error();
    size_t wrote = 0;
    int r = SSL_write_ex(t->ssl, in, n, &wrote);
    if (r == 1)
        return (long)wrote;
    long s = ssl_status(t, r);
    return s == 0 ? 0 : HIST_EPROTO;
}

void tls__shutdown(tls__conn *t)
{
    ERR_clear_error();
    if (SSL_is_init_finished(t->ssl))
        SSL_shutdown(t->ssl); /* queues close_notify in the write BIO */
    ERR_clear_error();
}

size_t tls__out_pending(const tls__conn *t)
{
    return BIO_ctrl_pending(t->wbio);
}

int tls__take_out(tls__conn *t, char **buf, size_t *len)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    *buf = NULL;
    *len = 0;
    if (!n)
        return 0;
    char *b = malloc(n);
    if (!b)
        return HIST_ENOMEM;
    int r = BIO_read(t->wbio, b, (int)n);
    if (r <= 0) {
        free(b);
        ERR_clear_error();
        return 0;
    }
    *buf = b;
    *len = (size_t)r;
    return 0;
}

bool tls__handshake_done(const tls__conn *t)
{
    return t->done;
}

const char *tls__reason(const tls__conn *t)
{
    return t->reason[0] ? t->reason : "unknown";
}

const char *tls__version(const tls__conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls__cipher(const tls__conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

char *tls__peer_subject(const tls__conn *t)
{
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (!peer)
        return NULL;
    char *s = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n >= 0 && (s = malloc((size_t)n + 1))) {
            memcpy(s, p, (size_t)n);
            s[n] = 0;
        }
    }
    BIO_free(b);
    X509_free(peer);
    ERR_clear_error();
    return s;
}
