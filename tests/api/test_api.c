/*
 * test_api.c: the HTTP read API through hist_api_handle() on a temporary
 * data directory (some data sealed into chunks, some still in the memtable).
 *
 * Answers are parsed with jansson and compared point by point with what
 * hist_query_run returns for the same spec; every malformed parameter must
 * give a 400 naming that parameter; scopes give 403. The Grafana endpoints
 * are test_api_grafana.c; the data both use is api_fixture.h.
 */
#include "api_fixture.h"

/* ---- /api/v1/query ---------------------------------------------------------------- */

static void test_raw_matches_engine(void)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_RAW;
    spec.from = T0 + 3000 * NS;
    spec.to = T0 + 4200 * NS; /* spans the sealed and the memtable part */
    spec.limit = 100000;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, ids, 3, &res) == 0);

    answer a = get("/api/v1/query",
                   "tag=%s&tag=%s&tag=%s&from=2026-01-01T00:50:00Z&to=2026-01-01T01:10:00Z"
                   "&mode=raw&time_format=ns",
                   "site1%2Farea1%2Fline1%2Fcell1%2Ftemp", "site1/area1/line1/cell1/run",
                   "site1/area2/line1/cell2/count");
    CHECK(a.r.status == 200);
    REQUIRE(json_is_array(a.json));
    size_t want_rows = 0;
    for (size_t s = 0; s < res.nseries; s++)
        want_rows += res.series[s].n;
    CHECK(want_rows == 3 * 1200);
    CHECK(json_array_size(a.json) == want_rows);
    size_t row = 0, mismatches = 0;
    for (size_t s = 0; s < res.nseries; s++) {
        const hist_series_result *sr = &res.series[s];
        for (size_t r = 0; r < sr->n; r++, row++) {
            json_t *o = json_array_get(a.json, row);
            const char *tag = json_string_value(json_object_get(o, "tag"));
            json_t *jv = json_object_get(o, "value");
            bool ok = tag && !strcmp(tag, TAGS[s]) &&
                      json_integer_value(json_object_get(o, "time")) == sr->ts[r] &&
                      (uint32_t)json_integer_value(json_object_get(o, "quality")) == sr->q[r];
            if (sr->type == HIST_TYPE_FLOAT64)
                ok = ok && json_number_value(jv) == sr->value[r].f;
            else
                ok = ok && json_is_integer(jv) && json_integer_value(jv) == sr->value[r].i;
            mismatches += !ok;
        }
    }
    CHECKF(mismatches == 0, "%zu rows differ from hist_query_run", mismatches);
    answer_free(&a);
    hist_result_free(&res);

    /* Default time format: epoch ms; relative times against the request's now. */
    a = get("/api/v1/query", "tag=%s&from=-10s&to=now", TAGS[0]);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 10);
    json_t *first = json_array_get(a.json, 0);
    CHECK(json_integer_value(json_object_get(first, "time")) == (T0 + 7190 * NS) / MS);
    CHECK(strstr(a.r.content_type, "application/json") != NULL);
    answer_free(&a);
}

static void test_limit_and_cursor(void)
{
    char next[256], q[512];
    size_t total = 0, pages = 0;
    snprintf(q, sizeof q,
             "tag=%s&tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T00:10:00Z&limit=250", TAGS[0],
             TAGS[2]);
    answer a = get("/api/v1/query", "%s", q);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 500);
    CHECK(header(&a, "X-Historian-Next", next, sizeof next) != NULL);
    int64_t last_ts = -1;
    for (;;) {
        pages++;
        size_t n = json_array_size(a.json);
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_array_get(a.json, i);
            if (!strcmp(json_string_value(json_object_get(o, "tag")), TAGS[0])) {
                int64_t t = json_integer_value(json_object_get(o, "time"));
                CHECK(t > last_ts); /* no repeats across pages */
                last_ts = t;
            }
        }
        total += n;
        if (!header(&a, "X-Historian-Next", next, sizeof next) || pages > 20)
            break;
        answer_free(&a);
        a = get("/api/v1/query", "%s&cursor=%s", q, next);
        CHECK(a.r.status == 200);
    }
    answer_free(&a);
    CHECK(total == 2 * 600);
    CHECK(pages == 3);
}

