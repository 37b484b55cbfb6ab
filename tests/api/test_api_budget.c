/*
 * test_api_budget.c: every read request runs under its budgets (query/api/
 * budget.c), and each attack of issue 12 section 4 is refused by them with
 * an error naming the limit and the figure, after which the next request
 * is answered as usual:
 *   - a nested-bound regex in a Grafana ad hoc filter (regcomp took 6.8 s
 *     and 3.35 GiB): refused at once by regex.c's size limit;
 *   - /grafana/query targets over the row budget together, not each;
 *   - calendar buckets counted one row each (day buckets 1800-2099);
 *   - more tag patterns than max_patterns, in /api/v1/query and Grafana;
 *   - a range of 350 years (int64 overflow of to - from);
 *   - ?tag=T%00junk;
 *   - the time budget (timeout_ms) and the answer's bytes (max_bytes);
 *   - the values percentiles hold (max_bytes / 8).
 */
#include <time.h>

#include "api_fixture.h"

static answer call_lim(const char *method, const char *path, const char *query, const char *body,
                       const hist_api_limits *lim)
{
    hist_api_request req = {
        .method = method,
        .path = path,
        .query = query ? query : "",
        .content_type = body ? "application/json" : NULL,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .scopes = HIST_SCOPE_READ,
        .now_ns = T0 + 2 * 3600 * NS,
        .limits = lim,
    };
    answer a;
    memset(&a, 0, sizeof a);
    CHECK_OK(hist_api_handle(db, &req, &a.r));
    if (a.r.body && a.r.content_type && !strncmp(a.r.content_type, "application/json", 16))
        a.json = json_loadb(a.r.body, a.r.body_len, 0, NULL);
    return a;
}

/* Expects status and the limit named; returns the figure ("value"). */
static uint64_t expect_limit(answer *a, int status, const char *limit, const char *what)
{
    CHECKF(a->r.status == status, "%s: status %d, want %d: %.300s", what, a->r.status, status,
           a->r.body ? a->r.body : "");
    const char *l = json_string_value(json_object_get(a->json, "limit"));
    CHECKF(l && !strcmp(l, limit), "%s: limit %s, want %s", what, l ? l : "(none)", limit);
    json_t *v = json_object_get(a->json, "value"), *m = json_object_get(a->json, "max");
    CHECKF(json_is_integer(v) && json_is_integer(m) &&
               json_integer_value(v) > json_integer_value(m),
           "%s: value and max missing or value <= max", what);
    const char *e = json_string_value(json_object_get(a->json, "error"));
    CHECKF(e && strstr(e, limit), "%s: the message does not name %s: %s", what, limit,
           e ? e : "(none)");
    uint64_t value = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
    answer_free(a);
    return value;
}

/* The server goes on: a small query answers 200 with its rows. */
static void still_answers(const char *after)
{
    answer a = get("/api/v1/query", "tag=%s&mode=latest", TAGS[0]);
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 1, "after %s: status %d", after,
           a.r.status);
    answer_free(&a);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_regex_filter(void)
{
    double t0 = now_s();
    answer a = post_json("/grafana/variable",
                         "{\"payload\":{\"pattern\":\"**\"},\"adhocFilters\":[{\"key\":\"signal\","
                         "\"operator\":\"=~\",\"value\":\"((((a{1,50}){1,50}){1,50}){1,50})\"}]}");
    double dt = now_s() - t0;
    CHECKF(a.r.status == 400, "nested regex: status %d", a.r.status);
    const char *e = json_string_value(json_object_get(a.json, "error"));
    CHECKF(e && strstr(e, "1024 instructions"), "nested regex: %s", e ? e : "(none)");
    CHECKF(dt < 0.5, "nested regex took %.2f s", dt);
    answer_free(&a);
    /* a pattern over the length limit */
    char body[1024];
    char pat[300];
    memset(pat, 'a', 299);
    pat[299] = '\0';
    snprintf(body, sizeof body,
             "{\"payload\":{\"pattern\":\"**\"},\"adhocFilters\":[{\"key\":\"signal\","
             "\"operator\":\"=~\",\"value\":\"%s\"}]}",
             pat);
    a = post_json("/grafana/variable", body);
    CHECKF(a.r.status == 400 && strstr(a.r.body, "256 bytes"), "long regex: %d %.200s", a.r.status,
           a.r.body);
    answer_free(&a);
    /* an ordinary one still filters: temp and count of the four tags */
    a = post_json("/grafana/variable",
                  "{\"payload\":{\"pattern\":\"**\"},\"adhocFilters\":[{\"key\":\"signal\","
                  "\"operator\":\"=~\",\"value\":\"te.p|c[aeiou]unt\"}]}");
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 3, "regex filter: %d, %zu items",
           a.r.status, json_array_size(a.json));
    answer_free(&a);
    a = post_json("/grafana/variable",
                  "{\"payload\":{\"pattern\":\"**\"},\"adhocFilters\":[{\"key\":\"signal\","
                  "\"operator\":\"!~\",\"value\":\"te.p|c[aeiou]unt\"}]}");
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 1, "!~ filter: %d, %zu items",
           a.r.status, json_array_size(a.json));
    answer_free(&a);
    still_answers("the regex filters");
}

