/*
 * test_tls.c: historiand with --tls-cert/--tls-key (and --tls-client-ca)
 * serves TLS on both listeners, end to end.
 *
 * The certificates are made here by the openssl command (gen_certs): a CA,
 * a server certificate for IP 127.0.0.1, a client certificate, the same
 * client key signed by a second CA, and an expired server and client
 * certificate (openssl ca with -startdate/-enddate in 2020). The client is
 * OpenSSL in this file and verifies the server against the CA.
 *
 * Refusals the server makes are checked twice: the client gets no answer,
 * and historian_tls_handshake_failures_total grew by one (so a client that
 * failed on its own would not pass). Refusals the client makes (wrong CA,
 * expired server certificate) are checked by the verify result, next to the
 * same client succeeding with the right CA.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "common/hist_bytes.h"
#include "harness.h"
#include "proto/historian.pb-c.h"

#define T0  INT64_C(1700000000000000000)
#define SEC INT64_C(1000000000)

static char dir[300]; /* the certificates */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char gen_script[] =
    "set -e\n"
    "cd \"$1\"\n"
    "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }\n"
    "key ca.key; openssl req -x509 -new -key ca.key -out ca.pem -subj '/CN=Test CA' -days 30\n"
    "key ca2.key; openssl req -x509 -new -key ca2.key -out ca2.pem -subj '/CN=Other CA' -days 30\n"
    "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext\n"
    "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext\n"
    "key server.key; openssl req -new -key server.key -subj /CN=127.0.0.1 -out server.csr\n"
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
    "-extfile san.ext -out server.pem\n"
    "key client.key; openssl req -new -key client.key -subj '/O=Plant 1/CN=gateway-7' "
    "-out client.csr\n"
    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
    "-extfile cli.ext -out client.pem\n"
    "openssl x509 -req -in client.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -days 30 "
    "-extfile cli.ext -out client2.pem\n"
    "mkdir -p newcerts; : > index.txt; echo 1000 > serial\n"
    "printf '[ca]\\ndefault_ca=t\\n[t]\\ndir=.\\ndatabase=index.txt\\nnew_certs_dir=newcerts\\n"
    "serial=serial\\ndefault_md=sha256\\npolicy=any\\nunique_subject=no\\ncopy_extensions=copy\\n"
    "[any]\\ncommonName=supplied\\n' > ca.cnf\n"
    "openssl req -new -key server.key -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
    "-out old.csr\n"
    "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -startdate 20200101000000Z "
    "-enddate 20200201000000Z -notext -in old.csr -out server-expired.pem\n"
    "openssl req -new -key client.key -subj /CN=old-gateway -out oldc.csr\n"
    "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -startdate 20200101000000Z "
    "-enddate 20200201000000Z -notext -in oldc.csr -out client-expired.pem\n";

static int gen_certs(void)
{
    char path[400], cmd[1400];
    snprintf(dir, sizeof dir, "/tmp/hist-tls-certs-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/gen.sh", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(gen_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "timeout 60 bash %s %s > %s/gen.log 2>&1", path, dir, dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/gen.log >&2", dir);
        if (system(cmd)) {
        }
    }
    return rc == 0 ? 0 : -1;
}

static const char *cert(const char *name)
{
    static char paths[64][400]; /* this test asks for fewer than 64 names in all */
    static int next;
    char *p = paths[next++ % 64];
    snprintf(p, 400, "%s/%s", dir, name);
    return p;
}

/* ---- the test's TLS client ------------------------------------------ */

typedef struct {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    long verify;       /* the client's verify result of the server */
    unsigned long err; /* the OpenSSL error of a failed connect */
} tls_client;

typedef struct {
    const char *ca;         /* trusted by the client */
    const char *cert, *key; /* the client certificate, or NULL */
    int min_ver, max_ver;   /* 0 = OpenSSL's default */
} client_opts;

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0}; /* every blocking call is bounded */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void tls_close(tls_client *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    if (t->fd >= 0)
        close(t->fd);
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

/* 0 once the handshake completed (and the server verified). */
static int tls_connect(int port, const client_opts *o, tls_client *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx)
        return -1;
    if (o->min_ver && o->min_ver < TLS1_2_VERSION)
        SSL_CTX_set_security_level(t->ctx, 0); /* let this client offer an old protocol */
    if (o->min_ver)
        SSL_CTX_set_min_proto_version(t->ctx, o->min_ver);
    if (o->max_ver)
        SSL_CTX_set_max_proto_version(t->ctx, o->max_ver);
    if (o->min_ver && o->min_ver < TLS1_2_VERSION)
        SSL_CTX_set_cipher_list(t->ctx, "DEFAULT:@SECLEVEL=0");
    if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1)
        return -1;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (o->cert && (SSL_CTX_use_certificate_file(t->ctx, o->cert, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) != 1))
        return -1;
    t->fd = tcp_connect(port);
    if (t->fd < 0)
        return -1;
    t->ssl = SSL_new(t->ctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1");
    SSL_set_fd(t->ssl, t->fd);
    int r = SSL_connect(t->ssl);
    t->verify = SSL_get_verify_result(t->ssl);
    if (r != 1) {
        t->err = ERR_peek_last_error();
        return -1;
    }
    return 0;
}

