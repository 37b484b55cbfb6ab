/*
 * test_conns.c: many clients at once, limits and slow clients.
 *
 *   - 1,000 concurrent TCP ingest connections, each writes a batch; every
 *     one gets its ack and the data is all there.
 *   - a client that stalls in the middle of a frame, and one that sits
 *     idle, are closed after the idle timeout while others are served.
 *   - without a tokens file the server refuses to bind a non-loopback
 *     address; with one, TCP and HTTP writes need a token with the write
 *     scope.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"

#define NCONN 1000
#define T0    INT64_C(1700000000000000000)

static uint8_t *encode_one(uint64_t id, const char *tag, const char *token, size_t *len)
{
    int64_t ts[4];
    hist_value v[4];
    for (int i = 0; i < 4; i++) {
        ts[i] = T0 + i * INT64_C(1000000000);
        v[i].f = (double)id + i;
    }
    hist_client_series s = {tag, HIST_TYPE_FLOAT64, 4, ts, v, NULL};
    uint8_t *buf = NULL;
    if (hist_client_encode(id, token, &s, 1, &buf, len) != 0)
        return NULL;
    return buf;
}

static void test_many(const hist_harness *h)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * NCONN + 100) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    static hist_tcp_client *c[NCONN];
    int opened = 0;
    for (int i = 0; i < NCONN; i++) {
        if (hist_tcp_client_connect(h->ingest_addr, 5000, &c[i]) != 0) {
            c[i] = NULL;
            break;
        }
        opened++;
    }
    CHECKF(opened == NCONN, "opened %d of %d connections", opened, NCONN);
    for (int i = 0; i < opened; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "site1/many/line1/conn%d/value", i % 50);
        size_t len;
        uint8_t *buf = encode_one((uint64_t)i, tag, NULL, &len);
        CHECK(buf && hist_tcp_client_send(c[i], buf, len) == 0);
        free(buf);
    }
    int acked = 0;
    for (int i = 0; i < opened; i++) {
        Historian__V1__WriteResponse *r = NULL;
        if (hist_tcp_client_recv(c[i], 30000, &r) == 0) {
            if (r->batch_id == (uint64_t)i && r->written == 4 && r->code == 0)
                acked++;
            historian__v1__write_response__free_unpacked(r, NULL);
        }
    }
    CHECKF(acked == opened, "%d of %d acked", acked, opened);
    for (int i = 0; i < opened; i++)
        hist_tcp_client_close(c[i]);
}

static void test_slow_and_idle(const hist_harness *h)
{
    hist_tcp_client *stall, *idle, *good;
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &stall) == 0);
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &idle) == 0);
    REQUIRE(hist_tcp_client_connect(h->ingest_addr, 5000, &good) == 0);
    CHECK_OK(hist_tcp_client_send_bytes(stall, "\x00\x00\x00\x40\x08", 5)); /* 1 of 64 bytes */
    /* the healthy client keeps writing while the others are cut off */
    int ok = 0;
    for (int round = 0; round < 8; round++) {
        size_t len;
        uint8_t *buf = encode_one(100 + (uint64_t)round, "site1/slow/line1/cell1/good", NULL, &len);
        Historian__V1__WriteResponse *r = NULL;
        if (buf && hist_tcp_client_send(good, buf, len) == 0 &&
            hist_tcp_client_recv(good, 10000, &r) == 0) {
            ok += r->code == 0;
            historian__v1__write_response__free_unpacked(r, NULL);
        }
        free(buf);
        usleep(400 * 1000);
    }
    CHECK_EQ_I64(ok, 8);
    /* idle timeout is 2 s (see main); both were closed by now (3.2 s) */
    Historian__V1__WriteResponse *r = NULL;
    CHECK(hist_tcp_client_recv(stall, 3000, &r) == HIST_ECLOSED);
    CHECK(hist_tcp_client_recv(idle, 3000, &r) == HIST_ECLOSED);
    hist_tcp_client_close(stall);
    hist_tcp_client_close(idle);
    hist_tcp_client_close(good);
}

/* Over --max-connections, new connections are closed at once; the
 * accepted ones keep working. */