/* 400 targets of 1 ms interpolation over 1,000 s: 2.09 GiB, then a 500. */
static void test_grafana_rows(void)
{
    size_t cap = 400 * 160 + 256, k = 0;
    char *body = malloc(cap);
    REQUIRE(body);
    k += (size_t)snprintf(body + k, cap - k,
                          "{\"range\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":"
                          "\"2026-01-01T00:16:40Z\"},\"targets\":[");
    for (int i = 0; i < 400; i++)
        k += (size_t)snprintf(body + k, cap - k,
                              "%s{\"refId\":\"A%d\",\"target\":\"%s\",\"payload\":{\"mode\":"
                              "\"interp\",\"step\":\"1ms\"}}",
                              i ? "," : "", i, TAGS[i % 4]);
    snprintf(body + k, cap - k, "]}");
    double t0 = now_s();
    answer a = post_json("/grafana/query", body);
    uint64_t v = expect_limit(&a, 400, "max_rows", "400 targets");
    CHECKF(v > 20000000, "400 targets: value %llu", (unsigned long long)v);
    CHECKF(now_s() - t0 < 10, "400 targets took %.1f s", now_s() - t0);
    free(body);
    /* Two targets, each under the budget, over it together. */
    hist_api_limits lim;
    hist_api_limits_init(&lim);
    lim.max_rows = 10000;
    const char *two =
        "{\"range\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T02:00:00Z\"},"
        "\"targets\":[{\"refId\":\"A\",\"target\":\"site1/area1/line1/cell1/temp\",\"payload\":{"
        "\"mode\":\"raw\",\"limit\":\"7000\"}},{\"refId\":\"B\",\"target\":\"site2/area1/line1/"
        "cell1/temp\",\"payload\":{\"mode\":\"raw\",\"limit\":\"7000\"}}]}";
    a = call_lim("POST", "/grafana/query", "", two, &lim);
    CHECK_EQ_I64(expect_limit(&a, 400, "max_rows", "two targets together"), 14000);
    lim.max_rows = 14000; /* exactly enough */
    a = call_lim("POST", "/grafana/query", "", two, &lim);
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 2, "two targets: %d", a.r.status);
    answer_free(&a);
    still_answers("the Grafana row budget");
}

/* Calendar buckets: every bucket a row (it was one per tag). */
static void test_calendar_rows(void)
{
    hist_api_limits lim;
    hist_api_limits_init(&lim);
    lim.max_rows = 100000;
    const char *q = "pattern=**&mode=agg&bucket=day&from=1800-01-01T00:00:00Z"
                    "&to=2099-12-31T00:00:00Z";
    answer a = call_lim("GET", "/api/v1/query", q, NULL, &lim);
    uint64_t v = expect_limit(&a, 400, "max_rows", "day buckets 1800-2099");
    /* 109,572 days in four tags: the bound counts 23-hour days */
    CHECKF(v >= 4 * 109572 && v <= 4 * 115000, "day buckets: %llu rows", (unsigned long long)v);
    a = call_lim("GET", "/api/v1/query",
                 "pattern=**&mode=agg&bucket=month&from=1800-01-01T00:00:00Z"
                 "&to=2099-12-31T00:00:00Z&tz=Europe/Berlin",
                 NULL, &lim);
    CHECKF(a.r.status == 200, "month buckets 1800-2099 (14,400 rows): %d %.200s", a.r.status,
           a.r.body);
    answer_free(&a);
    lim.max_rows = 10000;
    a = call_lim("GET", "/api/v1/query",
                 "pattern=**&mode=agg&bucket=month&from=1800-01-01T00:00:00Z"
                 "&to=2099-12-31T00:00:00Z",
                 NULL, &lim);
    expect_limit(&a, 400, "max_rows", "month buckets");
    a = call_lim("GET", "/api/v1/query",
                 "pattern=**&mode=agg&bucket=week&from=1900-01-01T00:00:00Z"
                 "&to=2099-12-31T00:00:00Z",
                 NULL, &lim);
    expect_limit(&a, 400, "max_rows", "week buckets");
    still_answers("the calendar buckets");
}

