/*
 * decode.c: a protobuf WriteRequest becomes a validated batch, and a
 * result becomes a WriteResponse (protobuf or JSON).
 *
 * The request is read straight from its bytes (wire.h has the wire format
 * rules, protobuf-c's): no message structs, no allocation per series; see
 * "reading a WriteRequest" below. protobuf-c encodes the responses.
 *
 * Every series is checked before anything is handed to storage, and every
 * problem is reported with the series index, its tag and the rule broken:
 *   - the tag name holds no NUL byte and follows hist_tag_name_check()
 *     (HIST_ENAME);
 *   - exactly one of f64 / i64 / b is filled, as long as ts_delta, and the
 *     quality array is empty or as long too (HIST_EINVAL);
 *   - the type hint, and every other series of the same tag in the request,
 *     agree with the values' type (HIST_ETYPE);
 *   - every timestamp (first absolute, then deltas) stays within
 *     HIST_TS_MIN..HIST_TS_MAX without overflow (HIST_ERANGE).
 * NaN (any payload) and +-Inf are valid float64 values and are stored
 * bit-exactly. A request with any error is refused whole (docs/protocol.md).
 * Conflicts with the type of an existing tag are found by writer.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hist_assert.h"
#include "common/hist_hash.h"
#include "ingest/ingest.h"
#include "ingest/wire.h"
#include "proto/historian.pb-c.h"

/* A response lists at most this many series errors; the rest are counted. */
#define MAX_REPORTED_ERRORS 100

static char *vfmt(const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    return strdup(buf);
}

void decode__result_clear(hist_in_result *res)
{
    free(res->error);
    for (size_t i = 0; i < res->nerrors; i++) {
        free(res->errors[i].tag);
        free(res->errors[i].message);
    }
    free(res->errors);
    uint64_t id = res->batch_id, samples = res->samples;
    memset(res, 0, sizeof *res);
    res->batch_id = id;
    res->samples = samples;
}

int decode__set_error(hist_in_result *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(res->error);
    res->error = vfmt(fmt, ap);
    va_end(ap);
    res->code = code;
    res->written = 0;
    return code;
}

int decode__add_series_error(hist_in_result *res, uint32_t index, const char *tag, int code,
                             const char *fmt, ...)
{
    if (res->code == 0)
        res->code = code;
    res->written = 0;
    if (res->nerrors >= MAX_REPORTED_ERRORS) {
        if (res->nerrors == MAX_REPORTED_ERRORS && !res->error)
            res->error = strdup("more series errors not listed");
        return code;
    }
    hist_in_error *grown = realloc(res->errors, (res->nerrors + 1) * sizeof *grown);
    if (!grown)
        return HIST_ENOMEM;
    res->errors = grown;
    hist_in_error *e = &res->errors[res->nerrors++];
    va_list ap;
    va_start(ap, fmt);
    e->message = vfmt(fmt, ap);
    va_end(ap);
    e->index = index;
    e->code = code;
    /* a tag that is not valid UTF-8 must not poison the response */
    e->tag = strndup(tag ? tag : "", HIST_TAG_NAME_MAX + 1);
    if (e->tag && hist_tag_name_check(e->tag, strlen(e->tag)) < 0)
        for (char *p = e->tag; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80)
                *p = '?';
    return code;
}

/* ---- reading a WriteRequest ---------------------------------------- */

/*
 * Two passes over the bytes, no message structs in between. The first
 * checks the wire format of the whole request (wire.h: protobuf-c's rules,
 * so the server takes exactly what protobuf-c's unpack took), counts each
 * series' arrays (packed varints are counted, not decoded) and checks the
 * rules that need no timestamps. The batch is then allocated once, at its
 * exact size, and the second pass reads the arrays straight into it,
 * checking the timestamps as it adds up the deltas. So a valid request
 * decodes each varint once. A request that breaks a rule is refused whole
 * with every broken rule reported in series order, as if each series were
 * checked in full before the next: a rule broken in the first pass sends
 * the report through report_errors(), which checks every series again in
 * full (timestamps decoded on their own); only timestamp errors found in
 * the second pass need nothing more, since every series passed the rest.
 * The same-tag check across series (check_types_agree) comes last.
 * Repeated fields concatenate across occurrences (packed or not); a scalar
 * field given twice keeps the last value; unknown fields are skipped.
 */

