/*
 * tls.c: the gateway client library's TLS on a connected socket (OpenSSL)
 * and the byte stream the TCP client and the raw HTTP sender read and
 * write through, plain or TLS (see client_internal.h).
 *
 * Verification: the server's chain against the CA file (or the system's
 * store), and its name: an IP address is matched against the
 * certificate's IP subjectAltNames, a DNS name against its DNS names
 * (SNI sent). TLS 1.2 or newer. SIGPIPE is held back while OpenSSL
 * writes (its socket BIO writes with write(2), not send(MSG_NOSIGNAL)).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tools/client/client_internal.h"

struct client_tls {
    SSL_CTX *ctx;
    SSL *ssl;
};

/* OpenSSL's reason for the last failure (its error queue, then emptied). */
static void ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

static void set_err(char *err, size_t errlen, const char *what, const char *file)
{
    char why[256];
    ssl_reason(why, sizeof why);
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", why);
}

/* The context: TLS 1.2+, the CAs, the client certificate. NULL with err. */
static SSL_CTX *make_ctx(const hist_tls_opts *o, bool verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        set_err(err, errlen, "TLS: cannot make a context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    const char *ca = o ? o->ca_file : NULL;
    if (verify && (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL)
                      : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        set_err(err, errlen, "TLS: cannot load the CA file", ca ? ca : "(system store)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    const char *cert = o ? o->cert_file : NULL;
    const char *key = o && o->key_file ? o->key_file : cert;
    if (o && o->key_file && !cert) {
        if (err && errlen)
            snprintf(err, errlen, "TLS: a key (%s) without a certificate", o->key_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        set_err(err, errlen, "TLS: cannot load the client certificate", cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert && (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                 SSL_CTX_check_private_key(ctx) != 1)) {
        set_err(err, errlen, "TLS: cannot load the key (or it does not match the certificate)",
                key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The name the certificate must carry: host as an IP address or a DNS name. */
static int expect_name(SSL *ssl, const char *host)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

/* Why the handshake failed, for people. */
static void handshake_error(SSL *ssl, int rc, char *err, size_t errlen)
{
    long vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK) {
        ERR_clear_error();
        if (err && errlen)
            snprintf(err, errlen, "TLS handshake failed: certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        return;
    }
    if (rc == 0 || (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && !ERR_peek_last_error())) {
        if (err && errlen)
            snprintf(err, errlen, "TLS handshake failed: %s",
                     errno ? strerror(errno) : "the server closed the connection");
        return;
    }
    set_err(err, errlen, "TLS handshake failed", NULL);
}

void client_tls_free(client_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    free(t);
}

/* Runs the handshake on the non-blocking fd until the deadline. */
static int handshake(client_tls *t, int fd, int64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        errno = 0;
        int rc = SSL_connect(t->ssl);
        if (rc == 1)
            return 0;
        int e = SSL_get_error(t->ssl, rc);
        short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!want) {
            handshake_error(t->ssl, rc, err, errlen);
            return -1;
        }
        if (client_wait_fd(fd, want, deadline) < 0) {
            if (err && errlen)
                snprintf(err, errlen, "TLS handshake timed out");
            return -1;
        }
    }
}

int client_tls_start(int fd, const char *host, const hist_tls_opts *o, bool verify,
                     int64_t deadline, client_tls **out, char *err, size_t errlen)
{
    client_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ERR_clear_error();
    t->ctx = make_ctx(o, verify, err, errlen);
    t->ssl = t->ctx ? SSL_new(t->ctx) : NULL;
    if (t->ctx && !t->ssl)
        set_err(err, errlen, "TLS: cannot make a session", NULL);
    if (t->ssl && (SSL_set_fd(t->ssl, fd) != 1 || (verify && expect_name(t->ssl, host) < 0))) {
        set_err(err, errlen, "TLS: cannot set up the session for", host);
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    if (!t->ssl || handshake(t, fd, deadline, err, errlen) < 0) {
        client_tls_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* One SSL_write with SIGPIPE held back: a peer that closed must not kill
 * the process (a SIGPIPE it raised is taken off the pending set). */
static int write_quietly(SSL *ssl, const void *p, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = SSL_write(ssl, p, n > (1u << 30) ? (int)(1u << 30) : (int)n);
    int saved = errno;
    if (rc <= 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return rc;
}

/* n > 0 bytes moved, 0 at the end of the stream (reads), -1 failed, or
 * -2 with *want the poll events to wait for. */
static ssize_t tls_io(client_tls *t, bool writing, void *p, size_t n, short *want)
{
    ERR_clear_error();
    errno = 0;
    int rc = writing ? write_quietly(t->ssl, p, n)
                     : SSL_read(t->ssl, p, n > (1u << 30) ? (int)(1u << 30) : (int)n);
    if (rc > 0)
        return rc;
    switch (SSL_get_error(t->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        return -2;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        return -2;
    case SSL_ERROR_ZERO_RETURN:
        return writing ? -1 : 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* The same for a plain socket. */
static ssize_t plain_io(int fd, bool writing, void *p, size_t n, short *want)
{
    ssize_t rc = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
    if (rc >= 0)
        return rc;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *want = writing ? POLLOUT : POLLIN;
        return -2;
    }
    return -1;
}

int client_send_all(int fd, client_tls *t, const void *bytes, size_t n, int64_t deadline)
{
    const char *p = bytes;
    while (n > 0) {
        short want = 0;
        ssize_t w =
            t ? tls_io(t, true, (void *)p, n, &want) : plain_io(fd, true, (void *)p, n, &want);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w == -2) {
            if (client_wait_fd(fd, want, deadline) < 0)
                return HIST_EBUSY;
        } else {
            return HIST_ECLOSED;
        }
    }
    return 0;
}

ssize_t client_recv_some(int fd, client_tls *t, void *buf, size_t cap, int64_t deadline)
{
    for (;;) {
        short want = 0;
        ssize_t r = t ? tls_io(t, false, buf, cap, &want) : plain_io(fd, false, buf, cap, &want);
        if (r >= 0)
            return r;
        if (r == -1)
            return HIST_ECLOSED;
        if (client_wait_fd(fd, want, deadline) < 0)
            return HIST_EBUSY;
    }
}