static int tls_write_all(tls_client *t, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t w = 0;
        if (SSL_write_ex(t->ssl, (const char *)buf + done, len - done, &w) != 1)
            return -1;
        done += w;
    }
    return 0;
}

/* Reads until EOF (close_notify or the socket's end) or max bytes; the
 * byte count, -1 when nothing came. pause_ms: sleep after each of the first
 * reads (a slow reader: the server must hold its output back). */
static long tls_read_all(tls_client *t, char **out, size_t max, int pause_ms)
{
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap + 1);
    int reads = 0;
    long long end = now_ms() + 60000;
    while (len < max && now_ms() < end) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        size_t got = 0;
        if (SSL_read_ex(t->ssl, buf + len, cap - len < 16384 ? cap - len : 16384, &got) != 1)
            break;
        len += got;
        if (pause_ms && reads++ < 20)
            usleep((useconds_t)pause_ms * 1000);
    }
    buf[len] = 0;
    *out = buf;
    return len ? (long)len : -1;
}

typedef struct {
    int status;
    char *raw;  /* the whole answer */
    char *body; /* inside raw */
    size_t body_len;
    long content_length;
} tls_response;

/* One HTTP/1.1 request (Connection: close) over a new TLS connection; 0
 * and *resp when an answer came. */
static int https(int port, const client_opts *o, const char *method, const char *target,
                 const char *headers, const void *body, size_t blen, int pause_ms,
                 tls_response *resp)
{
    tls_client t;
    memset(resp, 0, sizeof *resp);
    if (tls_connect(port, o, &t) != 0) {
        tls_close(&t);
        return -1;
    }
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: "
                     "%zu\r\n\r\n",
                     method, target, headers ? headers : "", blen);
    int rc = -1;
    if (tls_write_all(&t, head, (size_t)n) == 0 && (!blen || tls_write_all(&t, body, blen) == 0)) {
        long got = tls_read_all(&t, &resp->raw, (size_t)1 << 30, pause_ms);
        char *sep = got > 0 ? strstr(resp->raw, "\r\n\r\n") : NULL;
        if (sep && sscanf(resp->raw, "HTTP/1.1 %d", &resp->status) == 1) {
            resp->body = sep + 4;
            resp->body_len = (size_t)got - (size_t)(resp->body - resp->raw);
            const char *cl = strcasestr(resp->raw, "Content-Length:");
            resp->content_length = cl && cl < sep ? strtol(cl + 15, NULL, 10) : -1;
            rc = 0;
        }
    }
    tls_close(&t);
    return rc;
}

