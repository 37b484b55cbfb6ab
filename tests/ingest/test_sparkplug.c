/*
 * test_sparkplug.c: the Sparkplug B host core (ingest/sparkplug/) on
 * payloads packed by protobuf-c: births with aliases, data by alias, seq
 * wrap and gaps, rebirth requests and their rate limit, deaths (bdSeq),
 * devices, null, historical and Quality, units, every datatype.
 * test_sparkplug_wire.c has the topics, names, encoders and malformed
 * bytes.
 */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "common/hist_error.h"
#include "spb_build.h"
#include "storage/hist_storage.h"

#define T0     1700000000000ull /* ms */
#define NS(ms) ((int64_t)(ms)*1000000)

static const char *NB = "spBv1.0/Plant1/NBIRTH/Edge1";
static const char *ND = "spBv1.0/Plant1/NDATA/Edge1";
static const char *NX = "spBv1.0/Plant1/NDEATH/Edge1";
static const char *DB = "spBv1.0/Plant1/DBIRTH/Edge1/Dev1";
static const char *DD = "spBv1.0/Plant1/DDATA/Edge1/Dev1";
static const char *DX = "spBv1.0/Plant1/DDEATH/Edge1/Dev1";

static int log_unsupported;
static void count_log(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level;
    if (strstr(msg, "not stored"))
        log_unsupported++;
}

/* NBIRTH of Plant1/Edge1: bdSeq, Temp (Int32, alias 1), Flow (Double,
 * alias 2, engUnit m3/h), Run (Boolean, alias 3), Line/Speed (Float, alias
 * 4), seq 0. */
static int nbirth(hist_spb_host *h, hist_spb_result *r, uint64_t bdseq, uint64_t now)
{
    static spb_msg x;
    spb_init(&x, now, 0);
    spb_long(spb_add(&x, "bdSeq", -1, 8), bdseq);
    spb_int(spb_add(&x, "Temp", 1, 3), (uint32_t)-5);
    spb_double(spb_add(&x, "Flow", 2, 10), 12.5);
    spb_prop_str(&x, "engUnit", "m3/h");
    spb_bool(spb_add(&x, "Run", 3, 11), 1);
    spb_float(spb_add(&x, "Line/Speed", 4, 9), 1.5f);
    int rc = spb_feed(h, r, NB, &x, now);
    spb_done(&x);
    return rc;
}

/* NDATA seq with Temp = v by alias */
static int ndata(hist_spb_host *h, hist_spb_result *r, int seq, int32_t v, uint64_t now)
{
    static spb_msg x;
    spb_init(&x, now, seq);
    spb_int(spb_add(&x, NULL, 1, 0), (uint32_t)v);
    int rc = spb_feed(h, r, ND, &x, now);
    spb_done(&x);
    return rc;
}

static void test_birth_and_data(void)
{
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    CHECK_OK(nbirth(h, &r, 7, T0));
    CHECK(r.kind == HIST_SPB_NBIRTH);
    CHECK_EQ_I64(r.n_samples, 4); /* bdSeq is not a sample */
    const hist_spb_sample *s = spb_find(&r, "Plant1/Edge1/Temp");
    CHECK(s && s->type == HIST_TYPE_INT64 && s->v.i == -5 && s->q == 0 && s->ts == NS(T0));
    s = spb_find(&r, "Plant1/Edge1/Flow");
    CHECK(s && s->type == HIST_TYPE_FLOAT64 && s->v.f == 12.5 && !strcmp(s->unit, "m3/h"));
    s = spb_find(&r, "Plant1/Edge1/Run");
    CHECK(s && s->type == HIST_TYPE_BOOL && s->v.i == 1);
    s = spb_find(&r, "Plant1/Edge1/Line/Speed"); /* '/' adds a level */
    CHECK(s && s->type == HIST_TYPE_FLOAT64 && s->v.f == 1.5);
    CHECK(!spb_find(&r, "Plant1/Edge1/bdSeq"));
    CHECK(!r.rebirth);

    /* data by alias: the metric's timestamp wins over the payload's */
    static spb_msg x;
    spb_init(&x, T0 + 100, 1);
    HistSpb__Payload__Metric *m = spb_add(&x, NULL, 2, 0);
    spb_double(m, 13.25);
    spb_ts(m, T0 + 50);
    spb_bool(spb_add(&x, NULL, 3, 0), 0);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 200));
    CHECK_EQ_I64(r.n_samples, 2);
    s = spb_find(&r, "Plant1/Edge1/Flow");
    CHECK(s && s->v.f == 13.25 && s->ts == NS(T0 + 50) && !strcmp(s->unit, "m3/h"));
    s = spb_find(&r, "Plant1/Edge1/Run");
    CHECK(s && s->v.i == 0 && s->ts == NS(T0 + 100)); /* the payload's */
    /* by name, no timestamp anywhere: the arrival time */
    spb_init(&x, 0, 2);
    spb_double(spb_add(&x, "Flow", -1, 0), 1.0);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 300));
    s = spb_find(&r, "Plant1/Edge1/Flow");
    CHECK(r.n_samples == 1 && s && s->ts == NS(T0 + 300));
    spb_done(&x);
    hist_spb_stats st = hist_spb_host_stats(h);
    CHECK_EQ_I64(st.messages, 3);
    CHECK_EQ_I64(st.samples, 7);
    CHECK_EQ_I64(st.rebirths, 0);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

