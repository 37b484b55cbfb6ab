/*
 * test_api_grafana.c: the Grafana JSON datasource endpoints (query/api/grafana.c)
 * through hist_api_handle(), with bodies shaped the way the simPod plugin
 * sends them, on the data of api_fixture.h.
 */
#include "api_fixture.h"

static json_t *find_target(json_t *arr, const char *name)
{
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        const char *t = json_string_value(json_object_get(el, "target"));
        if (t && !strcmp(t, name))
            return el;
    }
    return NULL;
}

static void test_grafana(void)
{
    answer a = call("GET", "/grafana/", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 200);
    answer_free(&a);
    a = call("GET", "/grafana", "", NULL, NULL, HIST_SCOPE_READ);
    CHECK(a.r.status == 200);
    answer_free(&a);

    /* /metrics: an empty body, then filtered by prefix and by glob. */
    a = call("POST", "/grafana/metrics", "", "application/json", "", HIST_SCOPE_READ);
    CHECK(a.r.status == 200 && json_array_size(a.json) == 5);
    json_t *m0 = json_array_get(a.json, 0);
    CHECK(json_is_string(json_object_get(m0, "value")));
    CHECK(json_array_size(json_object_get(m0, "payloads")) >= 5);
    answer_free(&a);
    a = post_json("/grafana/metrics", "{\"metric\": \"site1/area1\", \"payload\": {}}");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);
    a = post_json("/grafana/metrics", "{\"metric\": \"**/temp\"}");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);
    a = post_json("/grafana/metric-payload-options",
                  "{\"metric\": \"site1/area1/line1/cell1/temp\", \"payload\": {}, \"name\": "
                  "\"agg\"}");
    CHECK(json_array_size(a.json) == HIST_AGG__COUNT);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a.json, 5), "value")), "twa"));
    answer_free(&a);
    a = post_json("/grafana/metric-payload-options", "{\"name\": \"mode\"}");
    CHECK(json_array_size(a.json) == 5);
    answer_free(&a);

    /* /query exactly as the plugin sends it: payload absent on one target,
     * an object on another; ISO range; M4 sized by maxDataPoints. */
    const char *q1 =
        "{\"app\":\"dashboard\",\"requestId\":\"Q100\",\"timezone\":\"browser\",\"panelId\":2,"
        "\"dashboardUID\":\"abc\",\"range\":{\"from\":\"2026-01-01T00:00:00.000Z\",\"to\":"
        "\"2026-01-01T02:00:00.000Z\",\"raw\":{\"from\":\"now-6h\",\"to\":\"now\"}},"
        "\"timeInfo\":\"\",\"interval\":\"10s\",\"intervalMs\":10000,\"targets\":["
        "{\"refId\":\"A\",\"datasource\":{\"type\":\"simpod-json-datasource\",\"uid\":\"x\"},"
        "\"editorMode\":\"code\",\"target\":\"site1/area1/line1/cell1/temp\"},"
        "{\"refId\":\"B\",\"target\":\"site1/area2/line1/cell2/count\",\"payload\":{\"mode\":"
        "\"aggregate\",\"agg\":[\"max\"],\"bucket\":\"1h\"}},"
        "{\"refId\":\"C\",\"target\":\"site2/area1/line1/cell1/temp\",\"hide\":true}],"
        "\"maxDataPoints\":200,\"scopedVars\":{},\"startTime\":1767225600000,"
        "\"rangeRaw\":{\"from\":\"now-6h\",\"to\":\"now\"},\"adhocFilters\":[]}";
    a = post_json("/grafana/query", q1);
    CHECKF(a.r.status == 200, "%s", a.r.body);
    CHECK(json_array_size(a.json) == 2);
    json_t *ta = find_target(a.json, TAGS[0]);
    REQUIRE(ta != NULL);
    CHECK(!strcmp(json_string_value(json_object_get(ta, "unit")), "degC"));
    json_t *dps = json_object_get(ta, "datapoints");
    CHECK(json_array_size(dps) > 0 && json_array_size(dps) <= 4 * 200);
    /* Compare with the engine's M4 answer. */
    hist_query_spec spec;
    hist_query_spec_init(&spec);
    spec.mode = HIST_MODE_PLOT;
    spec.from = T0;
    spec.to = T0 + 7200 * NS;
    spec.points = 200;
    hist_result res;
    REQUIRE(hist_query_run(db, &spec, ids, 1, &res) == 0);
    CHECK(json_array_size(dps) == res.series[0].n);
    size_t bad = 0;
    for (size_t r = 0; r < res.series[0].n && r < json_array_size(dps); r++) {
        json_t *dp = json_array_get(dps, r);
        bad += json_number_value(json_array_get(dp, 0)) != res.series[0].value[r].f;
        bad += json_integer_value(json_array_get(dp, 1)) != res.series[0].ts[r] / MS;
    }
    CHECK(bad == 0);
    hist_result_free(&res);
    json_t *tb = find_target(a.json, TAGS[2]);
    REQUIRE(tb != NULL);
    dps = json_object_get(tb, "datapoints");
    CHECK(json_array_size(dps) == 2);
    CHECK(json_number_value(json_array_get(json_array_get(dps, 0), 0)) ==
          (double)value_of(2, 3599).i);
    answer_free(&a);

    /* boundary=outside in a payload: the plot gains the sample before from
     * and the one at to (1 Hz data), first and last. */
    const char *qb =
        "{\"range\":{\"from\":\"2026-01-01T00:30:00.500Z\",\"to\":\"2026-01-01T01:00:00.000Z\"},"
        "\"maxDataPoints\":50,\"targets\":[{\"refId\":\"A\",\"target\":\"%s\","
        "\"payload\":{\"boundary\":\"%s\"}}]}";
    char body[512];
    size_t inside_n = 0;
    for (int outside = 0; outside < 2; outside++) {
        snprintf(body, sizeof body, qb, TAGS[0], outside ? "outside" : "inside");
        a = post_json("/grafana/query", body);
        CHECKF(a.r.status == 200, "%s", a.r.body);
        json_t *d = json_object_get(json_array_get(a.json, 0), "datapoints");
        size_t n = json_array_size(d);
        if (!outside) {
            inside_n = n;
        } else {
            int64_t first = json_integer_value(json_array_get(json_array_get(d, 0), 1));
            int64_t last = json_integer_value(json_array_get(json_array_get(d, n - 1), 1));
            CHECKF(n == inside_n + 2 && first == (T0 + 1800 * NS) / MS &&
                       last == (T0 + 3600 * NS) / MS,
                   "grafana boundary: %zu points, inside %zu", n, inside_n);
        }
        answer_free(&a);
    }
    a = post_json("/grafana/metric-payload-options", "{\"name\": \"boundary\"}");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);

    /* A report: shift table in Berlin time, epoch ms range, legacy string payload. */
    const char *q2 =
        "{\"range\":{\"from\":1767218400000,\"to\":1767304800000},\"intervalMs\":60000,"
        "\"maxDataPoints\":500,\"targets\":[{\"refId\":\"A\",\"target\":\"**/temp\","
        "\"payload\":{\"mode\":\"aggregate\",\"agg\":\"twa,min,max\",\"bucket\":\"shift\","
        "\"shifts\":\"06:00,14:00,22:00\",\"tz\":\"Europe/Berlin\",\"format\":\"table\","
        "\"fill\":\"none\"}}]}";
    a = post_json("/grafana/query", q2);
    CHECKF(a.r.status == 200, "%s", a.r.body);
    REQUIRE(json_array_size(a.json) == 1);
    json_t *tbl = json_array_get(a.json, 0);
    CHECK(!strcmp(json_string_value(json_object_get(tbl, "type")), "table"));
    json_t *cols = json_object_get(tbl, "columns");
    CHECK(json_array_size(cols) == 9); /* ... Unit, Local time, Local time end */
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(cols, 0), "type")), "time"));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(cols, 3), "text")), "twa"));
    json_t *rows = json_object_get(tbl, "rows");
    CHECK(json_array_size(rows) >= 2); /* both temp tags, at least one shift each */
    json_t *r0 = json_array_get(rows, 0);
    CHECK(json_array_size(r0) == 9);
    CHECK(json_is_string(json_array_get(r0, 2)));
    /* the report's times in Berlin: the same instants as the ms columns */
    for (size_t col = 0; col < 2; col++) {
        const char *local = json_string_value(json_array_get(r0, 7 + col));
        int64_t ns = 0;
        CHECKF(local && strstr(local, "+01:00") && hist_time_parse(local, 0, &ns) == 0 &&
                   ns / 1000000 == json_integer_value(json_array_get(r0, col)),
               "local time %zu: %s", col, local ? local : "(none)");
    }
    answer_free(&a);

    /* Ad hoc filters, both spellings. */
    const char *q3 =
        "{\"range\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T00:10:00Z\"},"
        "\"maxDataPoints\":10,\"targets\":[{\"refId\":\"A\",\"target\":\"**\","
        "\"payload\":{\"mode\":\"latest\"}}],"
        "\"adhocFilters\":[{\"key\":\"site\",\"operator\":\"=\",\"value\":\"site1\"}],"
        "\"filters\":[{\"key\":\"signal\",\"operator\":\"=~\",\"value\":\"te.*\"}]}";
    a = post_json("/grafana/query", q3);
    CHECKF(a.r.status == 200, "%s", a.r.body);
    CHECK(json_array_size(a.json) == 1);
    CHECK(find_target(a.json, TAGS[0]) != NULL);
    answer_free(&a);
    const char *q4 =
        "{\"range\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2026-01-01T00:10:00Z\"},"
        "\"targets\":[{\"refId\":\"A\",\"target\":\"{site1/area1/line1/cell1/temp,"
        "site2/area1/line1/cell1/temp}\",\"payload\":\"{\\\"mode\\\":\\\"raw\\\"}\"}],"
        "\"filters\":[{\"key\":\"unit\",\"operator\":\"!=\",\"value\":\"degC\"}]}";
    a = post_json("/grafana/query", q4);
    CHECKF(a.r.status == 200, "%s", a.r.body);
    CHECK(json_array_size(a.json) == 1);
    json_t *t4 = find_target(a.json, TAGS[3]);
    CHECK(t4 && json_array_size(json_object_get(t4, "datapoints")) == 600);
    answer_free(&a);

    /* Errors: malformed JSON, bad range, bad payload field, bad filter. */
    struct {
        const char *body, *param;
    } errs[] = {
        {"{\"targets\": [", "body"},
        {"\"just a string\"", "body"},
        {"{\"range\":{\"from\":\"yesterday\",\"to\":\"now\"},\"targets\":[]}", "range.from"},
        {"{\"range\":{\"from\":\"2026-01-02T00:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\"}}",
         "range.from"},
        {"{\"targets\": {}}", "targets"},
        {"{\"targets\": [5]}", "targets"},
        {"{\"targets\":[{\"target\":\"**\",\"payload\":{\"mode\":\"warp\"}}]}", "mode"},
        {"{\"targets\":[{\"target\":\"**\",\"payload\":{\"agg\":\"median\"}}]}", "agg"},
        {"{\"targets\":[{\"target\":\"**\",\"payload\":\"{nope\"}]}", "payload"},
        {"{\"targets\":[],\"adhocFilters\":[{\"key\":\"site\",\"operator\":\"=~\",\"value\":"
         "\"(\"}]}",
         "adhocFilters"},
        {"{\"targets\":[],\"filters\":[{\"key\":\"site\",\"operator\":\"~~\",\"value\":\"x\"}]}",
         "filters"},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        a = post_json("/grafana/query", errs[i].body);
        const char *p = json_string_value(json_object_get(a.json, "param"));
        CHECKF(a.r.status == 400 && p && !strcmp(p, errs[i].param), "%s: %d %s", errs[i].body,
               a.r.status, a.r.body);
        answer_free(&a);
    }

    /* Variables, tag keys and values. */
    a = post_json("/grafana/variable", "{\"payload\":{\"prefix\":\"site1/area1/\"},\"range\":{}}");
    CHECK(a.r.status == 200 && json_array_size(a.json) == 2);
    CHECK(
        !strcmp(json_string_value(json_object_get(json_array_get(a.json, 0), "__value")), TAGS[1]));
    CHECK(json_is_string(json_object_get(json_array_get(a.json, 0), "__text")));
    answer_free(&a);
    a = post_json("/grafana/variable", "{\"payload\":\"**/temp\"}");
    CHECK(json_array_size(a.json) == 2);
    answer_free(&a);
    a = post_json("/grafana/variable", "{\"payload\":{\"key\":\"area\"}}");
    CHECK(json_array_size(a.json) == 3); /* a (site3, made in main), area1, area2 */
    answer_free(&a);
    a = post_json("/grafana/tag-keys", "{}");
    CHECK(json_array_size(a.json) == 6);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a.json, 0), "text")), "site"));
    answer_free(&a);
    a = post_json("/grafana/tag-values", "{\"key\":\"site\"}");
    CHECK(json_array_size(a.json) == 3);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(a.json, 1), "text")), "site2"));
    answer_free(&a);
    a = post_json("/grafana/tag-values", "{\"key\":\"signal\"}");
    CHECK(json_array_size(a.json) == 4); /* count, pressure, run, temp */
    answer_free(&a);
    a = post_json("/grafana/tag-values", "{}");
    CHECK(a.r.status == 400);
    answer_free(&a);
}

/* Random mixes of known keys and hostile values: never a 500, never a crash
 * or a leak (under ASan), always valid JSON. Fixed seed: reproducible. */
int main(void)
{
    fixture_open();
    /* A fifth tag, empty, as test_api.c's PUT makes it: the namespace
     * answers below count it. */
    hist_tag_info info = {.type = HIST_TYPE_FLOAT64};
    snprintf(info.name, sizeof info.name, "site3/a/b/c/pressure");
    snprintf(info.unit, sizeof info.unit, "bar");
    CHECK_OK(hist_tag_put(db, &info));
    test_grafana();
    fixture_close();
    return check_summary();
}