static void resp_free(tls_response *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

/* historian_tls_handshake_failures_total (or another counter) over TLS. */
static long metric(int port, const client_opts *o, const char *name)
{
    tls_response r;
    long v = -1;
    if (https(port, o, "GET", "/metrics", NULL, NULL, 0, 0, &r) == 0 && r.status == 200) {
        char key[128];
        snprintf(key, sizeof key, "\n%s ", name);
        const char *p = strstr(r.raw, key);
        if (p)
            v = strtol(p + strlen(key), NULL, 10);
    }
    resp_free(&r);
    return v;
}

static long failures(int port, const client_opts *o)
{
    return metric(port, o, "historian_tls_handshake_failures_total");
}

/* n float samples of tag at T0 + i s as one encoded WriteRequest. */
static int encode(uint64_t batch, const char *tag, size_t n, uint8_t **buf, size_t *len)
{
    int64_t *ts = malloc(n * sizeof *ts);
    hist_value *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        ts[i] = T0 + (int64_t)i * SEC;
        v[i].f = (double)i * 0.25;
    }
    hist_client_series s = {tag, HIST_TYPE_FLOAT64, n, ts, v, NULL};
    int rc = hist_client_encode(batch, NULL, &s, 1, buf, len);
    free(ts);
    free(v);
    return rc;
}

/* Occurrences of needle in hay, by hand: a sanitizer's strstr reads the
 * whole rest of a 9 MB answer on every call. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    size_t k = strlen(needle);
    for (const char *p = hay; p && *p; p++)
        if (*p == needle[0] && !strncmp(p, needle, k))
            n++;
    return n;
}

static int start(hist_harness *h, const char *name, const char *const *args)
{
    if (harness_init(h, name) != 0)
        return -1;
    h->wait_listening = 1;
    return harness_start(h, args);
}

/* ---- cases ----------------------------------------------------------- */

/* HTTP over TLS: /healthz, a protobuf write and the query reading it back. */
static void test_http(const hist_harness *h, const client_opts *good)
{
    tls_response r;
    CHECK(https(h->http_port, good, "GET", "/healthz", NULL, NULL, 0, 0, &r) == 0);
    CHECKF(r.status == 200 && r.body && !strncmp(r.body, "ok", 2), "healthz: %d %s", r.status,
           r.raw ? r.raw : "(none)");
    resp_free(&r);

    uint8_t *buf;
    size_t len;
    REQUIRE(encode(1, "site1/tls/line1/cell1/http", 5, &buf, &len) == 0);
    CHECK(https(h->http_port, good, "POST", "/api/v1/write",
                "Content-Type: application/x-protobuf\r\nAccept: application/json\r\n", buf, len, 0,
                &r) == 0);
    CHECKF(r.status == 200 && r.body && strstr(r.body, "\"written\":5"), "write: %d %s", r.status,
           r.raw ? r.raw : "(none)");
    resp_free(&r);
    free(buf);

    CHECK(https(h->http_port, good, "GET",
                "/api/v1/query?tags=site1/tls/line1/cell1/http&from=0&to=now", NULL, NULL, 0, 0,
                &r) == 0);
    CHECKF(r.status == 200 && count(r.body, "\"value\"") == 5, "query: %d %s", r.status,
           r.raw ? r.raw : "(none)");
    resp_free(&r);
}

/* One WriteRequest frame of n samples of tag over t. */
static void send_frame(tls_client *t, uint64_t batch, const char *tag, size_t n)
{
    uint8_t *buf;
    size_t len;
    REQUIRE(encode(batch, tag, n, &buf, &len) == 0);
    uint8_t hdr[4];
    hist_put_be32(hdr, (uint32_t)len);
    CHECK(tls_write_all(t, hdr, 4) == 0 && tls_write_all(t, buf, len) == 0);
    free(buf);
}

/* The next WriteResponse frame from t, or NULL (closed, or not one). */
static Historian__V1__WriteResponse *read_response(tls_client *t)
{
    uint8_t hdr[4];
    size_t got = 0, total = 0;
    while (total < 4 && SSL_read_ex(t->ssl, hdr + total, 4 - total, &got) == 1)
        total += got;
    if (total != 4)
        return NULL;
    uint32_t flen = hist_get_be32(hdr);
    uint8_t *frame = malloc(flen ? flen : 1);
    total = 0;
    while (total < flen && SSL_read_ex(t->ssl, frame + total, flen - total, &got) == 1)
        total += got;
    Historian__V1__WriteResponse *resp =
        total == flen ? historian__v1__write_response__unpack(NULL, flen, frame) : NULL;
    free(frame);
    return resp;
}

