/*
 * decode.c: a protobuf WriteRequest becomes a validated batch, and a
 * result becomes a WriteResponse (protobuf or JSON).
 *
 * Every series is checked before anything is handed to storage, and every
 * problem is reported with the series index, its tag and the rule broken:
 *   - the tag name follows hist_tag_name_check() (HIST_ENAME);
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

#include "ingest/ingest.h"
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

/* ---- request validation -------------------------------------------- */

static hist_type type_of(const Historian__V1__Series *s, int *nfilled)
{
    *nfilled = (s->n_f64 > 0) + (s->n_i64 > 0) + (s->n_b > 0);
    if (s->n_i64)
        return HIST_TYPE_INT64;
    if (s->n_b)
        return HIST_TYPE_BOOL;
    if (s->n_f64)
        return HIST_TYPE_FLOAT64;
    switch (s->type) {
    case HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_INT64:
        return HIST_TYPE_INT64;
    case HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_BOOL:
        return HIST_TYPE_BOOL;
    default:
        return HIST_TYPE_FLOAT64;
    }
}

static size_t values_len(const Historian__V1__Series *s)
{
    return s->n_f64 + s->n_i64 + s->n_b;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Same tag twice in one request with two types: the second is an error. */
static int check_types_agree(const Historian__V1__WriteRequest *req, const hist_type *types,
                             hist_in_result *res)
{
    size_t cap = 16;
    while (cap < req->n_series * 2)
        cap <<= 1;
    uint32_t *slots = calloc(cap, sizeof *slots); /* series index + 1 */
    if (!slots)
        return HIST_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < req->n_series; i++) {
        const char *name = req->series[i]->tag;
        size_t j = name_hash(name) & (cap - 1);
        for (;; j = (j + 1) & (cap - 1)) {
            if (!slots[j]) {
                slots[j] = (uint32_t)i + 1;
                break;
            }
            uint32_t k = slots[j] - 1;
            if (!strcmp(req->series[k]->tag, name)) {
                if (types[k] != types[i])
                    rc = decode__add_series_error(
                        res, (uint32_t)i, name, HIST_ETYPE,
                        "type conflict: series %zu has %s values, series %u of the same tag %s", i,
                        hist_type_name(types[i]), k, hist_type_name(types[k]));
                break;
            }
        }
    }
    free(slots);
    return rc;
}

static int check_series(const Historian__V1__Series *s, uint32_t index, hist_type *type_out,
                        hist_in_result *res)
{
    const char *tag = s->tag ? s->tag : "";
    size_t n = s->n_ts_delta;
    int nfilled;
    hist_type type = type_of(s, &nfilled);
    *type_out = type;
    if (hist_tag_name_check(tag, strlen(tag)) < 0)
        return decode__add_series_error(res, index, tag, HIST_ENAME,
                                        "bad tag name: 1..255 bytes of UTF-8, '/'-separated "
                                        "segments, none empty, no control characters");
    if (nfilled > 1)
        return decode__add_series_error(res, index, tag, HIST_EINVAL,
                                        "more than one of f64, i64, b is filled");
    if (values_len(s) != n)
        return decode__add_series_error(res, index, tag, HIST_EINVAL,
                                        "unequal arrays: %zu timestamps, %zu values", n,
                                        values_len(s));
    if (s->n_quality != 0 && s->n_quality != n)
        return decode__add_series_error(res, index, tag, HIST_EINVAL,
                                        "unequal arrays: %zu timestamps, %zu qualities", n,
                                        s->n_quality);
    if (s->type != HISTORIAN__V1__VALUE_TYPE__VALUE_TYPE_UNSPECIFIED) {
        int hint = (int)s->type;
        if (hint < 1 || hint > 3)
            return decode__add_series_error(res, index, tag, HIST_EINVAL, "unknown type hint %d",
                                            hint);
        if (nfilled && (hist_type)hint != type)
            return decode__add_series_error(res, index, tag, HIST_ETYPE,
                                            "type hint %s but %s values",
                                            hist_type_name((hist_type)hint), hist_type_name(type));
    }
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            t = s->ts_delta[0];
        else if (__builtin_add_overflow(t, s->ts_delta[i], &t))
            return decode__add_series_error(res, index, tag, HIST_ERANGE,
                                            "sample %zu: timestamp overflows int64", i);
        if (t < HIST_TS_MIN || t > HIST_TS_MAX)
            return decode__add_series_error(
                res, index, tag, HIST_ERANGE,
                "sample %zu: timestamp %lld ns outside the allowed range (+-200 years)", i,
                (long long)t);
    }
    return 0;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Copies the validated request into one allocation the writer owns. */