static void test_aggregate(void)
{
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_AGG;
    spec.from = T0;
    spec.to = T0 + 7200 * NS;
    spec.step_ns = 600 * NS;
    spec.aggs[0] = HIST_AGG_MIN;
    spec.aggs[1] = HIST_AGG_MAX;
    spec.aggs[2] = HIST_AGG_TWA;
    spec.aggs[3] = HIST_AGG_COUNT;
    spec.naggs = 4;
    spec.fill = HIST_FILL_NULL;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, ids, 1, &res) == 0);
    answer a = get("/api/v1/query",
                   "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&mode=aggregate"
                   "&agg=min,max&agg=twa,count&step=10m",
                   TAGS[0]);
    CHECK(a.r.status == 200);
    REQUIRE(json_is_array(a.json));
    CHECK(json_array_size(a.json) == res.series[0].n);
    CHECK(res.series[0].n == 12);
    static const char *const names[] = {"min", "max", "twa", "count"};
    size_t bad = 0;
    for (size_t r = 0; r < res.series[0].n && r < json_array_size(a.json); r++) {
        json_t *o = json_array_get(a.json, r);
        bad += json_integer_value(json_object_get(o, "time")) != res.series[0].ts[r] / MS;
        bad += json_integer_value(json_object_get(o, "time_end")) != res.series[0].ts_end[r] / MS;
        for (int k = 0; k < 4; k++)
            bad += !same(num(json_object_get(o, names[k])), res.series[0].col[k][r]);
        bad += json_object_get(o, "value") != NULL;
    }
    CHECKF(bad == 0, "%zu aggregate fields differ", bad);
    hist_result_free(&res);
    answer_free(&a);

    /* Spaces around names are fine. */
    a = get("/api/v1/query",
            "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&agg=min,%%20max%%20"
            "&step=1h",
            TAGS[0]);
    CHECK(a.r.status == 200 && json_is_number(json_object_get(json_array_get(a.json, 0), "max")));
    answer_free(&a);
    /* agg alone implies mode aggregate; a calendar bucket needs no step. */
    a = get("/api/v1/query",
            "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&agg=mean"
            "&bucket=hour",
            TAGS[0]);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 2);
    CHECK(json_is_number(json_object_get(json_array_get(a.json, 0), "mean")));
    answer_free(&a);

    /* Shift buckets in a named zone: 3 shifts a day. */
    a = get("/api/v1/query",
            "tag=%s&from=2025-12-31T22:00:00Z&to=2026-01-01T22:00:00Z&agg=twa"
            "&shifts=06:00,14:00,22:00&tz=Europe/Berlin&fill=none",
            TAGS[0]);
    CHECKF(a.r.status == 200, "%s", a.r.body);
    CHECK(json_array_size(a.json) >= 1);
    answer_free(&a);
}

static void test_other_modes(void)
{
    answer a = get("/api/v1/query", "tag=%s&tag=%s&mode=latest", TAGS[0], TAGS[2]);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 2);
    json_t *o = json_array_get(a.json, 1);
    CHECK(json_integer_value(json_object_get(o, "time")) == (T0 + (NSAMPLES - 1) * NS) / MS);
    CHECK(json_integer_value(json_object_get(o, "value")) == value_of(2, NSAMPLES - 1).i);
    answer_free(&a);

    a = get("/api/v1/query",
            "tag=%s&mode=interp&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z&step=10s",
            TAGS[0]);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 6);
    answer_free(&a);

    /* points over a span of more than INT64_MAX ns (350 years): the step
     * is capped, not overflowed into a negative one (fuzz_api found the
     * answer "18446744073709551615 rows per tag") */
    for (int pts = 1; pts <= 3; pts++) {
        a = get("/api/v1/query",
                "tag=%s&mode=interp&points=%d&from=1800-01-01T00:00:00Z&to=2150-01-01T15:00:00Z",
                TAGS[0], pts);
        CHECKF(a.r.status == 200 && json_array_size(a.json) >= (size_t)pts &&
                   json_array_size(a.json) <= (size_t)pts + 1,
               "points=%d: %d, %zu rows", pts, a.r.status, json_array_size(a.json));
        answer_free(&a);
    }

    a = get("/api/v1/query",
            "tag=%s&mode=plot&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z"
            "&points=100",
            TAGS[0]);
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) > 0 && json_array_size(a.json) <= 400);
    answer_free(&a);
}

