/*
 * api_fixture.h: what the API tests share: a temporary data directory with
 * four tags of two hours at 1 Hz (the first hour sealed into chunks, the
 * second in the memtable, a Bad sample now and then), and calls of
 * hist_api_handle() whose JSON answers are parsed with jansson.
 *
 * A header of static inline functions, not a library: the CHECK counters of
 * check.h live in each test program's own file.
 */
#ifndef HIST_TESTS_API_FIXTURE_H
#define HIST_TESTS_API_FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "query/api/hist_api.h"
#include "query/hist_query.h"

#define NS INT64_C(1000000000)
#define MS INT64_C(1000000)
static const int64_t T0 = INT64_C(1767225600) * NS; /* 2026-01-01T00:00:00Z */
#define NSAMPLES 7200                               /* 2 h at 1 Hz */

static hist_db *db;
static char dir[64];

static const char *const TAGS[] = {
    "site1/area1/line1/cell1/temp",  /* float64, degC */
    "site1/area1/line1/cell1/run",   /* bool */
    "site1/area2/line1/cell2/count", /* int64 */
    "site2/area1/line1/cell1/temp",  /* float64 */
};
static const hist_type TYPES[] = {HIST_TYPE_FLOAT64, HIST_TYPE_BOOL, HIST_TYPE_INT64,
                                  HIST_TYPE_FLOAT64};
static uint32_t ids[4];

static inline hist_value value_of(int tag, int i)
{
    hist_value v;
    switch (TYPES[tag]) {
    case HIST_TYPE_FLOAT64:
        v.f = 20.0 + 0.1 * (i % 100) + tag;
        break;
    case HIST_TYPE_BOOL:
        v.i = (i / 300) % 2;
        break;
    default:
        v.i = (int64_t)i * 3 + 1000000000000LL;
    }
    return v;
}

static inline void load_data(void)
{
    for (int t = 0; t < 4; t++) {
        CHECK_OK(hist_tag_resolve(db, TAGS[t], strlen(TAGS[t]), TYPES[t], true, &ids[t]));
    }
    hist_tag_info info;
    CHECK_OK(hist_tag_by_name(db, TAGS[0], &info));
    snprintf(info.unit, sizeof info.unit, "degC");
    snprintf(info.description, sizeof info.description, "Reactor \"A\" temperature");
    CHECK_OK(hist_tag_put(db, &info));

    int64_t *ts = malloc(NSAMPLES * sizeof *ts);
    hist_value *v = malloc(NSAMPLES * sizeof *v);
    uint32_t *q = malloc(NSAMPLES * sizeof *q);
    REQUIRE(ts && v && q);
    for (int half = 0; half < 2; half++) {
        for (int t = 0; t < 4; t++) {
            int n = 0;
            for (int i = half * NSAMPLES / 2; i < (half + 1) * NSAMPLES / 2; i++, n++) {
                ts[n] = T0 + (int64_t)i * NS;
                v[n] = value_of(t, i);
                q[n] = (i % 997 == 5) ? HIST_QUALITY_BAD : HIST_QUALITY_GOOD;
            }
            hist_series s = {.tag = ids[t], .n = (size_t)n, .ts = ts, .v = v, .q = q};
            uint64_t lsn;
            CHECK_OK(hist_db_write(db, &s, 1, &lsn));
            CHECK_OK(hist_db_sync(db, lsn));
        }
        if (half == 0)
            CHECK_OK(hist_db_flush(db)); /* the first hour sealed, the second in memory */
    }
    free(ts);
    free(v);
    free(q);
}

/* ---- Calling the API ------------------------------------------------------------- */

typedef struct {
    hist_api_response r;
    json_t *json;
} answer;

static inline void answer_free(answer *a)
{
    free(a->r.body);
    free(a->r.headers);
    json_decref(a->json);
    memset(a, 0, sizeof *a);
}

static inline answer call(const char *method, const char *path, const char *query,
                          const char *ctype, const char *body, unsigned scopes)
{
    hist_api_request req = {
        .method = method,
        .path = path,
        .query = query ? query : "",
        .content_type = ctype,
        .accept = NULL,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .scopes = scopes,
        .now_ns = T0 + 2 * 3600 * NS,
    };
    answer a;
    memset(&a, 0, sizeof a);
    int rc = hist_api_handle(db, &req, &a.r);
    CHECKF(rc == 0, "hist_api_handle %s %s?%s: %d", method, path, query ? query : "", rc);
    CHECK(a.r.body != NULL);
    if (a.r.content_type && !strncmp(a.r.content_type, "application/json", 16) && a.r.body) {
        json_error_t err;
        a.json = json_loadb(a.r.body, a.r.body_len, 0, &err);
        CHECKF(a.json != NULL, "invalid JSON from %s %s: %s", method, path, err.text);
    }
    return a;
}

static inline answer get(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline answer get(const char *path, const char *fmt, ...)
{
    char q[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return call("GET", path, q, NULL, NULL, HIST_SCOPE_READ);
}

static inline answer post_json(const char *path, const char *body)
{
    return call("POST", path, "", "application/json", body, HIST_SCOPE_READ);
}

/* Expects a 400 naming param. */
static inline void expect_400(const char *query, const char *param)
{
    answer a = get("/api/v1/query", "%s", query);
    CHECKF(a.r.status == 400, "%s: status %d", query, a.r.status);
    const char *p = json_string_value(json_object_get(a.json, "param"));
    CHECKF(p && !strcmp(p, param), "%s: param %s, want %s (%.300s)", query, p ? p : "null", param,
           a.r.body);
    CHECK(json_is_string(json_object_get(a.json, "error")));
    answer_free(&a);
}

static inline const char *header(const answer *a, const char *name, char *out, size_t cap)
{
    if (!a->r.headers)
        return NULL;
    size_t n = strlen(name);
    for (const char *p = a->r.headers; *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (!strncmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

static inline double num(json_t *v)
{
    return json_is_null(v) ? NAN : json_number_value(v);
}

static inline bool same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Opens the temporary data directory and loads the data. */
static inline void fixture_open(void)
{
    snprintf(dir, sizeof dir, "/tmp/hist_test_api_XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    hist_db_options opts;
    hist_db_options_init(&opts);
    opts.dir = dir;
    opts.no_background = true;
    opts.io = HIST_IO_SYNC;
    opts.log_level = HIST_LOG_WARN;
    REQUIRE(hist_db_open(&opts, &db) == 0);
    load_data();
}

static inline void fixture_close(void)
{
    CHECK_OK(hist_db_close(db));
    CHECK(test_rm_rf(dir) == 0);
}

#endif