static hist_in_batch *build_batch(const Historian__V1__WriteRequest *req, const hist_type *types,
                                  size_t wire_bytes)
{
    size_t total = align8(sizeof(hist_in_batch)) + align8(req->n_series * sizeof(hist_in_series));
    for (size_t i = 0; i < req->n_series; i++) {
        const Historian__V1__Series *s = req->series[i];
        total += align8(strlen(s->tag) + 1) + s->n_ts_delta * 16 + align8(s->n_quality * 4);
    }
    char *mem = malloc(total);
    if (!mem)
        return NULL;
    hist_in_batch *b = (hist_in_batch *)mem;
    char *p = mem + align8(sizeof *b);
    b->batch_id = req->batch_id;
    b->nseries = req->n_series;
    b->series = (hist_in_series *)p;
    b->samples = 0;
    b->wire_bytes = wire_bytes;
    p += align8(req->n_series * sizeof(hist_in_series));
    for (size_t i = 0; i < req->n_series; i++) {
        const Historian__V1__Series *s = req->series[i];
        hist_in_series *o = &b->series[i];
        size_t n = s->n_ts_delta;
        o->name_len = strlen(s->tag);
        memcpy(p, s->tag, o->name_len + 1);
        o->name = p;
        p += align8(o->name_len + 1);
        o->type = types[i];
        o->n = n;
        o->ts = (int64_t *)p;
        p += n * 8;
        o->v = (hist_value *)p;
        p += n * 8;
        int64_t t = 0;
        for (size_t k = 0; k < n; k++) {
            t = k ? t + s->ts_delta[k] : s->ts_delta[0]; /* checked above */
            o->ts[k] = t;
        }
        if (s->n_f64)
            memcpy(o->v, s->f64, n * 8); /* bit-exact: NaN payloads survive */
        else if (s->n_i64)
            for (size_t k = 0; k < n; k++)
                o->v[k].i = s->i64[k];
        else
            for (size_t k = 0; k < n; k++)
                o->v[k].i = s->b[k] ? 1 : 0;
        o->q = NULL;
        if (s->n_quality) {
            o->q = (uint32_t *)p;
            memcpy(o->q, s->quality, n * 4);
            p += align8(n * 4);
        }
        b->samples += n;
    }
    return b;
}

int decode__request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
                    char **token_out)
{
    memset(res, 0, sizeof *res);
    *out = NULL;
    if (token_out)
        *token_out = NULL;
    Historian__V1__WriteRequest *req = historian__v1__write_request__unpack(NULL, len, buf);
    if (!req)
        return decode__set_error(res, HIST_EPROTO,
                                 "the %zu-byte message does not decode as a WriteRequest", len);
    res->batch_id = req->batch_id;
    for (size_t i = 0; i < req->n_series; i++)
        res->samples += req->series[i]->n_ts_delta;
    if (token_out && req->token && req->token[0])
        *token_out = strdup(req->token);
    hist_type *types = calloc(req->n_series + 1, sizeof *types);
    int rc = types ? 0 : HIST_ENOMEM;
    for (size_t i = 0; rc != HIST_ENOMEM && i < req->n_series; i++) {
        int e = check_series(req->series[i], (uint32_t)i, &types[i], res);
        if (e == HIST_ENOMEM)
            rc = e;
    }
    if (rc == 0 && res->code == 0)
        rc = check_types_agree(req, types, res);
    if (rc == 0 && res->code == 0) {
        *out = build_batch(req, types, len);
        if (!*out)
            rc = HIST_ENOMEM;
    }
    if (rc == HIST_ENOMEM)
        decode__set_error(res, rc, "out of memory decoding the request");
    free(types);
    historian__v1__write_request__free_unpacked(req, NULL);
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