static void test_patterns_and_shapes(void)
{
    answer a = get("/api/v1/query", "pattern=site1/**&mode=latest");
    CHECK(json_array_size(a.json) == 3);
    answer_free(&a);
    a = get("/api/v1/query", "pattern=site1/*/line1/cell1/*&mode=latest");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);
    a = get("/api/v1/query", "pattern=**/temp&mode=latest");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);
    a = get("/api/v1/query", "pattern=site1/**/temp&mode=latest");
    CHECK(json_array_size(a.json) == 1);
    answer_free(&a);
    a = get("/api/v1/query", "pattern=nothing/**&mode=latest");
    CHECK(a.r.status == 200 && json_array_size(a.json) == 0);
    answer_free(&a);

    /* Wide: one row per time, a column per tag. */
    a = get("/api/v1/query", "pattern=**/temp&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:10Z"
                             "&format=wide");
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 10);
    json_t *row = json_array_get(a.json, 3);
    CHECK(json_object_size(row) == 3);
    CHECK(json_number_value(json_object_get(row, TAGS[0])) == value_of(0, 3).f);
    CHECK(json_number_value(json_object_get(row, TAGS[3])) == value_of(3, 3).f);
    answer_free(&a);
    a = get("/api/v1/query",
            "tag=%s&tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z"
            "&agg=min,max&step=30m&shape=wide",
            TAGS[0], TAGS[3]);
    CHECK(json_array_size(a.json) == 2);
    row = json_array_get(a.json, 0);
    char key[300];
    snprintf(key, sizeof key, "%s:max", TAGS[3]);
    CHECK(json_is_number(json_object_get(row, key)));
    CHECK(json_is_number(json_object_get(row, "time_end")));
    answer_free(&a);

    /* Columns: an object per tag, an array per column, same values as long. */
    a = get("/api/v1/query", "pattern=**/temp&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:10Z"
                             "&shape=columns");
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 2);
    json_t *col = json_array_get(a.json, 0);
    CHECK(strcmp(json_string_value(json_object_get(col, "tag")), TAGS[0]) == 0);
    CHECK(json_array_size(json_object_get(col, "time")) == 10);
    CHECK(json_array_size(json_object_get(col, "quality")) == 10);
    CHECK(json_integer_value(json_array_get(json_object_get(col, "time"), 3)) ==
          T0 / 1000000 + 3000);
    CHECK(json_number_value(json_array_get(json_object_get(col, "value"), 3)) == value_of(0, 3).f);
    answer_free(&a);
    a = get("/api/v1/query",
            "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&agg=min,max&step=30m"
            "&shape=columns",
            TAGS[0]);
    col = json_array_get(a.json, 0);
    CHECK(json_array_size(json_object_get(col, "time_end")) == 2);
    CHECK(json_array_size(json_object_get(col, "max")) == 2);
    CHECK(json_is_number(json_array_get(json_object_get(col, "min"), 1)));
    answer_free(&a);
    a = get("/api/v1/query",
            "tag=%s&from=2026-01-01T00:05:00Z&to=2026-01-01T00:05:02Z"
            "&shape=columns&time_format=rfc3339",
            TAGS[1]); /* bool: values 0/1, times as strings */
    col = json_array_get(a.json, 0);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(col, "time"), 1)),
                 "2026-01-01T00:05:01Z") == 0);
    CHECK(json_integer_value(json_array_get(json_object_get(col, "value"), 0)) == 1);
    answer_free(&a);

    /* CSV, by parameter and by Accept. */
    a = get("/api/v1/query", "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:03Z&format=csv",
            TAGS[0]);
    CHECK(a.r.status == 200);
    CHECK(strncmp(a.r.content_type, "text/csv", 8) == 0);
    CHECKF(strcmp(a.r.body, "tag,time,value,quality\n"
                            "site1/area1/line1/cell1/temp,2026-01-01T00:00:00Z,20,0\n"
                            "site1/area1/line1/cell1/temp,2026-01-01T00:00:01Z,20.1,0\n"
                            "site1/area1/line1/cell1/temp,2026-01-01T00:00:02Z,20.2,0\n") == 0,
           "%s", a.r.body);
    answer_free(&a);
    a = get("/api/v1/query", "tag=%s&from=2026-01-01T00:05:00Z&to=2026-01-01T00:05:02Z&format=csv",
            TAGS[1]); /* bool: true/false, as historian import reads it */
    CHECKF(strcmp(a.r.body, "tag,time,value,quality\n"
                            "site1/area1/line1/cell1/run,2026-01-01T00:05:00Z,true,0\n"
                            "site1/area1/line1/cell1/run,2026-01-01T00:05:01Z,true,0\n") == 0,
           "%s", a.r.body);
    answer_free(&a);
    hist_api_request req = {.method = "GET",
                            .path = "/api/v1/query",
                            .query = "tag=site1/area1/line1/cell1/temp&agg=max&step=1h"
                                     "&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z",
                            .accept = "text/csv",
                            .scopes = HIST_SCOPE_READ,
                            .now_ns = T0};
    hist_api_response r;
    CHECK(hist_api_handle(db, &req, &r) == 0);
    CHECK(r.status == 200 && strncmp(r.body, "tag,time,time_end,max\n", 22) == 0);
    free(r.body);
    free(r.headers);
}