/* Field numbers of proto/historian.proto. */
enum { REQ_BATCH_ID = 1, REQ_TOKEN = 2, REQ_SERIES = 3 };
enum {
    SER_TAG = 1,
    SER_TS = 2,
    SER_F64 = 3,
    SER_I64 = 4,
    SER_B = 5,
    SER_QUALITY = 6,
    SER_TYPE = 7
};

/* What the first pass learns of a request. */
typedef struct {
    uint64_t batch_id;
    const uint8_t *token;
    size_t token_len;
    size_t nseries;
} req_scan;

/* What the first pass learns of one series. */
typedef struct {
    const uint8_t *tag; /* the last tag field's bytes */
    size_t tag_len;
    size_t n_ts, n_f64, n_i64, n_b, n_q;
    int32_t hint;  /* the last type field; 0 when none */
    size_t bad;    /* first sample whose timestamp breaks the rules, or SIZE_MAX */
    bool overflow; /* ... because the sum overflows int64 (else bad_t is out of range) */
    int64_t bad_t;
    int64_t t; /* running timestamp */
} series_scan;

/* What is kept of a series from the first pass to the second. */
typedef struct {
    const uint8_t *msg; /* the Series message */
    size_t msg_len;
    const uint8_t *name; /* the tag's bytes, up to its first NUL (as a C string has it) */
    size_t name_len;
    uint64_t hash; /* FNV-1a of the name */
    size_t n, nq;
    hist_type type;
} series_keep;

/* The top level: the scalars, the token, the number of series. */
static int scan_request(const uint8_t *p, const uint8_t *end, req_scan *r)
{
    memset(r, 0, sizeof *r);
    while (p < end) {
        uint32_t field;
        unsigned type;
        const uint8_t *data;
        size_t n;
        if (wire__key(&p, end, &field, &type))
            return HIST_EPROTO;
        switch (field) {
        case REQ_BATCH_ID:
            if (type != WIRE_VARINT || wire__varint(&p, end, &r->batch_id))
                return HIST_EPROTO;
            break;
        case REQ_TOKEN:
            if (type != WIRE_LEN || wire__bytes(&p, end, &r->token, &r->token_len))
                return HIST_EPROTO;
            break;
        case REQ_SERIES:
            if (type != WIRE_LEN || wire__bytes(&p, end, &data, &n))
                return HIST_EPROTO;
            r->nseries++;
            break;
        default:
            if (wire__skip(&p, end, type))
                return HIST_EPROTO;
        }
    }
    return 0;
}

/* The next Series message of a request that scan_request() took (so every
 * read here succeeds; a failure would only end the walk early). */
static void next_series(const uint8_t **p, const uint8_t *end, const uint8_t **msg, size_t *len)
{
    *msg = end;
    *len = 0;
    while (*p < end) {
        uint32_t field;
        unsigned type;
        if (wire__key(p, end, &field, &type))
            return;
        if (field == REQ_SERIES && type == WIRE_LEN) {
            wire__bytes(p, end, msg, len);
            return;
        }
        if (wire__skip(p, end, type))
            return;
    }
}

/* One delta of ts_delta: the check_series rules for the timestamps. */
static void scan_delta(series_scan *s, int64_t d)
{
    size_t i = s->n_ts++;
    if (s->bad != SIZE_MAX)
        return;
    if (i == 0) {
        s->t = d;
    } else if (__builtin_add_overflow(s->t, d, &s->t)) {
        s->bad = i;
        s->overflow = true;
        return;
    }
    if (s->t < HIST_TS_MIN || s->t > HIST_TS_MAX) {
        s->bad = i;
        s->bad_t = s->t;
    }
}

/* A repeated varint field (sint64, uint32, bool) of either encoding: how
 * many elements it adds. */
static int count_varints(const uint8_t **p, const uint8_t *end, unsigned type, size_t *count)
{
    uint64_t v;
    const uint8_t *data;
    size_t n;
    if (type == WIRE_VARINT) {
        *count = 1;
        return wire__varint(p, end, &v);
    }
    if (type != WIRE_LEN || wire__bytes(p, end, &data, &n))
        return HIST_EPROTO;
    return wire__count_varints(data, n, count);
}

/* with_ts: decode the timestamps and check them (scan_delta); else only
 * count them. */
