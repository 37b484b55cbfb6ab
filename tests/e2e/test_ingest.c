/*
 * test_ingest.c: end to end through the real historiand.
 *
 * Writes over TCP (single and pipelined) and over HTTP, checks that acks
 * come back in order with the right counts, that every kind of bad input
 * gets its error while a healthy connection keeps flowing, that /healthz and
 * /metrics answer, then stops the server with SIGTERM and opens the data
 * directory with the storage API: everything acknowledged must be there,
 * bit-exact, and nothing from a refused request.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "harness.h"
#include "metrics_page.h"

#define T0  INT64_C(1700000000000000000)
#define SEC INT64_C(1000000000)

static hist_tcp_client *connect_ingest(const hist_harness *h)
{
    hist_tcp_client *c = NULL;
    int rc = hist_tcp_client_connect(h->ingest_addr, 5000, &c);
    CHECKF(rc == 0, "connect %s: %d", h->ingest_addr, rc);
    return rc == 0 ? c : NULL;
}

/* n float samples of tag at T0 + base + i s, value base + i * 0.5 */
static int send_float(hist_tcp_client *c, uint64_t batch, const char *tag, int64_t base, size_t n)
{
    int64_t *ts = malloc(n * sizeof *ts);
    hist_value *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        ts[i] = T0 + (base + (int64_t)i) * SEC;
        v[i].f = (double)base + (double)i * 0.5;
    }
    hist_client_series s = {tag, HIST_TYPE_FLOAT64, n, ts, v, NULL};
    uint8_t *buf;
    size_t len;
    int rc = hist_client_encode(batch, NULL, &s, 1, &buf, &len);
    if (rc == 0)
        rc = hist_tcp_client_send(c, buf, len);
    free(buf);
    free(ts);
    free(v);
    return rc;
}

static Historian__V1__WriteResponse *recv_ack(hist_tcp_client *c)
{
    Historian__V1__WriteResponse *r = NULL;
    int rc = hist_tcp_client_recv(c, 20000, &r);
    CHECKF(rc == 0, "recv: %d", rc);
    return rc == 0 ? r : NULL;
}