static void test_seq(void)
{
    hist_spb_host *h = hist_spb_host_new(&(hist_spb_options){.rebirth_interval_ms = 1000});
    hist_spb_result r = {0};
    CHECK_OK(nbirth(h, &r, 1, T0));
    int ok = 0;
    for (int i = 1; i <= 300; i++) { /* 1..255, 0, 1..44: wraps */
        CHECK_OK(ndata(h, &r, i % 256, i, T0 + (uint64_t)i));
        ok += r.n_samples == 1 && !r.rebirth && r.samples[0].v.i == i;
    }
    CHECK_EQ_I64(ok, 300);

    /* a gap (seq 300 % 256 = 44 was last; 46 skips one) */
    CHECK_OK(ndata(h, &r, 46, 1, T0 + 1000));
    CHECK(r.n_samples == 0 && r.rebirth && r.stats.dropped == 1);
    CHECK(r.rebirth_topic && !strcmp(r.rebirth_topic, "spBv1.0/Plant1/NCMD/Edge1"));
    HistSpb__Payload *p = hist_spb__payload__unpack(NULL, r.rebirth_payload_len, r.rebirth_payload);
    CHECK(p && p->n_metrics == 1 && !strcmp(p->metrics[0]->name, "Node Control/Rebirth") &&
          p->metrics[0]->datatype == 11 &&
          p->metrics[0]->value_case == HIST_SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE &&
          p->metrics[0]->boolean_value && p->timestamp == T0 + 1000 &&
          p->metrics[0]->timestamp == T0 + 1000);
    if (p)
        hist_spb__payload__free_unpacked(p, NULL);
    /* awaiting: the right next seq is dropped too; no new request inside
     * the interval, one after it */
    CHECK_OK(ndata(h, &r, 47, 1, T0 + 1500));
    CHECK(r.n_samples == 0 && !r.rebirth && r.stats.dropped == 1);
    CHECK_OK(ndata(h, &r, 48, 1, T0 + 1999));
    CHECK(r.n_samples == 0 && !r.rebirth);
    CHECK_OK(ndata(h, &r, 49, 1, T0 + 2000));
    CHECK(r.n_samples == 0 && r.rebirth);
    /* a clock that goes back counts as an interval passed */
    CHECK_OK(ndata(h, &r, 50, 1, T0 + 10));
    CHECK(r.n_samples == 0 && r.rebirth);
    /* the new birth recovers */
    CHECK_OK(nbirth(h, &r, 2, T0 + 3000));
    CHECK(r.n_samples == 4 && !r.rebirth);
    CHECK_OK(ndata(h, &r, 1, 42, T0 + 3001));
    CHECK(r.n_samples == 1 && r.samples[0].v.i == 42);
    /* no seq, or one over 255: a gap */
    CHECK_OK(ndata(h, &r, -1, 1, T0 + 6000));
    CHECK(r.n_samples == 0 && r.rebirth);
    CHECK_OK(nbirth(h, &r, 3, T0 + 7000));
    CHECK_OK(ndata(h, &r, 257, 1, T0 + 7001));
    CHECK(r.n_samples == 0 && r.stats.dropped == 1);
    hist_spb_stats st = hist_spb_host_stats(h);
    CHECK_EQ_I64(st.rebirths, 5);
    CHECK_EQ_I64(st.dropped, 7);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

static void test_unknown_alias_and_early_data(void)
{
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    /* data before any birth */
    CHECK_OK(ndata(h, &r, 1, 5, T0));
    CHECK(r.n_samples == 0 && r.rebirth && r.stats.dropped == 1);
    CHECK(strstr(r.why, "birth") != NULL);
    CHECK_OK(nbirth(h, &r, 1, T0 + 1));
    /* one unknown alias drops the whole message */
    static spb_msg x;
    spb_init(&x, T0 + 10000, 1);
    spb_int(spb_add(&x, NULL, 1, 0), 9);
    spb_int(spb_add(&x, NULL, 99, 0), 9);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 10000));
    CHECK(r.n_samples == 0 && r.rebirth && r.stats.dropped == 2);
    /* an unknown name too; the request is rate-limited across births */
    CHECK_OK(nbirth(h, &r, 2, T0 + 10001));
    spb_init(&x, T0 + 10002, 1);
    spb_int(spb_add(&x, "Nope", -1, 0), 9);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 10002));
    CHECK(r.n_samples == 0 && !r.rebirth && r.stats.dropped == 1);
    /* DDATA of a device without DBIRTH */
    CHECK_OK(nbirth(h, &r, 3, T0 + 20000));
    spb_init(&x, T0 + 20001, 1);
    spb_int(spb_add(&x, NULL, 1, 0), 9);
    CHECK_OK(spb_feed(h, &r, DD, &x, T0 + 20001));
    CHECK(r.n_samples == 0 && r.rebirth);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

