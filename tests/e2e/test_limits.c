/*
 * test_limits.c: no request takes the server down (issue 12, section 4),
 * through the real historiand and raw sockets:
 *   - HEAD is answered without a body, so a pipelined GET after it reads
 *     its own status line;
 *   - /healthz and /metrics take GET and HEAD; other methods get 405 with
 *     Allow;
 *   - 5,000 header lines of 5 bytes (25 KB, 10 KB of names and values)
 *     and 8 header lines of 3 KB (24 KB) are refused with 431 against the
 *     16 KiB limit;
 *   - ?tag=T%00junk is a 400, a NUL in a TCP tag name is refused;
 *   - with --api-workers 1 --api-queue 0 a second read request while one
 *     runs is answered 503 with Retry-After; the one running stops at its
 *     time budget (--query-timeout-ms 300) with a 422 naming timeout_ms;
 *   - with --api-queue 1 the next waits and is answered after the running
 *     one, the one after it gets 503, a waiting request whose client left
 *     is dropped;
 *   - after each, the server answers the next request.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "check.h"
#include "harness.h"
#include "proto/historian.pb-c.h"

#define T0  INT64_C(1767225600000000000) /* 2026-01-01T00:00:00Z */
#define SEC INT64_C(1000000000)

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the peer closes or timeout_ms passes; NUL-terminated. */
static size_t recv_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n + 1 < cap) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left =
            timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Sends raw request bytes on a fresh connection, reads the answer(s). */
static size_t exchange(int port, const char *req, size_t len, char *out, size_t cap)
{
    int fd = dial(port);
    CHECK(fd >= 0);
    if (fd < 0)
        return 0;
    CHECK_OK(send_all(fd, req, len));
    size_t n = recv_all(fd, out, cap, 10000);
    close(fd);
    return n;
}

static int count_status_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "HTTP/1.1 ")); p++)
        n++;
    return n;
}

/* The server answers: /healthz 200 on a fresh connection. */
static void still_answers(const hist_harness *h, const char *after)
{
    harness_response r;
    int rc = harness_http(h->http_port, "GET", "/api/v1/tags?limit=1", NULL, NULL, 0, &r);
    CHECKF(rc == 0 && r.status == 200, "after %s: rc %d status %d", after, rc,
           rc == 0 ? r.status : 0);
    if (rc == 0)
        harness_response_free(&r);
}

static void test_head(const hist_harness *h)
{
    static char buf[65536];
    const char *req = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "HEAD /api/v1/tags?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(h->http_port, req, strlen(req), buf, sizeof buf);
    /* three answers, each a status line: no body after the HEAD ones */
    CHECKF(count_status_lines(buf) == 3, "HEAD pipelined: %d status lines in: %.600s",
           count_status_lines(buf), buf);
    const char *first = strstr(buf, "HTTP/1.1 200");
    CHECKF(first == buf, "HEAD /healthz: %.100s", buf);
    /* the HEAD heads keep their Content-Length; the GET's body "ok" ends it all */
    CHECK(strstr(buf, "Content-Length: ") != NULL);
    const char *second = strstr(buf + 1, "HTTP/1.1 ");
    CHECKF(second && !strncmp(second, "HTTP/1.1 200", 12), "HEAD /api/v1/tags: %.100s",
           second ? second : "(none)");
    still_answers(h, "HEAD");
}

static void test_methods(const hist_harness *h)
{
    const char *paths[] = {"/healthz", "/metrics"};
    const char *methods[] = {"POST", "DELETE", "PUT", "OPTIONS"};
    for (int p = 0; p < 2; p++)
        for (int m = 0; m < 4; m++) {
            harness_response r;
            int rc = harness_http(h->http_port, methods[m], paths[p], NULL, NULL, 0, &r);
            CHECKF(rc == 0 && r.status == 405, "%s %s: %d", methods[m], paths[p],
                   rc == 0 ? r.status : rc);
            if (rc == 0) {
                CHECKF(r.headers && strstr(r.headers, "Allow: GET, HEAD"), "%s %s: no Allow",
                       methods[m], paths[p]);
                harness_response_free(&r);
            }
        }
    still_answers(h, "other methods");
}