static int scan_series(const uint8_t *p, const uint8_t *end, series_scan *s, bool with_ts)
{
    memset(s, 0, sizeof *s);
    s->tag = (const uint8_t *)"";
    s->bad = SIZE_MAX;
    while (p < end) {
        uint32_t field;
        unsigned type;
        const uint8_t *data;
        size_t n, c;
        uint64_t v;
        if (wire__key(&p, end, &field, &type))
            return HIST_EPROTO;
        switch (field) {
        case SER_TAG:
            if (type != WIRE_LEN || wire__bytes(&p, end, &s->tag, &s->tag_len))
                return HIST_EPROTO;
            break;
        case SER_TS:
            if (!with_ts) {
                if (count_varints(&p, end, type, &c))
                    return HIST_EPROTO;
                s->n_ts += c;
                break;
            }
            if (type == WIRE_VARINT) {
                if (wire__varint(&p, end, &v))
                    return HIST_EPROTO;
                scan_delta(s, hist_unzigzag(v));
                break;
            }
            if (type != WIRE_LEN || wire__bytes(&p, end, &data, &n))
                return HIST_EPROTO;
            for (const uint8_t *q = data, *qend = data + n; q < qend;) {
                if (wire__varint(&q, qend, &v))
                    return HIST_EPROTO;
                scan_delta(s, hist_unzigzag(v));
            }
            break;
        case SER_F64:
            if (type == WIRE_I64) {
                if (end - p < 8)
                    return HIST_EPROTO;
                p += 8;
                s->n_f64++;
                break;
            }
            if (type != WIRE_LEN || wire__bytes(&p, end, &data, &n) || n % 8)
                return HIST_EPROTO;
            s->n_f64 += n / 8;
            break;
        case SER_I64:
            if (count_varints(&p, end, type, &c))
                return HIST_EPROTO;
            s->n_i64 += c;
            break;
        case SER_B:
            if (type == WIRE_I64 || type == WIRE_I32) { /* protobuf-c takes these too */
                if (wire__skip(&p, end, type))
                    return HIST_EPROTO;
                s->n_b++;
                break;
            }
            if (count_varints(&p, end, type, &c))
                return HIST_EPROTO;
            s->n_b += c;
            break;
        case SER_QUALITY:
            if (count_varints(&p, end, type, &c))
                return HIST_EPROTO;
            s->n_q += c;
            break;
        case SER_TYPE:
            if (type != WIRE_VARINT || wire__varint(&p, end, &v))
                return HIST_EPROTO;
            s->hint = (int32_t)(uint32_t)v; /* an enum: the low 32 bits */
            break;
        default:
            if (wire__skip(&p, end, type))
                return HIST_EPROTO;
        }
    }
    return 0;
}

/* The values' type (the filled array, else the type hint, else float64). */
static hist_type type_of(const series_scan *s, int *nfilled)
{
    *nfilled = (s->n_f64 > 0) + (s->n_i64 > 0) + (s->n_b > 0);
    if (s->n_i64)
        return HIST_TYPE_INT64;
    if (s->n_b)
        return HIST_TYPE_BOOL;
    if (s->n_f64)
        return HIST_TYPE_FLOAT64;
    switch (s->hint) {
    case HIST_TYPE_INT64:
        return HIST_TYPE_INT64;
    case HIST_TYPE_BOOL:
        return HIST_TYPE_BOOL;
    default:
        return HIST_TYPE_FLOAT64;
    }
}

