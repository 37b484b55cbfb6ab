/*
 * payload.c: the Sparkplug B Payload reader (proto/sparkplug_b.proto's
 * field numbers, read from the bytes by hand with ingest/wire.h), the
 * rebirth request encoder (Ignition's Quality is mapped by common's
 * hist_quality_from_da()).
 *
 * The reader makes two passes: the first walks the Payload's fields,
 * checks their keys, wire types and lengths and counts the metrics; one
 * array of that many spb_metric is allocated (a metric takes at least two
 * bytes on the wire, so at most len / 2 of them); the second reads each
 * metric. Strings are not copied. Nested messages other than a metric's
 * PropertySet (metadata, datasets, templates, extensions, nested property
 * sets) are skipped by their length, so nothing recurses and a hostile
 * payload costs at most its own size times sizeof(spb_metric) / 2.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hist_bytes.h"
#include "common/hist_error.h"
#include "ingest/sparkplug/spb.h"
#include "ingest/wire.h"

/* ---- reading ------------------------------------------------------------ */

/* The wire type each known field must have; 0xff for unknown fields. */
static int field_ok(unsigned type, unsigned want, const char **why, const char *msg)
{
    if (type == want)
        return 0;
    *why = msg;
    return HIST_EPROTO;
}

/* A scalar value field's raw bits: varint, 4 or 8 bytes. */
static int read_fixed(const uint8_t **p, const uint8_t *end, size_t n, uint64_t *v)
{
    if ((size_t)(end - *p) < n)
        return HIST_EPROTO;
    *v = n == 4 ? hist_get_le32(*p) : hist_get_le64(*p);
    *p += n;
    return 0;
}

static bool key_is(const uint8_t *k, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp((const char *)k, name, n) == 0;
}

static bool is_unit_key(const uint8_t *k, size_t n)
{
    return key_is(k, n, "engUnit") || key_is(k, n, "engUnits") || key_is(k, n, "engineeringUnit") ||
           key_is(k, n, "engineeringUnits") || key_is(k, n, "unit") || key_is(k, n, "units");
}

/* One PropertyValue (data, n) for key kind what (1 Quality, 2 unit). */
/* Pass 2 of a message whose structure pass 1 checked: the next field 2
 * (a PropertySet's values, a Payload's metrics), as the bytes of its
 * message in *s; false at the end. A malformed rest cannot occur after
 * pass 1; it ends the walk like the end does. */
static bool next_field_2(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *sl)
{
    while (*p < end) {
        uint32_t f = 0;
        unsigned t = 0;
        if (wire__key(p, end, &f, &t) != 0)
            return false;
        if (f == 2)
            return wire__bytes(p, end, s, sl) == 0;
        if (wire__skip(p, end, t) != 0)
            return false;
    }
    return false;
}