static void test_deaths_and_devices(void)
{
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    CHECK_OK(nbirth(h, &r, 5, T0));
    static spb_msg x;
    spb_init(&x, T0 + 1, 1);
    spb_double(spb_add(&x, "Level", 10, 10), 0.5);
    spb_prop_str(&x, "engineeringUnit", "%");
    spb_long(spb_add(&x, "Count", 11, 4), (uint64_t)-3);
    CHECK_OK(spb_feed(h, &r, DB, &x, T0 + 1));
    CHECK_EQ_I64(r.n_samples, 2);
    const hist_spb_sample *s = spb_find(&r, "Plant1/Edge1/Dev1/Level");
    CHECK(s && s->v.f == 0.5 && !strcmp(s->unit, "%"));
    s = spb_find(&r, "Plant1/Edge1/Dev1/Count");
    CHECK(s && s->v.i == -3);
    spb_init(&x, T0 + 2, 2);
    spb_double(spb_add(&x, NULL, 10, 0), 0.75);
    CHECK_OK(spb_feed(h, &r, DD, &x, T0 + 2));
    s = spb_find(&r, "Plant1/Edge1/Dev1/Level");
    CHECK(r.n_samples == 1 && s && s->v.f == 0.75);
    /* DDEATH: the device's two metrics, Bad_NoCommunication, at its ts */
    spb_init(&x, T0 + 5, 3);
    CHECK_OK(spb_feed(h, &r, DX, &x, T0 + 6));
    CHECK_EQ_I64(r.n_samples, 2);
    s = spb_find(&r, "Plant1/Edge1/Dev1/Level");
    CHECK(s && s->q == HIST_SPB_BAD_NO_COMMUNICATION && s->ts == NS(T0 + 5) &&
          s->type == HIST_TYPE_FLOAT64);
    s = spb_find(&r, "Plant1/Edge1/Dev1/Count");
    CHECK(s && s->q == 0x80310000u && s->type == HIST_TYPE_INT64);
    /* device data after its death: rebirth */
    spb_init(&x, T0 + 7, 4);
    spb_double(spb_add(&x, NULL, 10, 0), 1);
    CHECK_OK(spb_feed(h, &r, DD, &x, T0 + 7));
    CHECK(r.n_samples == 0 && r.rebirth);

    /* a new session with the device alive again */
    CHECK_OK(nbirth(h, &r, 6, T0 + 100));
    spb_init(&x, T0 + 101, 1);
    spb_double(spb_add(&x, "Level", 10, 10), 0.5);
    CHECK_OK(spb_feed(h, &r, DB, &x, T0 + 101));
    CHECK_EQ_I64(r.n_samples, 1);
    /* an NDEATH with an older bdSeq (a late will): ignored */
    spb_init(&x, 0, -1);
    spb_long(spb_add(&x, "bdSeq", -1, 8), 5);
    CHECK_OK(spb_feed(h, &r, NX, &x, T0 + 200));
    CHECK(r.n_samples == 0 && r.stats.stale_deaths == 1);
    /* the right one: every node and device metric, at the arrival time */
    spb_init(&x, T0 + 150, -1);
    spb_long(spb_add(&x, "bdSeq", -1, 8), 6);
    CHECK_OK(spb_feed(h, &r, NX, &x, T0 + 300));
    CHECK_EQ_I64(r.n_samples, 5);
    int bad = 0;
    for (size_t i = 0; i < r.n_samples; i++)
        bad += r.samples[i].q == 0x80310000u && r.samples[i].ts == NS(T0 + 300);
    CHECK_EQ_I64(bad, 5);
    CHECK(spb_find(&r, "Plant1/Edge1/Dev1/Level") && spb_find(&r, "Plant1/Edge1/Run"));
    /* data after the death: birth first */
    CHECK_OK(ndata(h, &r, 2, 1, T0 + 10000));
    CHECK(r.n_samples == 0 && r.rebirth && r.stats.dropped == 1);
    /* a second NDEATH: nothing more */
    CHECK_OK(spb_feed(h, &r, NX, &x, T0 + 500));
    CHECK_EQ_I64(r.n_samples, 0);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);

    /* configurable quality; a death never goes before the latest sample */
    h = hist_spb_host_new(&(hist_spb_options){.death_quality = 0x808A0000u});
    CHECK_OK(nbirth(h, &r, 1, T0 + 1000));
    spb_init(&x, 0, -1);
    spb_long(spb_add(&x, "bdSeq", -1, 8), 1);
    CHECK_OK(spb_feed(h, &r, NX, &x, T0)); /* arrives "before" the birth */
    CHECK_EQ_I64(r.n_samples, 4);
    s = spb_find(&r, "Plant1/Edge1/Temp");
    CHECK(s && s->q == 0x808A0000u && s->ts == NS(T0 + 1000) + 1);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