static void test_max_connections(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    const char *args[] = {"--log-level", "warn", "--max-connections", "5", NULL};
    REQUIRE(harness_start(&h, args) == 0);
    hist_tcp_client *c[8];
    for (int i = 0; i < 8; i++)
        REQUIRE(hist_tcp_client_connect(h.ingest_addr, 5000, &c[i]) == 0);
    int served = 0, closed = 0;
    for (int i = 0; i < 8; i++) {
        size_t len;
        uint8_t *buf = encode_one((uint64_t)i, "site1/limit/line1/cell1/v", NULL, &len);
        Historian__V1__WriteResponse *r = NULL;
        hist_tcp_client_send(c[i], buf, len);
        int rc = hist_tcp_client_recv(c[i], 5000, &r);
        if (rc == 0 && r->code == 0)
            served++;
        else if (rc == HIST_ECLOSED)
            closed++;
        if (r)
            historian__v1__write_response__free_unpacked(r, NULL);
        free(buf);
    }
    /* the /healthz probe of harness_start has closed by now, so 5 fit */
    CHECKF(served == 5 && closed == 3, "served %d closed %d", served, closed);
    for (int i = 0; i < 8; i++)
        hist_tcp_client_close(c[i]);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    harness_cleanup(&h);
}

/* With a 1 MiB writer queue, 4 clients pipelining 1.6 MB requests push
 * the server into backpressure (it stops reading); every request is
 * still acknowledged, in order, and the pause shows in /metrics. */
static void *bp_client(void *arg)
{
    const hist_harness *h = ((void **)arg)[0];
    long idx = (long)((void **)arg)[1];
    hist_tcp_client *c;
    long ok = 0;
    if (hist_tcp_client_connect(h->ingest_addr, 5000, &c) != 0)
        return (void *)0;
    enum { N = 100000, REQS = 12 };
    int64_t *ts = malloc(N * sizeof *ts);
    hist_value *v = malloc(N * sizeof *v);
    char tag[64];
    snprintf(tag, sizeof tag, "site1/bp/line1/cell%ld/v", idx);
    for (int r = 0; r < REQS; r++) {
        for (int i = 0; i < N; i++) {
            ts[i] = T0 + ((int64_t)r * N + i) * INT64_C(1000000);
            v[i].f = i * 0.25;
        }
        hist_client_series s = {tag, HIST_TYPE_FLOAT64, N, ts, v, NULL};
        uint8_t *buf;
        size_t len;
        if (hist_client_encode((uint64_t)r, NULL, &s, 1, &buf, &len) == 0)
            hist_tcp_client_send(c, buf, len);
        free(buf);
    }
    for (int r = 0; r < REQS; r++) {
        Historian__V1__WriteResponse *resp = NULL;
        if (hist_tcp_client_recv(c, 60000, &resp) != 0)
            break;
        ok += resp->batch_id == (uint64_t)r && resp->code == 0 && resp->written == N;
        historian__v1__write_response__free_unpacked(resp, NULL);
    }
    free(ts);
    free(v);
    hist_tcp_client_close(c);
    return (void *)ok;
}