static void test_post_bodies(void)
{
    answer g = get("/api/v1/query",
                   "tag=%s&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z"
                   "&agg=min,max&step=30s",
                   TAGS[0]);
    answer j = post_json("/api/v1/query",
                         "{\"tag\": [\"site1/area1/line1/cell1/temp\"], \"from\": "
                         "\"2026-01-01T00:00:00Z\", \"to\": 1767225660000, \"agg\": [\"min\", "
                         "\"max\"], \"step\": \"30s\", \"unknown\": {\"x\": 1}}");
    answer f = call("POST", "/api/v1/query", "", "application/x-www-form-urlencoded",
                    "tag=site1%2Farea1%2Fline1%2Fcell1%2Ftemp&from=2026-01-01T00%3A00%3A00Z"
                    "&to=2026-01-01T00:01:00Z&agg=min%2Cmax&step=30s",
                    HIST_SCOPE_READ);
    CHECK(g.r.status == 200 && j.r.status == 200 && f.r.status == 200);
    CHECK(json_array_size(g.json) == 2);
    CHECK(json_equal(g.json, j.json));
    CHECK(json_equal(g.json, f.json));
    answer_free(&g);
    answer_free(&j);
    answer_free(&f);

    answer bad = post_json("/api/v1/query", "{\"tag\": ");
    CHECK(bad.r.status == 400);
    CHECK(!strcmp(json_string_value(json_object_get(bad.json, "param")), "body"));
    answer_free(&bad);
    bad = post_json("/api/v1/query", "[1,2]");
    CHECK(bad.r.status == 400);
    answer_free(&bad);
}