/* A name for an error message: NUL-terminated, cut where the response cuts it. */
static const char *error_name(const uint8_t *name, size_t len, char buf[HIST_TAG_NAME_MAX + 2])
{
    if (len > HIST_TAG_NAME_MAX + 1)
        len = HIST_TAG_NAME_MAX + 1;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

/* Reports a timestamp rule broken at sample bad of series index. */
static int report_ts(hist_in_result *res, uint32_t index, const series_keep *k, size_t bad,
                     bool overflow, int64_t bad_t)
{
    char buf[HIST_TAG_NAME_MAX + 2];
    const char *tag = error_name(k->name, k->name_len, buf);
    if (overflow)
        return decode__add_series_error(res, index, tag, HIST_ERANGE,
                                        "sample %zu: timestamp overflows int64", bad);
    return decode__add_series_error(
        res, index, tag, HIST_ERANGE,
        "sample %zu: timestamp %lld ns outside the allowed range (+-200 years)", bad,
        (long long)bad_t);
}

/* The rules of the file's comment for one series, in their order: the
 * first broken one is reported in res, or only returned when res is NULL.
 * The timestamps are checked only when s has them (scan_series with_ts). */
static int check_series(const series_scan *s, const series_keep *k, uint32_t index,
                        hist_in_result *res)
{
    char buf[HIST_TAG_NAME_MAX + 2];
#define FAIL(code, ...)                                                                            \
    return res ? decode__add_series_error(res, index, error_name(k->name, k->name_len, buf), code, \
                                          __VA_ARGS__)                                             \
               : code
    size_t n = s->n_ts, nv = s->n_f64 + s->n_i64 + s->n_b;
    int nfilled;
    hist_type type = type_of(s, &nfilled);
    const uint8_t *nul = k->name_len ? memchr(k->name, 0, k->name_len) : NULL;
    if (nul) /* a C string would end there and name another tag */
        FAIL(HIST_ENAME, "bad tag name: a NUL byte at offset %zu", (size_t)(nul - k->name));
    if (hist_tag_name_check((const char *)k->name, k->name_len) < 0)
        FAIL(HIST_ENAME, "bad tag name: 1..255 bytes of UTF-8, '/'-separated segments, none "
                         "empty, no control characters");
    if (nfilled > 1)
        FAIL(HIST_EINVAL, "more than one of f64, i64, b is filled");
    if (nv != n)
        FAIL(HIST_EINVAL, "unequal arrays: %zu timestamps, %zu values", n, nv);
    if (s->n_q != 0 && s->n_q != n)
        FAIL(HIST_EINVAL, "unequal arrays: %zu timestamps, %zu qualities", n, s->n_q);
    if (s->hint != 0) {
        int hint = s->hint;
        if (hint < 1 || hint > 3)
            FAIL(HIST_EINVAL, "unknown type hint %d", hint);
        if (nfilled && (hist_type)hint != type)
            FAIL(HIST_ETYPE, "type hint %s but %s values", hist_type_name((hist_type)hint),
                 hist_type_name(type));
    }
#undef FAIL
    if (s->bad != SIZE_MAX)
        return res ? report_ts(res, index, k, s->bad, s->overflow, s->bad_t) : HIST_ERANGE;
    return 0;
}

/* Same tag twice in one request with two types: the second is an error.
 * slots: cap (a power of two, at least twice nseries) zeroed entries. */
static int check_types_agree(const series_keep *keep, size_t nseries, uint32_t *slots, size_t cap,
                             hist_in_result *res)
{
    int rc = 0;
    for (size_t i = 0; i < nseries; i++) {
        const series_keep *s = &keep[i];
        for (size_t j = s->hash & (cap - 1);; j = (j + 1) & (cap - 1)) {
            if (!slots[j]) {
                slots[j] = (uint32_t)i + 1; /* series index + 1 */
                break;
            }
            uint32_t k = slots[j] - 1;
            const series_keep *o = &keep[k];
            if (o->hash == s->hash && o->name_len == s->name_len &&
                !memcmp(o->name, s->name, s->name_len)) {
                char buf[HIST_TAG_NAME_MAX + 2];
                if (o->type != s->type)
                    rc = decode__add_series_error(
                        res, (uint32_t)i, error_name(s->name, s->name_len, buf), HIST_ETYPE,
                        "type conflict: series %zu has %s values, series %u of the same tag %s", i,
                        hist_type_name(s->type), k, hist_type_name(o->type));
                break;
            }
        }
    }
    return rc;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The first timestamp rule a series breaks (fill_series). */
typedef struct {
    size_t bad; /* the sample */
    bool overflow;
    int64_t bad_t;
} ts_fault;

/* The second pass for one series: its arrays, read into o's (n elements
 * each, nq qualities), the timestamps checked as scan_delta() checks them:
 * 0, HIST_ERANGE with *f (the rest of the series left unread), or
 * HIST_EPROTO. Every element is checked against the counts of the first
 * pass, so a disagreement can only refuse, never write past them. */
static int fill_series(const uint8_t *p, const uint8_t *end, hist_in_series *o, size_t nq,
                       ts_fault *f)
{
    size_t kt = 0, kv = 0, kq = 0;
    int64_t t = 0;
    while (p < end) {
        uint32_t field;
        unsigned type;
        const uint8_t *data = p;
        size_t n;
        uint64_t v;
        int64_t b;
        if (wire__key(&p, end, &field, &type))
            return HIST_EPROTO;
        /* the elements: a packed array's bytes, or the one unpacked element */
        if (type == WIRE_LEN) {
            if (wire__bytes(&p, end, &data, &n))
                return HIST_EPROTO;
        } else {
            data = p;
            if (wire__skip(&p, end, type))
                return HIST_EPROTO;
            n = (size_t)(p - data);
        }
        const uint8_t *q = data, *qend = data + n;
        switch (field) {
        case SER_TS:
            while (q < qend) {
                if (kt == o->n || wire__varint(&q, qend, &v))
                    return HIST_EPROTO;
                int64_t d = hist_unzigzag(v);
                if (kt == 0) {
                    t = d;
                } else if (__builtin_add_overflow(t, d, &t)) {
                    *f = (ts_fault){kt, true, 0};
                    return HIST_ERANGE;
                }
                if (t < HIST_TS_MIN || t > HIST_TS_MAX) {
                    *f = (ts_fault){kt, false, t};
                    return HIST_ERANGE;
                }
                o->ts[kt++] = t;
            }
            break;
        case SER_F64:
            if (n % 8 || n / 8 > o->n - kv)
                return HIST_EPROTO;
            memcpy(&o->v[kv], data, n); /* bit-exact: NaN payloads survive */
            kv += n / 8;
            break;
        case SER_I64:
            while (q < qend) {
                if (kv == o->n || wire__varint(&q, qend, &v))
                    return HIST_EPROTO;
                o->v[kv++].i = hist_unzigzag(v);
            }
            break;
        case SER_B:
            if (type == WIRE_I64 || type == WIRE_I32) {
                if (kv == o->n)
                    return HIST_EPROTO;
                o->v[kv++].i = wire__bool_fixed(data, n);
                break;
            }
            while (q < qend) {
                if (kv == o->n || wire__bool(&q, qend, &b))
                    return HIST_EPROTO;
                o->v[kv++].i = b;
            }
            break;
        case SER_QUALITY:
            while (q < qend) {
                if (kq == nq || wire__varint(&q, qend, &v))
                    return HIST_EPROTO;
                o->q[kq++] = (uint32_t)v; /* a uint32: the low 32 bits */
            }
            break;
        default: /* the tag and the type (read in the first pass), unknown fields */
            break;
        }
    }
    return kt == o->n && kv == o->n && kq == nq ? 0 : HIST_EPROTO;
}

/* The request into one allocation of total bytes the writer owns, its
 * timestamp errors reported in res (then the batch is still returned, for
 * the caller to free). 0, HIST_ENOMEM or HIST_EPROTO (the passes disagree:
 * a bug, never a batch). */
static int build_batch(const req_scan *r, const series_keep *keep, size_t total, size_t wire_bytes,
                       hist_in_batch **out, hist_in_result *res)
{
    char *mem = malloc(total);
    if (!mem)
        return HIST_ENOMEM;
    hist_in_batch *b = (hist_in_batch *)mem;
    char *p = mem + align8(sizeof *b);
    b->batch_id = r->batch_id;
    b->nseries = r->nseries;
    b->series = (hist_in_series *)p;
    b->samples = 0;
    b->wire_bytes = wire_bytes;
    b->partial = false; /* a client's request: all or nothing */
    p += align8(r->nseries * sizeof(hist_in_series));
    for (size_t i = 0; i < r->nseries; i++) {
        const series_keep *k = &keep[i];
        hist_in_series *o = &b->series[i];
        memcpy(p, k->name, k->name_len);
        p[k->name_len] = '\0';
        o->name = p;
        o->name_len = k->name_len;
        o->hash = k->hash;
        p += align8(k->name_len + 1);
        o->type = k->type;
        o->n = k->n;
        o->ts = (int64_t *)p;
        p += k->n * 8;
        o->v = (hist_value *)p;
        p += k->n * 8;
        o->q = NULL;
        o->unit = NULL;
        if (k->nq) {
            o->q = (uint32_t *)p;
            p += align8(k->nq * 4);
        }
        ts_fault f;
        int rc = fill_series(k->msg, k->msg + k->msg_len, o, k->nq, &f);
        if (rc == HIST_ERANGE)
            rc = report_ts(res, (uint32_t)i, k, f.bad, f.overflow, f.bad_t);
        if (rc == HIST_ENOMEM || rc == HIST_EPROTO) {
            free(mem);
            return rc;
        }
        b->samples += k->n;
    }
    HIST_ASSERT((size_t)(p - mem) == total);
    *out = b;
    return 0;
}

/* The hashes of the kept names, four at a time: each FNV-1a is a chain of
 * multiplies, one a byte, so four independent chains take about the time
 * of one (the same hashes as hist_fnv1a(), which does the rest). */
static void hash_names(series_keep *keep, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        series_keep *k = keep + i;
        size_t m = k[0].name_len;
        for (int j = 1; j < 4; j++)
            m = k[j].name_len < m ? k[j].name_len : m;
        uint64_t h0 = HIST_FNV_OFFSET, h1 = HIST_FNV_OFFSET, h2 = HIST_FNV_OFFSET,
                 h3 = HIST_FNV_OFFSET;
        for (size_t j = 0; j < m; j++) {
            h0 = (h0 ^ k[0].name[j]) * HIST_FNV_PRIME;
            h1 = (h1 ^ k[1].name[j]) * HIST_FNV_PRIME;
            h2 = (h2 ^ k[2].name[j]) * HIST_FNV_PRIME;
            h3 = (h3 ^ k[3].name[j]) * HIST_FNV_PRIME;
        }
        uint64_t h[4] = {h0, h1, h2, h3};
        for (int j = 0; j < 4; j++) {
            for (size_t c = m; c < k[j].name_len; c++)
                h[j] = (h[j] ^ k[j].name[c]) * HIST_FNV_PRIME;
            k[j].hash = h[j];
        }
    }
    for (; i < n; i++)
        keep[i].hash = hist_fnv1a(keep[i].name, keep[i].name_len);
}

/* A request that broke a rule of the first pass: every series checked
 * again in full, in order, each broken rule reported. */
static int report_errors(const uint8_t *buf, const uint8_t *end, const series_keep *keep,
                         size_t nseries, hist_in_result *res)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < nseries; i++) {
        const uint8_t *msg;
        size_t len;
        series_scan s;
        next_series(&p, end, &msg, &len);
        if (scan_series(msg, msg + len, &s, true)) /* it passed the first pass */
            return HIST_EPROTO;
        if (check_series(&s, &keep[i], (uint32_t)i, res) == HIST_ENOMEM)
            return HIST_ENOMEM;
    }
    return 0;
}

