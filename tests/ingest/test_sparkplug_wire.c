/*
 * test_sparkplug_wire.c: the bytes and strings of ingest/sparkplug/: topic
 * parsing, the tag name rule's edge cases, the STATE JSON and rebirth
 * encoders, and the Payload reader (white-box, spb_payload__decode) on
 * protobuf-c's bytes and on malformed ones written with pbw.h: truncated,
 * huge lengths, wrong wire types, groups, field number 0.
 */
#include <stdio.h>

#include "check.h"
#include "common/hist_error.h"
#include "ingest/sparkplug/spb.h"
#include "pbw.h"
#include "spb_build.h"
#include "storage/hist_storage.h"

static int parse(const char *topic, hist_spb_topic *t)
{
    const char *why = NULL;
    int rc = hist_spb_topic_parse(topic, strlen(topic), t, &why);
    CHECKF(rc == 0 || (why && *why), "%s: a refusal says why", topic);
    return rc;
}

static bool part_is(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && !memcmp(p, want, n);
}

static void test_topics(void)
{
    hist_spb_topic t;
    CHECK_OK(parse("spBv1.0/G1/NBIRTH/E1", &t));
    CHECK(t.kind == HIST_SPB_NBIRTH && part_is(t.group, t.group_len, "G1") &&
          part_is(t.node, t.node_len, "E1") && !t.device);
    CHECK_OK(parse("spBv1.0/G1/DDATA/E1/D 1", &t));
    CHECK(t.kind == HIST_SPB_DDATA && part_is(t.device, t.device_len, "D 1"));
    static const char *kinds[] = {"BIRTH", "DATA", "DEATH", "CMD"};
    for (int i = 0; i < 4; i++) {
        char topic[64], kn[16], kd[16];
        snprintf(kn, sizeof(kn), "N%s", kinds[i]);
        snprintf(kd, sizeof(kd), "D%s", kinds[i]);
        snprintf(topic, sizeof(topic), "spBv1.0/g/%s/n", kn);
        CHECK(parse(topic, &t) == 0 && !strcmp(hist_spb_kind_name(t.kind), kn) && !t.device);
        snprintf(topic, sizeof(topic), "spBv1.0/g/%s/n/d", kn);
        CHECK(parse(topic, &t) == HIST_EINVAL);
        snprintf(topic, sizeof(topic), "spBv1.0/g/%s/n/d", kd);
        CHECK(parse(topic, &t) == 0 && !strcmp(hist_spb_kind_name(t.kind), kd) &&
              part_is(t.device, t.device_len, "d"));
        snprintf(topic, sizeof(topic), "spBv1.0/g/%s/n", kd);
        CHECK(parse(topic, &t) == HIST_EINVAL);
    }
    CHECK_OK(parse("spBv1.0/STATE/historian", &t));
    CHECK(t.kind == HIST_SPB_STATE && part_is(t.host, t.host_len, "historian"));
    static const char *bad[] = {
        "",
        "spBv1.0",
        "spBv1.0/",
        "spBv1.1/g/NDATA/n",
        "spbv1.0/g/NDATA/n",
        "spBv1.0/g/NDATA",
        "spBv1.0/g/NDATA/",
        "spBv1.0//NDATA/n",
        "spBv1.0/g/ndata/n",
        "spBv1.0/g/NDATAX/n",
        "spBv1.0/g/DDATA/n/",
        "spBv1.0/g/DDATA/n/d/e",
        "spBv1.0/g+/NDATA/n",
        "spBv1.0/g/NDATA/#",
        "spBv1.0/STATE/",
        "spBv1.0/STATE",
        "spBv1.0/STATE/a/b",
        "/spBv1.0/g/NDATA/n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECKF(parse(bad[i], &t) == HIST_EINVAL, "%s", bad[i]);
    CHECK(hist_spb_topic_parse("spBv1.0/g\0/NDATA/n", 18, &t, &(const char *){0}) == HIST_EINVAL);
}

static void name(const char *metric, size_t mlen, char *out)
{
    int changed = hist_spb_tag_name("G", 1, "N", 1, NULL, 0, metric, mlen, out);
    size_t n = strlen(out);
    CHECKF(hist_tag_name_check(out, n) == 0, "'%s' -> '%s' is valid", metric, out);
    bool same = n == 4 + mlen && !memcmp(out, "G/N/", 4) && !memcmp(out + 4, metric, mlen);
    CHECKF(changed == !same, "'%.*s' changed says so", (int)mlen, metric);
}

static void test_names(void)
{
    char a[HIST_TAG_NAME_MAX + 1], b[HIST_TAG_NAME_MAX + 1];
    name("Temp", 4, a);
    CHECK(!strcmp(a, "G/N/Temp"));
    name("Line 1/Motor/Speed", 18, a);
    CHECK(!strcmp(a, "G/N/Line 1/Motor/Speed"));
    CHECK(hist_spb_tag_name("G", 1, "N", 1, "D", 1, "m", 1, a) == 0 && !strcmp(a, "G/N/D/m"));
    name("Température/µ", strlen("Température/µ"), a); /* UTF-8 is kept */
    CHECK(!strcmp(a, "G/N/Température/µ"));
    /* mapped: a hash suffix, deterministic, distinct */
    name("a\tb", 3, a);
    name("a\nb", 3, b);
    CHECK(!strncmp(a, "G/N/a_b~", 8) && strlen(a) == 16 && strcmp(a, b) != 0);
    name("a\tb", 3, b);
    CHECK(!strcmp(a, b));
    name("a_b", 3, b); /* a valid name never meets a mapped one */
    CHECK(strcmp(a, b) != 0 && !strcmp(b, "G/N/a_b"));
    name("x\x7f", 2, a);
    CHECK(!strncmp(a, "G/N/x_~", 7));
    name("x\xc2\x85", 3, a); /* C1 (NEL): two bytes, two '_' */
    CHECK(!strncmp(a, "G/N/x__~", 8));
    name("\xe0\x80\xaf", 3, a); /* overlong */
    CHECK(!strncmp(a, "G/N/___~", 8));
    name("\xed\xa0\x80", 3, a); /* a surrogate */
    CHECK(!strncmp(a, "G/N/___~", 8));
    name("ab\xe2\x82", 4, a); /* cut short */
    CHECK(!strncmp(a, "G/N/ab__~", 9));
    name("", 0, a);
    CHECK(!strncmp(a, "G/N/_~", 6));
    name("/", 1, a);
    CHECK(!strncmp(a, "G/N/_/_~", 8));
    name("a///b/", 6, a);
    CHECK(!strncmp(a, "G/N/a/_/_/b/_~", 14));
    name("a//b", 4, a); /* docs/protocol.md's example */
    CHECK(!strcmp(a, "G/N/a/_/b~305c1a17"));
    name("a\0b", 3, a);
    CHECK(!strncmp(a, "G/N/a_b~", 8));
    /* the ids: one level each, a '/' in them would be replaced */
    CHECK(hist_spb_tag_name("G/H", 3, "N", 1, NULL, 0, "m", 1, a) == 1 &&
          !strncmp(a, "G_H/N/m~", 8));
    /* over-long: cut at a character boundary, hash; 255 bytes exactly kept */
    char m[2000];
    memset(m, 'x', sizeof(m));
    name(m, HIST_TAG_NAME_MAX - 4, a);
    CHECK(strlen(a) == HIST_TAG_NAME_MAX && !strchr(a, '~'));
    name(m, HIST_TAG_NAME_MAX - 3, a);
    CHECK(strlen(a) == HIST_TAG_NAME_MAX && a[HIST_TAG_NAME_MAX - 9] == '~');
    m[HIST_TAG_NAME_MAX - 4] = 'y'; /* differs after the cut */
    name(m, HIST_TAG_NAME_MAX - 3, b);
    CHECK(strcmp(a, b) != 0 && !strncmp(a, b, HIST_TAG_NAME_MAX - 9));
    name(m, sizeof(m), a);
    CHECK(strlen(a) == HIST_TAG_NAME_MAX);
    for (size_t i = 0; i + 1 < sizeof(m); i += 2) /* "é" everywhere: never cut in half */
        m[i] = (char)0xc3, m[i + 1] = (char)0xa9;
    for (size_t n = 240; n < 270; n++) {
        name(m, n & ~(size_t)1, a);
        CHECK(strlen(a) <= HIST_TAG_NAME_MAX);
    }
    memset(m, '/', sizeof(m)); /* all empty segments, far over the limit */
    name(m, sizeof(m), a);
    CHECK(strlen(a) <= HIST_TAG_NAME_MAX);
    for (size_t i = 0; i < sizeof(m); i++) /* every byte value */
        m[i] = (char)(i * 7 + 3);
    for (size_t n = 0; n < 600; n += 37)
        name(m, n, a);
}

static void test_encoders(void)
{
    char s[64];
    CHECK(hist_spb_state_json(true, 1700000000123ull, s, sizeof(s)) > 0 &&
          !strcmp(s, "{\"online\":true,\"timestamp\":1700000000123}"));
    CHECK(hist_spb_state_json(false, 0, s, sizeof(s)) == 30 &&
          !strcmp(s, "{\"online\":false,\"timestamp\":0}"));
    CHECK(hist_spb_state_json(false, 0, s, 30) == HIST_ENOSPC);
    CHECK(hist_spb_state_json(false, 0, s, 31) == 30);
    uint8_t b[HIST_SPB_REBIRTH_PAYLOAD_MAX];
    int n = hist_spb_rebirth_encode(UINT64_MAX, b, sizeof(b));
    CHECK(n > 0 && n <= HIST_SPB_REBIRTH_PAYLOAD_MAX);
    HistSpb__Payload *p = hist_spb__payload__unpack(NULL, (size_t)n, b);
    CHECK(p && p->has_timestamp && p->timestamp == UINT64_MAX && p->n_metrics == 1 &&
          !strcmp(p->metrics[0]->name, "Node Control/Rebirth") &&
          p->metrics[0]->timestamp == UINT64_MAX && p->metrics[0]->boolean_value);
    if (p)
        hist_spb__payload__free_unpacked(p, NULL);
    CHECK(hist_spb_rebirth_encode(1, b, 10) == HIST_ENOSPC);
}

static int decode(const pbw *w, spb_payload *p)
{
    const char *why = NULL;
    int rc = spb_payload__decode(w->p ? w->p : (const uint8_t *)"", w->len, SIZE_MAX, p, &why);
    CHECK(rc == 0 || (why && *why));
    return rc;
}

static void test_reader(void)
{
    /* protobuf-c's bytes read back field for field */
    static spb_msg x;
    spb_init(&x, 123, 45);
    HistSpb__Payload__Metric *m = spb_add(&x, "Name", 7, 10);
    spb_double(m, -2.5);
    spb_ts(m, 99);
    m->has_is_historical = 1, m->is_historical = 1;
    m->has_is_transient = 1, m->is_transient = 1;
    spb_prop_str(&x, "engUnits", "bar");
    spb_prop_int(&x, "quality", -1);
    HistSpb__Payload__MetaData md = HIST_SPB__PAYLOAD__META_DATA__INIT;
    md.content_type = "x";
    m->metadata = &md;
    m = spb_add(&x, NULL, 8, 0);
    m->has_is_null = 1, m->is_null = 1;
    x.p.uuid = "u";
    spb_pack(&x);
    pbw w = {x.buf, x.len, x.len};
    spb_payload p;
    CHECK_OK(decode(&w, &p));
    CHECK(p.has_timestamp && p.timestamp == 123 && p.has_seq && p.seq == 45 && p.n_metrics == 2);
    spb_metric *a = &p.metrics[0];
    CHECK(a->has_name && a->name_len == 4 && !memcmp(a->name, "Name", 4) && a->alias == 7 &&
          a->datatype == 10 && a->timestamp == 99 && a->is_historical && a->is_transient &&
          !a->is_null && a->value_field == SPB_V_DOUBLE && a->d == -2.5 && a->has_unit &&
          a->unit_len == 3 && !memcmp(a->unit, "bar", 3) && a->has_quality && a->quality == -1);
    CHECK(!p.metrics[1].has_name && p.metrics[1].is_null && p.metrics[1].alias == 8 &&
          p.metrics[1].value_field == SPB_V_NONE);
    spb_payload__free(&p);
    x.buf = NULL; /* w owned it */
    free(w.p);

    /* an empty payload; n empty metrics from 2n bytes (the memory bound) */
    w = (pbw){0};
    CHECK(decode(&w, &p) == 0 && p.n_metrics == 0 && !p.metrics);
    for (int i = 0; i < 1000; i++)
        pbw_raw(&w, "\x12\x00", 2);
    CHECK(decode(&w, &p) == 0 && p.n_metrics == 1000);
    spb_payload__free(&p);
    const char *why = NULL;
    CHECK(spb_payload__decode(w.p, w.len, 999, &p, &why) == HIST_ETOOBIG && !p.metrics && why);
    free(w.p);

    /* malformed */
    struct {
        const char *what;
        const char *bytes;
        size_t n;
    } bad[] = {
        {"truncated varint", "\x08\x80", 2},
        {"field number 0", "\x00\x01", 2},
        {"group", "\x0b\x0c", 2},
        {"wire type 7", "\x0f", 1},
        {"metrics as varint", "\x10\x01", 2},
        {"timestamp as bytes", "\x0a\x01\x00", 3},
        {"seq as fixed64", "\x19\0\0\0\0\0\0\0\0", 9},
        {"metric past the end", "\x12\x05\x08\x01", 4},
        {"huge length", "\x12\xff\xff\xff\xff\x0f", 6},
        {"length over 5 bytes", "\x12\x80\x80\x80\x80\x80\x00", 7},
        {"11-byte varint", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12},
        {"metric name as varint", "\x12\x02\x08\x01", 4},
        {"metric alias as bytes", "\x12\x03\x12\x01\x00", 5},
        {"double as varint", "\x12\x02\x68\x01", 4},
        {"double cut short", "\x12\x05\x69\x00\x00\x00\x00", 7},
        {"float as fixed64", "\x12\x09\x61\0\0\0\0\0\0\0\0", 11},
        {"bool as bytes", "\x12\x03\x72\x01\x00", 5},
        {"string as varint", "\x12\x02\x78\x01", 4},
        {"truncated inside a metric", "\x12\x02\x0a\x05", 4},
        {"properties as varint", "\x12\x02\x48\x01", 4},
        {"property key as varint", "\x12\x04\x4a\x02\x08\x01", 6},
        {"property values as varint", "\x12\x04\x4a\x02\x10\x01", 6},
        {"property value truncated", "\x12\x0f\x4a\x0d\x0a\x07Quality\x12\x02\x18\x80", 17},
        {"property value int as bytes", "\x12\x0e\x4a\x0c\x0a\x07Quality\x12\x01\x1a", 16},
        {"metric group", "\x12\x01\x0b", 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        w = (pbw){(uint8_t *)bad[i].bytes, bad[i].n, bad[i].n};
        p.metrics = NULL;
        CHECKF(decode(&w, &p) == HIST_EPROTO && !p.metrics, "%s", bad[i].what);
    }
    /* every cut of a good payload: refused or read, never past the end */
    spb_init(&x, 1, 2);
    spb_double(spb_add(&x, "A", 1, 10), 1);
    spb_prop_int(&x, "Quality", 192);
    spb_prop_str(&x, "engUnit", "K");
    spb_string(spb_add(&x, "S", 2, 12), "str");
    spb_pack(&x);
    int refused = 0;
    for (size_t n = 0; n < x.len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, x.buf, n);
        int rc = spb_payload__decode(cut, n, SIZE_MAX, &p, &why);
        refused += rc == HIST_EPROTO;
        if (rc == 0)
            spb_payload__free(&p);
        free(cut);
    }
    CHECK(refused > (int)x.len / 2);
    /* unknown fields of every wire type are skipped */
    w = (pbw){0};
    pbw_uint(&w, 100, 5);
    pbw_fixed64(&w, 101, 5);
    pbw_key(&w, 102, 5);
    pbw_raw(&w, "\0\0\0\0", 4);
    pbw_key(&w, 103, 2);
    pbw_varint(&w, 1);
    pbw_raw(&w, "z", 1);
    pbw_raw(&w, x.buf, x.len);
    CHECK(decode(&w, &p) == 0 && p.n_metrics == 2 && p.metrics[0].has_quality &&
          p.metrics[0].quality == 192 && p.metrics[0].unit_len == 1 &&
          p.metrics[1].value_field == SPB_V_STRING);
    spb_payload__free(&p);
    free(w.p);
    spb_done(&x);

    /* a malformed message to the host: refused, counted, the session kept */
    hist_spb_host *h = hist_spb_host_new(NULL);
    hist_spb_result r = {0};
    spb_init(&x, 1, 0);
    spb_int(spb_add(&x, "T", 1, 3), 1);
    CHECK_OK(spb_feed(h, &r, "spBv1.0/g/NBIRTH/n", &x, 1));
    CHECK(hist_spb_host_handle(h, "spBv1.0/g/NDATA/n", 17, (const uint8_t *)"\x12\x05", 2, 2, &r) ==
          HIST_EPROTO);
    CHECK(r.stats.refused == 1 && r.n_samples == 0 && *r.why);
    spb_init(&x, 3, 1);
    spb_int(spb_add(&x, NULL, 1, 0), 2);
    CHECK_OK(spb_feed(h, &r, "spBv1.0/g/NDATA/n", &x, 3));
    CHECK(r.n_samples == 1);
    spb_done(&x);
    hist_spb_result_free(&r);
    hist_spb_host_free(h);
}

int main(void)
{
    test_topics();
    test_names();
    test_encoders();
    test_reader();
    return check_summary();
}
