/*
 * spb_build.h: Sparkplug B payloads for the tests, packed by protobuf-c
 * from proto/sparkplug_b.proto (code the reader under test does not
 * share), and a host fed with them.
 *
 * Header-only; a spb_msg holds up to SPB_MAX (128) metrics with up to two
 * properties each, all in place (no allocation but the packed bytes).
 */
#ifndef HIST_TESTS_SPB_BUILD_H
#define HIST_TESTS_SPB_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/sparkplug/hist_sparkplug.h"
#include "proto/sparkplug_b.pb-c.h"

#define SPB_MAX 128

typedef struct {
    HistSpb__Payload p;
    HistSpb__Payload__Metric m[SPB_MAX], *mp[SPB_MAX];
    HistSpb__Payload__PropertySet ps[SPB_MAX];
    HistSpb__Payload__PropertyValue pv[SPB_MAX][2], *pvp[SPB_MAX][2];
    char *keys[SPB_MAX][2];
    uint8_t *buf;
    size_t len;
} spb_msg;

/* seq < 0: none; ts 0: none */
static inline void spb_init(spb_msg *x, uint64_t ts, int seq)
{
    free(x->buf);
    memset(x, 0, sizeof(*x));
    x->p = (HistSpb__Payload)HIST_SPB__PAYLOAD__INIT;
    if (ts)
        x->p.has_timestamp = 1, x->p.timestamp = ts;
    if (seq >= 0)
        x->p.has_seq = 1, x->p.seq = (uint64_t)seq;
    x->p.metrics = x->mp;
}

/* name NULL: none; alias < 0: none; dt 0: none */
static inline HistSpb__Payload__Metric *spb_add(spb_msg *x, const char *name, int64_t alias,
                                                uint32_t dt)
{
    size_t i = x->p.n_metrics++;
    HistSpb__Payload__Metric *m = &x->m[i];
    *m = (HistSpb__Payload__Metric)HIST_SPB__PAYLOAD__METRIC__INIT;
    m->name = (char *)name;
    if (alias >= 0)
        m->has_alias = 1, m->alias = (uint64_t)alias;
    if (dt)
        m->has_datatype = 1, m->datatype = dt;
    x->mp[i] = m;
    return m;
}

static inline void spb_long(HistSpb__Payload__Metric *m, uint64_t v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_LONG_VALUE, m->long_value = v;
}
static inline void spb_int(HistSpb__Payload__Metric *m, uint32_t v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_INT_VALUE, m->int_value = v;
}
static inline void spb_double(HistSpb__Payload__Metric *m, double v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE, m->double_value = v;
}
static inline void spb_float(HistSpb__Payload__Metric *m, float v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_FLOAT_VALUE, m->float_value = v;
}
static inline void spb_bool(HistSpb__Payload__Metric *m, int v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_BOOLEAN_VALUE, m->boolean_value = v;
}
static inline void spb_string(HistSpb__Payload__Metric *m, const char *v)
{
    m->value_case = HIST_SPB__PAYLOAD__METRIC__VALUE_STRING_VALUE, m->string_value = (char *)v;
}
static inline void spb_ts(HistSpb__Payload__Metric *m, uint64_t ts)
{
    m->has_timestamp = 1, m->timestamp = ts;
}

/* A property of the last metric added: an int (type 3, Int32) or a string
 * (type 12) */
static inline HistSpb__Payload__PropertyValue *spb_prop(spb_msg *x, const char *key)
{
    size_t i = x->p.n_metrics - 1;
    HistSpb__Payload__PropertySet *ps = &x->ps[i];
    if (!x->m[i].properties) {
        *ps = (HistSpb__Payload__PropertySet)HIST_SPB__PAYLOAD__PROPERTY_SET__INIT;
        ps->keys = x->keys[i];
        ps->values = x->pvp[i];
        x->m[i].properties = ps;
    }
    size_t k = ps->n_keys++;
    ps->n_values++;
    HistSpb__Payload__PropertyValue *v = &x->pv[i][k];
    *v = (HistSpb__Payload__PropertyValue)HIST_SPB__PAYLOAD__PROPERTY_VALUE__INIT;
    x->keys[i][k] = (char *)key;
    x->pvp[i][k] = v;
    return v;
}
static inline void spb_prop_int(spb_msg *x, const char *key, int32_t q)
{
    HistSpb__Payload__PropertyValue *v = spb_prop(x, key);
    v->has_type = 1, v->type = 3;
    v->value_case = HIST_SPB__PAYLOAD__PROPERTY_VALUE__VALUE_INT_VALUE;
    v->int_value = (uint32_t)q;
}
static inline void spb_prop_str(spb_msg *x, const char *key, const char *s)
{
    HistSpb__Payload__PropertyValue *v = spb_prop(x, key);
    v->has_type = 1, v->type = 12;
    v->value_case = HIST_SPB__PAYLOAD__PROPERTY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)s;
}

static inline void spb_pack(spb_msg *x)
{
    free(x->buf);
    x->len = hist_spb__payload__get_packed_size(&x->p);
    x->buf = malloc(x->len ? x->len : 1);
    if (!x->buf)
        abort();
    hist_spb__payload__pack(&x->p, x->buf);
}

static inline void spb_done(spb_msg *x)
{
    free(x->buf);
    x->buf = NULL;
}

/* Packs x and hands it to h on topic. */
static inline int spb_feed(hist_spb_host *h, hist_spb_result *r, const char *topic, spb_msg *x,
                           uint64_t now_ms)
{
    spb_pack(x);
    return hist_spb_host_handle(h, topic, strlen(topic), x->buf, x->len, now_ms, r);
}

/* The sample of tag in r, NULL when none. */
static inline const hist_spb_sample *spb_find(const hist_spb_result *r, const char *tag)
{
    for (size_t i = 0; i < r->n_samples; i++)
        if (!strcmp(r->samples[i].tag, tag))
            return &r->samples[i];
    return NULL;
}

#endif