static int refuse_undecodable(hist_in_result *res, size_t len)
{
    return decode__set_error(res, HIST_EPROTO,
                             "the %zu-byte message does not decode as a WriteRequest", len);
}

int decode__request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                    char **token_out)
{
    memset(res, 0, sizeof *res);
    *out = NULL;
    if (token_out)
        *token_out = NULL;
    const uint8_t *end = buf + len;
    req_scan r;
    if (scan_request(buf, end, &r))
        return refuse_undecodable(res, len);
    size_t cap = 16;
    while (cap < r.nseries * 2)
        cap <<= 1;
    size_t keep_bytes = align8(r.nseries * sizeof(series_keep));
    char *scratch = malloc(keep_bytes + cap * sizeof(uint32_t));
    if (!scratch)
        return decode__set_error(res, HIST_ENOMEM, "out of memory decoding the request");
    series_keep *keep = (series_keep *)scratch;
    uint32_t *slots = (uint32_t *)(scratch + keep_bytes);

    /* first pass: the wire format of every series, its counts, the rules
     * that need no timestamps */
    size_t total = align8(sizeof(hist_in_batch)) + align8(r.nseries * sizeof(hist_in_series));
    uint64_t samples = 0;
    bool broken = false;
    const uint8_t *p = buf;
    for (size_t i = 0; i < r.nseries; i++) {
        series_keep *k = &keep[i];
        series_scan s;
        next_series(&p, end, &k->msg, &k->msg_len);
        if (scan_series(k->msg, k->msg + k->msg_len, &s, false)) {
            free(scratch);
            return refuse_undecodable(res, len);
        }
        k->name = s.tag;
        k->name_len = s.tag_len; /* a NUL inside is refused (check_series) */
        int nfilled;
        k->type = type_of(&s, &nfilled);
        k->n = s.n_ts;
        k->nq = s.n_q;
        samples += s.n_ts;
        total += align8(k->name_len + 1) + k->n * 16 + align8(k->nq * 4);
        if (!broken && check_series(&s, k, (uint32_t)i, NULL))
            broken = true;
    }
    res->batch_id = r.batch_id;
    res->samples = samples;
    if (token_out && r.token_len && r.token[0])
        *token_out = strndup((const char *)r.token, r.token_len); /* up to a NUL, as C has it */

    int rc;
    if (broken) {
        rc = report_errors(buf, end, keep, r.nseries, res);
    } else {
        /* second pass: the arrays, straight into the batch */
        hash_names(keep, r.nseries);
        rc = build_batch(&r, keep, total, len, out, res);
        if (rc == 0 && res->code == 0) {
            memset(slots, 0, cap * sizeof *slots);
            rc = check_types_agree(keep, r.nseries, slots, cap, res);
        }
        if (rc || res->code) {
            free(*out);
            *out = NULL;
        }
    }
    /* the passes disagree: a bug (debug builds stop here), never a batch */
    HIST_ASSERT(rc != HIST_EPROTO);
    if (rc == HIST_EPROTO) {
        decode__result_clear(res);
        memset(res, 0, sizeof *res);
        refuse_undecodable(res, len);
        if (token_out) {
            free(*token_out);
            *token_out = NULL;
        }
    }
    if (rc == HIST_ENOMEM)
        decode__set_error(res, rc, "out of memory decoding the request");
    free(scratch);
    return res->code ? res->code : rc;
}