static void test_null_historical_quality(void)
{
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    CHECK_OK(nbirth(h, &r, 1, T0));
    static spb_msg x;
    spb_init(&x, T0 + 10, 1);
    HistSpb__Payload__Metric *m = spb_add(&x, NULL, 1, 0);
    m->has_is_null = 1, m->is_null = 1;
    m = spb_add(&x, NULL, 2, 0);
    spb_double(m, 3.0);
    m->has_is_historical = 1, m->is_historical = 1;
    spb_ts(m, T0 - 3600000);
    m = spb_add(&x, NULL, 3, 0);
    spb_bool(m, 1);
    spb_prop_int(&x, "Quality", 0);
    m = spb_add(&x, NULL, 4, 0);
    spb_float(m, 2.0f);
    spb_prop_int(&x, "Quality", 192);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 10));
    CHECK_EQ_I64(r.n_samples, 4);
    const hist_spb_sample *s = spb_find(&r, "Plant1/Edge1/Temp");
    CHECK(s && s->q == HIST_QUALITY_BAD && s->v.i == 0);
    s = spb_find(&r, "Plant1/Edge1/Flow");
    CHECK(s && s->historical && s->ts == NS(T0 - 3600000) && s->v.f == 3.0 && s->q == 0);
    s = spb_find(&r, "Plant1/Edge1/Run");
    CHECK(s && s->q == 0x80000000u && s->v.i == 1);
    s = spb_find(&r, "Plant1/Edge1/Line/Speed");
    CHECK(s && s->q == 0 && !s->historical);
    /* null with a bad Quality keeps that quality; null with Good: Bad */
    spb_init(&x, T0 + 11, 2);
    m = spb_add(&x, NULL, 1, 0);
    m->has_is_null = 1, m->is_null = 1;
    spb_prop_int(&x, "Quality", 8);
    m = spb_add(&x, NULL, 2, 0);
    m->has_is_null = 1, m->is_null = 1;
    spb_prop_int(&x, "Quality", 192);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 11));
    s = spb_find(&r, "Plant1/Edge1/Temp");
    CHECK(s && s->q == 0x808A0000u);
    s = spb_find(&r, "Plant1/Edge1/Flow");
    CHECK(s && s->q == 0x80000000u);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);

    /* the table */
    CHECK(hist_quality_from_da(192) == 0);
    CHECK(hist_quality_from_da(195) == 0); /* limit bits */
    CHECK(hist_quality_from_da(0) == 0x80000000u);
    CHECK(hist_quality_from_da(4) == 0x80890000u);
    CHECK(hist_quality_from_da(8) == 0x808A0000u);
    CHECK(hist_quality_from_da(12) == 0x808B0000u);
    CHECK(hist_quality_from_da(16) == 0x808C0000u);
    CHECK(hist_quality_from_da(20) == 0x80310000u);
    CHECK(hist_quality_from_da(24) == 0x80050000u);
    CHECK(hist_quality_from_da(28) == 0x808D0000u);
    CHECK(hist_quality_from_da(64) == 0x40000000u);
    CHECK(hist_quality_from_da(68) == 0x40900000u);
    CHECK(hist_quality_from_da(80) == 0x40930000u);
    CHECK(hist_quality_from_da(84) == 0x40940000u);
    CHECK(hist_quality_from_da(88) == 0x40950000u);
    CHECK(hist_quality_from_da(216) == 0x00960000u);
    CHECK(hist_quality_from_da(200) == 0);           /* other Good */
    CHECK(hist_quality_from_da(96) == 0x40000000u);  /* other Uncertain */
    CHECK(hist_quality_from_da(32) == 0x80000000u);  /* other Bad */
    CHECK(hist_quality_from_da(128) == 0x80000000u); /* reserved */
    CHECK(hist_quality_from_da(-1) == 0x80000000u);
    CHECK(hist_quality_from_da(0x80340000) == 0x80340000u); /* an OPC UA code */
}

