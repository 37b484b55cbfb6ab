/*
 * decode_ref.c: the ingest decoder as it was before ingest/decode.c read
 * the wire format itself: protobuf-c's unpack into message structs, the
 * checks on those structs, then a copy into the batch. Kept (for tests and
 * benches only, never the server) as the reference the new decoder must
 * agree with: fuzz_decode_diff compares the two on every input, and
 * bench_decode times them against each other. Only the hash of each name
 * (hist_in_series.hash) is new here, so that whole batches compare.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "decode_ref.h"
#include "proto/historian.pb-c.h"

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
    b->partial = false;
    p += align8(req->n_series * sizeof(hist_in_series));
    for (size_t i = 0; i < req->n_series; i++) {
        const Historian__V1__Series *s = req->series[i];
        hist_in_series *o = &b->series[i];
        size_t n = s->n_ts_delta;
        o->name_len = strlen(s->tag);
        o->hash = name_hash(s->tag);
        memcpy(p, s->tag, o->name_len + 1);
        o->name = p;
        p += align8(o->name_len + 1);
        o->type = types[i];
        o->unit = NULL;
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

int decode_ref_request(const uint8_t *buf, size_t len, hist_in_batch **out, hist_in_result *res,
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

/* ---- comparing two decodes ----------------------------------------- */

uint64_t decode_ref_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static const char *diff_batch(const hist_in_batch *a, const hist_in_batch *b)
{
    if (!a || !b)
        return a || b ? "one has a batch, the other none" : NULL;
    if (a->batch_id != b->batch_id || a->nseries != b->nseries || a->samples != b->samples ||
        a->wire_bytes != b->wire_bytes)
        return "batch header";
    for (size_t i = 0; i < a->nseries; i++) {
        const hist_in_series *x = &a->series[i], *y = &b->series[i];
        if (x->name_len != y->name_len || strcmp(x->name, y->name) || x->hash != y->hash)
            return "series name or hash";
        if (x->type != y->type || x->n != y->n)
            return "series type or length";
        if (x->n &&
            (memcmp(x->ts, y->ts, x->n * sizeof *x->ts) || memcmp(x->v, y->v, x->n * sizeof *x->v)))
            return "series timestamps or value bits";
        if (!x->q != !y->q || (x->q && memcmp(x->q, y->q, x->n * sizeof *x->q)))
            return "series qualities";
    }
    return NULL;
}

const char *decode_ref_diff(int rc_a, const hist_in_result *res_a, const hist_in_batch *a,
                            const char *token_a, int rc_b, const hist_in_result *res_b,
                            const hist_in_batch *b, const char *token_b)
{
    /* The one deliberate difference: a NUL inside a tag name. protobuf-c
     * hands the name over as a C string, cut at the NUL (another tag's
     * name); the new decoder refuses the request (issue 12). */
    for (size_t i = 0; rc_a < 0 && i < res_a->nerrors; i++)
        if (res_a->errors[i].message &&
            strstr(res_a->errors[i].message, "bad tag name: a NUL byte"))
            return NULL;
    if (rc_a != rc_b)
        return "return code";
    if (res_a->batch_id != res_b->batch_id || res_a->written != res_b->written ||
        res_a->samples != res_b->samples || res_a->code != res_b->code)
        return "result counts or code";
    if (!same_str(res_a->error, res_b->error))
        return "result error text";
    if (res_a->nerrors != res_b->nerrors)
        return "number of series errors";
    for (size_t i = 0; i < res_a->nerrors; i++) {
        const hist_in_error *x = &res_a->errors[i], *y = &res_b->errors[i];
        if (x->index != y->index || x->code != y->code || !same_str(x->tag, y->tag) ||
            !same_str(x->message, y->message))
            return "a series error";
    }
    if (!same_str(token_a, token_b))
        return "token";
    return diff_batch(a, b);
}