/* TCP ingest frames over TLS, pipelined, each acked with its count. */
static void test_tcp(const hist_harness *h, const client_opts *good)
{
    tls_client t;
    CHECKF(tls_connect(h->ingest_port, good, &t) == 0, "connect: %lu", t.err);
    if (!t.ssl) {
        tls_close(&t);
        return;
    }
    for (int i = 0; i < 3; i++)
        send_frame(&t, 100 + (uint64_t)i, "site1/tls/line1/cell1/tcp", 10 + (size_t)i);
    for (int i = 0; i < 3; i++) {
        Historian__V1__WriteResponse *resp = read_response(&t);
        CHECK(resp != NULL);
        if (!resp)
            break;
        CHECK_EQ_I64(resp->batch_id, 100 + i);
        CHECK_EQ_I64(resp->written, 10 + i);
        historian__v1__write_response__free_unpacked(resp, NULL);
    }
    tls_close(&t);
}

/* A query answer of several MB arrives whole, read slowly at first. */
static void test_large_reply(const hist_harness *h, const client_opts *good)
{
    const size_t n = 200000;
    tls_client t;
    uint8_t *buf;
    size_t len;
    REQUIRE(encode(7, "site1/tls/line1/cell1/big", n, &buf, &len) == 0);
    CHECK(tls_connect(h->ingest_port, good, &t) == 0);
    uint8_t hdr[4];
    hist_put_be32(hdr, (uint32_t)len);
    CHECK(t.ssl && tls_write_all(&t, hdr, 4) == 0 && tls_write_all(&t, buf, len) == 0);
    free(buf);
    uint8_t ackbuf[256];
    size_t got = 0;
    CHECK(t.ssl && SSL_read_ex(t.ssl, ackbuf, sizeof ackbuf, &got) == 1 && got > 4);
    tls_close(&t);

    tls_response r;
    CHECK(https(h->http_port, good, "GET",
                "/api/v1/query?tags=site1/tls/line1/cell1/big&from=0&to=now&limit=1000000", NULL,
                NULL, 0, 20, &r) == 0);
    CHECKF(r.status == 200, "status %d", r.status);
    CHECKF(r.body_len > (4u << 20) && (long)r.body_len == r.content_length,
           "body %zu bytes, Content-Length %ld", r.body_len, r.content_length);
    CHECKF(r.body && count(r.body, "\"value\"") == (int)n, "%d values",
           r.body ? count(r.body, "\"value\"") : -1);
    size_t e = r.body_len;
    while (r.body && e && (r.body[e - 1] == '\n' || r.body[e - 1] == ' '))
        e--;
    /* the last sample (i = n - 1, value (n - 1) / 4) closes the answer */
    CHECKF(r.body && e > 40 && strstr(r.body + e - 40, "49999.75") && r.body[e - 1] == ']',
           "the answer ends in '%.40s'", r.body && e > 40 ? r.body + e - 40 : "");
    resp_free(&r);
}

/* The client refuses a server its CA did not sign. */
static void test_wrong_ca(const hist_harness *h, const client_opts *good)
{
    client_opts o = *good;
    o.ca = cert("ca2.pem");
    tls_client t;
    CHECK(tls_connect(h->http_port, &o, &t) != 0);
    CHECKF(t.verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "verify %ld", t.verify);
    tls_close(&t);
    CHECK(tls_connect(h->http_port, good, &t) == 0 && t.verify == X509_V_OK);
    tls_close(&t);
}

/* Plain text to a TLS port: that connection closes, an open TLS connection
 * and the next client go on. */
