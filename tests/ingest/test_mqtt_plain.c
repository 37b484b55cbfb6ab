/*
 * test_mqtt_plain.c: plain MQTT topics into samples (ingest/mqtt_plain.c),
 * and the sink that dispatches between them and Sparkplug (mqtt_sink.c):
 * filters and templates, payload shapes, configurable JSON fields,
 * timestamps in every unit and as RFC 3339 (across an hour, a day and a
 * DST change: times are UTC, so none of them moves a sample), qualities,
 * null values, refusals counted and logged once per topic, and options
 * refused at start with a message naming them.
 */
#include "check.h"
#include "ingest/ingest.h"

typedef struct {
    int lines;
    char last[HIST_LOG_LINE];
} log_capture;

static void capture(void *ctx, int level, const char *msg)
{
    (void)level;
    log_capture *c = ctx;
    c->lines++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static plain_map *map_of(const sink_options *o, log_capture *lc)
{
    hist_log_sink log = hist_log_sink_make(capture, lc, HIST_LOG_DEBUG);
    plain_map *m = NULL;
    char err[256] = "";
    int rc = plain__new(o, &log, &m, err, sizeof err);
    CHECKF(rc == 0, "plain__new: %d %s", rc, err);
    REQUIRE(m);
    return m;
}

/* One message through m: its rc, the sample in *x. */
static int feed(plain_map *m, const char *topic, const char *payload, plain_sample *x,
                sink_counts *c)
{
    return plain__sample(m, topic, strlen(topic), (const uint8_t *)payload, strlen(payload),
                         1767225600000u /* 2026-01-01T00:00:00Z, the arrival time */, x, c);
}

#define NOW_NS INT64_C(1767225600000000000)

static void test_names(void)
{
    const char *topics[] = {"plant/+/temp={2}.temperature", "site/#=north/", "raw/#",
                            "deep/+/+/#={3}/{4..}", "whole/#=a/{topic}"};
    sink_options o = {.topics = topics, .n_topics = 5};
    log_capture lc = {0};
    plain_map *m = map_of(&o, &lc);
    CHECK(plain__filter_count(m) == 5);
    CHECK(!strcmp(plain__filter(m, 0), "plant/+/temp"));
    CHECK(!strcmp(plain__filter(m, 1), "site/#"));
    plain_sample x;
    sink_counts c = {0};
    CHECK(feed(m, "plant/line1/temp", "21.5", &x, &c) == 0);
    CHECK(!strcmp(x.tag, "line1.temperature"));
    CHECK(x.type == HIST_TYPE_FLOAT64 && x.v.f == 21.5 && x.ts == NOW_NS && x.q == 0);
    CHECK(feed(m, "site/a/b", "1", &x, &c) == 0 && !strcmp(x.tag, "north/site/a/b"));
    CHECK(feed(m, "raw/x/y", "true", &x, &c) == 0 && !strcmp(x.tag, "raw/x/y"));
    CHECK(x.type == HIST_TYPE_BOOL && x.v.i == 1);
    CHECK(feed(m, "deep/1/2/3/4/5", "false", &x, &c) == 0 && !strcmp(x.tag, "2/3/4/5"));
    CHECK(x.v.i == 0);
    CHECK(feed(m, "whole/q", "7", &x, &c) == 0 && !strcmp(x.tag, "a/whole/q"));
    /* '+' is one level, the filter's levels must all be there */
    CHECK(feed(m, "plant/line1/x/temp", "1", &x, &c) == HIST_ENOTFOUND);
    CHECK(feed(m, "plant/line1", "1", &x, &c) == HIST_ENOTFOUND);
    /* {4..} names a level deep/1/2 does not have */
    CHECK(feed(m, "deep/1/2", "1", &x, &c) == HIST_EINVAL);
    /* a topic that is no tag name: an empty level */
    CHECK(feed(m, "raw//x", "1", &x, &c) == HIST_EINVAL);
    CHECK(strstr(lc.last, "raw//x") && strstr(lc.last, "not a tag name"));
    CHECK(c.refused == 4 && c.samples == 0); /* the caller counts samples */
    /* a name over 255 bytes */
    char t[400];
    snprintf(t, sizeof t, "raw/%0300d", 0);
    CHECK(feed(m, t, "1", &x, &c) == HIST_EINVAL && strstr(lc.last, "255"));
    plain__free(m);
}

static void test_payloads(void)
{
    const char *topics[] = {"t/#"};
    sink_options o = {.topics = topics, .n_topics = 1};
    log_capture lc = {0};
    plain_map *m = map_of(&o, &lc);
    plain_sample x;
    sink_counts c = {0};
    /* ms timestamps (the default unit), across 01:00 UTC */
    CHECK(feed(m, "t/a", "{\"value\": 3, \"timestamp\": 1767229199999}", &x, &c) == 0);
    CHECK(x.v.f == 3 && x.ts == INT64_C(1767229199999) * 1000000);
    CHECK(feed(m, "t/a", "{\"value\": -0.25, \"timestamp\": 1767229200000.5}", &x, &c) == 0);
    CHECK(x.v.f == -0.25 && x.ts == INT64_C(1767229200000500000));
    /* RFC 3339, with an offset: Europe's DST change of 2026-03-29 01:00 UTC */
    CHECK(feed(m, "t/a", "{\"value\":1,\"timestamp\":\"2026-03-29T03:00:00.5+02:00\"}", &x, &c) ==
          0);
    CHECK(x.ts == INT64_C(1774746000500000000));
    CHECK(feed(m, "t/a", "{\"value\":1,\"timestamp\":\"2026-12-31T23:59:59Z\"}", &x, &c) == 0);
    CHECK(x.ts == INT64_C(1798761599000000000));
    /* qualities: a StatusCode or a word */
    CHECK(feed(m, "t/a", "{\"value\":1,\"quality\":2150694912}", &x, &c) == 0);
    CHECK(x.q == 0x80310000u);
    CHECK(feed(m, "t/a", "{\"value\":1,\"quality\":\"Uncertain\"}", &x, &c) == 0);
    CHECK(x.q == HIST_QUALITY_UNCERTAIN);
    /* a null value: a Bad sample (a Bad quality given stays) */
    CHECK(feed(m, "t/a", "{\"value\":null}", &x, &c) == 0 && x.q == HIST_QUALITY_BAD);
    CHECK(feed(m, "t/a", "{\"value\":null,\"quality\":2150694912}", &x, &c) == 0);
    CHECK(x.q == 0x80310000u);
    CHECK(feed(m, "t/a", " 42 \n", &x, &c) == 0 && x.v.f == 42 && x.ts == NOW_NS);
    CHECK(c.refused == 0);
    /* refused, each with its reason, and only the topic's first logged */
    const char *bad[] = {"abc",
                         "\"21\"",
                         "[1,2]",
                         "{\"v\": 1}",
                         "{\"value\": \"x\"}",
                         "{\"value\": 1, \"timestamp\": \"yesterday\"}",
                         "{\"value\": 1, \"timestamp\": \"-1h\"}",
                         "{\"value\": 1, \"timestamp\": 1e300}",
                         "{\"value\": 1, \"timestamp\": 9223372036854775807}",
                         "{\"value\": 1, \"quality\": -1}",
                         "{\"value\": 1, \"quality\": \"fine\"}",
                         "{\"value\": 1, \"value\": 2}",
                         ""};
    int before = lc.lines;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(feed(m, "t/bad", bad[i], &x, &c) == HIST_EINVAL, "payload %s", bad[i]);
    CHECK(c.refused == sizeof bad / sizeof bad[0]);
    CHECK(lc.lines == before + 1 && strstr(lc.last, "t/bad"));
    CHECK(feed(m, "t/bad2", "x", &x, &c) == HIST_EINVAL && lc.lines == before + 2);
    /* over 64 KiB */
    static char big[70000];
    memset(big, ' ', sizeof big - 2);
    big[sizeof big - 2] = '1';
    CHECK(feed(m, "t/big", big, &x, &c) == HIST_EINVAL && strstr(lc.last, "64 KiB"));
    plain__free(m);
}

static void test_fields_and_units(void)
{
    const char *topics[] = {"f/#"};
    sink_options o = {.topics = topics,
                      .n_topics = 1,
                      .value_field = "data.v",
                      .time_field = "t",
                      .quality_field = "meta.q",
                      .time_unit = "ns"};
    log_capture lc = {0};
    plain_map *m = map_of(&o, &lc);
    plain_sample x;
    sink_counts c = {0};
    CHECK(feed(m, "f/a", "{\"data\":{\"v\":5},\"t\":1767225600123456789,\"meta\":{\"q\":0}}", &x,
               &c) == 0);
    CHECK(x.v.f == 5 && x.ts == INT64_C(1767225600123456789) && x.q == 0);
    /* the default names mean nothing now */
    CHECK(feed(m, "f/a", "{\"value\":5}", &x, &c) == HIST_EINVAL);
    plain__free(m);
    const char *units[] = {"s", "us"};
    const int64_t scale[] = {1000000000, 1000};
    for (int i = 0; i < 2; i++) {
        sink_options u = {.topics = topics, .n_topics = 1, .time_unit = units[i]};
        m = map_of(&u, &lc);
        CHECK(feed(m, "f/a", "{\"value\":1,\"timestamp\":1767225600}", &x, &c) == 0);
        CHECK(x.ts == INT64_C(1767225600) * scale[i]);
        plain__free(m);
    }
}

/* Options refused at start, each naming what is wrong. */
static void test_bad_options(void)
{
    struct {
        const char *topic, *field, *unit, *says;
    } cases[] = {
        {"=x", NULL, NULL, "no topic filter"},
        {"a/#/b", NULL, NULL, "'#'"},
        {"a#", NULL, NULL, "'#'"},
        {"a/+=", NULL, NULL, "empty template"},
        {"a/+={0}", NULL, NULL, "placeholders"},
        {"a/+={65}", NULL, NULL, "placeholders"},
        {"a/+={1", NULL, NULL, "placeholders"},
        {"a/+={name}", NULL, NULL, "placeholders"},
        {"a/#", "a..b", NULL, "JSON field"},
        {"a/#", "", "minutes", "--mqtt-time-unit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *topics[] = {cases[i].topic};
        sink_options o = {.topics = topics,
                          .n_topics = 1,
                          .value_field = cases[i].field,
                          .time_unit = cases[i].unit};
        hist_log_sink log = hist_log_sink_make(NULL, NULL, HIST_LOG_ERROR);
        plain_map *m = NULL;
        char err[256] = "";
        CHECKF(plain__new(&o, &log, &m, err, sizeof err) == HIST_EINVAL && !m, "case %zu accepted",
               i);
        CHECKF(strstr(err, cases[i].says) != NULL, "case %zu says '%s'", i, err);
    }
}

/* More refused topics than are remembered: one line says so, then quiet. */
static void test_log_bound(void)
{
    const char *topics[] = {"n/#"};
    sink_options o = {.topics = topics, .n_topics = 1};
    log_capture lc = {0};
    plain_map *m = map_of(&o, &lc);
    plain_sample x;
    sink_counts c = {0};
    char t[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(t, sizeof t, "n/%d", i);
        feed(m, t, "junk", &x, &c);
        feed(m, t, "junk", &x, &c);
    }
    CHECK(c.refused == 10000);
    CHECK(lc.lines == 4096 + 1);
    plain__free(m);
}

/* The sink: plain samples land in the batch, Sparkplug topics do not reach
 * the plain map (an unknown node's NDATA asks for a rebirth instead). */
static void test_sink(void)
{
    const char *topics[] = {"p/#"};
    sink_options o = {.topics = topics, .n_topics = 1};
    hist_log_sink log = hist_log_sink_make(NULL, NULL, HIST_LOG_ERROR);
    mqtt_sink *s = NULL;
    char err[256];
    REQUIRE(sink__new(&log, &o, &s, err, sizeof err) == 0);
    CHECK(sink__filter_count(s) == 1 && !strcmp(sink__filter(s, 0), "p/#"));
    batch_builder b;
    batch__init(&b);
    sink_publish pub;
    sink_counts c = {0};
    const char *msgs[] = {"1", "2", "{\"value\":3}", "nope"};
    for (int i = 0; i < 4; i++)
        CHECK(sink__message(s, "p/x", 3, (const uint8_t *)msgs[i], strlen(msgs[i]), 1000, &b, &pub,
                            &c) == 0);
    CHECK(c.messages == 4 && c.samples == 3 && c.refused == 1 && !pub.topic);
    hist_in_batch *batch = NULL;
    REQUIRE(batch__build(&b, 1, true, &batch) == 0 && batch);
    CHECK(batch->nseries == 1 && batch->series[0].n == 3 && batch->series[0].v[2].f == 3);
    free(batch);
    const char *t = "spBv1.0/g/NDATA/e";
    CHECK(sink__message(s, t, strlen(t), (const uint8_t *)"", 0, 1000, &b, &pub, &c) == 0);
    CHECK(pub.topic && strstr(pub.topic, "NCMD") && c.rebirths == 1 && c.refused == 1);
    batch__free(&b);
    sink__free(s);
}

int main(void)
{
    test_names();
    test_payloads();
    test_fields_and_units();
    test_bad_options();
    test_log_bound();
    test_sink();
    return check_summary();
}