static void test_tcp_basic(const hist_harness *h)
{
    hist_tcp_client *c = connect_ingest(h);
    REQUIRE(c);
    /* three types in one request */
    int64_t ts[100];
    hist_value fv[100], iv[100], bv[100];
    uint32_t q[100];
    for (int i = 0; i < 100; i++) {
        ts[i] = T0 + i * SEC;
        fv[i].f = i == 7 ? NAN : 20.0 + i * 0.1;
        iv[i].i = (int64_t)i * 1000 - 5;
        bv[i].i = i % 3 == 0;
        q[i] = i == 50 ? HIST_QUALITY_BAD : 0;
    }
    hist_client_series s[3] = {
        {"site1/area1/line1/cell1/temp", HIST_TYPE_FLOAT64, 100, ts, fv, q},
        {"site1/area1/line1/cell1/count", HIST_TYPE_INT64, 100, ts, iv, NULL},
        {"site1/area1/line1/cell1/running", HIST_TYPE_BOOL, 100, ts, bv, NULL},
    };
    uint8_t *buf;
    size_t len;
    CHECK_OK(hist_client_encode(1, NULL, s, 3, &buf, &len));
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    free(buf);
    Historian__V1__WriteResponse *r = recv_ack(c);
    if (r) {
        CHECK_EQ_I64(r->batch_id, 1);
        CHECK_EQ_I64(r->written, 300);
        CHECK_EQ_I64(r->code, 0);
        CHECK(r->n_errors == 0);
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    /* pipelined: 50 requests out before any ack is read; acks in order */
    for (int b = 0; b < 50; b++)
        CHECK_OK(send_float(c, 100 + (uint64_t)b, "site1/area1/line1/cell2/pipe", b * 10, 10));
    for (int b = 0; b < 50; b++) {
        r = recv_ack(c);
        if (!r)
            break;
        CHECK_EQ_I64(r->batch_id, 100 + b);
        CHECK_EQ_I64(r->written, 10);
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    hist_tcp_client_close(c);
}

static void test_http_write(const hist_harness *h)
{
    int64_t ts[5];
    hist_value v[5];
    for (int i = 0; i < 5; i++) {
        ts[i] = T0 + i * SEC;
        v[i].f = 1.25 * i;
    }
    hist_client_series s = {"site1/area2/line1/cell1/http", HIST_TYPE_FLOAT64, 5, ts, v, NULL};
    uint8_t *buf;
    size_t len;
    CHECK_OK(hist_client_encode(7, NULL, &s, 1, &buf, &len));
    harness_response resp;
    int rc = harness_http(h->http_port, "POST", "/api/v1/write",
                          "Content-Type: application/x-protobuf\r\n", buf, len, &resp);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(resp.status == 200);
        Historian__V1__WriteResponse *r =
            historian__v1__write_response__unpack(NULL, resp.body_len, (const uint8_t *)resp.body);
        CHECK(r != NULL);
        if (r) {
            CHECK_EQ_I64(r->batch_id, 7);
            CHECK_EQ_I64(r->written, 5);
            historian__v1__write_response__free_unpacked(r, NULL);
        }
        harness_response_free(&resp);
    }
    /* JSON answer on request; same samples again (idempotent) */
    rc = harness_http(h->http_port, "POST", "/api/v1/write", "Accept: application/json\r\n", buf,
                      len, &resp);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(resp.status == 200);
        CHECKF(strstr(resp.body, "\"written\":5") != NULL, "%s", resp.body);
        CHECK(strstr(resp.content_type, "application/json") != NULL);
        harness_response_free(&resp);
    }
    /* garbage body: 400 naming the problem */
    rc = harness_http(h->http_port, "POST", "/api/v1/write", "Accept: application/json\r\n",
                      "\xff\xff\xff\xff\xff", 5, &resp);
    CHECK(rc == 0 && resp.status == 400);
    if (rc == 0) {
        CHECKF(strstr(resp.body, "does not decode") != NULL, "%s", resp.body);
        harness_response_free(&resp);
    }
    free(buf);
    rc = harness_http(h->http_port, "GET", "/api/v1/write", NULL, NULL, 0, &resp);
    CHECK(rc == 0 && resp.status == 405);
    harness_response_free(&resp);
    rc = harness_http(h->http_port, "GET", "/no/such/path", NULL, NULL, 0, &resp);
    CHECK(rc == 0 && resp.status == 404);
    harness_response_free(&resp);
}

/* Sends a hand-built request and returns its response. */
static Historian__V1__WriteResponse *roundtrip(hist_tcp_client *c,
                                               const Historian__V1__WriteRequest *req)
{
    size_t len = historian__v1__write_request__get_packed_size(req);
    uint8_t *buf = malloc(len + 1);
    historian__v1__write_request__pack(req, buf);
    int rc = hist_tcp_client_send(c, buf, len);
    free(buf);
    CHECK_OK(rc);
    return recv_ack(c);
}

static void expect_refused(hist_tcp_client *c, Historian__V1__Series **series, size_t n,
                           int want_code, uint32_t want_index, const char *want_text)
{
    Historian__V1__WriteRequest req = HISTORIAN__V1__WRITE_REQUEST__INIT;
    req.batch_id = 999;
    req.n_series = n;
    req.series = series;
    Historian__V1__WriteResponse *r = roundtrip(c, &req);
    if (!r)
        return;
    CHECK_EQ_I64(r->batch_id, 999);
    CHECK_EQ_I64(r->written, 0);
    CHECKF(r->code == want_code, "code %d, want %d (%s)", r->code, want_code, want_text);
    CHECKF(r->n_errors >= 1, "no series errors for %s", want_text);
    if (r->n_errors >= 1) {
        CHECK_EQ_I64(r->errors[0]->index, want_index);
        CHECKF(strstr(r->errors[0]->message, want_text) != NULL, "message '%s' lacks '%s'",
               r->errors[0]->message, want_text);
    }
    historian__v1__write_response__free_unpacked(r, NULL);
}