static void test_patterns(void)
{
    size_t cap = 200 * 40, k = 0;
    char *q = malloc(cap);
    REQUIRE(q);
    k += (size_t)snprintf(q, cap, "mode=latest&tag=%s", TAGS[0]);
    for (int i = 0; i < 101; i++)
        k += (size_t)snprintf(q + k, cap - k, "&pattern=zz%d*", i);
    answer a = get("/api/v1/query", "%s", q);
    CHECK_EQ_I64(expect_limit(&a, 400, "max_patterns", "101 patterns"), 101);
    /* 100 are within the budget */
    char *last = strrchr(q, '&');
    *last = '\0';
    a = get("/api/v1/query", "%s", q);
    CHECKF(a.r.status == 200, "100 patterns: %d %.200s", a.r.status, a.r.body);
    answer_free(&a);
    /* the same budget for Grafana's {a,b,...} targets */
    k = (size_t)snprintf(q, cap, "{\"targets\":[{\"refId\":\"A\",\"target\":\"{");
    for (int i = 0; i < 101; i++)
        k += (size_t)snprintf(q + k, cap - k, "%szz%d*", i ? "," : "", i);
    snprintf(q + k, cap - k, "}\"}]}");
    a = post_json("/grafana/query", q);
    expect_limit(&a, 400, "max_patterns", "101 Grafana patterns");
    free(q);
    still_answers("the pattern budget");
}

/* About 350 years: (uint64_t)(to - from) overflowed int64 (UBSan aborted). */
static void test_long_range(void)
{
    const char *modes[] = {"mode=interp&points=10", "mode=agg&points=10", "mode=plot&points=10",
                           "mode=raw&limit=10", "mode=agg&bucket=month&fill=none"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        answer a =
            get("/api/v1/query", "tag=%s&%s&from=1800-01-01T00:00:00Z&to=2150-01-01T00:00:00Z",
                TAGS[0], modes[i]);
        CHECKF(a.r.status == 200, "%s over 350 years: %d %.200s", modes[i], a.r.status, a.r.body);
        answer_free(&a);
    }
    /* interp points=10: the step is a tenth of the (unsigned) span, 35 years */
    answer a = get("/api/v1/query",
                   "tag=%s&mode=interp&points=10&from=1800-01-01T00:00:00Z"
                   "&to=2150-01-01T00:00:00Z",
                   TAGS[0]);
    CHECKF(json_array_size(a.json) == 10, "interp points=10: %zu rows", json_array_size(a.json));
    answer_free(&a);
    /* the same through Grafana: a plot (its default) and an interpolation */
    a = post_json("/grafana/query",
                  "{\"range\":{\"from\":\"1800-01-01T00:00:00Z\",\"to\":\"2150-01-01T00:00:00Z\"},"
                  "\"maxDataPoints\":50,\"targets\":[{\"refId\":\"A\",\"target\":\"**\"},"
                  "{\"refId\":\"B\",\"target\":\"site1/**\",\"payload\":{\"mode\":\"interp\"}}]}");
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 7, "Grafana over 350 years: %d %.200s",
           a.r.status, a.r.body);
    answer_free(&a);
    still_answers("the long range");
}

static void test_nul(void)
{
    answer a = get("/api/v1/query", "tag=%s%%00junk&mode=latest", TAGS[0]);
    CHECKF(a.r.status == 400, "%%00 in tag: %d %.200s", a.r.status, a.r.body);
    const char *p = json_string_value(json_object_get(a.json, "param"));
    CHECK(p && !strcmp(p, "tag"));
    CHECK(strstr(a.r.body, "NUL"));
    answer_free(&a);
    still_answers("%00");
}