static void test_headers(const hist_harness *h)
{
    size_t cap = 5000 * 8 + 256;
    char *req = malloc(cap);
    static char buf[4096];
    REQUIRE(req);
    /* 5,000 lines "Ad:\r\n": 10 KB of names and values, 25 KB in all */
    size_t k = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 5000; i++)
        k += (size_t)snprintf(req + k, cap - k, "A%d:\r\n", i % 10);
    k += (size_t)snprintf(req + k, cap - k, "\r\n");
    exchange(h->http_port, req, k, buf, sizeof buf);
    CHECKF(!strncmp(buf, "HTTP/1.1 431", 12), "5,000 headers: %.200s", buf);
    /* 8 lines of 3,000 bytes: 24 KB, few lines */
    k = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 8; i++) {
        k += (size_t)snprintf(req + k, cap - k, "X-Big-%d: ", i);
        memset(req + k, 'v', 3000);
        k += 3000;
        k += (size_t)snprintf(req + k, cap - k, "\r\n");
    }
    k += (size_t)snprintf(req + k, cap - k, "\r\n");
    exchange(h->http_port, req, k, buf, sizeof buf);
    CHECKF(!strncmp(buf, "HTTP/1.1 431", 12), "24 KB of headers: %.200s", buf);
    /* 101 short header lines: over the count */
    k = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        k += (size_t)snprintf(req + k, cap - k, "H%d: v\r\n", i);
    k += (size_t)snprintf(req + k, cap - k, "\r\n");
    exchange(h->http_port, req, k, buf, sizeof buf);
    CHECKF(!strncmp(buf, "HTTP/1.1 431", 12) && strstr(buf, "100 header lines"),
           "101 headers: %.200s", buf);
    /* 99 are fine */
    k = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nConnection: close\r\n");
    for (int i = 0; i < 98; i++)
        k += (size_t)snprintf(req + k, cap - k, "H%d: v\r\n", i);
    k += (size_t)snprintf(req + k, cap - k, "\r\n");
    exchange(h->http_port, req, k, buf, sizeof buf);
    CHECKF(!strncmp(buf, "HTTP/1.1 200", 12), "99 headers: %.200s", buf);
    free(req);
    still_answers(h, "the header limits");
}

static void write_tags(const hist_harness *h, int ntags, int nsamples)
{
    hist_tcp_client *c = NULL;
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &c) == 0);
    int64_t *ts = malloc((size_t)nsamples * sizeof *ts);
    hist_value *v = malloc((size_t)nsamples * sizeof *v);
    REQUIRE(ts && v);
    for (int i = 0; i < nsamples; i++) {
        ts[i] = T0 + (int64_t)i * SEC;
        v[i].f = i * 0.5;
    }
    for (int t = 0; t < ntags; t++) {
        char tag[64];
        snprintf(tag, sizeof tag, "lim/t%02d", t);
        hist_client_series s = {tag, HIST_TYPE_FLOAT64, (size_t)nsamples, ts, v, NULL};
        uint8_t *buf;
        size_t len;
        CHECK_OK(hist_client_encode((uint64_t)t + 1, NULL, &s, 1, &buf, &len));
        CHECK_OK(hist_tcp_client_send(c, buf, len));
        free(buf);
        Historian__V1__WriteResponse *r = NULL;
        CHECK_OK(hist_tcp_client_recv(c, 20000, &r));
        if (r) {
            CHECK_EQ_I64(r->code, 0);
            historian__v1__write_response__free_unpacked(r, NULL);
        }
    }
    free(ts);
    free(v);
    hist_tcp_client_close(c);
}

static void test_nul(const hist_harness *h)
{
    harness_response r;
    CHECK_OK(harness_http(h->http_port, "GET", "/api/v1/query?tag=lim/t00%00junk&mode=latest", NULL,
                          NULL, 0, &r));
    CHECKF(r.status == 400 && strstr(r.body, "NUL"), "%%00: %d %s", r.status, r.body);
    harness_response_free(&r);
    /* a NUL inside a TCP tag name: the frame packed with 'X', then patched */
    hist_tcp_client *c = NULL;
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &c) == 0);
    int64_t ts[1] = {T0};
    hist_value v[1] = {{.f = 1}};
    hist_client_series s = {"lim/t00Xjunk", HIST_TYPE_FLOAT64, 1, ts, v, NULL};
    uint8_t *buf;
    size_t len;
    CHECK_OK(hist_client_encode(77, NULL, &s, 1, &buf, &len));
    uint8_t *x = memmem(buf, len, "t00Xjunk", 8);
    CHECK(x != NULL);
    if (x)
        x[3] = 0;
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    free(buf);
    Historian__V1__WriteResponse *resp = NULL;
    CHECK_OK(hist_tcp_client_recv(c, 20000, &resp));
    if (resp) {
        CHECK_EQ_I64(resp->written, 0);
        CHECK_EQ_I64(resp->code, HIST_ENAME);
        CHECKF(resp->n_errors == 1 && strstr(resp->errors[0]->message, "NUL"), "NUL tag name: %s",
               resp->n_errors ? resp->errors[0]->message : "(no error)");
        historian__v1__write_response__free_unpacked(resp, NULL);
    }
    hist_tcp_client_close(c);
    /* lim/t00 got nothing: still its 1,000 samples' latest */
    CHECK_OK(harness_http(h->http_port, "GET", "/api/v1/query?tag=lim/t00&mode=latest", NULL, NULL,
                          0, &r));
    CHECKF(r.status == 200 && strstr(r.body, "499.5"), "lim/t00 latest: %s", r.body);
    harness_response_free(&r);
    still_answers(h, "NUL");
}

/* --api-workers 1 --api-queue 0: a heavy request holds the only worker;
 * the next read request is refused with 503 and Retry-After at once. */