static void test_plain_text(const hist_harness *h, const client_opts *good)
{
    long before = failures(h->http_port, good);
    tls_client keep;
    CHECK(tls_connect(h->http_port, good, &keep) == 0);
    const int ports[2] = {h->http_port, h->ingest_port};
    for (int i = 0; i < 2; i++) {
        int fd = tcp_connect(ports[i]);
        CHECK(fd >= 0);
        if (fd < 0)
            continue;
        const char *http = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        uint8_t frame[64];
        uint8_t *pb;
        size_t pblen;
        REQUIRE(encode(1, "site1/tls/plain", 1, &pb, &pblen) == 0 && pblen < 60);
        hist_put_be32(frame, (uint32_t)pblen);
        memcpy(frame + 4, pb, pblen);
        free(pb);
        ssize_t w = i == 0 ? write(fd, http, strlen(http)) : write(fd, frame, 4 + pblen);
        CHECK(w > 0);
        char buf[512];
        ssize_t total = 0, k;
        long long end = now_ms() + 5000;
        while (now_ms() < end && (k = read(fd, buf + total, sizeof buf - 1 - (size_t)total)) > 0)
            total += k;
        buf[total] = 0;
        CHECKF(now_ms() < end, "the server did not close the connection");
        CHECKF(!strstr(buf, "HTTP/1.1") && total < 16, "answered plain text: %zd bytes", total);
        close(fd);
    }
    CHECK_EQ_I64(failures(h->http_port, good), before + 2);
    /* the connection opened before still works */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char *out = NULL;
    CHECK(keep.ssl && tls_write_all(&keep, req, strlen(req)) == 0);
    CHECK(keep.ssl && tls_read_all(&keep, &out, 4096, 0) > 0 && strstr(out, "200 OK"));
    free(out);
    tls_close(&keep);
    tls_response r;
    CHECK(https(h->http_port, good, "GET", "/healthz", NULL, NULL, 0, 0, &r) == 0 &&
          r.status == 200);
    resp_free(&r);
}

/* A TLS 1.1 client is refused by the server (TLS 1.2 or newer only). */
static void test_old_protocol(const hist_harness *h, const client_opts *good)
{
    long before = failures(h->http_port, good);
    client_opts o = *good;
    o.min_ver = TLS1_1_VERSION;
    o.max_ver = TLS1_1_VERSION;
    tls_client t;
    CHECK(tls_connect(h->http_port, &o, &t) != 0);
    CHECKF(ERR_GET_REASON(t.err) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, "error %s",
           ERR_reason_error_string(t.err));
    tls_close(&t);
    CHECK_EQ_I64(failures(h->http_port, good), before + 1);
    o.min_ver = TLS1_2_VERSION;
    o.max_ver = TLS1_2_VERSION;
    CHECK(tls_connect(h->http_port, &o, &t) == 0 && SSL_version(t.ssl) == TLS1_2_VERSION);
    /* renegotiation is refused: the server answers the new hello with
     * no_renegotiation, which ends this client's session */
    if (t.ssl) {
        ERR_clear_error();
        CHECK(SSL_renegotiate(t.ssl) == 1);
        SSL_do_handshake(t.ssl);
        const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        tls_write_all(&t, req, strlen(req));
        char buf[256];
        size_t got = 0;
        int r = SSL_read_ex(t.ssl, buf, sizeof buf, &got);
        unsigned long e = ERR_peek_last_error();
        CHECKF(r != 1 && ERR_GET_REASON(e) == SSL_R_NO_RENEGOTIATION, "read %d: %s", r,
               e ? ERR_reason_error_string(e) : "no error");
    }
    tls_close(&t);
}

/* A handshake that never completes is closed by the server in time. */
static void test_stalled_handshake(const hist_harness *h, const client_opts *good, int limit_s)
{
    long before = failures(h->http_port, good);
    int fd = tcp_connect(h->http_port);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "\x16\x03\x01", 3) == 3); /* the start of a record, never finished */
    long long t0 = now_ms();
    char b;
    struct pollfd p = {fd, POLLIN, 0};
    int pr = poll(&p, 1, (limit_s + 5) * 1000);
    ssize_t k = pr == 1 ? read(fd, &b, 1) : 1;
    long long took = now_ms() - t0;
    CHECKF(pr == 1 && k <= 0, "still open after %lld ms", took);
    CHECKF(took >= (limit_s - 1) * 1000, "closed after %lld ms", took);
    close(fd);
    CHECK_EQ_I64(failures(h->http_port, good), before + 1);
}

/* Client certificates required: none, a foreign CA's, an expired one are
 * refused; the good one is in and its subject is logged. */