static void test_bad_input(const hist_harness *h)
{
    hist_tcp_client *c = connect_ingest(h);
    REQUIRE(c);
    int64_t ts[3] = {T0, SEC, SEC};
    double f[3] = {1, 2, 3};
    int64_t iv[3] = {1, 2, 3};
    Historian__V1__Series good = HISTORIAN__V1__SERIES__INIT;
    good.tag = "site1/bad/line1/cell1/good";
    good.n_ts_delta = 3;
    good.ts_delta = ts;
    good.n_f64 = 3;
    good.f64 = f;

    Historian__V1__Series unequal = good;
    unequal.tag = "site1/bad/line1/cell1/unequal";
    unequal.n_f64 = 2;
    Historian__V1__Series *b1[2] = {&good, &unequal};
    expect_refused(c, b1, 2, HIST_EINVAL, 1, "unequal arrays");

    Historian__V1__Series badname = good;
    badname.tag = "site1//empty";
    Historian__V1__Series *b2[1] = {&badname};
    expect_refused(c, b2, 1, HIST_ENAME, 0, "bad tag name");

    int64_t far[3] = {HIST_TS_MAX, SEC, SEC};
    Historian__V1__Series range = good;
    range.tag = "site1/bad/line1/cell1/range";
    range.ts_delta = far;
    Historian__V1__Series *b3[1] = {&range};
    expect_refused(c, b3, 1, HIST_ERANGE, 0, "timestamp");

    /* the tag of the first test is float64: int64 values past 2^53 have
     * no exact double, so they conflict (small ones are converted, see
     * test_type_conversion) */
    int64_t wide[3] = {1, 2, (INT64_C(1) << 53) + 1};
    Historian__V1__Series conflict = good;
    conflict.tag = "site1/area1/line1/cell1/temp";
    conflict.n_f64 = 0;
    conflict.f64 = NULL;
    conflict.n_i64 = 3;
    conflict.i64 = wide;
    Historian__V1__Series *b4[2] = {&good, &conflict};
    expect_refused(c, b4, 2, HIST_ETYPE, 1, "type conflict");
    conflict.i64 = iv;

    /* two types for one tag inside a request */
    Historian__V1__Series twin = conflict;
    twin.tag = good.tag;
    Historian__V1__Series *b5[2] = {&good, &twin};
    expect_refused(c, b5, 2, HIST_ETYPE, 1, "type conflict");

    /* a frame that is not a protobuf: error, the connection goes on */
    CHECK_OK(hist_tcp_client_send(c, "\x0f\xff\xff\xff", 4));
    Historian__V1__WriteResponse *r = recv_ack(c);
    if (r) {
        CHECK(r->code == HIST_EPROTO);
        CHECK(strstr(r->error, "does not decode") != NULL);
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    /* and a healthy request still flows on the same connection */
    CHECK_OK(send_float(c, 5000, "site1/bad/line1/cell1/after", 0, 4));
    r = recv_ack(c);
    if (r) {
        CHECK_EQ_I64(r->batch_id, 5000);
        CHECK_EQ_I64(r->written, 4);
        historian__v1__write_response__free_unpacked(r, NULL);
    }

    /* a second connection sends a frame over the limit: reason, then close */
    hist_tcp_client *big = connect_ingest(h);
    REQUIRE(big);
    CHECK_OK(hist_tcp_client_send_bytes(big, "\x7f\xff\xff\xff", 4));
    r = recv_ack(big);
    if (r) {
        CHECK(r->code == HIST_ETOOBIG);
        CHECK(strstr(r->error, "exceeds") != NULL);
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    Historian__V1__WriteResponse *none = NULL;
    CHECK(hist_tcp_client_recv(big, 5000, &none) == HIST_ECLOSED);
    hist_tcp_client_close(big);

    /* a truncated frame, then the peer goes away */
    hist_tcp_client *trunc = connect_ingest(h);
    REQUIRE(trunc);
    CHECK_OK(hist_tcp_client_send_bytes(trunc, "\x00\x00\x01\x00\x0a\x0b", 6));
    hist_tcp_client_close(trunc);

    /* random bytes */
    hist_tcp_client *rnd = connect_ingest(h);
    REQUIRE(rnd);
    unsigned char junk[4096];
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(rand_r(&seed) >> 7);
    hist_tcp_client_send_bytes(rnd, junk, sizeof junk);
    /* whatever happened, it ends with a close (framing lost) or errors */
    for (int i = 0; i < 100; i++) {
        Historian__V1__WriteResponse *x = NULL;
        int rc = hist_tcp_client_recv(rnd, 5000, &x);
        if (rc != 0)
            break;
        CHECK(x->code != 0 || x->written == 0);
        historian__v1__write_response__free_unpacked(x, NULL);
    }
    hist_tcp_client_close(rnd);

    /* the first connection is still fine */
    CHECK_OK(send_float(c, 5001, "site1/bad/line1/cell1/after", 100, 4));
    r = recv_ack(c);
    if (r) {
        CHECK_EQ_I64(r->batch_id, 5001);
        CHECK_EQ_I64(r->written, 4);
        historian__v1__write_response__free_unpacked(r, NULL);
    }
    hist_tcp_client_close(c);

    /* HTTP: garbage request line, oversized headers, oversized body */
    harness_response resp;
    char *huge = malloc(70000);
    memset(huge, 'a', 69990);
    memcpy(huge, "X-Big: ", 7);
    strcpy(huge + 69990, "\r\n");
    int rc = harness_http(h->http_port, "GET", "/healthz", huge, NULL, 0, &resp);
    CHECK(rc == 0 && resp.status == 431);
    harness_response_free(&resp);
    free(huge);
    rc = harness_http(h->http_port, "GET\x01", "/x", NULL, NULL, 0, &resp);
    CHECK(rc == 0 && resp.status == 400);
    harness_response_free(&resp);
}

typedef struct {
    int status[8];
    char body[8][256];
    int n;
} pipeline_ctx;

static int pl_body(http_parser *p, const char *at, size_t len)
{
    pipeline_ctx *c = p->data;
    if (c->n < 8) {
        size_t have = strlen(c->body[c->n]);
        size_t room = sizeof c->body[0] - 1 - have;
        memcpy(c->body[c->n] + have, at, len < room ? len : room);
    }
    return 0;
}

static int pl_done(http_parser *p)
{
    pipeline_ctx *c = p->data;
    if (c->n < 8)
        c->status[c->n++] = (int)p->status_code;
    return 0;
}

/* Three requests in one send on one keep-alive connection: the answers
 * come back in request order, although the write finishes last. */
static void test_http_pipelining(const hist_harness *h)
{
    int64_t ts[2] = {T0, T0 + SEC};
    hist_value v[2] = {{.f = 1.0}, {.f = 2.0}};
    hist_client_series s = {"site1/area2/line1/cell1/pipelined", HIST_TYPE_FLOAT64, 2, ts, v, NULL};
    uint8_t *body;
    size_t blen;
    REQUIRE(hist_client_encode(11, NULL, &s, 1, &body, &blen) == 0);
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST /api/v1/write HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n"
                     "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                     blen);
    memcpy(req + n, body, blen);
    n += (int)blen;
    n += snprintf(req + n, sizeof req - (size_t)n,
                  "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    free(body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)h->http_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(send(fd, req, (size_t)n, 0) == n);
    pipeline_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    http_parser p;
    http_parser_settings st;
    http_parser_settings_init(&st);
    st.on_body = pl_body;
    st.on_message_complete = pl_done;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &ctx;
    char buf[8192];
    ssize_t got;
    while (ctx.n < 3 && (got = recv(fd, buf, sizeof buf, 0)) > 0)
        http_parser_execute(&p, &st, buf, (size_t)got);
    close(fd);
    CHECK_EQ_I64(ctx.n, 3);
    CHECK_EQ_I64(ctx.status[0], 200);
    CHECKF(strstr(ctx.body[0], "\"written\":2") != NULL, "%s", ctx.body[0]);
    CHECK_EQ_I64(ctx.status[1], 200);
    CHECK(!strcmp(ctx.body[1], "ok\n"));
    CHECK_EQ_I64(ctx.status[2], 404);
}

/* Sends one series; returns the ack's code (written checked when 0). */
static int send_one(hist_tcp_client *c, Historian__V1__Series *s, size_t want_written)
{
    Historian__V1__WriteRequest req = HISTORIAN__V1__WRITE_REQUEST__INIT;
    req.batch_id = 77;
    req.n_series = 1;
    req.series = &s;
    Historian__V1__WriteResponse *r = roundtrip(c, &req);
    if (!r)
        return INT32_MIN;
    int code = r->code;
    if (code == 0)
        CHECK_EQ_I64(r->written, want_written);
    historian__v1__write_response__free_unpacked(r, NULL);
    return code;
}

/* Values of another type are written when each has an exact value of the
 * tag's type (20.0 -> int64 20, 1 -> bool true, 7 -> float64 7), and read
 * back as the tag's type; one inexact value refuses the whole series. */
static void test_type_conversion(const hist_harness *h)
{
    hist_tcp_client *c = connect_ingest(h);
    REQUIRE(c);
    int64_t ts[2] = {T0, SEC};
    int64_t iv[2] = {20, 21};
    double fv[2] = {22.0, 23.0}, half[2] = {24.0, 24.5};
    Historian__V1__Series s = HISTORIAN__V1__SERIES__INIT;
    s.tag = "site1/conv/line1/cell1/count";
    s.n_ts_delta = 2;
    s.ts_delta = ts;
    s.n_i64 = 2;
    s.i64 = iv;
    CHECK_EQ_I64(send_one(c, &s, 2), 0); /* creates an int64 tag */
    int64_t ts2[2] = {T0 + 10 * SEC, SEC};
    s.ts_delta = ts2;
    s.n_i64 = 0, s.i64 = NULL;
    s.n_f64 = 2, s.f64 = fv;
    CHECK_EQ_I64(send_one(c, &s, 2), 0);
    int64_t ts3[2] = {T0 + 20 * SEC, SEC};
    s.ts_delta = ts3;
    s.f64 = half;
    CHECK_EQ_I64(send_one(c, &s, 0), HIST_ETYPE);
    hist_tcp_client_close(c);

    harness_response resp;
    int rc = harness_http(h->http_port, "GET",
                          "/api/v1/query?tag=site1/conv/line1/cell1/count&from=0&to=now&format=csv",
                          NULL, NULL, 0, &resp);
    CHECK(rc == 0);
    if (rc)
        return;
    CHECKF(resp.status == 200, "status %d: %s", resp.status, resp.body);
    CHECKF(strstr(resp.body, ",20,") && strstr(resp.body, ",23,") && !strstr(resp.body, ",24,"),
           "int64 tag after float64 writes: %s", resp.body);
    harness_response_free(&resp);
}

/* Read back through the query API (query/ handlers, on the thread pool). */
static void test_query_readback(const hist_harness *h)
{
    harness_response resp;
    int rc = harness_http(h->http_port, "GET",
                          "/api/v1/query?tags=site1/area2/line1/cell1/http&from=0&to=now", NULL,
                          NULL, 0, &resp);
    CHECK(rc == 0);
    if (rc)
        return;
    CHECKF(resp.status == 200, "status %d: %s", resp.status, resp.body);
    int values = 0;
    for (const char *p = resp.body; (p = strstr(p, "\"value\"")); p++)
        values++;
    CHECKF(values == 5, "%d values in %s", values, resp.body);
    harness_response_free(&resp);
}

/* A body announced over the limit is refused from its headers: 413. */
static void test_http_too_big(const hist_harness *h)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)h->http_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char *req = "POST /api/v1/write HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n";
    CHECK(send(fd, req, strlen(req), 0) == (ssize_t)strlen(req));
    char buf[2048];
    ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
    buf[got > 0 ? got : 0] = 0;
    CHECKF(!strncmp(buf, "HTTP/1.1 413 ", 13), "%s", buf);
    close(fd);
}

static void test_metrics(const hist_harness *h)
{
    harness_response resp;
    int rc = harness_http(h->http_port, "GET", "/metrics", NULL, NULL, 0, &resp);
    CHECK(rc == 0);
    if (rc)
        return;
    CHECK(resp.status == 200);
    CHECK(strstr(resp.body, "historian_samples_accepted_total ") != NULL);
    CHECK(strstr(resp.body, "historian_batches_rejected_total ") != NULL);
    /* the refused requests of test_bad_input were counted */
    CHECK(strstr(resp.body, "historian_samples_rejected_total 0\n") == NULL);
    CHECK(strstr(resp.body, "historian_batches_rejected_total 0\n") == NULL);
    CHECK(strstr(resp.body, "historian_wal_sync_seconds_bucket{le=\"+Inf\"}") != NULL);
    /* the gauge is _open: "historian_connections" would clash with the
     * counter historian_connections_total under OpenMetrics */
    CHECK(metrics_value(resp.body, "historian_connections_open") >= 1);
    CHECK(strstr(resp.body, "\nhistorian_connections ") == NULL);
    metrics_check_page(resp.body, h->root);
    /* the standard process families, from /proc/self */
    CHECK(metrics_value(resp.body, "process_resident_memory_bytes") > 1e5);
    CHECK(metrics_value(resp.body, "process_virtual_memory_bytes") >=
          metrics_value(resp.body, "process_resident_memory_bytes"));
    CHECK(metrics_value(resp.body, "process_open_fds") >= 3);
    CHECK(metrics_value(resp.body, "process_max_fds") >=
          metrics_value(resp.body, "process_open_fds"));
    CHECK(metrics_value(resp.body, "process_cpu_seconds_total") >= 0);
    double start = metrics_value(resp.body, "process_start_time_seconds");
    CHECKF(start > 1.6e9 && start <= (double)time(NULL) + 1, "start time %f", start);
    CHECK(metrics_value(resp.body, "historian_writer_queue_bytes") >= 0);
    CHECK(metrics_value(resp.body, "historian_writer_queue_limit_bytes") > 0);
    CHECK(metrics_value(resp.body, "historian_damaged_chunks") == 0);
    CHECK(metrics_value(resp.body, "historian_compact_pending_groups") >= 0);
    CHECK(metrics_value(resp.body, "historian_scrub_passes_total") >= 0);
    CHECK(metrics_value(resp.body, "historian_compact_hold_max_seconds") >= 0);
    const char *raw_n = "historian_query_duration_seconds_count{mode=\"raw\"}";
    const char *agg_n = "historian_query_duration_seconds_count{mode=\"aggregate\"}";
    const char *raw_inf = "historian_query_duration_seconds_bucket{mode=\"raw\",le=\"+Inf\"}";
    const char *c404 = "historian_http_responses_total{code=\"404\"}";
    const char *c200 = "historian_http_responses_total{code=\"200\"}";
    double raw0 = metrics_value(resp.body, raw_n), agg0 = metrics_value(resp.body, agg_n);
    double n404 = metrics_value(resp.body, c404), n200 = metrics_value(resp.body, c200);
    CHECKF(raw0 >= 1 && raw0 == metrics_value(resp.body, raw_inf), "raw count %f", raw0);
    CHECK(agg0 >= 0 && n200 >= 1);
    harness_response_free(&resp);

    /* values move: 3 raw queries, 2 aggregates, 2 unknown paths */
    for (int i = 0; i < 3; i++) {
        CHECK(harness_http(h->http_port, "GET",
                           "/api/v1/query?tag=site1/conv/line1/cell1/count&from=0&to=now", NULL,
                           NULL, 0, &resp) == 0 &&
              resp.status == 200);
        harness_response_free(&resp);
    }
    for (int i = 0; i < 2; i++) {
        CHECK(harness_http(h->http_port, "GET",
                           "/api/v1/query?tag=site1/conv/line1/cell1/count&from=0&to=now&mode="
                           "aggregate&step=1h&agg=mean",
                           NULL, NULL, 0, &resp) == 0 &&
              resp.status == 200);
        harness_response_free(&resp);
        CHECK(harness_http(h->http_port, "GET", "/no/such/page", NULL, NULL, 0, &resp) == 0 &&
              resp.status == 404);
        harness_response_free(&resp);
    }
    REQUIRE(harness_http(h->http_port, "GET", "/metrics", NULL, NULL, 0, &resp) == 0);
    CHECKF(metrics_value(resp.body, raw_n) == raw0 + 3, "raw %f -> %f", raw0,
           metrics_value(resp.body, raw_n));
    CHECKF(metrics_value(resp.body, agg_n) == agg0 + 2, "aggregate %f -> %f", agg0,
           metrics_value(resp.body, agg_n));
    CHECKF(metrics_value(resp.body, c404) == (n404 < 0 ? 0 : n404) + 2, "404s %f -> %f", n404,
           metrics_value(resp.body, c404));
    /* the previous /metrics page and the 5 queries */
    CHECKF(metrics_value(resp.body, c200) == n200 + 6, "200s %f -> %f", n200,
           metrics_value(resp.body, c200));
    CHECK(metrics_value(resp.body, "historian_query_duration_seconds_sum{mode=\"raw\"}") > 0);
    harness_response_free(&resp);
}

static size_t count_samples(hist_db *db, const char *tag, hist_sample *first, size_t max)
{
    hist_tag_info info;
    if (hist_tag_by_name(db, tag, &info) != 0)
        return 0;
    hist_scan *scan;
    if (hist_scan_open(db, info.id, HIST_TS_MIN, HIST_TS_MAX, HIST_SCAN_DECODE, &scan) != 0)
        return 0;
    size_t n = 0;
    hist_piece p;
    while (hist_scan_next(scan, &p) == 1) {
        for (size_t i = 0; i < p.n; i++, n++)
            if (n < max) {
                first[n].ts = p.ts[i];
                first[n].v = p.v[i];
                first[n].q = p.q ? p.q[i] : 0;
            }
    }
    hist_scan_close(scan);
    return n;
}

static void verify_on_disk(const hist_harness *h)
{
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = h->data_dir;
    o.no_background = true;
    hist_db *db;
    int rc = hist_db_open(&o, &db);
    CHECKF(rc == 0, "open %s: %d", h->data_dir, rc);
    if (rc)
        return;
    static hist_sample s[1000];
    CHECK_EQ_I64(count_samples(db, "site1/area1/line1/cell1/temp", s, 1000), 100);
    CHECK(s[0].ts == T0 && s[0].v.f == 20.0);
    CHECK(isnan(s[7].v.f));
    CHECK(s[50].q == HIST_QUALITY_BAD);
    CHECK_EQ_I64(count_samples(db, "site1/area1/line1/cell1/count", s, 1000), 100);
    CHECK_EQ_I64(s[99].v.i, 99 * 1000 - 5);
    CHECK_EQ_I64(count_samples(db, "site1/area1/line1/cell1/running", s, 1000), 100);
    CHECK_EQ_I64(s[3].v.i, 1);
    CHECK_EQ_I64(count_samples(db, "site1/area1/line1/cell2/pipe", s, 1000), 500);
    CHECK_EQ_I64(count_samples(db, "site1/area2/line1/cell1/http", s, 1000), 5);
    CHECK(s[4].v.f == 5.0);
    CHECK_EQ_I64(count_samples(db, "site1/bad/line1/cell1/after", s, 1000), 8);
    CHECK_EQ_I64(count_samples(db, "site1/area2/line1/cell1/pipelined", s, 1000), 2);
    /* refused requests left nothing behind, not even their tags */
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "site1/bad/line1/cell1/good", &info) == HIST_ENOTFOUND);
    CHECK(hist_tag_by_name(db, "site1/bad/line1/cell1/range", &info) == HIST_ENOTFOUND);
    CHECK_OK(hist_db_close(db));
}

int main(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    const char *args[] = {"--log-level", "warn", NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        harness_cleanup(&h);
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    test_tcp_basic(&h);
    test_http_write(&h);
    test_http_pipelining(&h);
    test_http_too_big(&h);
    test_query_readback(&h);
    test_bad_input(&h);
    test_type_conversion(&h);
    test_metrics(&h);
    int status = harness_stop(&h, 20000);
    CHECKF(status == 0, "exit status %d", status);
    verify_on_disk(&h);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