static int read_property_value(const uint8_t *p, const uint8_t *end, int what, spb_metric *m,
                               const char **why)
{
    uint32_t type = 0;
    bool is_null = false, has_int = false, has_str = false;
    uint64_t iv = 0;
    int64_t b;
    const uint8_t *s = NULL;
    size_t sl = 0;
    while (p < end) {
        uint32_t f;
        unsigned t;
        uint64_t v;
        if (wire__key(&p, end, &f, &t) != 0)
            goto bad;
        switch (f) {
        case 1: /* type */
            if (field_ok(t, WIRE_VARINT, why, "PropertyValue.type: not a varint") ||
                wire__varint(&p, end, &v))
                goto bad;
            type = (uint32_t)v;
            break;
        case 2: /* is_null */
            if (field_ok(t, WIRE_VARINT, why, "PropertyValue.is_null: not a varint") ||
                wire__bool(&p, end, &b))
                goto bad;
            is_null = b;
            break;
        case 3: /* int_value (uint32) */
        case 4: /* long_value */
            if (field_ok(t, WIRE_VARINT, why, "PropertyValue int/long value: not a varint") ||
                wire__varint(&p, end, &v))
                goto bad;
            iv = f == 3 ? (uint32_t)v : v;
            has_int = true, has_str = false;
            break;
        case 8: /* string_value */
            if (field_ok(t, WIRE_LEN, why, "PropertyValue.string_value: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            has_str = true, has_int = false;
            break;
        default:
            if (wire__skip(&p, end, t) != 0)
                goto bad;
            if (f >= 5 && f <= 11)
                has_int = has_str = false; /* another member of the value oneof */
        }
    }
    if (is_null)
        return 0;
    if (what == 1 && has_int) {
        /* Int8..Int32 (types 1..3) are two's complement in 32 bits */
        m->quality = type >= 1 && type <= 3 ? (int64_t)(int32_t)(uint32_t)iv
                     : type == 4            ? (int64_t)iv
                     : iv > INT64_MAX       ? -1
                                            : (int64_t)iv;
        m->has_quality = true;
    } else if (what == 2 && has_str) {
        m->unit = (const char *)s;
        m->unit_len = sl;
        m->has_unit = true;
    }
    return 0;
bad:
    if (!*why)
        *why = "PropertyValue: truncated or malformed field";
    return HIST_EPROTO;
}

/* A metric's PropertySet: keys[i] names values[i]; the first Quality key
 * and the first unit key are read, the rest skipped. */
static int read_properties(const uint8_t *data, size_t n, spb_metric *m, const char **why)
{
    const uint8_t *p = data, *end = data + n;
    size_t keys = 0, qi = SIZE_MAX, ui = SIZE_MAX;
    while (p < end) { /* pass 1: the keys */
        uint32_t f;
        unsigned t;
        const uint8_t *s;
        size_t sl;
        if (wire__key(&p, end, &f, &t) != 0)
            goto bad;
        if (f == 1) {
            if (field_ok(t, WIRE_LEN, why, "PropertySet.keys: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            if (qi == SIZE_MAX && key_is(s, sl, "Quality"))
                qi = keys;
            else if (ui == SIZE_MAX && is_unit_key(s, sl))
                ui = keys;
            keys++;
        } else if (f == 2) {
            if (field_ok(t, WIRE_LEN, why, "PropertySet.values: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
        } else if (wire__skip(&p, end, t) != 0) {
            goto bad;
        }
    }
    if (qi == SIZE_MAX && ui == SIZE_MAX)
        return 0;
    size_t vi = 0;
    const uint8_t *s;
    size_t sl;
    for (p = data; next_field_2(&p, end, &s, &sl);) { /* pass 2: the values */
        if (vi == qi || vi == ui) {
            int rc = read_property_value(s, s + sl, vi == qi ? 1 : 2, m, why);
            if (rc)
                return rc;
        }
        vi++;
    }
    return 0;
bad:
    if (!*why)
        *why = "PropertySet: truncated or malformed field";
    return HIST_EPROTO;
}

static int read_metric(const uint8_t *p, const uint8_t *end, spb_metric *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    while (p < end) {
        uint32_t f;
        unsigned t;
        uint64_t v;
        int64_t b;
        const uint8_t *s;
        size_t sl;
        if (wire__key(&p, end, &f, &t) != 0)
            goto bad;
        switch (f) {
        case 1: /* name */
            if (field_ok(t, WIRE_LEN, why, "Metric.name: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            m->name = (const char *)s, m->name_len = sl, m->has_name = true;
            break;
        case 2: /* alias */
        case 3: /* timestamp */
        case 4: /* datatype (uint32) */
            if (field_ok(t, WIRE_VARINT, why, "Metric alias/timestamp/datatype: not a varint") ||
                wire__varint(&p, end, &v))
                goto bad;
            if (f == 2)
                m->alias = v, m->has_alias = true;
            else if (f == 3)
                m->timestamp = v, m->has_timestamp = true;
            else
                m->datatype = (uint32_t)v, m->has_datatype = true;
            break;
        case 5: /* is_historical */
        case 6: /* is_transient */
        case 7: /* is_null */
            if (field_ok(t, WIRE_VARINT, why, "Metric flag: not a varint") ||
                wire__bool(&p, end, &b))
                goto bad;
            if (f == 5)
                m->is_historical = b;
            else if (f == 6)
                m->is_transient = b;
            else
                m->is_null = b;
            break;
        case 9: /* properties */
            if (field_ok(t, WIRE_LEN, why, "Metric.properties: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            if (read_properties(s, sl, m, why) != 0)
                return HIST_EPROTO;
            break;
        case SPB_V_INT:
        case SPB_V_LONG:
            if (field_ok(t, WIRE_VARINT, why, "Metric int/long value: not a varint") ||
                wire__varint(&p, end, &v))
                goto bad;
            m->u = f == SPB_V_INT ? (uint32_t)v : v;
            m->value_field = (int)f;
            break;
        case SPB_V_FLOAT:
            if (field_ok(t, WIRE_I32, why, "Metric.float_value: not 4 bytes") ||
                read_fixed(&p, end, 4, &v))
                goto bad;
            {
                uint32_t bits = (uint32_t)v;
                float x;
                memcpy(&x, &bits, sizeof(x));
                m->d = x;
            }
            m->value_field = SPB_V_FLOAT;
            break;
        case SPB_V_DOUBLE:
            if (field_ok(t, WIRE_I64, why, "Metric.double_value: not 8 bytes") ||
                read_fixed(&p, end, 8, &v))
                goto bad;
            memcpy(&m->d, &v, sizeof(m->d));
            m->value_field = SPB_V_DOUBLE;
            break;
        case SPB_V_BOOL:
            if (field_ok(t, WIRE_VARINT, why, "Metric.boolean_value: not a varint") ||
                wire__bool(&p, end, &b))
                goto bad;
            m->u = (uint64_t)b;
            m->value_field = SPB_V_BOOL;
            break;
        case 8: /* metadata */
        case SPB_V_STRING:
        case SPB_V_BYTES:
        case SPB_V_DATASET:
        case SPB_V_TEMPLATE:
        case SPB_V_EXTENSION:
            if (field_ok(t, WIRE_LEN, why, "Metric field: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            if (f != 8)
                m->value_field = (int)f;
            break;
        default:
            if (wire__skip(&p, end, t) != 0)
                goto bad;
        }
    }
    return 0;
bad:
    if (!*why)
        *why = "Metric: truncated or malformed field";
    return HIST_EPROTO;
}

int spb_payload__decode(const uint8_t *buf, size_t len, size_t max_metrics, spb_payload *out,
                    const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = NULL;
    const uint8_t *p = buf, *end = buf + len;
    size_t n = 0;
    while (p < end) { /* pass 1: structure, and the metrics counted */
        uint32_t f;
        unsigned t;
        uint64_t v;
        const uint8_t *s;
        size_t sl;
        if (wire__key(&p, end, &f, &t) != 0)
            goto bad;
        switch (f) {
        case 1: /* timestamp */
        case 3: /* seq */
            if (field_ok(t, WIRE_VARINT, why, "Payload timestamp/seq: not a varint") ||
                wire__varint(&p, end, &v))
                goto bad;
            if (f == 1)
                out->timestamp = v, out->has_timestamp = true;
            else
                out->seq = v, out->has_seq = true;
            break;
        case 2: /* metrics */
            if (field_ok(t, WIRE_LEN, why, "Payload.metrics: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            n++;
            break;
        case 4: /* uuid */
        case 5: /* body */
            if (field_ok(t, WIRE_LEN, why, "Payload uuid/body: not length-delimited") ||
                wire__bytes(&p, end, &s, &sl))
                goto bad;
            break;
        default:
            if (wire__skip(&p, end, t) != 0)
                goto bad;
        }
    }
    if (n == 0)
        return 0;
    if (n > max_metrics) {
        *why = "more metrics than max_metrics";
        return HIST_ETOOBIG;
    }
    out->metrics = malloc(n * sizeof(*out->metrics));
    if (!out->metrics) {
        *why = "out of memory";
        return HIST_ENOMEM;
    }
    const uint8_t *s;
    size_t sl;
    for (p = buf; next_field_2(&p, end, &s, &sl);) { /* pass 2: the metrics */
        if (read_metric(s, s + sl, &out->metrics[out->n_metrics], why) != 0) {
            spb_payload__free(out);
            return HIST_EPROTO;
        }
        out->n_metrics++;
    }
    return 0;
bad:
    if (!*why)
        *why = "Payload: truncated or malformed field";
    return HIST_EPROTO;
}

void spb_payload__free(spb_payload *p)
{
    free(p->metrics);
    p->metrics = NULL;
    p->n_metrics = 0;
}

/* ---- writing ------------------------------------------------------------ */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

int hist_spb_rebirth_encode(uint64_t ts_ms, uint8_t *buf, size_t cap)
{
    static const char name[] = "Node Control/Rebirth";
    uint8_t metric[48], *m = metric;
    *m++ = 1 << 3 | WIRE_LEN; /* name */
    *m++ = sizeof(name) - 1;
    memcpy(m, name, sizeof(name) - 1);
    m += sizeof(name) - 1;
    *m++ = 3 << 3 | WIRE_VARINT; /* timestamp */
    m = put_varint(m, ts_ms);
    *m++ = 4 << 3 | WIRE_VARINT; /* datatype Boolean */
    *m++ = SPB_BOOLEAN;
    *m++ = SPB_V_BOOL << 3 | WIRE_VARINT; /* boolean_value true */
    *m++ = 1;
    uint8_t tmp[HIST_SPB_REBIRTH_PAYLOAD_MAX], *p = tmp;
    *p++ = 1 << 3 | WIRE_VARINT; /* Payload.timestamp */
    p = put_varint(p, ts_ms);
    *p++ = 2 << 3 | WIRE_LEN; /* Payload.metrics */
    *p++ = (uint8_t)(m - metric);
    memcpy(p, metric, (size_t)(m - metric));
    p += m - metric;
    size_t n = (size_t)(p - tmp);
    if (n > cap)
        return HIST_ENOSPC;
    memcpy(buf, tmp, n);
    return (int)n;
}