static void test_bad_params(void)
{
    const char *t = "tag=site1/area1/line1/cell1/temp";
    char q[512];
#define BAD(extra, param)                                                                          \
    do {                                                                                           \
        snprintf(q, sizeof q, "%s&%s", t, extra);                                                  \
        expect_400(q, param);                                                                      \
    } while (0)
    BAD("from=yesterday", "from");
    BAD("from=2026-13-01T00:00:00Z", "from");
    BAD("to=now-", "to");
    BAD("to=99999999999999999", "to");
    BAD("from=now&to=-1h", "from");
    BAD("mode=fast", "mode");
    BAD("mode=interp", "step");
    BAD("mode=interp&step=0s", "step");
    BAD("mode=interp&step=1x", "step");
    BAD("mode=interp&step=1ns&from=-30d", "step");
    BAD("mode=aggregate&agg=mean", "step");
    BAD("points=0", "points");
    BAD("points=abc", "points");
    BAD("agg=median&step=1m", "agg");
    BAD("agg=min,,max&step=1m", "agg");
    BAD("agg=min&bucket=fortnight", "bucket");
    BAD("agg=min&bucket=day&tz=../../etc/passwd", "tz");
    BAD("agg=min&shifts=25:00", "shifts");
    BAD("agg=min&shifts=14:00,06:00", "shifts");
    BAD("agg=min&shifts=6:00", "shifts");
    BAD("agg=min&step=1m&fill=zero", "fill");
    BAD("include_bad=maybe", "include_bad");
    BAD("limit=-1", "limit");
    BAD("limit=0", "limit");
    BAD("limit=10x", "limit");
    BAD("cursor=zzz", "cursor");
    BAD("cursor=1:", "cursor");
    BAD("format=xml", "format");
    BAD("shape=tall", "shape");
    BAD("shape=columns&format=csv", "shape");
    BAD("time_format=iso", "time_format");
    BAD("pattern=", "pattern");
#undef BAD
    /* Answers that could not fit in memory are refused up front. */
    expect_400("tag=site1/area1/line1/cell1/temp&agg=max&bucket=hour&from=1970-01-01&to=2100-01-01",
               "bucket");
    expect_400("from=-1h", "tag");
    expect_400("", "tag");
    expect_400("pattern=**&limit=5&step=1m&mode=interp&points=0", "points");

    /* Unknown tag: 404 naming the parameter. */
    answer a = get("/api/v1/query", "tag=no/such/tag");
    CHECK(a.r.status == 404);
    CHECK(!strcmp(json_string_value(json_object_get(a.json, "param")), "tag"));
    answer_free(&a);
    /* An unknown time zone: a 400 naming tz. */
    expect_400("tag=site1/area1/line1/cell1/temp&agg=min&bucket=day&tz=Mars/Olympus", "tz");
}

static void test_routing_and_scopes(void)
{
    answer a = call("GET", "/api/v1/query", "tag=site1/area1/line1/cell1/temp", NULL, NULL, 0);
    CHECK(a.r.status == 403);
    answer_free(&a);
    a = call("GET", "/api/v1/query", "tag=site1/area1/line1/cell1/temp", NULL, NULL,
             HIST_SCOPE_WRITE);
    CHECK(a.r.status == 403);
    answer_free(&a);
    a = call("GET", "/api/v1/tags", "", NULL, NULL, HIST_SCOPE_WRITE);
    CHECK(a.r.status == 403);
    answer_free(&a);
    a = call("POST", "/grafana/query", "", "application/json", "{}", 0);
    CHECK(a.r.status == 403);
    answer_free(&a);
    a = call("DELETE", "/api/v1/query", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 405);
    CHECK(a.r.headers && strstr(a.r.headers, "Allow: GET, POST\r\n"));
    answer_free(&a);
    a = call("POST", "/api/v1/stats", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 405);
    answer_free(&a);
    a = call("GET", "/api/v1/queryx", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 404);
    answer_free(&a);
    a = call("GET", "/grafana/nothing", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 404);
    answer_free(&a);
    a = call("GET", "/grafana/query", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 405);
    answer_free(&a);

    CHECK(hist_api_owns_path("/api/v1/query"));
    CHECK(hist_api_owns_path("/api/v1/tags"));
    CHECK(hist_api_owns_path("/api/v1/tags/a/b"));
    CHECK(hist_api_owns_path("/api/v1/stats"));
    CHECK(hist_api_owns_path("/grafana"));
    CHECK(hist_api_owns_path("/grafana/query"));
    CHECK(!hist_api_owns_path("/api/v1/write"));
    CHECK(!hist_api_owns_path("/healthz"));
    CHECK(!hist_api_owns_path("/metrics"));
    CHECK(!hist_api_owns_path("/grafanax"));
    CHECK(!hist_api_owns_path(NULL));
}