/* A birth with every datatype. */
static void all_types(spb_msg *x, uint64_t ts)
{
    spb_init(x, ts, 0);
    spb_int(spb_add(x, "i8", 1, 1), (uint32_t)-5);
    spb_int(spb_add(x, "i8z", 2, 1), 0xFB); /* zero-extended: the low 8 bits */
    spb_int(spb_add(x, "i16", 3, 2), (uint32_t)-300);
    spb_int(spb_add(x, "i32", 4, 3), (uint32_t)-70000);
    spb_long(spb_add(x, "i64", 5, 4), (uint64_t)INT64_MIN);
    spb_int(spb_add(x, "u8", 6, 5), 200);
    spb_int(spb_add(x, "u16", 7, 6), 60000);
    spb_int(spb_add(x, "u32", 8, 7), 4000000000u);
    spb_long(spb_add(x, "u32l", 9, 7), 4000000001u);
    spb_long(spb_add(x, "u64", 10, 8), (uint64_t)INT64_MAX);
    spb_long(spb_add(x, "u64big", 11, 8), (uint64_t)INT64_MAX + 1);
    spb_float(spb_add(x, "f", 12, 9), -0.25f);
    spb_double(spb_add(x, "d", 13, 10), 1e300);
    spb_bool(spb_add(x, "b", 14, 11), 1);
    spb_long(spb_add(x, "dt", 15, 13), T0 - 1);
    spb_string(spb_add(x, "s", 16, 12), "hello");
    spb_string(spb_add(x, "text", 17, 14), "long text");
    spb_string(spb_add(x, "uuid", 18, 15), "5b3c8e0a-0000-0000-0000-000000000000");
    HistSpb__Payload__Metric *m = spb_add(x, "bytes", 19, 17);
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_BYTES_VALUE;
    m->bytes_value.data = (uint8_t *)"\1\2\3", m->bytes_value.len = 3;
    m = spb_add(x, "file", 20, 18);
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_BYTES_VALUE;
    m->bytes_value.data = (uint8_t *)"x", m->bytes_value.len = 1;
    static HistSpb__Payload__DataSet ds = HIST_SPB__PAYLOAD__DATA_SET__INIT;
    ds.has_num_of_columns = 1, ds.num_of_columns = 0;
    m = spb_add(x, "ds", 21, 16);
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_DATASET_VALUE, m->dataset_value = &ds;
    static HistSpb__Payload__Template tp = HIST_SPB__PAYLOAD__TEMPLATE__INIT;
    tp.version = "1";
    m = spb_add(x, "tmpl", 22, 19);
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_TEMPLATE_VALUE, m->template_value = &tp;
    spb_int(spb_add(x, "mismatch", 23, 10), 5); /* a Double with an int_value */
    spb_int(spb_add(x, "i64arr", 24, 25), 0);
}

