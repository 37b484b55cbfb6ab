/*
 * bench_namespace.c: the tag namespace at 1 k, 100 k and 1 M tags (issue 11,
 * item 4): first contact of N new tags, the RAM they hold, and the read
 * API's namespace requests over the transport-free API (query/api/hist_api.h,
 * what historiand runs for an HTTP request, without the socket).
 *
 * Names are a plant tree, five levels: site/area/line/cell/metric, with ten
 * metrics per cell (alarm, flow, ..., temp, valve, vib), ten cells per line, a hundred lines
 * per area, ten areas per site: s00/a03/l042/c07/temp. N = 1,000,000 is ten
 * sites.
 *
 * Figures (median of --runs runs, warm):
 *   namespace.tags<N>.first_contact.tags_per_s   hist_tag_resolve_many of new
 *        tags in requests of --batch names (a gateway's first batches), then
 *        one Good sample for each tag written and synced
 *   namespace.tags<N>.first_contact.resolve_tags_per_s  the same, counting
 *        only the time in hist_tag_resolve_many (one durable index txn each)
 *   namespace.tags<N>.rss_per_tag_bytes           VmRSS growth over those
 *   namespace.tags<N>.list_prefix.ms              GET /api/v1/tags, one area
 *        (prefix s00/a00/, first page of 1000)
 *   namespace.tags<N>.list_last_page.ms           the same listing's page
 *        after the last-but-one name of the last site (a deep page)
 *   namespace.tags<N>.pattern_sparse.ms           GET /api/v1/tags with a
 *        pattern over the whole tree that matches one tag per area
 *        (**\/l099/c09/vib: 0 at 1 k, 10 at 100 k, 100 at 1 M)
 *   namespace.tags<N>.latest_pattern.ms           POST /api/v1/query
 *        mode=latest for every temp of one area (1,000 tags)
 *   namespace.tags<N>.level_site.ms               GET /api/v1/tags?level=1
 *        under one site (prefix s00/: its areas, 10 from 100 k tags on)
 *   namespace.tags<N>.level_root.ms               the same at the root: the
 *        sites (1 up to 100 k tags, 10 at 1 M)
 * Each request's status must be 200 and its answer must hold the expected
 * number of tags, or the bench fails.
 *
 * Usage: bench_namespace [--tags N ...] [--batch B] [--runs R] [--dir PARENT]
 *   (--tags repeatable; default 1000 100000 1000000)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include "query/api/hist_api.h"

#define MAX_POINTS 8

/* In name order, so that tag i sorts before tag i + 1. */
static const char *const metrics[10] = {"alarm", "flow",  "level", "mode",  "power",
                                        "pres",  "speed", "temp",  "valve", "vib"};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static void tag_name(char *out, size_t cap, size_t i)
{
    snprintf(out, cap, "s%02zu/a%02zu/l%03zu/c%02zu/%s", i / 100000, i / 10000 % 10, i / 100 % 100,
             i / 10 % 10, metrics[i % 10]);
}