static void test_tags(void)
{
    answer a = get("/api/v1/tags", "%s", "");
    CHECK(a.r.status == 200);
    CHECK(json_array_size(a.json) == 4);
    json_t *t0 = json_array_get(a.json, 0); /* name order */
    CHECK(!strcmp(json_string_value(json_object_get(t0, "name")), TAGS[1]));
    answer_free(&a);

    a = get("/api/v1/tags", "prefix=site1/area1/");
    CHECK(json_array_size(a.json) == 2);
    json_t *temp = json_array_get(a.json, 1);
    CHECK(!strcmp(json_string_value(json_object_get(temp, "name")), TAGS[0]));
    CHECK(!strcmp(json_string_value(json_object_get(temp, "unit")), "degC"));
    CHECK(!strcmp(json_string_value(json_object_get(temp, "type")), "float64"));
    CHECK(!strcmp(json_string_value(json_object_get(temp, "description")),
                  "Reactor \"A\" temperature"));
    CHECK(json_integer_value(json_object_get(temp, "id")) == ids[0]);
    CHECK(json_is_number(json_object_get(temp, "deadband")));
    CHECK(json_is_integer(json_object_get(temp, "created")));
    answer_free(&a);

    a = get("/api/v1/tags", "pattern=**/temp&limit=1");
    CHECK(json_array_size(a.json) == 1);
    CHECK(a.r.headers && strstr(a.r.headers, "X-Historian-Truncated: true"));
    answer_free(&a);
    /* Paging: pages of one, each after the last name of the one before,
     * visit every tag once, in name order, and the last page has no Next. */
    {
        char after[300] = "", prev[300] = "";
        int pages = 0, total = 0;
        for (; pages < 20; pages++) {
            a = get("/api/v1/tags", "limit=1&after=%s", after);
            REQUIRE(a.r.status == 200);
            if (json_array_size(a.json) == 1) {
                const char *name =
                    json_string_value(json_object_get(json_array_get(a.json, 0), "name"));
                CHECKF(strcmp(name, prev) > 0, "page %d: %s after %s", pages, name, prev);
                snprintf(prev, sizeof prev, "%s", name);
                total++;
            }
            const char *next = a.r.headers ? strstr(a.r.headers, "X-Historian-Next: ") : NULL;
            if (!next) {
                answer_free(&a);
                break;
            }
            next += strlen("X-Historian-Next: ");
            size_t len = strcspn(next, "\r\n");
            snprintf(after, sizeof after, "%.*s", (int)len, next);
            CHECK(strcmp(after, prev) == 0);
            answer_free(&a);
        }
        a = get("/api/v1/tags", "limit=100000");
        CHECK_EQ_I64(total, (int64_t)json_array_size(a.json));
        CHECK(total >= 4);
        answer_free(&a);
    }
    a = get("/api/v1/tags", "limit=0");
    CHECK(a.r.status == 400);
    CHECK(!strcmp(json_string_value(json_object_get(a.json, "param")), "limit"));
    answer_free(&a);
    a = get("/api/v1/tags", "format=csv&prefix=site2");
    CHECK(a.r.status == 200 && strstr(a.r.body, "name,id,type,unit") == a.r.body);
    CHECK(strstr(a.r.body, "site2/area1/line1/cell1/temp,") != NULL);
    answer_free(&a);

    a = get("/api/v1/tags/site1/area1/line1/cell1/temp", "%s", "");
    CHECK(a.r.status == 200);
    CHECK(!strcmp(json_string_value(json_object_get(a.json, "unit")), "degC"));
    answer_free(&a);
    a = get("/api/v1/tags/no/such", "%s", "");
    CHECK(a.r.status == 404);
    answer_free(&a);

    /* PUT needs admin. */
    const char *body = "{\"type\": \"float64\", \"unit\": \"bar\", \"description\": \"Pressure\","
                       " \"deadband\": 0.5}";
    a = call("PUT", "/api/v1/tags/site3/a/b/c/pressure", "", "application/json", body,
             HIST_SCOPE_READ | HIST_SCOPE_WRITE);
    CHECK(a.r.status == 403);
    answer_free(&a);
    a = call("PUT", "/api/v1/tags/site3/a/b/c/pressure", "", "application/json", body,
             HIST_SCOPE_ADMIN);
    CHECKF(a.r.status == 200, "%d %s", a.r.status, a.r.body);
    CHECK(json_number_value(json_object_get(a.json, "deadband")) == 0.5);
    answer_free(&a);
    hist_tag_info info;
    CHECK(hist_tag_by_name(db, "site3/a/b/c/pressure", &info) == 0 && !strcmp(info.unit, "bar") &&
          info.deadband == 0.5 && info.type == HIST_TYPE_FLOAT64);
    /* Update one field of an existing tag; the rest stays. */
    a = call("PUT", "/api/v1/tags/site3/a/b/c/pressure", "", "application/json",
             "{\"unit\": \"kPa\"}", HIST_SCOPE_ADMIN);
    CHECK(a.r.status == 200);
    answer_free(&a);
    CHECK(hist_tag_by_name(db, "site3/a/b/c/pressure", &info) == 0 && !strcmp(info.unit, "kPa") &&
          !strcmp(info.description, "Pressure"));

    struct {
        const char *path, *body, *param;
    } bad[] = {
        {"/api/v1/tags/site3/x", "{\"unit\": \"m\"}", "type"}, /* new tag without type */
        {"/api/v1/tags/site3/x", "{\"type\": \"complex\"}", "type"},
        {"/api/v1/tags/site3/a/b/c/pressure", "{\"type\": \"int64\"}", "type"},
        {"/api/v1/tags/site3/x",
         "{\"type\": \"bool\", \"unit\": \"0123456789012345678901234567"
         "890123456789\"}",
         "unit"},
        {"/api/v1/tags/site3/x", "{\"type\": \"bool\", \"deadband\": -1}", "deadband"},
        {"/api/v1/tags/site3/x", "{\"type\": \"bool\", \"deadband\": \"big\"}", "deadband"},
        {"/api/v1/tags/site3/x", "{\"type\": \"bool\", \"description\": 5}", "description"},
        {"/api/v1/tags/site3/x", "{\"type\": ", "body"},
        {"/api/v1/tags/site3/x", "[]", "body"},
        {"/api/v1/tags/site3//x", "{\"type\": \"bool\"}", "name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = call("PUT", bad[i].path, "", "application/json", bad[i].body, HIST_SCOPE_ADMIN);
        const char *p = json_string_value(json_object_get(a.json, "param"));
        CHECKF(a.r.status == 400 && p && !strcmp(p, bad[i].param), "PUT %s %s: %d %s", bad[i].path,
               bad[i].body, a.r.status, a.r.body);
        answer_free(&a);
    }
    CHECK(hist_tag_by_name(db, "site3/x", &info) == HIST_ENOTFOUND);
}

static void test_stats(void)
{
    answer a = get("/api/v1/stats", "%s", "");
    CHECK(a.r.status == 200);
    CHECK(json_integer_value(json_object_get(a.json, "tags")) == 5);
    CHECK(json_integer_value(json_object_get(a.json, "samples")) == 4 * NSAMPLES);
    CHECK(json_integer_value(json_object_get(a.json, "samples_sealed")) >= 4 * NSAMPLES / 2);
    CHECK(json_integer_value(json_object_get(a.json, "bytes_on_disk")) > 0);
    CHECK(json_integer_value(json_object_get(a.json, "chunks")) > 0);
    CHECK(json_is_number(json_object_get(a.json, "bytes_per_sample")));
    const char *seals[] = {"seals_held", "seals_memory", "seals_wal",
                           "freezes",    "runs_logged",  "runlog_bytes"};
    for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++)
        CHECKF(json_is_integer(json_object_get(a.json, seals[i])), "%s", seals[i]);
    answer_free(&a);
}

