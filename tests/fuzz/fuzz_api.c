/*
 * fuzz_api.c: libFuzzer target for the HTTP read API (query/api/,
 * Grafana included), which parses query strings, form and JSON bodies that
 * come from the network.
 *
 * Input layout: byte 0 picks the method and path from a fixed table (every
 * route and a few that are not), byte 1 the content type; the rest is
 * "query string \0 body". The database is a real one in a temp dir holding
 * three tags, so queries reach the engine.
 *
 * Whatever the input: hist_api_handle() answers (never fails), never with
 * a 5xx, and every JSON answer parses. Every request runs under small
 * budgets (FUZZ_LIMITS below), and going beyond them is a finding: the
 * ctest run passes -malloc_limit_mb=64 (one allocation over 64 MiB aborts
 * with libFuzzer's out-of-memory report) and -rss_limit_mb=2048, and a
 * request that runs 3 s past its 1 s time budget aborts here.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/api/hist_api.h"
#include "tests/tmpdir.h"

#define SEC INT64_C(1000000000)
#define T0  (INT64_C(1767225600) * SEC) /* 2026-01-01T00:00:00Z */

/* A fuzz target has no context to hang state on: the db lives here, opened
 * once by LLVMFuzzerInitialize and removed at exit. */
static hist_db *fuzz_db;
static char fuzz_dir[64];

static void remove_db(void)
{
    hist_db_close(fuzz_db);
    test_rm_rf(fuzz_dir);
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static void load(const char *name, hist_type type)
{
    uint32_t id;
    if (hist_tag_resolve(fuzz_db, name, strlen(name), type, true, &id) != 0)
        abort();
    int64_t ts[600];
    hist_value v[600];
    uint32_t q[600];
    for (int i = 0; i < 600; i++) {
        ts[i] = T0 + i * 60 * SEC;
        v[i].i = 0;
        if (type == HIST_TYPE_FLOAT64)
            v[i].f = 20 + (i % 37) * 0.5;
        else
            v[i].i = type == HIST_TYPE_BOOL ? (i / 50) % 2 : i * 3;
        q[i] = i % 97 == 0 ? HIST_QUALITY_BAD : HIST_QUALITY_GOOD;
    }
    hist_series s = {id, 600, ts, v, q};
    uint64_t lsn;
    if (hist_db_write(fuzz_db, &s, 1, &lsn) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    hist_db_options o;
    hist_db_options_init(&o);
    if (!test_tmpdir(fuzz_dir, sizeof fuzz_dir, "fuzz_api"))
        abort();
    o.dir = fuzz_dir;
    o.no_background = true;
    o.io = HIST_IO_SYNC;
    o.chunk_samples = 128;
    o.log = quiet;
    if (hist_db_open(&o, &fuzz_db) != 0)
        abort();
    atexit(remove_db);
    load("site1/area1/line1/cell1/temp", HIST_TYPE_FLOAT64);
    load("site1/area1/line1/cell1/count", HIST_TYPE_INT64);
    load("site1/area2/line1/cell1/running", HIST_TYPE_BOOL);
    hist_db_flush(fuzz_db); /* part sealed in chunks */
    load("site1/area1/line1/cell1/temp", HIST_TYPE_FLOAT64);
    return 0;
}

static const struct {
    const char *method, *path;
} routes[] = {
    {"GET", "/api/v1/query"},
    {"POST", "/api/v1/query"},
    {"GET", "/api/v1/tags"},
    {"PUT", "/api/v1/tags/site1/area1/line1/cell1/new"},
    {"GET", "/api/v1/tags/site1/area1/line1/cell1/temp"},
    {"GET", "/api/v1/stats"},
    {"GET", "/grafana/"},
    {"POST", "/grafana/metrics"},
    {"POST", "/grafana/metric-payload-options"},
    {"POST", "/grafana/query"},
    {"POST", "/grafana/variable"},
    {"POST", "/grafana/tag-keys"},
    {"POST", "/grafana/tag-values"},
    {"POST", "/grafana/search"},
    {"DELETE", "/api/v1/query"},
    {"GET", "/grafana/nope"},
};
static const char *const ctypes[] = {NULL, "application/json", "application/x-www-form-urlencoded",
                                     "text/plain"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t nroutes = sizeof routes / sizeof routes[0];
    char *rest = malloc(size - 2 + 1);
    memcpy(rest, data + 2, size - 2);
    rest[size - 2] = 0;
    size_t qlen = strlen(rest); /* the query string ends at the first NUL */
    const uint8_t *body = qlen < size - 2 ? (const uint8_t *)rest + qlen + 1 : NULL;
    size_t body_len = body ? size - 2 - qlen - 1 : 0;

    hist_api_request req = {
        .method = routes[data[0] % nroutes].method,
        .path = routes[data[0] % nroutes].path,
        .query = rest,
        .content_type = ctypes[data[1] % 4],
        .accept = data[1] & 4 ? "text/csv" : NULL,
        .body = body,
        .body_len = body_len,
        .scopes = HIST_SCOPE_READ | (data[1] & 8 ? HIST_SCOPE_ADMIN : 0),
        .now_ns = T0 + 86400 * SEC,
    };
    /* FUZZ_LIMITS: far below the defaults, so a request that escapes a
     * budget shows as a large allocation or a long run */
    hist_api_limits lim = {
        .max_rows = 200000, .max_bytes = 8u << 20, .timeout_ms = 1000, .max_patterns = 20};
    req.limits = &lim;
    hist_api_response resp;
    memset(&resp, 0, sizeof resp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hist_api_handle(fuzz_db, &req, &resp) != 0)
        abort();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (t1.tv_sec - t0.tv_sec > 4)
        abort(); /* ran past its time budget */
    if (resp.status == 200 && resp.body_len > lim.max_bytes)
        abort(); /* an answer over its byte budget */
    if (resp.status < 200 || resp.status >= 500)
        abort();
    if (resp.content_type && strstr(resp.content_type, "json")) {
        json_error_t err;
        json_t *j = json_loadb(resp.body, resp.body_len, JSON_DECODE_ANY, &err);
        if (!j)
            abort();
        json_decref(j);
    }
    free(resp.body);
    free(resp.headers);
    free(resp.refused_tag);
    free(resp.audit_tag);
    free(resp.audit_detail);
    free(rest);
    return 0;
}