/* Every datatype, in one birth and one data message. */
static void test_datatypes(void)
{
    log_unsupported = 0;
    hist_spb_options o = {.log = hist_log_sink_make(count_log, NULL, HIST_LOG_ERROR)};
    hist_spb_host *h = hist_spb_host_new(&o);
    hist_spb_result r = {0};
    static spb_msg x;
    all_types(&x, T0);
    CHECK_OK(spb_feed(h, &r, NB, &x, T0));
    struct {
        const char *m;
        hist_type t;
        int64_t i;
        double f;
    } want[] = {
        {"i8", HIST_TYPE_INT64, -5, 0},
        {"i8z", HIST_TYPE_INT64, -5, 0},
        {"i16", HIST_TYPE_INT64, -300, 0},
        {"i32", HIST_TYPE_INT64, -70000, 0},
        {"i64", HIST_TYPE_INT64, INT64_MIN, 0},
        {"u8", HIST_TYPE_INT64, 200, 0},
        {"u16", HIST_TYPE_INT64, 60000, 0},
        {"u32", HIST_TYPE_INT64, 4000000000, 0},
        {"u32l", HIST_TYPE_INT64, 4000000001, 0},
        {"u64", HIST_TYPE_INT64, INT64_MAX, 0},
        {"f", HIST_TYPE_FLOAT64, 0, -0.25},
        {"d", HIST_TYPE_FLOAT64, 0, 1e300},
        {"b", HIST_TYPE_BOOL, 1, 0},
        {"dt", HIST_TYPE_INT64, (int64_t)T0 - 1, 0},
    };
    size_t nw = sizeof(want) / sizeof(want[0]);
    CHECK_EQ_I64(r.n_samples, nw);
    for (size_t i = 0; i < nw; i++) {
        char tag[64];
        snprintf(tag, sizeof(tag), "Plant1/Edge1/%s", want[i].m);
        const hist_spb_sample *s = spb_find(&r, tag);
        CHECKF(s && s->type == want[i].t &&
                   (s->type == HIST_TYPE_FLOAT64 ? s->v.f == want[i].f : s->v.i == want[i].i),
               "%s", tag);
    }
    CHECK(!spb_find(&r, "Plant1/Edge1/u64big") && !spb_find(&r, "Plant1/Edge1/s"));
    CHECK_EQ_I64(r.stats.unsupported, 8); /* s text uuid bytes file ds tmpl i64arr */
    CHECK_EQ_I64(r.stats.invalid, 2);     /* u64big, mismatch */
    CHECK_EQ_I64(log_unsupported, 10);
    /* again, by alias: counted again, logged no more */
    spb_init(&x, T0 + 1, 1);
    spb_string(spb_add(&x, NULL, 16, 0), "again");
    spb_long(spb_add(&x, NULL, 11, 0), UINT64_MAX);
    spb_long(spb_add(&x, NULL, 10, 0), 7);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0 + 1));
    CHECK(r.n_samples == 1 && r.samples[0].v.i == 7 && !r.rebirth);
    CHECK(r.stats.unsupported == 1 && r.stats.invalid == 1);
    CHECK_EQ_I64(log_unsupported, 10);
    /* a death writes to the stored types only */
    spb_init(&x, 0, -1);
    CHECK_OK(spb_feed(h, &r, NX, &x, T0 + 2)); /* no bdSeq at all: taken */
    CHECK_EQ_I64(r.n_samples, 16);             /* every numeric metric, u64big and mismatch too */
    CHECK(!spb_find(&r, "Plant1/Edge1/s") && spb_find(&r, "Plant1/Edge1/u64big"));
    /* a rebirth: refusals are not logged again, and a death after it still
     * comes after the latest sample */
    all_types(&x, T0 - 100);
    CHECK_OK(spb_feed(h, &r, NB, &x, T0 - 100));
    CHECK(r.n_samples == nw && r.stats.unsupported == 8 && r.stats.invalid == 2);
    CHECK_EQ_I64(log_unsupported, 10);
    spb_init(&x, 0, -1);
    CHECK_OK(spb_feed(h, &r, NX, &x, T0 - 50));
    const hist_spb_sample *s = spb_find(&r, "Plant1/Edge1/u64");
    CHECK(r.n_samples == 16 && s && s->ts == NS(T0 + 2) + 1);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