static void test_client_certs(void)
{
    hist_harness h;
    const char *args[] = {"--tls-cert",      cert("server.pem"), "--tls-key", cert("server.key"),
                          "--tls-client-ca", cert("ca.pem"),     NULL};
    REQUIRE(start(&h, "hist-tls-client", args) == 0);
    client_opts good = {cert("ca.pem"), cert("client.pem"), cert("client.key"), 0, 0};
    tls_response r;
    CHECK(https(h.http_port, &good, "GET", "/healthz", NULL, NULL, 0, 0, &r) == 0 &&
          r.status == 200);
    resp_free(&r);
    char log[1 << 16];
    harness_slurp(h.log_path, log, sizeof log);
    CHECKF(strstr(log, " client CN=gateway-7,O=Plant 1\n") != NULL, "no subject in the log");

    const client_opts bad[3] = {
        {cert("ca.pem"), NULL, NULL, 0, 0},
        {cert("ca.pem"), cert("client2.pem"), cert("client.key"), 0, 0},
        {cert("ca.pem"), cert("client-expired.pem"), cert("client.key"), 0, 0},
    };
    const char *why[3] = {"peer did not return a certificate",
                          "client certificate: unable to get local issuer certificate",
                          "client certificate: certificate has expired"};
    for (int i = 0; i < 3; i++) {
        long before = failures(h.http_port, &good);
        CHECKF(https(h.http_port, &bad[i], "GET", "/healthz", NULL, NULL, 0, 0, &r) != 0,
               "case %d answered", i);
        resp_free(&r);
        CHECK_EQ_I64(failures(h.http_port, &good), before + 1);
        harness_slurp(h.log_path, log, sizeof log);
        CHECKF(strstr(log, why[i]) != NULL, "no '%s' in the log", why[i]);
    }
    /* the TCP listener asks for one too */
    tls_client t;
    CHECK(tls_connect(h.ingest_port, &good, &t) == 0);
    tls_close(&t);
    CHECK(harness_stop(&h, 10000) == 0);
    harness_cleanup(&h);
}

/* Runs the historian CLI with args; its exit code, stdout in out. */
static int cli(const char *out, const char *const *args)
{
    return harness_wait_exit(harness_run_cli(out, args), 60);
}

/* The historian CLI over TLS against historiand's own listeners: simulate
 * sends over tcps://, query reads back over https://, both verifying the
 * server against the CA; a wrong CA fails with a clear error and exit 1. */