/* ---- responses ----------------------------------------------------- */

int decode__result_to_proto(const hist_in_result *res, size_t prefix_len, uint8_t **out,
                            size_t *len)
{
    Historian__V1__WriteResponse msg = HISTORIAN__V1__WRITE_RESPONSE__INIT;
    Historian__V1__SeriesError *errs = calloc(res->nerrors + 1, sizeof *errs);
    Historian__V1__SeriesError **ptrs = calloc(res->nerrors + 1, sizeof *ptrs);
    if (!errs || !ptrs) {
        free(errs);
        free(ptrs);
        return HIST_ENOMEM;
    }
    for (size_t i = 0; i < res->nerrors; i++) {
        Historian__V1__SeriesError init = HISTORIAN__V1__SERIES_ERROR__INIT;
        errs[i] = init;
        errs[i].index = res->errors[i].index;
        errs[i].tag = res->errors[i].tag ? res->errors[i].tag : "";
        errs[i].code = res->errors[i].code;
        errs[i].message = res->errors[i].message ? res->errors[i].message : "";
        ptrs[i] = &errs[i];
    }
    msg.batch_id = res->batch_id;
    msg.written = res->written;
    msg.code = res->code;
    msg.error = res->error ? res->error : (char *)"";
    msg.n_errors = res->nerrors;
    msg.errors = ptrs;
    size_t n = historian__v1__write_response__get_packed_size(&msg);
    uint8_t *buf = malloc(prefix_len + n + 1);
    if (buf)
        historian__v1__write_response__pack(&msg, buf + prefix_len);
    free(errs);
    free(ptrs);
    if (!buf)
        return HIST_ENOMEM;
    *out = buf;
    *len = prefix_len + n;
    return 0;
}