/* ---- Grafana ---------------------------------------------------------------------- */

static void test_random_requests(void)
{
    static const char *const keys[] = {"tag",    "pattern",     "from",        "to",     "mode",
                                       "step",   "points",      "agg",         "bucket", "tz",
                                       "shifts", "fill",        "limit",       "cursor", "format",
                                       "shape",  "include_bad", "time_format", "x"};
    static const char *const vals[] = {"site1/area1/line1/cell1/temp",
                                       "**",
                                       "*",
                                       "site1/*/line1/**",
                                       "",
                                       "-1h",
                                       "now",
                                       "now-1d",
                                       "2026-01-01T00:00:00Z",
                                       "1767225600000",
                                       "99999999999999999999",
                                       "raw",
                                       "latest",
                                       "interp",
                                       "aggregate",
                                       "plot",
                                       "1s",
                                       "0s",
                                       "1ns",
                                       "10m",
                                       "1d",
                                       "5",
                                       "0",
                                       "-3",
                                       "min,max",
                                       "twa",
                                       ",",
                                       "day",
                                       "shift",
                                       "hour",
                                       "week",
                                       "month",
                                       "Europe/Berlin",
                                       "UTC",
                                       "06:00,14:00",
                                       "null",
                                       "previous",
                                       "linear",
                                       "1:0",
                                       "%",
                                       "%zz",
                                       "%00",
                                       "\xff",
                                       "true",
                                       "csv",
                                       "wide",
                                       "json",
                                       "ns",
                                       "rfc3339",
                                       "a=b&c",
                                       "\"",
                                       "{",
                                       "[1]"};
    static const char *const paths[] = {"/api/v1/query", "/api/v1/tags", "/grafana/query",
                                        "/grafana/variable", "/grafana/metrics"};
    unsigned seed = 12345;
    size_t fivehundreds = 0, badjson = 0, ok = 0;
    for (int iter = 0; iter < 1500; iter++) {
        char q[1024] = "";
        int nparams = (int)(rand_r(&seed) % 7);
        for (int k = 0; k < nparams; k++) {
            size_t n = strlen(q);
            snprintf(q + n, sizeof q - n, "%s%s=%s", k ? "&" : "",
                     keys[rand_r(&seed) % (sizeof keys / sizeof keys[0])],
                     vals[rand_r(&seed) % (sizeof vals / sizeof vals[0])]);
        }
        const char *path = paths[rand_r(&seed) % (sizeof paths / sizeof paths[0])];
        bool grafana = !strncmp(path, "/grafana", 8);
        char body[1200];
        if (grafana)
            snprintf(body, sizeof body,
                     "{\"range\":{\"from\":\"%s\",\"to\":\"now\"},\"targets\":[{\"target\":"
                     "\"%s\",\"payload\":{\"%s\":\"%s\"}}],\"payload\":\"%s\"}",
                     vals[rand_r(&seed) % (sizeof vals / sizeof vals[0])], vals[rand_r(&seed) % 4],
                     keys[rand_r(&seed) % (sizeof keys / sizeof keys[0])],
                     vals[rand_r(&seed) % (sizeof vals / sizeof vals[0])], vals[rand_r(&seed) % 4]);
        hist_api_request req = {.method = grafana ? "POST" : "GET",
                                .path = path,
                                .query = grafana ? "" : q,
                                .content_type = grafana ? "application/json" : NULL,
                                .body = grafana ? (const uint8_t *)body : NULL,
                                .body_len = grafana ? strlen(body) : 0,
                                .scopes = HIST_SCOPE_READ,
                                .now_ns = T0 + 7200 * NS};
        hist_api_response r;
        if (hist_api_handle(db, &req, &r) != 0) {
            fivehundreds++;
            continue;
        }
        ok += r.status == 200;
        if (r.status >= 500) {
            fivehundreds++;
            fprintf(stderr, "500 for %s ? %s %s: %.200s\n", path, q, grafana ? body : "", r.body);
        }
        if (r.content_type && !strncmp(r.content_type, "application/json", 16)) {
            json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
            badjson += j == NULL;
            json_decref(j);
        }
        free(r.body);
        free(r.headers);
    }
    CHECK(fivehundreds == 0);
    CHECK(badjson == 0);
    CHECKF(ok > 150, "only %zu of 1500 random requests answered 200", ok); /* real paths ran */
    printf("random requests: %zu of 1500 answered 200\n", ok);
}

int main(void)
{
    fixture_open();
    test_raw_matches_engine();
    test_limit_and_cursor();
    test_aggregate();
    test_other_modes();
    test_patterns_and_shapes();
    test_post_bodies();
    test_bad_params();
    test_routing_and_scopes();
    test_tags();
    test_stats();
    test_random_requests();
    fixture_close();
    return check_summary();
}