static void test_time_and_bytes(void)
{
    hist_api_limits lim;
    hist_api_limits_init(&lim);
    lim.timeout_ms = 1;
    /* 4 tags x 720,000 interpolated points: far more than 1 ms of work */
    answer a = call_lim("GET", "/api/v1/query",
                        "pattern=**&mode=interp&step=10ms&from=2026-01-01T00:00:00Z"
                        "&to=2026-01-01T02:00:00Z",
                        NULL, &lim);
    expect_limit(&a, 422, "timeout_ms", "1 ms time budget");
    hist_api_limits_init(&lim);
    lim.max_bytes = 1000;
    a = call_lim("GET", "/api/v1/query", "tag=site1/area1/line1/cell1/temp&limit=100", NULL, &lim);
    uint64_t v = expect_limit(&a, 413, "max_bytes", "1000-byte answer budget");
    CHECKF(v > 1000, "bytes %llu", (unsigned long long)v);
    lim.max_bytes = 1000;
    a = call_lim(
        "POST", "/grafana/query", "",
        "{\"range\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T02:00:00Z\"},"
        "\"targets\":[{\"refId\":\"A\",\"target\":\"**\",\"payload\":{\"mode\":\"raw\"}}]}",
        &lim);
    expect_limit(&a, 413, "max_bytes", "Grafana answer bytes");
    still_answers("the time and byte budgets");
}

/* Percentiles hold a bucket's values, 8 bytes each, within max_bytes: an
 * hour of 1 s samples (3,600 values) over a 4,000-byte budget (500 values)
 * is a 400 naming agg and max_bytes; minute buckets (60 values) answer. */
static void test_percentile_values(void)
{
    hist_api_limits lim;
    hist_api_limits_init(&lim);
    lim.max_bytes = 4000;
    answer a = call_lim("GET", "/api/v1/query",
                        "tag=site1/area1/line1/cell1/temp&agg=mean,p90&step=1h"
                        "&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z",
                        NULL, &lim);
    const char *p = json_string_value(json_object_get(a.json, "param"));
    CHECKF(p && !strcmp(p, "agg"), "param %s", p ? p : "(none)");
    json_incref(a.json);
    json_t *keep = a.json;
    uint64_t v = expect_limit(&a, 400, "max_bytes", "percentile values over max_bytes / 8");
    CHECKF(v == 501 && json_integer_value(json_object_get(keep, "max")) == 500,
           "value %llu (want 501), max %lld (want 500)", (unsigned long long)v,
           (long long)json_integer_value(json_object_get(keep, "max")));
    json_decref(keep);
    a = call_lim("GET", "/api/v1/query",
                 "tag=site1/area1/line1/cell1/temp&agg=p90&step=1m"
                 "&from=2026-01-01T00:00:00Z&to=2026-01-01T00:05:00Z",
                 NULL, &lim);
    CHECKF(a.r.status == 200 && json_array_size(a.json) == 5, "minute p90: %d %.200s", a.r.status,
           a.r.body ? a.r.body : "");
    answer_free(&a);
    still_answers("the percentile values budget");
}

/* A pathological glob over many names: the request's deadline ends the
 * tag walk with a 422 naming timeout_ms; without it the walk would spend
 * its per-name step budget on each of the 5,000 names and answer 200. */
static void test_glob_walk_deadline(void)
{
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "aaaa/aaaaaaaa/aaaaaaaaaaaa/t%05d", i);
        uint32_t id;
        CHECK_OK(hist_tag_resolve(db, name, strlen(name), HIST_TYPE_FLOAT64, true, &id));
    }
    hist_api_limits lim;
    hist_api_limits_init(&lim);
    lim.timeout_ms = 50;
    answer a = call_lim("GET", "/api/v1/tags", "pattern=**a**a**a**a**a**a**a**a**c**", NULL, &lim);
    expect_limit(&a, 422, "timeout_ms", "a pathological glob over 5,000 names");
    a = call_lim("GET", "/api/v1/query", "mode=latest&pattern=**a**a**a**a**a**a**a**a**c**", NULL,
                 &lim);
    expect_limit(&a, 422, "timeout_ms", "the same glob as a query pattern");
    still_answers("the glob walk's deadline");
}

int main(void)
{
    fixture_open();
    test_regex_filter();
    test_grafana_rows();
    test_calendar_rows();
    test_patterns();
    test_long_range();
    test_nul();
    test_time_and_bytes();
    test_percentile_values();
    test_glob_walk_deadline(); /* last: it adds 5,000 tags */
    fixture_close();
    return check_summary();
}