static void quiet(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level, (void)msg;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Creates n tags in requests of batch names and writes one sample each. */
static int first_contact(hist_db *db, size_t n, size_t batch, double *seconds, double *resolving)
{
    char(*names)[64] = malloc(batch * sizeof *names);
    hist_tag_ref *refs = malloc(batch * sizeof *refs);
    uint32_t *ids = malloc(batch * sizeof *ids);
    int *rcs = malloc(batch * sizeof *rcs);
    hist_series *series = malloc(batch * sizeof *series);
    int64_t ts = INT64_C(1767225600000000000); /* 2026-01-01 */
    hist_value v = {.f = 1.0};
    int rc = names && refs && ids && rcs && series ? 0 : HIST_ENOMEM;
    double t0 = now_s();
    for (size_t at = 0; at < n && rc == 0; at += batch) {
        size_t k = n - at < batch ? n - at : batch;
        for (size_t j = 0; j < k; j++) {
            tag_name(names[j], sizeof names[j], at + j);
            refs[j] = (hist_tag_ref){names[j], strlen(names[j]), HIST_TYPE_FLOAT64};
        }
        double r0 = now_s();
        rc = hist_tag_resolve_many(db, refs, k, true, ids, rcs);
        *resolving += now_s() - r0;
        for (size_t j = 0; j < k && rc == 0; j++) {
            if (rcs[j] < 0)
                rc = rcs[j];
            series[j] = (hist_series){ids[j], 1, &ts, &v, NULL};
        }
        uint64_t lsn;
        if (rc == 0)
            rc = hist_db_write(db, series, k, &lsn);
        if (rc == 0)
            rc = hist_db_sync(db, lsn);
    }
    *seconds = now_s() - t0;
    free(names), free(refs), free(ids), free(rcs), free(series);
    return rc;
}

/* Counts occurrences of key (with its quotes) in a JSON answer: the tags
 * listed ("name" in a tag list, "tag" in a latest answer). */
static size_t count_key(const char *body, size_t len, const char *key)
{
    size_t c = 0, kl = strlen(key);
    const char *end = body + len;
    for (const char *p = body; p && p < end; p++) {
        p = memmem(p, (size_t)(end - p), key, kl);
        if (!p)
            break;
        c++;
    }
    return c;
}

/* One API request; its time in ms, or -1 (printed why) when the status is
 * not 200 or the answer does not list want tags. */
static double timed_request(hist_db *db, const char *method, const char *path, const char *query,
                            const char *body, size_t want, const char *what)
{
    hist_api_request req = {.method = method,
                            .path = path,
                            .query = query,
                            .content_type = body ? "application/json" : NULL,
                            .body = (const uint8_t *)body,
                            .body_len = body ? strlen(body) : 0,
                            .scopes = HIST_SCOPE_READ,
                            .now_ns = INT64_C(1767229200000000000)};
    hist_api_response resp = {0};
    double t0 = now_s();
    int rc = hist_api_handle(db, &req, &resp);
    double ms = (now_s() - t0) * 1e3;
    const char *key = strcmp(path, "/api/v1/tags") ? "\"tag\"" : "\"name\"";
    size_t got = rc == 0 && resp.body ? count_key(resp.body, resp.body_len, key) : 0;
    if (rc != 0 || resp.status != 200 || got != want) {
        fprintf(stderr, "bench_namespace: %s: rc %d status %d, %zu tags (want %zu): %.200s\n", what,
                rc, resp.status, got, want, resp.body ? resp.body : "");
        ms = -1;
    }
    free(resp.body);
    free(resp.headers);
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of runs requests, or -1 if one failed. */
static double median_ms(hist_db *db, int runs, const char *method, const char *path,
                        const char *query, const char *body, size_t want, const char *what)
{
    double t[64];
    if (runs > 64)
        runs = 64;
    for (int r = 0; r < runs; r++)
        if ((t[r] = timed_request(db, method, path, query, body, want, what)) < 0)
            return -1;
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    return t[runs / 2];
}

static int run_point(const char *parent, size_t n, size_t batch, int runs)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bench_namespace_XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    hist_db_options o;
    hist_db_options_init(&o);
    o.dir = dir;
    o.log = quiet;
    hist_db *db;
    int rc = hist_db_open(&o, &db);
    if (rc < 0) {
        fprintf(stderr, "bench_namespace: open %s: %s\n", dir, hist_strerror(rc));
        return 1;
    }
    long rss0 = rss_kib();
    double secs, resolving = 0;
    rc = first_contact(db, n, batch, &secs, &resolving);
    long rss1 = rss_kib();
    if (rc < 0) {
        fprintf(stderr, "bench_namespace: first contact: %s\n", hist_strerror(rc));
        hist_db_close(db);
        return 1;
    }
    printf("namespace.tags%zu.first_contact.tags_per_s %.0f tags/s\n", n, (double)n / secs);
    printf("namespace.tags%zu.first_contact.resolve_tags_per_s %.0f tags/s\n", n,
           (double)n / resolving);
    printf("namespace.tags%zu.rss_per_tag_bytes %.0f B\n", n, (double)(rss1 - rss0) * 1024 / n);

    /* Requests; what each must list depends on n (an area holds 10,000). */
    size_t area = n < 10000 ? n : 10000;
    size_t page = area < 1000 ? area : 1000;
    size_t area_n = n < 100000 ? n : 100000; /* the tags of site s00 */
    char last[64], after[128];
    tag_name(last, sizeof last, n - 2);
    snprintf(after, sizeof after, "prefix=s%02zu/&after=%s&limit=1000", (n - 1) / 100000, last);
    const char *sparse = "pattern=**/l099/c09/vib&limit=1000"; /* one tag per whole area */
    size_t sparse_want = n / 10000;
    char latest[256];
    snprintf(latest, sizeof latest,
             "{\"pattern\": \"s00/a00/**/temp\", \"mode\": \"latest\", "
             "\"from\": 1767225600000, \"to\": 1767229200000}");
    struct {
        const char *name, *method, *path, *query, *body;
        size_t want;
    } req[] = {
        {"list_prefix", "GET", "/api/v1/tags", "prefix=s00/a00/&limit=1000", NULL, page},
        {"list_last_page", "GET", "/api/v1/tags", after, NULL, 1},
        {"pattern_sparse", "GET", "/api/v1/tags", sparse, NULL, sparse_want},
        {"latest_pattern", "POST", "/api/v1/query", "", latest, area / 10},
        {"level_site", "GET", "/api/v1/tags", "prefix=s00/&level=1", NULL, (area_n + 9999) / 10000},
        {"level_root", "GET", "/api/v1/tags", "level=1", NULL, (n + 99999) / 100000},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        double ms = median_ms(db, runs, req[i].method, req[i].path, req[i].query, req[i].body,
                              req[i].want, req[i].name);
        if (ms < 0)
            failed = 1;
        else
            printf("namespace.tags%zu.%s.ms %.3f ms\n", n, req[i].name, ms);
        fflush(stdout);
    }
    hist_db_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}

int main(int argc, char **argv)
{
    size_t points[MAX_POINTS], npoints = 0, batch = 5000;
    int runs = 5;
    const char *parent = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tags") && i + 1 < argc && npoints < MAX_POINTS)
            points[npoints++] = (size_t)atoll(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = (size_t)atoll(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            parent = argv[++i];
        else {
            fprintf(stderr, "usage: bench_namespace [--tags N ...] [--batch B] [--runs R] "
                            "[--dir PARENT]\n");
            return 2;
        }
    }
    if (npoints == 0) {
        points[npoints++] = 1000;
        points[npoints++] = 100000;
        points[npoints++] = 1000000;
    }
    if (batch == 0 || runs < 1)
        return 2;
    int failed = 0;
    for (size_t i = 0; i < npoints; i++) {
        if (points[i] < 1000 || points[i] % 1000) {
            fprintf(stderr, "bench_namespace: --tags must be a multiple of 1000\n");
            return 2;
        }
        failed |= run_point(parent, points[i], batch, runs);
    }
    return failed;
}