static void test_cli(const hist_harness *h)
{
    char ingest[64], server[64], out[400], spool[400], text[1 << 16];
    snprintf(ingest, sizeof ingest, "tcps://127.0.0.1:%d", h->ingest_port);
    snprintf(server, sizeof server, "https://127.0.0.1:%d", h->http_port);
    snprintf(out, sizeof out, "%s/cli.out", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    const char *sim[] = {"simulate", "--ingest", ingest,  "--cacert", cert("ca.pem"),
                         "--tags",   "3",        "--duration", "20",  "--fast",
                         "--start",  "2030-01-01T00:00:00Z", "--spool", spool, NULL};
    CHECK_EQ_I64(cli(out, sim), 0);
    harness_slurp(out, text, sizeof text);
    CHECKF(strstr(text, "acked 60 ") != NULL || strstr(text, "acked 60\n") != NULL, "%s", text);

    const char *query[] = {"query",  "--server", server, "--cacert", cert("ca.pem"), "-F", "csv",
                           "-f",     "2030-01-01T00:00:00Z", "-t", "2030-01-01T01:00:00Z",
                           "-p",     "**",       NULL};
    CHECK_EQ_I64(cli(out, query), 0);
    harness_slurp(out, text, sizeof text);
    CHECKF(count(text, "\n") == 61, "query over https: %d lines: %.300s", count(text, "\n"),
           text);

    const char *wrong[] = {"query", "--server", server, "--cacert", cert("ca2.pem"), "-p", "**",
                           NULL};
    CHECK_EQ_I64(cli(out, wrong), 1);
}

/* HTTP status of one request with the client certificate of o (and the
 * extra headers), the answer's body copied into body (may be NULL). */
static int status_of(int port, const client_opts *o, const char *method, const char *target,
                     const char *headers, const void *data, size_t len, char *body, size_t cap)
{
    tls_response r;
    int st = https(port, o, method, target, headers, data, len, 0, &r) == 0 ? r.status : -1;
    if (body && cap)
        snprintf(body, cap, "%s", r.body ? r.body : "");
    resp_free(&r);
    return st;
}

/* A cert: line of the tokens file grants the client certificate's subject
 * its scopes and tags on both listeners, without a token; a bearer token
 * wins over it; a certificate no line names gets 401, audited with its
 * subject. */
static void test_cert_grants(void)
{
    char tokens[400], audit[400];
    snprintf(tokens, sizeof tokens, "%s/tokens", dir);
    snprintf(audit, sizeof audit, "%s/audit.jsonl", dir);
    FILE *f = fopen(tokens, "w");
    REQUIRE(f != NULL);
    fprintf(f, "admintok admin\n\"cert:CN=gateway-7,O=Plant 1\" read,write site1/area2/**\n");
    fclose(f);
    hist_harness h;
    const char *args[] = {"--tls-cert",  cert("server.pem"), "--tls-key",      cert("server.key"),
                          "--tls-client-ca", cert("ca.pem"), "--auth-file", tokens,
                          "--audit-file", audit, NULL};
    REQUIRE(start(&h, "hist-tls-grant", args) == 0);
    client_opts gw = {cert("ca.pem"), cert("client.pem"), cert("client.key"), 0, 0};
    const char *pb = "Content-Type: application/x-protobuf\r\nAccept: application/json\r\n";
    const char *pb_admin = "Content-Type: application/x-protobuf\r\nAccept: application/json\r\n"
                           "Authorization: Bearer admintok\r\n";
    uint8_t *buf;
    size_t len;
    char body[4096];

    REQUIRE(encode(1, "site1/area2/flow", 4, &buf, &len) == 0);
    CHECK_EQ_I64(status_of(h.http_port, &gw, "POST", "/api/v1/write", pb, buf, len, NULL, 0),
                 200);
    free(buf);
    REQUIRE(encode(2, "site1/area1/flow", 4, &buf, &len) == 0);
    CHECK_EQ_I64(status_of(h.http_port, &gw, "POST", "/api/v1/write", pb, buf, len, NULL, 0),
                 403);
    /* the admin token, sent on the same certificate, wins over it */
    CHECK_EQ_I64(
        status_of(h.http_port, &gw, "POST", "/api/v1/write", pb_admin, buf, len, NULL, 0), 200);
    free(buf);
    CHECK_EQ_I64(status_of(h.http_port, &gw, "GET", "/api/v1/tags", NULL, NULL, 0, body,
                           sizeof body),
                 200);
    CHECKF(strstr(body, "site1/area2/flow") && !strstr(body, "site1/area1/flow"), "tags: %s",
           body);
    CHECK_EQ_I64(status_of(h.http_port, &gw, "GET",
                           "/api/v1/query?tag=site1/area1/flow&from=0&to=now", NULL, NULL, 0,
                           NULL, 0),
                 403);

    /* TCP: a frame without a token is granted by the certificate */
    tls_client t;
    CHECK(tls_connect(h.ingest_port, &gw, &t) == 0);
    if (t.ssl) {
        send_frame(&t, 7, "site1/area2/tcp", 3);
        Historian__V1__WriteResponse *resp = read_response(&t);
        CHECKF(resp && resp->written == 3, "tcp write: %s", resp ? "refused" : "no answer");
        if (resp)
            historian__v1__write_response__free_unpacked(resp, NULL);
        send_frame(&t, 8, "site1/area1/tcp", 3);
        resp = read_response(&t);
        CHECKF(resp && resp->written == 0 && resp->code != 0, "forbidden tcp write stored");
        if (resp)
            historian__v1__write_response__free_unpacked(resp, NULL);
    }
    tls_close(&t);

    /* reloaded without the cert: line, the certificate gets 401 */
    f = fopen(tokens, "w");
    REQUIRE(f != NULL);
    fprintf(f, "admintok admin\n");
    fclose(f);
    CHECK(kill(h.pid, SIGHUP) == 0);
    int st = 0;
    for (int i = 0; i < 100 && (st = status_of(h.http_port, &gw, "GET", "/api/v1/tags", NULL,
                                                NULL, 0, NULL, 0)) != 401;
         i++)
        usleep(50 * 1000);
    CHECK_EQ_I64(st, 401);
    char text[1 << 16];
    harness_slurp(audit, text, sizeof text);
    CHECKF(strstr(text, "\"subject\":\"CN=gateway-7,O=Plant 1\"") != NULL,
           "no audit line with the subject: %s", text);
    CHECKF(!strstr(text, "admintok"), "the token is in the audit trail");
    if (check_failed_)
        harness_dump_log(&h);
    CHECK(harness_stop(&h, 10000) == 0);
    harness_cleanup(&h);
}

/* An expired server certificate is refused by the client. */
static void test_expired_server(void)
{
    hist_harness h;
    const char *args[] = {"--tls-cert", cert("server-expired.pem"), "--tls-key", cert("server.key"),
                          NULL};
    REQUIRE(start(&h, "hist-tls-expired", args) == 0);
    client_opts o = {cert("ca.pem"), NULL, NULL, 0, 0};
    tls_client t;
    CHECK(tls_connect(h.http_port, &o, &t) != 0);
    CHECKF(t.verify == X509_V_ERR_CERT_HAS_EXPIRED, "verify %ld", t.verify);
    tls_close(&t);
    CHECK(harness_stop(&h, 10000) == 0);
    harness_cleanup(&h);
}

/* A bad certificate, key or CA file stops the start with its name. */
static void test_bad_files(void)
{
    struct {
        const char *cert, *key, *ca, *named, *says;
    } cases[] = {
        {cert("missing.pem"), cert("server.key"), NULL, "missing.pem", "certificate"},
        {cert("server.pem"), cert("gen.sh"), NULL, "gen.sh", "private key"},
        {cert("server.pem"), cert("client.key"), NULL, "client.key", "does not match"},
        {cert("server.pem"), cert("server.key"), cert("gen.sh"), "gen.sh", "client CA"},
        {cert("server.pem"), NULL, NULL, "--tls-key", "needs both"},
    };
    const char *bin = getenv("HIST_BIN_DIR");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048], out[400], text[4096];
        snprintf(out, sizeof out, "%s/bad%zu.log", dir, i);
        int n = snprintf(cmd, sizeof cmd,
                         "timeout 20 %s/historiand --data %s/data%zu --http 127.0.0.1:0 "
                         "--ingest '' --tls-cert %s",
                         bin ? bin : "./tools", dir, i, cases[i].cert);
        if (cases[i].key)
            n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --tls-key %s", cases[i].key);
        if (cases[i].ca)
            n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --tls-client-ca %s", cases[i].ca);
        snprintf(cmd + n, sizeof cmd - (size_t)n, " > %s 2>&1", out);
        int rc = system(cmd);
        harness_slurp(out, text, sizeof text);
        CHECKF(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "case %zu: rc %d: %s", i, rc, text);
        CHECKF(strstr(text, cases[i].named) && strstr(text, cases[i].says), "case %zu: %s", i,
               text);
        CHECKF(!strstr(text, "listening"), "case %zu started: %s", i, text);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    REQUIRE(gen_certs() == 0);
    hist_harness h;
    const char *args[] = {
        "--tls-cert", cert("server.pem"), "--tls-key", cert("server.key"), "--idle-timeout", "3",
        NULL};
    REQUIRE(start(&h, "hist-tls", args) == 0);
    client_opts good = {cert("ca.pem"), NULL, NULL, 0, 0};
    test_http(&h, &good);
    test_tcp(&h, &good);
    test_large_reply(&h, &good);
    test_wrong_ca(&h, &good);
    test_plain_text(&h, &good);
    test_old_protocol(&h, &good);
    test_stalled_handshake(&h, &good, 3);
    test_cli(&h);
    CHECK(metric(h.http_port, &good, "historian_tls_handshakes_total") > 10);
    if (check_failed_)
        harness_dump_log(&h);
    CHECK(harness_stop(&h, 10000) == 0);
    harness_cleanup(&h);

    test_client_certs();
    test_cert_grants();
    test_expired_server();
    test_bad_files();
    harness_rm_rf(dir);
    return check_summary();
}