/* Births that repeat a name or an alias, or lack a name; a timestamp out of
 * range; limits. */
static void test_birth_rules(void)
{
    hist_spb_host *h = hist_spb_host_new(&(hist_spb_options){.max_nodes = 2, .max_payload = 4096});
    hist_spb_result r = {0};
    static spb_msg x;
    spb_init(&x, T0, 0);
    spb_int(spb_add(&x, "a", 1, 3), 1);
    spb_int(spb_add(&x, "a", 2, 3), 2);
    spb_int(spb_add(&x, "b", 1, 3), 3);
    spb_int(spb_add(&x, NULL, 3, 3), 4);
    HistSpb__Payload__Metric *m = spb_add(&x, "late", 4, 3);
    spb_int(m, 5);
    spb_ts(m, UINT64_MAX / 2);
    CHECK_OK(spb_feed(h, &r, NB, &x, T0));
    CHECK(r.n_samples == 1 && r.samples[0].v.i == 1 && r.stats.invalid == 4);
    /* "late" is known (its alias resolves) though its value was refused */
    spb_init(&x, T0, 1);
    spb_int(spb_add(&x, NULL, 4, 0), 6);
    CHECK_OK(spb_feed(h, &r, ND, &x, T0));
    CHECK(r.n_samples == 1 && !r.rebirth && r.samples[0].ts == NS(T0));
    /* max_nodes: the third node is refused */
    CHECK_OK(hist_spb_host_handle(h, "spBv1.0/G/NBIRTH/n2", 19, x.buf, x.len, T0, &r));
    CHECK(hist_spb_host_handle(h, "spBv1.0/G/NBIRTH/n3", 19, x.buf, x.len, T0, &r) == HIST_ETOOBIG);
    /* max_payload */
    uint8_t big[5000] = {0};
    CHECK(hist_spb_host_handle(h, ND, strlen(ND), big, sizeof(big), T0, &r) == HIST_ETOOBIG);
    CHECK(r.stats.refused == 1 && r.n_samples == 0);
    /* STATE and commands are not data */
    CHECK_OK(hist_spb_host_handle(h, "spBv1.0/STATE/other", 19, (const uint8_t *)"{}", 2, T0, &r));
    CHECK(r.kind == HIST_SPB_STATE && r.n_samples == 0);
    CHECK_OK(hist_spb_host_handle(h, "spBv1.0/Plant1/NCMD/Edge1", 25, x.buf, x.len, T0, &r));
    CHECK(r.kind == HIST_SPB_NCMD && r.n_samples == 0);
    /* a bad topic */
    CHECK(hist_spb_host_handle(h, "spAv1.0/x", 9, NULL, 0, T0, &r) == HIST_EINVAL);
    CHECK(r.stats.refused == 1 && strstr(r.why, "spBv1.0"));
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

/* Tag names of births that break the rules: mapped, never dropped. */
static void test_birth_names(void)
{
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    static spb_msg x;
    static const char *names[] = {"/lead", "trail/", "a//b", "", "ctl\x01x", "bad\xff", "ok"};
    spb_init(&x, T0, 0);
    for (int i = 0; i < 7; i++)
        spb_int(spb_add(&x, names[i], i + 1, 3), (uint32_t)i);
    CHECK_OK(spb_feed(h, &r, "spBv1.0/G/NBIRTH/N", &x, T0));
    CHECK_EQ_I64(r.n_samples, 7);
    CHECK_EQ_I64(r.stats.renamed, 6);
    int valid = 0;
    for (size_t i = 0; i < r.n_samples; i++)
        valid += hist_tag_name_check(r.samples[i].tag, strlen(r.samples[i].tag)) == 0;
    CHECK_EQ_I64(valid, 7);
    CHECK(spb_find(&r, "G/N/ok"));
    CHECK(!strncmp(r.samples[0].tag, "G/N/_/lead~", 11));
    CHECK(!strncmp(r.samples[2].tag, "G/N/a/_/b~", 10));
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

int main(void)
{
    test_birth_and_data();
    test_seq();
    test_unknown_alias_and_early_data();
    test_deaths_and_devices();
    test_null_historical_quality();
    test_datatypes();
    test_birth_rules();
    test_birth_names();
    return check_summary();
}