int decode__result_to_json(const hist_in_result *res, char **out, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "batch_id", json_integer((json_int_t)res->batch_id));
    json_object_set_new(o, "written", json_integer((json_int_t)res->written));
    json_object_set_new(o, "code", json_integer(res->code));
    if (res->code)
        json_object_set_new(o, "code_name", json_string(hist_strerror(res->code)));
    if (res->error)
        json_object_set_new(o, "error", json_string(res->error));
    json_t *arr = json_array();
    for (size_t i = 0; i < res->nerrors; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(res->errors[i].index));
        json_object_set_new(e, "tag", json_string(res->errors[i].tag ? res->errors[i].tag : ""));
        json_object_set_new(e, "code", json_integer(res->errors[i].code));
        json_object_set_new(e, "message",
                            json_string(res->errors[i].message ? res->errors[i].message : ""));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "errors", arr);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return HIST_ENOMEM;
    *out = s;
    *len = strlen(s);
    return 0;
}

int decode__peek_token(const uint8_t *buf, size_t len, const uint8_t **token, size_t *token_len,
                       uint64_t *batch_id)
{
    req_scan r;
    *token = NULL;
    *token_len = 0;
    *batch_id = 0;
    if (scan_request(buf, buf + len, &r))
        return HIST_EPROTO;
    *token = r.token;
    *token_len = r.token_len;
    *batch_id = r.batch_id;
    return 0;
}