static void test_queue_full(const hist_harness *h)
{
    /* 40 tags x 1,000,000 points of 1 ms interpolation: seconds of work,
     * stopped by the 300 ms time budget */
    const char *heavy = "GET /api/v1/query?pattern=lim/*&mode=interp&step=1ms"
                        "&from=2026-01-01T00:00:00Z&to=2026-01-01T00:16:39Z HTTP/1.1\r\n"
                        "Host: x\r\nConnection: close\r\n\r\n";
    int fd = dial(h->http_port);
    REQUIRE(fd >= 0);
    CHECK_OK(send_all(fd, heavy, strlen(heavy)));
    usleep(100 * 1000); /* it is on the worker by now */
    harness_response r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_OK(harness_http(h->http_port, "GET", "/api/v1/tags?limit=1", NULL, NULL, 0, &r));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECKF(r.status == 503, "second request while the worker is busy: %d %s", r.status, r.body);
    CHECKF(r.headers && strstr(r.headers, "Retry-After: 1"), "no Retry-After: %s",
           r.headers ? r.headers : "");
    CHECKF(strstr(r.body, "api_queue") && strstr(r.body, "api_workers"), "503 body: %s", r.body);
    CHECKF(dt < 1.0, "the 503 took %.2f s", dt);
    harness_response_free(&r);
    /* /healthz does not queue */
    CHECK_OK(harness_http(h->http_port, "GET", "/healthz", NULL, NULL, 0, &r));
    CHECK_EQ_I64(r.status, 200);
    harness_response_free(&r);
    /* the heavy one stops at its time budget, then reads go on */
    static char buf[65536];
    recv_all(fd, buf, sizeof buf, 60000); /* Connection: close ends it */
    close(fd);
    CHECKF(!strncmp(buf, "HTTP/1.1 422", 12), "the heavy request: %s", buf);
    CHECKF(strstr(buf, "timeout_ms") != NULL, "the heavy request's error: %.300s", buf);
    still_answers(h, "the full queue");
}

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --api-queue 1: while the heavy one runs, the next waits (and is answered
 * after it, in order), the one after that gets 503; a waiting request whose
 * client went away is dropped, and the server goes on. */
static void test_queue_one(hist_harness *h)
{
    const char *args[] = {
        "--log-level", "warn",     "--api-workers",      "1",   "--api-queue", "1",
        "--max-rows",  "50000000", "--query-timeout-ms", "300", NULL};
    REQUIRE(harness_stop(h, 20000) == 0);
    REQUIRE(harness_restart(h, args) == 0);
    const char *heavy = "GET /api/v1/query?pattern=lim/*&mode=interp&step=1ms"
                        "&from=2026-01-01T00:00:00Z&to=2026-01-01T00:16:39Z HTTP/1.1\r\n"
                        "Host: x\r\nConnection: close\r\n\r\n";
    const char *light = "GET /api/v1/tags?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static char a[65536], b[65536], c[4096];
    for (int round = 0; round < 2; round++) {
        int fa = dial(h->http_port);
        REQUIRE(fa >= 0);
        double t0 = mono();
        CHECK_OK(send_all(fa, heavy, strlen(heavy)));
        usleep(100 * 1000);
        int fb = dial(h->http_port);
        REQUIRE(fb >= 0);
        CHECK_OK(send_all(fb, light, strlen(light)));
        usleep(50 * 1000);
        if (round == 1) {
            close(fb); /* the waiting one's client goes away: dropped unanswered */
            fb = -1;
        }
        int fc = dial(h->http_port);
        REQUIRE(fc >= 0);
        CHECK_OK(send_all(fc, light, strlen(light)));
        recv_all(fc, c, sizeof c, 5000);
        close(fc);
        if (round == 0) {
            CHECKF(!strncmp(c, "HTTP/1.1 503", 12) && strstr(c, "Retry-After: 1"),
                   "third request with one waiting: %.200s", c);
            recv_all(fb, b, sizeof b, 30000);
            double tb = mono() - t0;
            close(fb);
            CHECKF(!strncmp(b, "HTTP/1.1 200", 12), "the waiting request: %.200s", b);
            CHECKF(tb >= 0.25,
                   "the waiting request was answered after %.2f s: before the "
                   "heavy one finished",
                   tb);
        }
        recv_all(fa, a, sizeof a, 30000);
        close(fa);
        CHECKF(!strncmp(a, "HTTP/1.1 422", 12), "round %d, heavy: %.200s", round, a);
        still_answers(h, round ? "a dropped waiting request" : "a queue of one");
    }
}

int main(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    const char *args[] = {
        "--log-level", "warn",     "--api-workers",      "1",   "--api-queue", "0",
        "--max-rows",  "50000000", "--query-timeout-ms", "300", NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        harness_cleanup(&h);
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    write_tags(&h, 40, 1000);
    test_head(&h);
    test_methods(&h);
    test_headers(&h);
    test_nul(&h);
    test_queue_full(&h);
    test_queue_one(&h);
    int status = harness_stop(&h, 20000);
    CHECKF(status == 0, "exit status %d", status);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    return check_summary();
}