static void test_backpressure(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    const char *args[] = {"--log-level", "warn", "--writer-queue-mb", "1", NULL};
    REQUIRE(harness_start(&h, args) == 0);
    pthread_t th[4];
    void *targs[4][2];
    for (long i = 0; i < 4; i++) {
        targs[i][0] = &h;
        targs[i][1] = (void *)i;
        pthread_create(&th[i], NULL, bp_client, targs[i]);
    }
    long total = 0;
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        total += (long)ok;
    }
    CHECK_EQ_I64(total, 4 * 12);
    harness_response resp;
    if (harness_http(h.http_port, "GET", "/metrics", NULL, NULL, 0, &resp) == 0) {
        const char *p = strstr(resp.body, "\nhistorian_backpressure_pauses_total ");
        CHECKF(p && atol(p + 37) > 0, "no backpressure pause recorded");
        harness_response_free(&resp);
    }
    CHECK_EQ_I64(harness_stop(&h, 30000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
}

static void test_loopback_only(void)
{
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-e2e") == 0);
    int port = harness_free_port();
    snprintf(h.http_addr, sizeof h.http_addr, "0.0.0.0:%d", port);
    snprintf(h.ingest_addr, sizeof h.ingest_addr, "127.0.0.1:%d", harness_free_port());
    h.http_port = port;
    /* it must exit by itself, non-zero, without serving */
    CHECK(harness_restart(&h, NULL) != 0);
    int st = harness_stop(&h, 5000);
    CHECKF(st != 0 && st < 128, "exit status %d", st);
    FILE *f = fopen(h.log_path, "r");
    char buf[4096] = "";
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    CHECKF(strstr(buf, "loopback") != NULL, "log: %s", buf);
    harness_cleanup(&h);
}

static void test_auth(void)
{
    hist_harness h;
    REQUIRE(harness_init(&h, "hist-e2e") == 0);
    char tokens[400];
    snprintf(tokens, sizeof tokens, "%s/tokens", h.root);
    FILE *f = fopen(tokens, "w");
    REQUIRE(f);
    fprintf(f, "# test tokens\nw-secret write\nr-secret read\n");
    fclose(f);
    const char *args[] = {"--auth-file", tokens, "--log-level", "warn", NULL};
    REQUIRE(harness_start(&h, args) == 0);

    size_t len;
    uint8_t *buf = encode_one(1, "site1/auth/line1/cell1/v", NULL, &len);
    hist_tcp_client *c;
    Historian__V1__WriteResponse *r = NULL;
    REQUIRE(hist_tcp_client_connect(h.ingest_addr, 5000, &c) == 0);
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    CHECK(hist_tcp_client_recv(c, 5000, &r) == 0 && r && r->code == HIST_EAUTH);
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    CHECK(hist_tcp_client_recv(c, 5000, &r) == HIST_ECLOSED);
    hist_tcp_client_close(c);
    free(buf);

    buf = encode_one(2, "site1/auth/line1/cell1/v", "r-secret", &len);
    REQUIRE(hist_tcp_client_connect(h.ingest_addr, 5000, &c) == 0);
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    r = NULL;
    CHECK(hist_tcp_client_recv(c, 5000, &r) == 0 && r && r->code == HIST_EAUTH);
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    hist_tcp_client_close(c);
    free(buf);

    buf = encode_one(3, "site1/auth/line1/cell1/v", "w-secret", &len);
    REQUIRE(hist_tcp_client_connect(h.ingest_addr, 5000, &c) == 0);
    CHECK_OK(hist_tcp_client_send(c, buf, len));
    r = NULL;
    CHECK(hist_tcp_client_recv(c, 5000, &r) == 0 && r && r->code == 0 && r->written == 4);
    if (r)
        historian__v1__write_response__free_unpacked(r, NULL);
    hist_tcp_client_close(c);

    harness_response resp;
    CHECK(harness_http(h.http_port, "POST", "/api/v1/write", NULL, buf, len, &resp) == 0 &&
          resp.status == 401);
    harness_response_free(&resp);
    CHECK(harness_http(h.http_port, "POST", "/api/v1/write", "Authorization: Bearer r-secret\r\n",
                       buf, len, &resp) == 0 &&
          resp.status == 403);
    harness_response_free(&resp);
    CHECK(harness_http(h.http_port, "POST", "/api/v1/write", "Authorization: Bearer w-secret\r\n",
                       buf, len, &resp) == 0 &&
          resp.status == 200);
    harness_response_free(&resp);
    CHECK(harness_http(h.http_port, "GET", "/metrics", NULL, NULL, 0, &resp) == 0 &&
          resp.status == 401);
    harness_response_free(&resp);
    CHECK(harness_http(h.http_port, "GET", "/metrics", "Authorization: Bearer r-secret\r\n", NULL,
                       0, &resp) == 0 &&
          resp.status == 200);
    harness_response_free(&resp);
    free(buf);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
}

int main(void)
{
    hist_harness h;
    memset(&h, 0, sizeof h);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl); /* before the fork: the server inherits it */
    const char *args[] = {"--log-level", "warn", "--idle-timeout", "2", NULL};
    if (harness_start(&h, args) != 0) {
        harness_dump_log(&h);
        harness_cleanup(&h);
        CHECKF(0, "historiand did not start");
        return check_summary();
    }
    test_many(&h);
    test_slow_and_idle(&h);
    CHECK_EQ_I64(harness_stop(&h, 20000), 0);
    if (check_failed_)
        harness_dump_log(&h);
    harness_cleanup(&h);
    test_max_connections();
    test_backpressure();
    test_loopback_only();
    test_auth();
    return check_summary();
}
